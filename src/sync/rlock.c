/*
 * rlock.c - a recursive lock with an owner check (newLISP's RLock).
 *
 * A mutex guards the owner and depth; threads that find the lock taken
 * block on one CLOCK_MONOTONIC condvar, signalled when the last level is
 * released and someone waits. The owner is the address of a thread-local
 * byte: unique among live threads, so comparing it with the caller's says
 * whether the caller holds the lock. A thread that exits while holding the
 * lock leaves it held forever (as with a pthread mutex).
 *
 * Threading: `owner` is atomic so weft_rlock_held can read it without the
 * mutex. Relaxed loads are enough there: only the holder stores its own
 * address and only the holder clears it, so a thread always sees its own
 * latest store, and any other value means "not me".
 *
 * Invariants (under mu): owner == NULL <=> depth == 0.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include "weft/sync.h"
#include "error/base.h"
#include "sync/clock.h"
#include "sync/thread.h"

struct weft_rlock {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    _Atomic(const void *) owner;          /* NULL: free; stored under mu */
    unsigned depth WEFT_GUARDED_BY(mu);   /* levels held by owner */
    unsigned waiters WEFT_GUARDED_BY(mu); /* threads blocked on cond */
};

static __thread char self_tag;

static const void *self(void)
{
    return &self_tag;
}

static const void *owner_of(const weft_rlock_t *rl)
{
    return atomic_load_explicit(&rl->owner, memory_order_relaxed);
}

static void lock(weft_rlock_t *rl)
{
    int r = pthread_mutex_lock(&rl->mu);
    WEFT_ASSERT(r == 0);
    (void)r;
}

static void unlock(weft_rlock_t *rl)
{
    int r = pthread_mutex_unlock(&rl->mu);
    WEFT_ASSERT(r == 0);
    (void)r;
}

weft_rlock_t *weft_rlock_new(void)
{
    weft_rlock_t *rl = weft__calloc(1, sizeof(*rl));
    if (!rl)
        return NULL;
    atomic_init(&rl->owner, NULL);
    if (weft__mutex_init(&rl->mu))
        goto out_free;
    if (weft__cond_init(&rl->cond))
        goto out_destroy_mu;
    return rl;

out_destroy_mu:
    pthread_mutex_destroy(&rl->mu);
out_free:
    weft__free(rl);
    errno = ENOMEM;
    return NULL;
}

void weft_rlock_free(weft_rlock_t *rl)
{
    if (!rl)
        return;
    WEFT_ASSERT(owner_of(rl) == NULL && rl->waiters == 0);
    pthread_cond_destroy(&rl->cond);
    pthread_mutex_destroy(&rl->mu);
    weft__free(rl);
}

/* Takes the lock for the caller, or one more level of it. With deny_wait
   (a loop thread that asked to wait), a lock held elsewhere is -EDEADLK.
   Returns 0, -EAGAIN, -EDEADLK or -ETIMEDOUT (at once if !may_wait). */
static int acquire(weft_rlock_t *rl, bool may_wait, bool deny_wait, int64_t deadline_ns)
{
    if (owner_of(rl) == self()) {
        if (rl->depth == UINT_MAX)
            return -EAGAIN;
        rl->depth++;
        return 0;
    }
    if (owner_of(rl) && deny_wait)
        return -EDEADLK;
    int r = 0;
    while (owner_of(rl)) {
        if (!may_wait || r)
            return -ETIMEDOUT;
        rl->waiters++;
        r = weft__cond_wait_until(&rl->cond, &rl->mu, deadline_ns);
        rl->waiters--;
    }
    WEFT_ASSERT(rl->depth == 0);
    atomic_store_explicit(&rl->owner, self(), memory_order_relaxed);
    rl->depth = 1;
    return 0;
}

int weft_rlock_lock(weft_rlock_t *rl)
{
    lock(rl);
    int r = acquire(rl, true, false, WEFT_FOREVER);
    unlock(rl);
    return r;
}

int weft_rlock_timedlock(weft_rlock_t *rl, int64_t timeout_ms)
{
    int64_t deadline = weft__deadline_ns(timeout_ms);
    lock(rl);
    int r = acquire(rl, timeout_ms != 0, weft__would_block_loop(timeout_ms), deadline);
    unlock(rl);
    return r;
}

int weft_rlock_unlock(weft_rlock_t *rl)
{
    lock(rl);
    if (owner_of(rl) != self()) {
        unlock(rl);
        return -EPERM;
    }
    WEFT_ASSERT(rl->depth > 0);
    if (--rl->depth == 0) {
        atomic_store_explicit(&rl->owner, NULL, memory_order_relaxed);
        if (rl->waiters)
            pthread_cond_signal(&rl->cond);
    }
    unlock(rl);
    return 0;
}

bool weft_rlock_held(const weft_rlock_t *rl)
{
    return owner_of(rl) == self();
}
