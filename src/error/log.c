/*
 * log.c - the log sink: one replaceable handler for everything the library
 * says, a default that writes one line to stderr, and once-per-episode
 * logging for repeated conditions.
 *
 * Threading: the handler and its argument are read together under `mu`
 * and called after it is released, so a handler may take its own locks
 * (but must not log through weft). `max_level` is also kept in an atomic
 * so weft_log_enabled() costs one load.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error/base.h"

#define LOG_LINE_MAX 1024

static void default_handler(weft_log_level_t level, const char *msg, void *arg);

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static weft_log_fn handler = default_handler;
static void *handler_arg;
static atomic_int max_level = WEFT_LOG_WARN;

static const char *level_name(weft_log_level_t level)
{
    switch (level) {
    case WEFT_LOG_ERROR:
        return "error";
    case WEFT_LOG_WARN:
        return "warning";
    case WEFT_LOG_INFO:
        return "info";
    case WEFT_LOG_DEBUG:
        return "debug";
    }
    return "log";
}

/* One write(2) per line so lines from concurrent threads never interleave. */
static void default_handler(weft_log_level_t level, const char *msg, void *arg)
{
    char line[LOG_LINE_MAX + 32];
    int n = snprintf(line, sizeof(line), "weft: %s: %s\n", level_name(level), msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    /* Nothing useful to do if stderr is gone. */
    ssize_t r = write(STDERR_FILENO, line, (size_t)n);
    (void)r;
}

void weft_log_set_handler(weft_log_fn fn, void *arg, weft_log_level_t max)
{
    pthread_mutex_lock(&mu);
    handler = fn ? fn : default_handler;
    handler_arg = fn ? arg : NULL;
    atomic_store(&max_level, (int)max);
    pthread_mutex_unlock(&mu);
}

bool weft_log_enabled(weft_log_level_t level)
{
    return (int)level <= atomic_load_explicit(&max_level, memory_order_relaxed);
}

static void deliver(weft_log_level_t level, const char *msg)
{
    pthread_mutex_lock(&mu);
    weft_log_fn fn = handler;
    void *arg = handler_arg;
    pthread_mutex_unlock(&mu);
    fn(level, msg, arg);
}

static void vlog(weft_log_level_t level, const char *fmt, va_list ap)
{
    char msg[LOG_LINE_MAX];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    deliver(level, msg);
}

void weft_log(weft_log_level_t level, const char *fmt, ...)
{
    if (!weft_log_enabled(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

bool weft_log_episode_begin(weft_log_episode_t *ep, weft_log_level_t level, const char *fmt, ...)
{
    __atomic_fetch_add(&ep->_occurrences, 1, __ATOMIC_RELAXED);
    uint32_t closed = 0;
    if (!__atomic_compare_exchange_n(&ep->_open, &closed, 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED))
        return false;
    if (weft_log_enabled(level)) {
        va_list ap;
        va_start(ap, fmt);
        vlog(level, fmt, ap);
        va_end(ap);
    }
    return true;
}

bool weft_log_episode_end(weft_log_episode_t *ep, weft_log_level_t level, const char *fmt, ...)
{
    uint32_t open = 1;
    if (!__atomic_compare_exchange_n(&ep->_open, &open, 0, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED))
        return false;
    if (weft_log_enabled(level)) {
        va_list ap;
        va_start(ap, fmt);
        vlog(level, fmt, ap);
        va_end(ap);
    }
    __atomic_store_n(&ep->_occurrences, 0, __ATOMIC_RELAXED);
    return true;
}

uint64_t weft_log_episode_count(const weft_log_episode_t *ep)
{
    return __atomic_load_n(&ep->_occurrences, __ATOMIC_RELAXED);
}

void weft__assert_fail(const char *expr, const char *file, int line)
{
    char msg[LOG_LINE_MAX];
    snprintf(msg, sizeof(msg), "assertion failed: %s (%s:%d)", expr, file, line);
    deliver(WEFT_LOG_ERROR, msg);
    abort();
}

void weft_panic_at(const char *file, int line, const char *fmt, ...)
{
    char msg[LOG_LINE_MAX];
    int n = snprintf(msg, sizeof(msg), "panic (%s:%d): ", file, line);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(msg))
        vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    deliver(WEFT_LOG_ERROR, msg);
    abort();
}
