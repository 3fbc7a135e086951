/*
 * weft/error.h - error codes, the log sink and the version.
 *
 * Every weft function that can fail returns an int: 0 on success or a
 * negative errno value (-EAGAIN, -EPIPE, ...). Constructors return NULL and
 * set errno. weft_strerror() turns either sign into a message.
 *
 * The library never writes to stderr on its own: everything it has to say
 * goes through the log sink below, whose default handler writes one line
 * per message to stderr. A condition that repeats (a pool that stays
 * degraded, a loop that stays blocked) is logged once per episode, not once
 * per occurrence.
 */
#ifndef WEFT_ERROR_H
#define WEFT_ERROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0

/* WEFT_API marks what libweft exports; everything else is hidden. */
#if defined(__GNUC__) || defined(__clang__)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

/* WEFT_NORETURN: _Noreturn in C, [[noreturn]] in C++. */
#if defined(__cplusplus)
#define WEFT_NORETURN [[noreturn]]
#else
#define WEFT_NORETURN _Noreturn
#endif

/* printf-style format checking for the log helpers. */
#if defined(__GNUC__) || defined(__clang__)
#define WEFT_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define WEFT_PRINTF(fmt, args)
#endif

/*
 * weft_version_string - "MAJOR.MINOR.PATCH" of the library actually linked
 * (compare with the WEFT_VERSION_* macros of the headers compiled against).
 * Returns a static string. Thread-safety: any thread.
 */
WEFT_API const char *weft_version_string(void);

/*
 * weft_strerror - a message for an error code of either sign: 0 gives
 * "Success", -EAGAIN and EAGAIN give the same text. Unknown codes give
 * "Unknown error". Returns a static string, never NULL.
 * Thread-safety: any thread.
 */
WEFT_API const char *weft_strerror(int err);

/* Log levels, most severe first: a handler set with max = WEFT_LOG_WARN
   receives ERROR and WARN messages. */
typedef enum { WEFT_LOG_ERROR, WEFT_LOG_WARN, WEFT_LOG_INFO, WEFT_LOG_DEBUG } weft_log_level_t;

/* A log handler receives one complete message without a trailing newline.
   It may be called from any thread, concurrently, and must not call back
   into weft's logging. msg is borrowed for the duration of the call. */
typedef void (*weft_log_fn)(weft_log_level_t level, const char *msg, void *arg);

/*
 * weft_log_set_handler - route the library's messages of level <= max to
 * fn(level, msg, arg). fn NULL restores the default handler, which writes
 * "weft: <level>: <msg>\n" to stderr in one write(2). The default max is
 * WEFT_LOG_WARN. A message being delivered while the handler is replaced
 * may still reach the old handler; arg must stay valid until then.
 * Thread-safety: any thread.
 */
WEFT_API void weft_log_set_handler(weft_log_fn fn, void *arg, weft_log_level_t max);

/* weft_log_enabled - whether a message of this level would be delivered
   (to skip formatting work). Thread-safety: any thread. */
WEFT_API bool weft_log_enabled(weft_log_level_t level);

/*
 * weft_log - format and deliver one message through the sink. Messages
 * longer than 1 KiB are truncated. Thread-safety: any thread.
 */
WEFT_API void weft_log(weft_log_level_t level, const char *fmt, ...) WEFT_PRINTF(2, 3);

/*
 * Once per episode. A repeated condition (a full queue, a blocked loop)
 * should be logged when it starts and when it ends, not on every
 * occurrence. Keep one weft_log_episode_t per condition, zero-initialised
 * (WEFT_LOG_EPISODE_INIT); call weft_log_episode_begin() whenever the
 * condition is seen and weft_log_episode_end() when it has cleared. Only
 * the first begin of an episode logs (and returns true); end logs its
 * message only if an episode was open (and returns true), so a condition
 * that flaps costs two lines per episode. The count of occurrences within
 * the episode is available to the end message via weft_log_episode_count().
 * Thread-safety: any thread; begin/end race benignly (one of the racers
 * logs).
 */
typedef struct {
    uint64_t _occurrences; /* private: atomically updated */
    uint32_t _open;        /* private: 1 while an episode is open */
} weft_log_episode_t;
#define WEFT_LOG_EPISODE_INIT                                                                      \
    {                                                                                              \
        0, 0                                                                                       \
    }

WEFT_API bool weft_log_episode_begin(weft_log_episode_t *ep, weft_log_level_t level,
                                     const char *fmt, ...) WEFT_PRINTF(3, 4);
WEFT_API bool weft_log_episode_end(weft_log_episode_t *ep, weft_log_level_t level, const char *fmt,
                                   ...) WEFT_PRINTF(3, 4);
WEFT_API uint64_t weft_log_episode_count(const weft_log_episode_t *ep);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_ERROR_H */
