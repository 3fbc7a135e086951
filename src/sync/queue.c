/*
 * queue.c - the FIFO of void pointers of sync.h: bounded (Pike's Fifo) or
 * unbounded (capacity 0, Pike's Queue), with close-then-drain.
 *
 * Storage is a ring of `slots` pointers that grows by doubling (never past
 * a bounded queue's capacity) when a push finds it full, so a queue of
 * capacity 1,000,000 costs 16 slots until it actually fills. Growth that
 * fails returns -ENOMEM and leaves the queue as it was.
 *
 * Threading: one mutex guards everything below it; two condvars on
 * CLOCK_MONOTONIC, `readable` for poppers and `writable` for pushers of a
 * bounded queue. Each has a count of its blocked threads, and is signalled
 * only when that count is nonzero (a push or pop with nobody waiting costs
 * no syscall). Close broadcasts both. Items are never dereferenced, and no
 * user code runs under the lock.
 *
 * Invariants (under mu): len <= slots; head < slots once storage exists;
 * capacity == 0 || len <= capacity; once closed, len only decreases.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include "weft/sync.h"
#include "error/base.h"
#include "sync/clock.h"
#include "sync/thread.h"

#define INITIAL_SLOTS 16

struct weft_queue {
    pthread_mutex_t mu;
    pthread_cond_t readable; /* len > 0 or closed */
    pthread_cond_t writable; /* len < capacity or closed */
    void **ring WEFT_GUARDED_BY(mu);
    size_t slots WEFT_GUARDED_BY(mu); /* allocated length of ring */
    size_t head WEFT_GUARDED_BY(mu);  /* index of the oldest item */
    size_t len WEFT_GUARDED_BY(mu);
    unsigned pop_waiters WEFT_GUARDED_BY(mu);
    unsigned push_waiters WEFT_GUARDED_BY(mu);
    bool closed WEFT_GUARDED_BY(mu);
    size_t capacity; /* 0: unbounded; immutable */
};

static void lock(const weft_queue_t *q)
{
    /* The snapshot getters take a const queue; the mutex is still ours to
       lock (the object itself was never const). */
    int r = pthread_mutex_lock((pthread_mutex_t *)&q->mu);
    WEFT_ASSERT(r == 0);
    (void)r;
}

static void unlock(const weft_queue_t *q)
{
    int r = pthread_mutex_unlock((pthread_mutex_t *)&q->mu);
    WEFT_ASSERT(r == 0);
    (void)r;
}

weft_queue_t *weft_queue_new(size_t capacity)
{
    weft_queue_t *q = weft__calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->capacity = capacity;
    q->slots = capacity && capacity < INITIAL_SLOTS ? capacity : INITIAL_SLOTS;
    q->ring = weft__malloc(q->slots * sizeof(*q->ring));
    if (!q->ring)
        goto out_free_q;
    if (weft__mutex_init(&q->mu))
        goto out_free_ring;
    if (weft__cond_init(&q->readable))
        goto out_destroy_mu;
    if (weft__cond_init(&q->writable))
        goto out_destroy_readable;
    return q;

out_destroy_readable:
    pthread_cond_destroy(&q->readable);
out_destroy_mu:
    pthread_mutex_destroy(&q->mu);
out_free_ring:
    weft__free(q->ring);
out_free_q:
    weft__free(q);
    errno = ENOMEM;
    return NULL;
}

void weft_queue_free(weft_queue_t *q)
{
    if (!q)
        return;
    WEFT_ASSERT(q->pop_waiters == 0 && q->push_waiters == 0);
    pthread_cond_destroy(&q->writable);
    pthread_cond_destroy(&q->readable);
    pthread_mutex_destroy(&q->mu);
    weft__free(q->ring);
    weft__free(q);
}

static bool is_full(const weft_queue_t *q)
{
    return q->capacity && q->len >= q->capacity;
}

/* Doubles the ring (capped at a bounded queue's capacity), unwrapping the
   items to start at index 0. 0 or -ENOMEM, with nothing changed. */
static int grow(weft_queue_t *q)
{
    size_t want = q->slots <= SIZE_MAX / 2 ? q->slots * 2 : SIZE_MAX;
    if (q->capacity && want > q->capacity)
        want = q->capacity;
    if (want > SIZE_MAX / sizeof(*q->ring))
        return -ENOMEM;
    void **ring = weft__malloc(want * sizeof(*ring));
    if (!ring)
        return -ENOMEM;
    size_t first = q->slots - q->head < q->len ? q->slots - q->head : q->len;
    memcpy(ring, q->ring + q->head, first * sizeof(*ring));
    memcpy(ring + first, q->ring, (q->len - first) * sizeof(*ring));
    weft__free(q->ring);
    q->ring = ring;
    q->slots = want;
    q->head = 0;
    return 0;
}

/* Appends item to an open queue that has room: 0 or -ENOMEM. */
static int put(weft_queue_t *q, void *item)
{
    WEFT_ASSERT(!q->closed && !is_full(q));
    if (q->len == q->slots) {
        int r = grow(q);
        if (r)
            return r;
    }
    size_t tail = q->head + q->len; /* no overflow: both are below slots */
    q->ring[tail < q->slots ? tail : tail - q->slots] = item;
    q->len++;
    if (q->pop_waiters)
        pthread_cond_signal(&q->readable);
    return 0;
}

/* Removes up to max items, oldest first, into items[]; wakes as many
   blocked pushers as slots were freed. Returns the count. */
static size_t take(weft_queue_t *q, void **items, size_t max)
{
    size_t n = q->len < max ? q->len : max;
    for (size_t i = 0; i < n; i++) {
        items[i] = q->ring[q->head];
        if (++q->head == q->slots)
            q->head = 0;
    }
    q->len -= n;
    for (size_t i = 0; i < n && i < q->push_waiters; i++)
        pthread_cond_signal(&q->writable);
    return n;
}

/* Waits on cond, counting the caller in *waiters meanwhile. */
static int wait_on(weft_queue_t *q, pthread_cond_t *cond, unsigned *waiters, int64_t deadline_ns)
{
    (*waiters)++;
    int r = weft__cond_wait_until(cond, &q->mu, deadline_ns);
    (*waiters)--;
    return r;
}

/* Waits while a bounded queue is full and open. Returns 0 (room), -EPIPE,
   or -ETIMEDOUT (still full; at once if !may_wait). */
static int await_room(weft_queue_t *q, bool may_wait, int64_t deadline_ns)
{
    int r = 0;
    while (!q->closed && is_full(q)) {
        if (!may_wait || r)
            return -ETIMEDOUT;
        r = wait_on(q, &q->writable, &q->push_waiters, deadline_ns);
    }
    return q->closed ? -EPIPE : 0;
}

/* Waits while the queue is empty and open. Returns 0 (items ready), -EPIPE
   (closed and drained), or -ETIMEDOUT (at once if !may_wait). */
static int await_items(weft_queue_t *q, bool may_wait, int64_t deadline_ns)
{
    int r = 0;
    while (!q->closed && q->len == 0) {
        if (!may_wait || r)
            return -ETIMEDOUT;
        r = wait_on(q, &q->readable, &q->pop_waiters, deadline_ns);
    }
    return q->len ? 0 : -EPIPE;
}

int weft_queue_push(weft_queue_t *q, void *item, int64_t timeout_ms)
{
    if (q->capacity && weft__would_block_loop(timeout_ms))
        return -EDEADLK;
    int64_t deadline = weft__deadline_ns(timeout_ms);
    lock(q);
    int r = await_room(q, timeout_ms != 0, deadline);
    if (!r)
        r = put(q, item);
    unlock(q);
    return r;
}

int weft_queue_try_push(weft_queue_t *q, void *item)
{
    lock(q);
    int r = await_room(q, false, 0);
    if (!r)
        r = put(q, item);
    unlock(q);
    return r == -ETIMEDOUT ? -EAGAIN : r;
}

int weft_queue_pop(weft_queue_t *q, void **item, int64_t timeout_ms)
{
    if (weft__would_block_loop(timeout_ms))
        return -EDEADLK;
    int64_t deadline = weft__deadline_ns(timeout_ms);
    lock(q);
    int r = await_items(q, timeout_ms != 0, deadline);
    if (!r)
        take(q, item, 1);
    unlock(q);
    return r;
}

ssize_t weft_queue_pop_batch(weft_queue_t *q, void **items, size_t max, int64_t timeout_ms)
{
    if (max == 0 || !items)
        return -EINVAL;
    if (weft__would_block_loop(timeout_ms))
        return -EDEADLK;
    if (max > SSIZE_MAX)
        max = SSIZE_MAX;
    int64_t deadline = weft__deadline_ns(timeout_ms);
    lock(q);
    ssize_t r = await_items(q, timeout_ms != 0, deadline);
    if (!r)
        r = (ssize_t)take(q, items, max);
    unlock(q);
    return r;
}

void weft_queue_close(weft_queue_t *q)
{
    lock(q);
    q->closed = true;
    if (q->pop_waiters)
        pthread_cond_broadcast(&q->readable);
    if (q->push_waiters)
        pthread_cond_broadcast(&q->writable);
    unlock(q);
}

bool weft_queue_is_closed(const weft_queue_t *q)
{
    lock(q);
    bool closed = q->closed;
    unlock(q);
    return closed;
}

size_t weft_queue_len(const weft_queue_t *q)
{
    lock(q);
    size_t len = q->len;
    unlock(q);
    return len;
}

size_t weft_queue_capacity(const weft_queue_t *q)
{
    return q->capacity;
}
