/*
 * thread.h - what weft knows about the calling thread, and the monotonic
 * mutex/condvar helpers every blocking primitive uses.
 *
 * A thread can be a loop thread (set by the loop layer while a loop runs
 * on it, or by a test) and/or a worker of one pool. Both facts live in one
 * thread-local record, so lower layers can enforce the deadlock rules of
 * DESIGN.md without knowing about the higher ones:
 *   - a blocking call with a timeout other than 0 on a loop thread returns
 *     -EDEADLK (weft__would_block_loop);
 *   - a pool worker that waits on a future lets its pool run queued jobs
 *     on this thread meanwhile: the pool installs `wait_hook`, and
 *     weft_future_wait calls it instead of sleeping.
 */
#ifndef WEFT_SYNC_THREAD_H
#define WEFT_SYNC_THREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "error/base.h"

typedef struct weft_future weft_future_t;

/* Waits for f on behalf of a pool worker until the absolute deadline,
   running the pool's queued jobs meanwhile: 0 settled, -ETIMEDOUT. */
typedef int (*weft__wait_hook_fn)(void *ctx, weft_future_t *f, int64_t deadline_ns);

struct weft__thread {
    bool is_loop;                 /* a loop runs on this thread */
    void *pool;                   /* the pool core this thread works for */
    weft__wait_hook_fn wait_hook; /* set by that pool while a job runs */
    void *wait_ctx;
};

extern __thread struct weft__thread weft__self WEFT_INTERNAL;

/* Marks or unmarks the calling thread as a loop thread. Tests use it to
   check the -EDEADLK rules without a loop. */
static inline void weft__thread_mark_loop(bool on)
{
    weft__self.is_loop = on;
}

static inline bool weft__on_loop_thread(void)
{
    return weft__self.is_loop;
}

/* True when a call with this timeout must fail with -EDEADLK: on a loop
   thread every timeout but 0 could block the loop. */
static inline bool weft__would_block_loop(int64_t timeout_ms)
{
    return timeout_ms != 0 && weft__self.is_loop;
}

/* Condition variables on CLOCK_MONOTONIC, so wall-clock jumps do not
   stretch or cut timeouts. Returns 0 or -errno. */
int weft__cond_init(pthread_cond_t *cond) WEFT_INTERNAL;

/* pthread_cond_wait until an absolute monotonic deadline (WEFT_FOREVER for
   none): 0 when woken (maybe spuriously), -ETIMEDOUT when the deadline has
   passed. The caller re-checks its predicate either way. */
int weft__cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mu,
                          int64_t deadline_ns) WEFT_INTERNAL;

/* Mutexes that check their use in debug builds (PTHREAD_MUTEX_ERRORCHECK)
   and are plain (fast) otherwise. Returns 0 or -errno. */
int weft__mutex_init(pthread_mutex_t *mu) WEFT_INTERNAL;

/* Blocks every asynchronous signal on the calling thread (worker and
   watchdog threads, DESIGN rule 6), leaving synchronous ones (SIGSEGV...)
   deliverable. */
void weft__block_async_signals(void) WEFT_INTERNAL;

/* Creates a thread with async signals blocked in it from its first
   instruction. Returns 0 or -errno; *out is set on success. */
int weft__thread_start(pthread_t *out, void *(*fn)(void *), void *arg, bool detached) WEFT_INTERNAL;

/* Names the calling thread (truncated to 15 bytes) for ps, top and gdb. */
void weft__thread_set_name(const char *name) WEFT_INTERNAL;

#endif /* WEFT_SYNC_THREAD_H */
