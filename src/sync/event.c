/*
 * event.c - manual and auto reset events (newLISP's Event, Win32's
 * SetEvent/ResetEvent).
 *
 * Threading: one mutex guards the state, one CLOCK_MONOTONIC condvar
 * carries the wakeups, signalled only when a thread is blocked on it.
 *
 * Manual reset: `set` is the flag. Every set also bumps `gen`, and a waiter
 * that sees gen move is released even if a reset came before it ran, so a
 * set always releases every thread blocked at that moment.
 *
 * Auto reset: a set with blocked waiters that have not all been granted a
 * release hands one of them a grant (`granted`) and leaves the flag clear;
 * otherwise it sets the flag, which the next waiter consumes. So each set
 * releases exactly one waiter, now or later, and sets without waiters do
 * not accumulate. A grant may be taken by a newcomer instead of the thread
 * that was signalled; that thread then waits again, and the count of
 * releases is still one per set.
 *
 * Invariants (whenever mu is free): granted <= waiters; manual events
 * never grant.
 */
#include <errno.h>
#include <pthread.h>

#include "weft/sync.h"
#include "error/base.h"
#include "sync/clock.h"
#include "sync/thread.h"

struct weft_event {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool manual;                          /* immutable */
    bool set WEFT_GUARDED_BY(mu);         /* the flag */
    unsigned waiters WEFT_GUARDED_BY(mu); /* threads blocked in wait */
    unsigned granted WEFT_GUARDED_BY(mu); /* auto: releases handed out, not taken */
    uint64_t gen WEFT_GUARDED_BY(mu);     /* manual: number of sets */
};

static void lock(const weft_event_t *ev)
{
    int r = pthread_mutex_lock((pthread_mutex_t *)&ev->mu);
    WEFT_ASSERT(r == 0);
    (void)r;
}

static void unlock(const weft_event_t *ev)
{
    int r = pthread_mutex_unlock((pthread_mutex_t *)&ev->mu);
    WEFT_ASSERT(r == 0);
    (void)r;
}

weft_event_t *weft_event_new(bool manual_reset, bool initially_set)
{
    weft_event_t *ev = weft__calloc(1, sizeof(*ev));
    if (!ev)
        return NULL;
    ev->manual = manual_reset;
    ev->set = initially_set;
    if (weft__mutex_init(&ev->mu))
        goto out_free;
    if (weft__cond_init(&ev->cond))
        goto out_destroy_mu;
    return ev;

out_destroy_mu:
    pthread_mutex_destroy(&ev->mu);
out_free:
    weft__free(ev);
    errno = ENOMEM;
    return NULL;
}

void weft_event_free(weft_event_t *ev)
{
    if (!ev)
        return;
    WEFT_ASSERT(ev->waiters == 0);
    pthread_cond_destroy(&ev->cond);
    pthread_mutex_destroy(&ev->mu);
    weft__free(ev);
}

void weft_event_set(weft_event_t *ev)
{
    lock(ev);
    WEFT_ASSERT(ev->granted <= ev->waiters && !(ev->manual && ev->granted));
    if (ev->manual) {
        ev->set = true;
        ev->gen++;
        if (ev->waiters)
            pthread_cond_broadcast(&ev->cond);
    } else if (ev->waiters > ev->granted) {
        ev->granted++;
        pthread_cond_signal(&ev->cond);
    } else {
        ev->set = true;
    }
    unlock(ev);
}

void weft_event_reset(weft_event_t *ev)
{
    lock(ev);
    ev->set = false;
    unlock(ev);
}

bool weft_event_is_set(const weft_event_t *ev)
{
    lock(ev);
    bool set = ev->set;
    unlock(ev);
    return set;
}

/* Whether a waiter that started at generation gen may go, consuming the
   grant or the flag of an auto reset event. */
static bool try_pass(weft_event_t *ev, uint64_t gen)
{
    if (ev->manual)
        return ev->set || ev->gen != gen;
    if (ev->granted) {
        ev->granted--;
        return true;
    }
    if (ev->set) {
        ev->set = false;
        return true;
    }
    return false;
}

/* Waits until the caller may pass: 0, or -ETIMEDOUT (at once if
   !may_wait). */
static int await_pass(weft_event_t *ev, bool may_wait, int64_t deadline_ns)
{
    uint64_t gen = ev->gen;
    int r = 0;
    while (!try_pass(ev, gen)) {
        if (!may_wait || r)
            return -ETIMEDOUT;
        ev->waiters++;
        r = weft__cond_wait_until(&ev->cond, &ev->mu, deadline_ns);
        ev->waiters--;
    }
    return 0;
}

int weft_event_wait(weft_event_t *ev, int64_t timeout_ms)
{
    if (weft__would_block_loop(timeout_ms))
        return -EDEADLK;
    int64_t deadline = weft__deadline_ns(timeout_ms);
    lock(ev);
    int r = await_pass(ev, timeout_ms != 0, deadline);
    unlock(ev);
    return r;
}
