/*
 * local.c - each worker's local ring: the batch it took from the shared
 * ring, which it runs from the head and which idle workers may steal half
 * of.
 *
 * A ring has its own 4-byte lock. Its owner takes it for every pop, but
 * the lock's cache line stays in the owner's cache unless a thief came by,
 * so an uncontended pop costs a few instructions; head and tail are
 * atomics only so thieves and lingering workers can peek at the length
 * without the lock. Only the owner pushes (a batch into an empty ring, or
 * what it stole), so the ring never overflows. Slots of dead or abandoned
 * workers keep their entries until someone steals them or the slot's next
 * thread runs them.
 */
#include <string.h>

#include "pool/pool-int.h"

#define MASK (WEFT__LOCAL_CAP - 1)

static unsigned len_of(const struct local_ring *r)
{
    return atomic_load_explicit(&r->tail, memory_order_relaxed) -
           atomic_load_explicit(&r->head, memory_order_relaxed);
}

unsigned weft__local_len(const struct pool_worker *w)
{
    return len_of(&w->local);
}

void weft__local_push_batch(struct pool_worker *w, const struct weft__entry *e, unsigned n)
{
    struct local_ring *r = &w->local;
    weft__lock(&r->lock);
    unsigned tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    WEFT_ASSERT(len_of(r) + n <= WEFT__LOCAL_CAP);
    for (unsigned i = 0; i < n; i++)
        r->e[(tail + i) & MASK] = e[i];
    atomic_store_explicit(&r->tail, tail + n, memory_order_relaxed);
    weft__unlock(&r->lock);
}

bool weft__local_pop(struct pool_worker *w, struct weft__entry *out)
{
    struct local_ring *r = &w->local;
    if (len_of(r) == 0)
        return false;
    weft__lock(&r->lock);
    unsigned head = atomic_load_explicit(&r->head, memory_order_relaxed);
    bool got = head != atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (got) {
        *out = r->e[head & MASK];
        atomic_store_explicit(&r->head, head + 1, memory_order_relaxed);
    }
    weft__unlock(&r->lock);
    return got;
}

/* Takes the older half (rounded up) of a victim's ring. */
static unsigned steal_half(struct local_ring *r, struct weft__entry *out)
{
    weft__lock(&r->lock);
    unsigned head = atomic_load_explicit(&r->head, memory_order_relaxed);
    unsigned n = (len_of(r) + 1) / 2;
    for (unsigned i = 0; i < n; i++)
        out[i] = r->e[(head + i) & MASK];
    atomic_store_explicit(&r->head, head + n, memory_order_relaxed);
    weft__unlock(&r->lock);
    return n;
}

bool weft__local_steal(struct pool_worker *thief)
{
    struct weft_pool *p = thief->pool;
    struct weft__entry loot[WEFT__LOCAL_CAP / 2];
    for (unsigned k = 0; k < p->n_slots; k++) {
        unsigned i = (thief->steal_from + k) % p->n_slots;
        struct pool_worker *victim = &p->slots[i];
        if (victim == thief || len_of(&victim->local) == 0)
            continue;
        unsigned n = steal_half(&victim->local, loot);
        if (n == 0)
            continue;
        thief->steal_from = i; /* come back while it has more */
        weft__local_push_batch(thief, loot, n);
        return true;
    }
    return false;
}

unsigned weft__local_drain(struct pool_worker *w, struct weft__entry *out)
{
    struct local_ring *r = &w->local;
    weft__lock(&r->lock);
    unsigned head = atomic_load_explicit(&r->head, memory_order_relaxed);
    unsigned n = len_of(r);
    for (unsigned i = 0; i < n; i++)
        out[i] = r->e[(head + i) & MASK];
    atomic_store_explicit(&r->head, head + n, memory_order_relaxed);
    weft__unlock(&r->lock);
    return n;
}
