/*
 * weft/loop.h - event loops on libuv, and the bridge between them and
 * every other thread (cl-async's event loop, notifiers, promises on a
 * loop, `work` and `with-delay`, in C).
 *
 * A weft_loop_t wraps one uv_loop_t. One thread runs it (weft_loop_run)
 * and owns everything on it: its handles, timers and buffers (DESIGN rule
 * 1). Work reaches a loop from other threads in three ways only:
 *   - weft_loop_post(loop, fn, arg): fn(arg) runs on the loop's thread,
 *     exactly once, in order per producer, never inside the posting call;
 *   - weft_future_then(f, loop, cb, arg): cb runs on the loop's thread once
 *     f settles (weft_loop_work is a pool job plus a then);
 *   - a notifier, triggered from any thread, wakes a callback on the loop.
 * Each loop has one inbox (a list) and one doorbell (an eventfd): producers
 * append and ring only when the list goes from empty to non-empty; the
 * loop takes the whole batch and runs it with no lock held (rule 2).
 *
 * Stopping is terminal and can come from any thread: posts then fail with
 * -EPIPE (the argument stays the caller's), every post accepted before
 * still runs before weft_loop_run returns, and every continuation still
 * waiting is called with -ECANCELED, so its argument can always be freed
 * (rule 5). Blocking weft calls made on a loop thread fail with -EDEADLK
 * instead of blocking it (rule 6).
 *
 * Lifecycle: weft_loop_new -> (set up) -> weft_loop_run on some thread ->
 * weft_loop_stop from anywhere -> run returns -> weft_loop_close ->
 * weft_loop_free. Your own libuv handles on weft_loop_uv(loop) must be
 * closed before weft_loop_close (it returns -EBUSY while any is open); the
 * place to close them is a hook registered with weft_loop_on_stop, which
 * runs on the loop thread as the loop stops.
 *
 * Thread-safety words used below: "any thread"; "loop thread only" means
 * the thread inside weft_loop_run, or any single thread while no thread
 * runs the loop (before run, or after it returned); "not thread-safe".
 * A loop must not be closed or freed while another thread is inside a
 * call on it, except weft_loop_post, weft_loop_stop and
 * weft_notifier_trigger, which keep returning -EPIPE / 0 until free.
 *
 * This is the only weft header that includes <uv.h>.
 */
#ifndef WEFT_LOOP_H
#define WEFT_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "weft/error.h"
#include "weft/future.h"
#include "weft/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_loop weft_loop_t;
typedef struct weft_notifier weft_notifier_t;
typedef struct weft_loop_group weft_loop_group_t;

/* ---- loops ------------------------------------------------------------- */

/* Options for weft_loop_new_ex; zero-initialise for the defaults. */
typedef struct {
    const char *name;             /* for logs; copied (31 bytes); NULL: "loop-<n>" */
    int64_t blocked_threshold_ms; /* an iteration holding the loop longer is
                                     logged and counted; 0: 100; < 0: off */
    int64_t lag_interval_ms;      /* how often the lag timer measures drift;
                                     0: 100; < 0: off */
} weft_loop_options_t;

/*
 * weft_loop_new / weft_loop_new_ex - a loop that nobody runs yet (opts NULL:
 * defaults). Posts, thens and notifiers can be set up before it runs; they
 * take effect once a thread calls weft_loop_run. Returns NULL with errno:
 * ENOMEM, or what libuv failed with (EMFILE...).
 * Thread-safety: any thread.
 */
WEFT_API weft_loop_t *weft_loop_new(void);
WEFT_API weft_loop_t *weft_loop_new_ex(const weft_loop_options_t *opts);

/*
 * weft_loop_run - run the loop on the calling thread until it is stopped.
 * First runs every post accepted so far; then the libuv loop runs (it does
 * not return when it runs out of handles: only weft_loop_stop ends it). As
 * it stops, it runs every post accepted before the stop, calls the delays
 * still pending with -ECANCELED, runs the on_stop hooks, and lets the
 * handles they closed finish closing. While it runs, the thread is a loop
 * thread: weft_loop_current() is this loop and blocking weft calls fail
 * with -EDEADLK. Returns 0 once stopped (at once if it already was),
 * -EBUSY if another thread runs it, -EDEADLK if the calling thread is
 * already a loop thread, -EPIPE once closed, -EINVAL for NULL.
 * Thread-safety: any thread, which becomes the loop thread.
 */
WEFT_API int weft_loop_run(weft_loop_t *loop);

/*
 * weft_loop_stop - stop the loop for good. From this call on, posts,
 * thens, works, delays and notifier triggers on it fail with -EPIPE. Posts
 * accepted before still run (on the loop thread, before weft_loop_run
 * returns; or in weft_loop_close if the loop never runs again).
 * Continuations whose futures have not settled are called with -ECANCELED
 * inside this call, on the calling thread (those of weft_loop_work wait for
 * their job instead: see there). The running loop returns from
 * weft_loop_run soon after (at the end of its current iteration).
 * Repeatable. Returns 0, or -EINVAL for NULL. Thread-safety: any thread.
 */
WEFT_API int weft_loop_stop(weft_loop_t *loop);

/* weft_loop_is_stopped - whether weft_loop_stop was called (a snapshot).
   Thread-safety: any thread. */
WEFT_API bool weft_loop_is_stopped(const weft_loop_t *loop);

/*
 * weft_loop_post - run fn(arg) on the loop's thread. It runs exactly once,
 * after every post this thread made to this loop before (in order per
 * producer), in a later batch of the loop (never inside this call, even on
 * the loop thread). arg is borrowed until fn runs; fn must not be NULL.
 * Returns 0; -EPIPE once the loop is stopped (fn will not run: arg stays
 * yours); -ENOMEM (likewise); -EINVAL.
 * Cost: one compare-and-swap on a per-thread block of 62 slots, so no
 * allocation per post; a thread keeps one such block for each of the last
 * 8 loops it posted to. Thread-safety: any thread.
 */
WEFT_API int weft_loop_post(weft_loop_t *loop, void (*fn)(void *arg), void *arg);

/* weft_loop_current - the loop the calling thread is running, or NULL off
   loop threads. Thread-safety: any thread. */
WEFT_API weft_loop_t *weft_loop_current(void);

/* weft_loop_on_thread - whether the calling thread is running this loop.
   Thread-safety: any thread. */
WEFT_API bool weft_loop_on_thread(const weft_loop_t *loop);

/*
 * weft_loop_uv - the libuv loop, borrowed (valid until weft_loop_free), to
 * use libuv directly: timers, TCP, signals... Handles you open on it are
 * yours to close (see weft_loop_on_stop) and their callbacks run on the
 * loop thread. Do not call uv_run, uv_stop or uv_loop_close on it.
 * Thread-safety: the pointer from any thread; using it, loop thread only.
 */
WEFT_API uv_loop_t *weft_loop_uv(weft_loop_t *loop);

/*
 * weft_loop_on_stop - register fn(loop, arg) to run once on the loop
 * thread as the loop stops: after the last accepted posts ran, before
 * weft_loop_run returns; the place to uv_close your own handles (run lets
 * them finish closing before it returns). If the loop is stopped without
 * ever running, weft_loop_close runs the hooks instead, on its thread.
 * Hooks run in registration order. Returns 0, -EPIPE once stopped,
 * -ENOMEM, -EINVAL, -EPERM from another thread while the loop runs.
 * Thread-safety: loop thread only.
 */
WEFT_API int weft_loop_on_stop(weft_loop_t *loop, void (*fn)(weft_loop_t *loop, void *arg),
                               void *arg);

/* weft_loop_set_data / weft_loop_data - one pointer of user data per loop
   (per-loop state of a server, say), borrowed. Thread-safety: set on the
   loop thread (or before it runs); read from any thread that saw it set. */
WEFT_API void weft_loop_set_data(weft_loop_t *loop, void *data);
WEFT_API void *weft_loop_data(const weft_loop_t *loop);

/* weft_loop_name - the loop's name, borrowed (valid until free).
   Thread-safety: any thread. */
WEFT_API const char *weft_loop_name(const weft_loop_t *loop);

/*
 * weft_loop_close - release the loop's resources after it stopped. Runs
 * on the calling thread, which counts as the loop thread meanwhile: the
 * on_stop hooks if they never ran, every accepted post that never ran,
 * every queued continuation with -ECANCELED, and the close callbacks of
 * handles being closed. Returns 0 (also when already closed); -EBUSY if
 * the loop was not stopped or is still running (nothing was done), or if a
 * handle other than weft's own is still open on it (your libuv handles,
 * notifiers not freed): what was due above has run, but nothing was
 * released; close those handles and call again. -EINVAL for NULL.
 * Thread-safety: not thread-safe (one thread, while no thread runs it).
 */
WEFT_API int weft_loop_close(weft_loop_t *loop);

/*
 * weft_loop_free - free the loop; NULL is fine. If it was not closed, it
 * is stopped and closed first; if that fails (-EBUSY: handles still open)
 * the failure is logged and the loop is leaked rather than freed under its
 * handles. Not while it runs. Continuations and late producers that still
 * hold the loop's inbox keep only the inbox alive, and see it closed.
 * Thread-safety: not thread-safe.
 */
WEFT_API void weft_loop_free(weft_loop_t *loop);

/* ---- continuations ------------------------------------------------------ */

/* A continuation: f is borrowed for the call; status is 0, or -ECANCELED
   when the loop stopped before it could run there (then it runs on the
   thread named by the function that registered it). */
typedef void (*weft_then_fn)(weft_future_t *f, int status, void *arg);

/*
 * weft_future_then - run cb(f, status, arg) exactly once: on the loop
 * thread with status 0 once f settles (also when it already has: never
 * inside this call), or with status -ECANCELED if the loop stops first --
 * on the thread that calls weft_loop_stop (inside that call), or in
 * weft_loop_close for one already queued when the loop stopped without
 * running it -- so arg can always be freed. Continuations queued before
 * the stop still run with status 0 before weft_loop_run returns. then
 * takes its own reference to f (dropped after cb); f is borrowed inside cb.
 * Returns 0; -EPIPE if the loop is stopped (cb is never called); -ENOMEM;
 * -EINVAL. Continuations are not ordered with posts or with each other.
 * Thread-safety: any thread.
 */
WEFT_API int weft_future_then(weft_future_t *f, weft_loop_t *loop, weft_then_fn cb, void *arg);

/*
 * weft_loop_work - cl-async's `work`: run fn(job, arg) on the pool, then
 * done(future, status, done_arg) on the loop, as weft_future_then. Never
 * blocks: the job is submitted with nonblocking set. arg is borrowed by the
 * job (pool.h); done_arg until done runs. If the loop stops while the job
 * is queued or running, done is not called at the stop: it runs with
 * -ECANCELED when the job's future settles, on the thread that settles it
 * (the worker, normally), so arg is never freed under a running job. (A
 * job that finishes while this very call races with the stop is delivered
 * with -ECANCELED by the loop's last drain or by weft_loop_close.)
 * Returns 0; -EAGAIN if the pool is full; -EPIPE if the pool is closed or
 * the loop stopped; -ENOMEM; -EINVAL. On error nothing was submitted and
 * done is never called. Thread-safety: any thread.
 */
WEFT_API int weft_loop_work(weft_loop_t *loop, weft_pool_t *pool, weft_job_fn fn, void *arg,
                            weft_then_fn done, void *done_arg);

/* ---- notifiers ---------------------------------------------------------- */

/*
 * weft_notifier_new - cl-async's make-notifier: a callback on the loop
 * thread that any thread can trigger. cb(arg) runs on the loop thread;
 * arg is borrowed until weft_notifier_free. A notifier is a libuv handle
 * on the loop: weft_loop_close returns -EBUSY until it is freed. Returns
 * NULL with errno: EPIPE (loop stopped), ENOMEM, EINVAL, EPERM (another
 * thread while the loop runs). Thread-safety: loop thread only.
 */
WEFT_API weft_notifier_t *weft_notifier_new(weft_loop_t *loop, void (*cb)(void *arg), void *arg);

/*
 * weft_notifier_trigger - cl-async's trigger-notifier. Coalescing: after
 * each trigger the callback runs at least once, later, on the loop thread,
 * and that run happens after the trigger (whatever the triggering thread
 * wrote before it is visible to the callback); several triggers before the
 * callback runs may be merged into one call. Never runs cb inside this
 * call. Returns 0, or -EPIPE once the loop is stopped (the callback may
 * then never run). Thread-safety: any thread, until weft_notifier_free.
 */
WEFT_API int weft_notifier_trigger(weft_notifier_t *n);

/* weft_notifier_free - close the notifier; its memory goes once libuv has
   closed the handle (on the loop's next iteration, or in weft_loop_close).
   No trigger may run concurrently or later. NULL is fine.
   Thread-safety: loop thread only. */
WEFT_API void weft_notifier_free(weft_notifier_t *n);

/* ---- delays ------------------------------------------------------------- */

/* A delay's callback, on the loop thread: status 0 when the delay expired,
   -ECANCELED when the loop stopped first (during weft_loop_run's stop, or
   in weft_loop_close if it never ran). */
typedef void (*weft_delay_fn)(weft_loop_t *loop, int status, void *arg);

/* Names a pending delay; generation-counted, so a stale id never matches
   a later delay. 0 is never a valid id. */
typedef uint64_t weft_delay_id_t;

/*
 * weft_loop_delay - cl-async's with-delay: fn(loop, status, arg) runs once,
 * on the loop thread, about ms milliseconds from now (libuv timer, ms
 * resolution; 0 runs it on the next iteration, never inside this call).
 * Exactly once: with 0 when it expires, or -ECANCELED if the loop stops
 * first; never if cancelled. arg is borrowed until then. *id (id may be
 * NULL) names it for weft_loop_delay_cancel. Delays reuse their timer
 * handles, so a steady stream of them allocates nothing. Returns 0;
 * -EPIPE once stopped; -ENOMEM; -EINVAL; -EPERM from another thread while
 * the loop runs. Thread-safety: loop thread only.
 */
WEFT_API int weft_loop_delay(weft_loop_t *loop, uint64_t ms, weft_delay_fn fn, void *arg,
                             weft_delay_id_t *id);

/*
 * weft_loop_delay_cancel - cancel a pending delay: fn will not run and arg
 * is the caller's again. Returns 0; -ENOENT if id names no pending delay
 * (it ran, was cancelled or the loop stopped); -EPERM from another thread
 * while the loop runs. Thread-safety: loop thread only.
 */
WEFT_API int weft_loop_delay_cancel(weft_loop_t *loop, weft_delay_id_t id);

/* ---- statistics --------------------------------------------------------- */

typedef struct {
    bool running;           /* a thread is inside weft_loop_run */
    uint64_t iterations;    /* libuv loop iterations */
    uint64_t posts;         /* posts run */
    uint64_t continuations; /* continuations run on the loop (status 0) */
    int64_t run_ns;         /* wall time spent inside weft_loop_run */
    int64_t busy_ns;        /* run_ns minus the time idle in epoll
                               (uv_metrics_idle_time) */
    int64_t lag_ns;         /* timer drift at the last lag tick */
    int64_t lag_max_ns;     /* the largest drift seen */
    uint64_t blocked;       /* blocked episodes: an iteration held the loop
                               longer than blocked_threshold_ms */
    int64_t blocked_max_ns; /* the longest blocked episode seen (so far,
                               for one still going on) */
} weft_loop_stats_t;

/*
 * weft_loop_stats - a snapshot of the loop's figures (each field is
 * consistent on its own). Blocked episodes are found by one watchdog thread
 * shared by every loop (started on the first run, async signals blocked):
 * the loop stamps each iteration (uv_prepare, uv_check); when neither a
 * stamp nor its idle time moves for longer than the threshold, one warning
 * is logged when the episode starts and one with its duration when it ends
 * (weft_log_episode_*), and it is counted here.
 * Thread-safety: any thread.
 */
WEFT_API void weft_loop_stats(weft_loop_t *loop, weft_loop_stats_t *out);

/* ---- loop groups -------------------------------------------------------- */

typedef struct {
    unsigned loops;           /* 0: the CPUs this process may run on
                                 (sched_getaffinity) */
    const char *name;         /* thread and loop names "<name>-<i>"
                                 (15 bytes for threads); NULL: "weft-loop" */
    weft_loop_options_t loop; /* for every loop (its name is ignored) */
    /* Optional hooks, each on loop i's own thread: on_start before anything
       else runs there, on_stop as the loop stops (weft_loop_on_stop: close
       your handles there). arg is borrowed until weft_loop_group_free. */
    void (*on_start)(weft_loop_t *loop, unsigned index, void *arg);
    void (*on_stop)(weft_loop_t *loop, unsigned index, void *arg);
    void *arg;
} weft_loop_group_options_t;

/*
 * weft_loop_group_new - N loops (not running yet), for N threads: the
 * shape of a server. opts NULL: defaults. Returns NULL with errno ENOMEM,
 * EINVAL, or what libuv failed with. Thread-safety: any thread.
 */
WEFT_API weft_loop_group_t *weft_loop_group_new(const weft_loop_group_options_t *opts);

/*
 * weft_loop_group_start - start one thread per loop (async signals blocked
 * in each: handle signals with uv_signal_t, which libuv delivers to the
 * loop that watches them) and run loop i on thread i. Returns 0; -EBUSY if
 * already started; -ENOMEM or -EAGAIN if a thread could not be started
 * (then every loop has been stopped and the started threads joined: the
 * group can only be freed). Thread-safety: not thread-safe (one thread
 * manages a group).
 */
WEFT_API int weft_loop_group_start(weft_loop_group_t *g);

/* weft_loop_group_stop - weft_loop_stop on every loop. Returns 0.
   Thread-safety: any thread (a loop's own thread included). */
WEFT_API int weft_loop_group_stop(weft_loop_group_t *g);

/*
 * weft_loop_group_join - wait until every loop thread has returned (after
 * weft_loop_group_stop, or a stop of each loop). Returns 0 (also when not
 * started, or already joined), -EDEADLK on a loop thread.
 * Thread-safety: not thread-safe (the managing thread).
 */
WEFT_API int weft_loop_group_join(weft_loop_group_t *g);

/* weft_loop_group_size / weft_loop_group_loop - how many loops, and loop i
   (borrowed until weft_loop_group_free; NULL if i is out of range).
   Thread-safety: any thread. */
WEFT_API unsigned weft_loop_group_size(const weft_loop_group_t *g);
WEFT_API weft_loop_t *weft_loop_group_loop(weft_loop_group_t *g, unsigned i);

/*
 * weft_loop_group_free - stop, join, close and free every loop, then the
 * group; NULL is fine. A loop that cannot be closed (handles still open)
 * is logged and leaked. Not on one of the group's threads.
 * Thread-safety: not thread-safe (the managing thread).
 */
WEFT_API void weft_loop_group_free(weft_loop_group_t *g);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_LOOP_H */
