/*
 * sem.c - a counting semaphore with a timed wait.
 *
 * Not sem_t: sem_timedwait measures CLOCK_REALTIME, so a clock jump would
 * stretch or cut the timeout. A mutex guards the count; one condvar on
 * CLOCK_MONOTONIC is signalled by post only when a thread is blocked on
 * it, once per unit, so each unit wakes at most one waiter.
 *
 * Invariants (under mu): a thread only blocks while count == 0; count
 * never exceeds UINT_MAX (post refuses instead).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>

#include "weft/sync.h"
#include "error/base.h"
#include "sync/clock.h"
#include "sync/thread.h"

struct weft_sem {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    unsigned count WEFT_GUARDED_BY(mu);
    unsigned waiters WEFT_GUARDED_BY(mu);
};

static void lock(const weft_sem_t *s)
{
    int r = pthread_mutex_lock((pthread_mutex_t *)&s->mu);
    WEFT_ASSERT(r == 0);
    (void)r;
}

static void unlock(const weft_sem_t *s)
{
    int r = pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
    WEFT_ASSERT(r == 0);
    (void)r;
}

weft_sem_t *weft_sem_new(unsigned initial)
{
    weft_sem_t *s = weft__calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->count = initial;
    if (weft__mutex_init(&s->mu))
        goto out_free;
    if (weft__cond_init(&s->cond))
        goto out_destroy_mu;
    return s;

out_destroy_mu:
    pthread_mutex_destroy(&s->mu);
out_free:
    weft__free(s);
    errno = ENOMEM;
    return NULL;
}

void weft_sem_free(weft_sem_t *s)
{
    if (!s)
        return;
    WEFT_ASSERT(s->waiters == 0);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    weft__free(s);
}

int weft_sem_post(weft_sem_t *s)
{
    int r = 0;
    lock(s);
    if (s->count == UINT_MAX) {
        r = -EOVERFLOW;
    } else {
        s->count++;
        if (s->waiters)
            pthread_cond_signal(&s->cond);
    }
    unlock(s);
    return r;
}

/* Waits while no unit is available: 0 (one is), or -ETIMEDOUT (at once
   if !may_wait). */
static int await_unit(weft_sem_t *s, bool may_wait, int64_t deadline_ns)
{
    int r = 0;
    while (s->count == 0) {
        if (!may_wait || r)
            return -ETIMEDOUT;
        s->waiters++;
        r = weft__cond_wait_until(&s->cond, &s->mu, deadline_ns);
        s->waiters--;
    }
    return 0;
}

int weft_sem_wait(weft_sem_t *s, int64_t timeout_ms)
{
    if (weft__would_block_loop(timeout_ms))
        return -EDEADLK;
    int64_t deadline = weft__deadline_ns(timeout_ms);
    lock(s);
    int r = await_unit(s, timeout_ms != 0, deadline);
    if (!r)
        s->count--;
    unlock(s);
    return r;
}

unsigned weft_sem_value(const weft_sem_t *s)
{
    lock(s);
    unsigned v = s->count;
    unlock(s);
    return v;
}
