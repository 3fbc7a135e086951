/*
 * weft/proc.h - processes: starting the program itself as a child,
 * watching and reaping children, restart intensity, shared memory between
 * processes, and crash notes (what each thread was doing when a process
 * died).
 *
 * The only safe way to survive a crash in C is another process. weft never
 * calls fork() in a process that may have threads (the child of a fork
 * holds copies of other threads' locks): children are started with
 * posix_spawn of /proc/self/exe, so the same program runs on both sides
 * and picks its role from its arguments. Each child is watched through a
 * pidfd (pollable, immune to pid reuse). Shared state lives in memfd
 * segments (nothing in /dev/shm; gone once the last process holding it
 * exits, SIGKILL included), as slots of atomic counters that readers sum,
 * never behind a process-shared lock a killed holder would leave locked.
 *
 * Used by the server's worker processes (weft --workers) and the process
 * pool (procpool.h).
 */
#ifndef WEFT_PROC_H
#define WEFT_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "weft/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- children ------------------------------------------------------------ */

typedef struct weft_proc weft_proc_t;

/* How to start a child; zero-initialise, then set argv. */
typedef struct {
    const char *const *argv; /* NULL-terminated; argv[0] is what ps shows.
                                The program run is always this one. */
    const char *const *env;  /* NULL-terminated changes to the child's
                                environment (a copy of ours): "NAME=value"
                                sets, "NAME" alone removes; may be NULL */
    const int *fds;          /* fds[i] becomes descriptor 3 + i in the
                                child; descriptors 0-2 are inherited,
                                every other one is closed; may be NULL */
    unsigned n_fds;
    bool new_group; /* the child leads a new process group (a
                       terminal's ^C then reaches only us) */
} weft_spawn_options_t;

/*
 * weft_proc_spawn - start the program itself (posix_spawn of
 * /proc/self/exe) with the default disposition for every signal and an
 * empty signal mask, whatever the calling thread had. The child finds our
 * pid in WEFT_PARENT_PID (see weft_proc_child_init). On success *out is a
 * new handle, the caller's to free. -EINVAL (no argv, too many fds),
 * -ENOMEM, -EMFILE, or what posix_spawn or pidfd_open said (-ENOENT: the
 * program was deleted).
 * Thread-safety: any thread. A death signal the child asks for is tied to
 * the *thread* that spawned it (prctl(2)): spawn from a thread that lives
 * as long as its children should.
 */
WEFT_API int weft_proc_spawn(const weft_spawn_options_t *opts, weft_proc_t **out);

/* The child's pid (still valid after it exited, until freed). */
WEFT_API pid_t weft_proc_pid(const weft_proc_t *p);

/* A descriptor that polls readable once the child has exited (its pidfd),
   for poll(2) or uv_poll_t; owned by the handle. */
WEFT_API int weft_proc_fd(const weft_proc_t *p);

/* weft_proc_signal - send sig to the child through its pidfd (never to a
   recycled pid). 0, -ESRCH once it has been reaped, -EINVAL. */
WEFT_API int weft_proc_signal(weft_proc_t *p, int sig);

/*
 * weft_proc_reap - wait up to timeout_ms for the child to exit and collect
 * it. 0 and its wait status in *status (NULL is fine: decode with
 * WIFEXITED and friends, or weft_proc_describe), -ETIMEDOUT while it still
 * runs. After the first 0 it returns 0 and the same status again.
 * -EDEADLK on a loop thread with a timeout other than 0.
 */
WEFT_API int weft_proc_reap(weft_proc_t *p, int64_t timeout_ms, int *status);

/* Whether the child was reaped. */
WEFT_API bool weft_proc_reaped(const weft_proc_t *p);

/* weft_proc_free - a child still running is killed (SIGKILL) and reaped
   first, so no zombie is left. NULL is fine. */
WEFT_API void weft_proc_free(weft_proc_t *p);

/* weft_proc_describe - a wait status in words: "exited with status 2",
   "killed by SIGSEGV", "killed by SIGABRT (core dumped)". Writes into buf
   (size bytes, always terminated) and returns it. */
WEFT_API const char *weft_proc_describe(int status, char *buf, size_t size);

/*
 * weft_proc_child_init - in a child: ask for death_signal when the parent
 * dies (PR_SET_PDEATHSIG; 0: none), then check the parent that spawned us
 * is still the one we have (it may have died before the request): 0, or
 * -ESRCH when it is gone (the child should exit), -ENOENT when this
 * process was not started by weft_proc_spawn.
 */
WEFT_API int weft_proc_child_init(int death_signal);

/* ---- restart intensity ----------------------------------------------------- */

/*
 * How often a supervisor may restart what keeps dying, as Erlang's
 * supervisors bound it: up to `intensity` restarts within `period_ms` are
 * immediate; beyond that each restart waits a backoff that starts at
 * backoff_ms and doubles up to max_backoff_ms, and falls back to
 * immediate once a whole period passes under the intensity. Zero fields
 * take the defaults: 5 restarts in 10 s, backoff 100 ms .. 10 s.
 */
#define WEFT_RESTART_WINDOW 32 /* the most restarts an intensity counts */
typedef struct {
    unsigned intensity;
    int64_t period_ms;
    int64_t backoff_ms, max_backoff_ms;
} weft_restart_policy_t;

/* A restart history; zero it, or weft_restarts_init. Not thread-safe. */
typedef struct {
    weft_restart_policy_t policy;       /* resolved */
    int64_t at_ms[WEFT_RESTART_WINDOW]; /* recent restarts, a ring */
    unsigned next, count;
    int64_t backoff_ms; /* the next delay once over */
} weft_restarts_t;

WEFT_API void weft_restarts_init(weft_restarts_t *r, const weft_restart_policy_t *policy);

/* weft_restarts_next - record a restart wanted at now_ms (any monotonic
   clock in ms) and return how long to wait before doing it: 0 within the
   intensity, else the current backoff. */
WEFT_API int64_t weft_restarts_next(weft_restarts_t *r, int64_t now_ms);

/* Restarts recorded within the last period before now_ms. */
WEFT_API unsigned weft_restarts_recent(const weft_restarts_t *r, int64_t now_ms);

/* ---- shared memory ----------------------------------------------------------- */

/*
 * weft_shm_create - a zero-filled segment of size bytes shared with the
 * children it is passed to: a memfd (named name, shown in /proc/PID/maps)
 * mapped MAP_SHARED. *fd is its descriptor, close-on-exec: pass it to
 * children as one of weft_spawn_options_t.fds; close it when no child
 * needs it any more. Returns the mapping, or NULL with errno. Pages cost
 * memory only once touched. Unmap with weft_shm_unmap.
 */
WEFT_API void *weft_shm_create(const char *name, size_t size, int *fd);

/* weft_shm_map - in a child: map the whole segment fd (passed by the
   parent), *size set to its size. NULL with errno (EINVAL: not a
   segment). The fd may be closed afterwards. */
WEFT_API void *weft_shm_map(int fd, size_t *size);

WEFT_API void weft_shm_unmap(void *mem, size_t size);

/* ---- crash notes ---------------------------------------------------------------- */

/*
 * A process's threads note what they are doing (a route, a job) in a
 * notes area of shared memory; when the process dies, its supervisor
 * reads what was in flight and names it in the log line. Writing a note
 * is a few dozen bytes into the thread's own slot, no lock and no system
 * call.
 */
#define WEFT_PROC_NOTE_SIZE 64 /* bytes per thread, the text's end included */

/* Bytes for a notes area with a slot for each of `threads` threads. */
WEFT_API size_t weft_proc_notes_size(unsigned threads);

/* weft_proc_notes_init - by the supervisor: lay out an area (from
   weft_shm_create) before a child writes to it; also to reuse one. */
WEFT_API void weft_proc_notes_init(void *area, size_t size);

/* weft_proc_notes_attach - in the child: this process's notes go to area
   from now on (it stays mapped until the process exits). -EINVAL if area
   was not laid out by weft_proc_notes_init. Call before threads start. */
WEFT_API int weft_proc_notes_attach(void *area, size_t size);

/*
 * weft_proc_note - the calling thread is now doing `what` (copied,
 * truncated to WEFT_PROC_NOTE_SIZE - 1 bytes); NULL: nothing. The first
 * note of a thread claims a slot, given back when the thread exits.
 * Without an attached area, or with every slot taken, it does nothing.
 * Thread-safety: any thread, async-signal-safe once the slot is claimed.
 */
WEFT_API void weft_proc_note(const char *what);

/* weft_proc_notes_read - by the supervisor, after the child died: what its
   threads were doing, joined with "; " into buf (always terminated; ""
   if nothing). Returns how many notes were in flight. */
WEFT_API unsigned weft_proc_notes_read(const void *area, size_t size, char *buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_PROC_H */
