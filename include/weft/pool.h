/*
 * weft/pool.h - a supervised pool of worker threads whose jobs return
 * futures (Pike's Async pool, lparallel's kernel, the Rust book's
 * ThreadPool, done for production).
 *
 * A job is a function and an argument. Submitting it returns a future that
 * settles when the job ends: fulfilled with what the job returned (int,
 * double or an owned pointer; int 0 if it returned nothing), rejected with
 * what it failed with, rejected with -ETIMEDOUT past its deadline,
 * -EOWNERDEAD if its worker died, or cancelled. Nothing submitted is ever
 * lost or left pending: close settles everything.
 *
 * Load shedding: a pool with a queue_capacity refuses work when that many
 * jobs wait beyond those its threads run, that is when queue_capacity +
 * threads jobs are in flight (submitted, not yet ended); a worker that is
 * idle but not yet awake never makes the pool look full. It refuses with
 * -EAGAIN (try_submit, or submit_ex with nonblocking), or makes
 * the submitter wait (submit). A blocking call that could deadlock (on a
 * loop thread, or from a worker of the same pool while the queue is full)
 * fails with -EDEADLK instead of waiting.
 *
 * Supervision: a worker that dies (weft_job_exit) or is stuck past its
 * job's deadline is replaced, so capacity stays; replacements past the
 * restart intensity (restart_max in restart_period_ms) wait with a capped
 * exponential backoff while the pool reports itself degraded.
 *
 * Thread-safety: every function here may be called from any thread,
 * except where a function says otherwise. The weft_job_* functions are
 * called by the job itself, on its worker, with the job handle it was
 * given.
 */
#ifndef WEFT_POOL_H
#define WEFT_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "weft/error.h"
#include "weft/future.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_pool weft_pool_t;
typedef struct weft_job weft_job_t;

/* A job: runs on a worker thread with its handle and the submitted arg.
   It returns its result with weft_job_return_* or weft_job_fail; one that
   returns without either is fulfilled with int 0. */
typedef void (*weft_job_fn)(weft_job_t *job, void *arg);

typedef struct {
    unsigned threads;        /* 0: CPUs this process may run on */
    size_t queue_capacity;   /* jobs waiting, not running; 0: unbounded */
    int64_t job_deadline_ms; /* <= 0: none; past it: -ETIMEDOUT, replaced */
    unsigned max_abandoned;  /* up to this many stuck threads are abandoned
                                and replaced; further stuck ones are kept,
                                not replaced (degraded) until some return;
                                0: = threads */
    const char *name;        /* thread names (15 bytes), logs; NULL: "weft" */
    /* Restart intensity (appended; 0 for each default): more than
       restart_max replacements within restart_period_ms make further ones
       wait, starting at 10 ms and doubling up to restart_backoff_max_ms,
       while the pool reports itself degraded. Defaults: 100 replacements
       in 1000 ms, backoff capped at 1000 ms. */
    unsigned restart_max;
    int64_t restart_period_ms;
    int64_t restart_backoff_max_ms;
} weft_pool_options_t;

typedef struct {
    int64_t deadline_ms; /* 0: the pool's; < 0: none for this job */
    bool detached;       /* no future: *out stays NULL */
    bool nonblocking;    /* -EAGAIN instead of waiting while full */
    /* appended: */
    const char *note; /* what its worker notes while it runs (weft_proc_note,
                         for crash reports); borrowed until the job ends;
                         NULL: none */
} weft_job_options_t;

/*
 * weft_pool_new - start a pool (its workers and its supervisor thread).
 * opts NULL means every default. The name is copied. Returns NULL with
 * errno set: ENOMEM, EAGAIN (threads could not be started), EINVAL (a
 * negative period or backoff).
 */
WEFT_API weft_pool_t *weft_pool_new(const weft_pool_options_t *opts);

/*
 * weft_pool_submit - queue fn(job, arg) and return a new reference to its
 * future (the pool keeps its own; dropping yours does not cancel the job,
 * cancelling the future does). Waits while the queue is full. Where waiting
 * could deadlock (on a loop thread, or on a worker of this pool) it returns
 * a future rejected with -EDEADLK instead; on a closed pool (also when
 * closed while waiting), a future rejected with -EPIPE. Returns NULL only
 * when out of memory (errno ENOMEM). arg is borrowed by the job; if the
 * job never runs (rejected, cancelled while queued) arg stays the caller's.
 */
WEFT_API weft_future_t *weft_pool_submit(weft_pool_t *pool, weft_job_fn fn, void *arg);

/*
 * weft_pool_try_submit - queue without waiting. With out NULL the job is
 * detached (no future). Returns 0 (*out a new reference), -EAGAIN (full:
 * counted in stats.rejected), -EPIPE (closed) or -ENOMEM; *out is NULL on
 * error.
 */
WEFT_API int weft_pool_try_submit(weft_pool_t *pool, weft_job_fn fn, void *arg,
                                  weft_future_t **out);

/*
 * weft_pool_submit_ex - submit with per-job options (opts NULL: defaults).
 * *out (out may be NULL only for a detached job) is set to a new reference,
 * or NULL when detached or on error. Returns 0, -EAGAIN (full and
 * nonblocking), -EPIPE (closed), -ENOMEM, -EDEADLK (full, and waiting
 * could deadlock). A deadline counts from submission: a job still queued
 * at its deadline never runs.
 */
WEFT_API int weft_pool_submit_ex(weft_pool_t *pool, weft_job_fn fn, void *arg,
                                 const weft_job_options_t *opts, weft_future_t **out);

/* ---- inside a job (the worker thread running it) ---------------------- */

/* weft_job_return_int / _double / _ptr - the job's result, delivered when
   it returns. A second return (or a fail) is ignored; a pointer ignored
   that way is destroyed at once. A result that can no longer be delivered
   (the future was cancelled, the job timed out) is destroyed. */
WEFT_API void weft_job_return_int(weft_job_t *job, int64_t value);
WEFT_API void weft_job_return_double(weft_job_t *job, double value);
WEFT_API void weft_job_return_ptr(weft_job_t *job, void *ptr, void (*dtor)(void *));

/* weft_job_fail - the job failed with err (negative errno; 0 or positive
   becomes -EINVAL) and an optional message (copied). Ignored after a
   return. */
WEFT_API void weft_job_fail(weft_job_t *job, int err, const char *msg);

/* weft_job_cancelled - true once the job's future was cancelled (by its
   owner or by close) or it timed out: a long job should check it and stop
   early. Thread-safety: any thread holding the job handle while it runs. */
WEFT_API bool weft_job_cancelled(const weft_job_t *job);

/* weft_job_arg - the arg the job was submitted with. */
WEFT_API void *weft_job_arg(const weft_job_t *job);

/*
 * weft_job_exit - this worker dies: pthread_exit unwinds the thread, the
 * job's future is rejected with -EOWNERDEAD and the supervisor starts a
 * replacement. libweft is built with -fexceptions; job code that holds
 * scoped locks (sync.h) when it calls this must be too, or those locks
 * stay locked. Called from a job nested in a wait, it ends every job on
 * the thread.
 */
WEFT_API WEFT_NORETURN void weft_job_exit(weft_job_t *job);

/* ---- parallel loops ---------------------------------------------------- */

typedef int (*weft_index_fn)(size_t i, void *arg);
typedef int (*weft_range_fn)(size_t begin, size_t end, void *arg);

/*
 * weft_pool_for - run body(i, arg) for every i in [0, n) on the pool's
 * workers and the calling thread, and return 0 or the error (negative) of
 * the lowest failing index: chunks above a failure stop early, chunks below
 * it still run. Work is split in chunks with work stealing. Called from a
 * worker of the same pool, the caller takes part instead of waiting, so
 * nesting neither deadlocks nor serialises. Chunks are not jobs in the
 * stats and do not count against queue_capacity. Returns -EDEADLK on a
 * loop thread, -EPIPE on a closed pool, -ENOMEM.
 */
WEFT_API int weft_pool_for(weft_pool_t *pool, size_t n, weft_index_fn body, void *arg);

/* weft_pool_for_async - the same without waiting: a future fulfilled with
   int 0 or rejected with the lowest failing index's error. Usable on a
   loop thread. NULL with errno ENOMEM. The body and arg must stay valid
   until the future settles. */
WEFT_API weft_future_t *weft_pool_for_async(weft_pool_t *pool, size_t n, weft_index_fn body,
                                            void *arg);

/* weft_pool_for_range - like weft_pool_for with body(begin, end, arg) over
   chunks of about `grain` indexes (0: chosen by the pool). */
WEFT_API int weft_pool_for_range(weft_pool_t *pool, size_t n, size_t grain, weft_range_fn body,
                                 void *arg);

/* ---- closing ----------------------------------------------------------- */

/*
 * weft_pool_close - stop intake (submits get -EPIPE), run what is queued
 * until drain_timeout_ms (negative: however long it takes), then cancel
 * what is still queued, settle running jobs' futures with -ECANCELED, give
 * them a short grace (100 ms) and abandon (detach) the threads still stuck;
 * join the rest. Returns 0, or -ETIMEDOUT if it had to cancel or abandon
 * anything; -EDEADLK from one of the pool's workers or a loop thread.
 * Repeatable: a later call returns 0 at once.
 */
WEFT_API int weft_pool_close(weft_pool_t *pool, int64_t drain_timeout_ms);

/*
 * weft_pool_cancel_queued - cancel every job still waiting in the queue
 * (their futures end cancelled, -ECANCELED; they never run) while running
 * jobs go on and new submissions are accepted: what a graceful stop does
 * with work nobody has started (a server answers those requests 503).
 * Returns how many were cancelled. Never blocks for long (the queue's lock
 * only). Thread-safety: any thread, loop threads included.
 */
WEFT_API size_t weft_pool_cancel_queued(weft_pool_t *pool);

/*
 * weft_pool_free - close(0) if needed, then drop the user's reference.
 * Abandoned threads keep the pool's core alive until they return; their
 * late results are destroyed. NULL is fine. Not from the pool's workers.
 */
WEFT_API void weft_pool_free(weft_pool_t *pool);

/* ---- statistics -------------------------------------------------------- */

typedef struct {
    unsigned threads; /* live workers, not counting abandoned ones */
    size_t queued, running;
    uint64_t submitted, completed, failed, cancelled, timed_out, rejected, replaced, abandoned;
    bool degraded;
    /* appended: the wake policy at work */
    uint64_t wakes;        /* sleeping workers woken for new jobs */
    uint64_t futile_wakes; /* woken workers that found nothing to do */
} weft_pool_stats_t;

/*
 * weft_pool_stats - a consistent snapshot. submitted counts accepted jobs;
 * each ends in exactly one of completed (returned), failed (weft_job_fail,
 * or its worker died), cancelled (before or while running, by a user or by
 * close) or timed_out; so in every snapshot submitted = completed + failed
 * + cancelled + timed_out + queued + running. rejected counts -EAGAIN
 * refusals; replaced counts workers started in place of dead or stuck
 * ones; abandoned counts stuck threads let go. degraded: the pool runs
 * below its thread count (stuck threads kept, or restarts backing off).
 */
WEFT_API void weft_pool_stats(weft_pool_t *pool, weft_pool_stats_t *out);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_POOL_H */
