/*
 * waitgroup.c - a counter of outstanding tasks (Go's sync.WaitGroup).
 *
 * Threading: a mutex guards the count; one condvar on CLOCK_MONOTONIC is
 * broadcast when the count reaches zero and some thread is blocked. Each
 * time it reaches zero `gen` moves, and a waiter that sees gen move is
 * released even if an add raised the count again before it ran: reaching
 * zero releases every thread waiting at that moment.
 *
 * Invariants (under mu): count never goes below zero or above UINT_MAX
 * (add refuses with -EINVAL and changes nothing).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>

#include "weft/sync.h"
#include "error/base.h"
#include "sync/clock.h"
#include "sync/thread.h"

struct weft_waitgroup {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    unsigned count WEFT_GUARDED_BY(mu);
    unsigned waiters WEFT_GUARDED_BY(mu);
    uint64_t gen WEFT_GUARDED_BY(mu); /* times the count reached zero */
};

static void lock(const weft_waitgroup_t *wg)
{
    int r = pthread_mutex_lock((pthread_mutex_t *)&wg->mu);
    WEFT_ASSERT(r == 0);
    (void)r;
}

static void unlock(const weft_waitgroup_t *wg)
{
    int r = pthread_mutex_unlock((pthread_mutex_t *)&wg->mu);
    WEFT_ASSERT(r == 0);
    (void)r;
}

weft_waitgroup_t *weft_waitgroup_new(void)
{
    weft_waitgroup_t *wg = weft__calloc(1, sizeof(*wg));
    if (!wg)
        return NULL;
    if (weft__mutex_init(&wg->mu))
        goto out_free;
    if (weft__cond_init(&wg->cond))
        goto out_destroy_mu;
    return wg;

out_destroy_mu:
    pthread_mutex_destroy(&wg->mu);
out_free:
    weft__free(wg);
    errno = ENOMEM;
    return NULL;
}

void weft_waitgroup_free(weft_waitgroup_t *wg)
{
    if (!wg)
        return;
    WEFT_ASSERT(wg->waiters == 0);
    pthread_cond_destroy(&wg->cond);
    pthread_mutex_destroy(&wg->mu);
    weft__free(wg);
}

int weft_waitgroup_add(weft_waitgroup_t *wg, int delta)
{
    lock(wg);
    int64_t next = (int64_t)wg->count + delta;
    if (next < 0 || next > UINT_MAX) {
        unlock(wg);
        return -EINVAL;
    }
    wg->count = (unsigned)next;
    if (next == 0 && delta != 0) {
        wg->gen++;
        if (wg->waiters)
            pthread_cond_broadcast(&wg->cond);
    }
    unlock(wg);
    return 0;
}

int weft_waitgroup_done(weft_waitgroup_t *wg)
{
    return weft_waitgroup_add(wg, -1);
}

/* Waits until the count is zero or has been since the call began: 0, or
   -ETIMEDOUT (at once if !may_wait). */
static int await_zero(weft_waitgroup_t *wg, bool may_wait, int64_t deadline_ns)
{
    uint64_t gen = wg->gen;
    int r = 0;
    while (wg->count != 0 && wg->gen == gen) {
        if (!may_wait || r)
            return -ETIMEDOUT;
        wg->waiters++;
        r = weft__cond_wait_until(&wg->cond, &wg->mu, deadline_ns);
        wg->waiters--;
    }
    return 0;
}

int weft_waitgroup_wait(weft_waitgroup_t *wg, int64_t timeout_ms)
{
    if (weft__would_block_loop(timeout_ms))
        return -EDEADLK;
    int64_t deadline = weft__deadline_ns(timeout_ms);
    lock(wg);
    int r = await_zero(wg, timeout_ms != 0, deadline);
    unlock(wg);
    return r;
}

unsigned weft_waitgroup_count(const weft_waitgroup_t *wg)
{
    lock(wg);
    unsigned n = wg->count;
    unlock(wg);
    return n;
}
