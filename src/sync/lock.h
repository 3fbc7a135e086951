/*
 * lock.h - a 4-byte mutex on a futex, for the hot paths where a
 * pthread_mutex_t (40 bytes) per object would be wasteful: one per future,
 * one per pool queue.
 *
 * Ulrich Drepper's three-state mutex ("Futexes Are Tricky", mutex3):
 * 0 unlocked, 1 locked, 2 locked with possible sleepers. Lock is one CAS
 * when uncontended; unlock is one exchange and a wake only if someone may
 * sleep. A short spin before sleeping covers critical sections of a few
 * instructions on another core. Not recursive, no owner check: keep
 * critical sections small and call no user code inside.
 */
#ifndef WEFT_SYNC_LOCK_H
#define WEFT_SYNC_LOCK_H

#include <stdatomic.h>
#include <stdint.h>

#include "error/base.h"
#include "sync/futex.h"

typedef struct {
    _Atomic uint32_t v;
} weft__lock_t;

#define WEFT__LOCK_INIT                                                                            \
    {                                                                                              \
        0                                                                                          \
    }

static inline void weft__lock_slow(weft__lock_t *l)
{
    uint32_t c;
    for (int spin = 0; spin < 64; spin++) {
        c = 0;
        if (atomic_compare_exchange_weak_explicit(&l->v, &c, 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        weft__cpu_relax();
    }
    /* Mark the lock contended; whoever holds it will wake one sleeper. */
    c = atomic_exchange_explicit(&l->v, 2, memory_order_acquire);
    while (c != 0) {
        weft__futex_wait(&l->v, 2, WEFT_FOREVER);
        c = atomic_exchange_explicit(&l->v, 2, memory_order_acquire);
    }
}

static inline void weft__lock(weft__lock_t *l)
{
    uint32_t c = 0;
    if (weft_likely(atomic_compare_exchange_strong_explicit(&l->v, &c, 1, memory_order_acquire,
                                                            memory_order_relaxed)))
        return;
    weft__lock_slow(l);
}

static inline void weft__unlock(weft__lock_t *l)
{
    if (atomic_exchange_explicit(&l->v, 0, memory_order_release) == 2)
        weft__futex_wake(&l->v, 1);
}

#endif /* WEFT_SYNC_LOCK_H */
