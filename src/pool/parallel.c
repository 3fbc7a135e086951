/*
 * parallel.c - weft_pool_for, weft_pool_for_async, weft_pool_for_range:
 * a body over [0, n) on the pool's workers, chunked, with work stealing.
 *
 * The range is split evenly into one part per participant (the pool's
 * threads, plus the caller of the blocking forms). A participant takes
 * chunks of `grain` indexes from the front of its own part; when that is
 * empty it steals the back half of the fullest other part. Each part has
 * its own 4-byte lock, held for a few instructions per chunk, so a tiny
 * body over 10,000,000 indexes pays a handful of uncontended atomics per
 * chunk and nothing per index but the call itself.
 *
 * Workers join through internal helper jobs queued at the front of the
 * pool's queue, outside its capacity and its stats. A blocking caller
 * takes part itself; called from a worker of the same pool it is simply
 * one more participant, so nesting neither deadlocks nor serialises, and
 * its final wait runs queued jobs (the wait hook).
 *
 * Errors: the lowest failing index wins. A chunk stops at its first
 * failure; chunks that start above the lowest failure so far are skipped;
 * chunks below it still run. `remaining` counts indexes done or skipped,
 * and whoever brings it to zero settles the result.
 *
 * The task's memory is its embedded result future: the caller, every
 * queued helper and the async user each hold a reference.
 */
#include <errno.h>

#include "pool/pool-int.h"
#include "sync/thread.h"

#define NO_FAILURE      SIZE_MAX
#define CHUNKS_PER_PART 16

struct part {
    weft__lock_t lock;
    _Atomic size_t begin, end; /* written under lock, peeked at by thieves */
} __attribute__((aligned(WEFT__CACHELINE)));

struct for_task {
    struct weft_future result; /* first: the task's memory */
    weft_index_fn index_body;
    weft_range_fn range_body;
    void *arg;
    size_t grain;
    unsigned n_parts;
    _Atomic unsigned next_part;
    _Atomic size_t remaining;
    _Atomic size_t fail_index;
    weft__lock_t fail_lock;
    int fail_err;
    _Atomic unsigned helpers_pending, participants;
    struct part parts[];
};

/* ---- the task ------------------------------------------------------------ */

static struct for_task *task_new(size_t n, size_t grain, unsigned n_parts)
{
    struct for_task *t =
        weft__calloc_aligned(WEFT__CACHELINE, sizeof(*t) + n_parts * sizeof(struct part));
    if (!t)
        return NULL;
    weft__future_init(&t->result, NULL);
    t->n_parts = n_parts;
    if (!grain)
        grain = n / ((size_t)n_parts * CHUNKS_PER_PART);
    t->grain = grain ? grain : 1;
    atomic_init(&t->remaining, n);
    atomic_init(&t->fail_index, NO_FAILURE);
    size_t per = n / n_parts, extra = n % n_parts, begin = 0;
    for (unsigned i = 0; i < n_parts; i++) {
        size_t len = per + (i < extra);
        atomic_init(&t->parts[i].begin, begin);
        atomic_init(&t->parts[i].end, begin + len);
        begin += len;
    }
    return t;
}

static void record_failure(struct for_task *t, size_t index, int err)
{
    weft__lock(&t->fail_lock);
    if (index < atomic_load(&t->fail_index)) {
        t->fail_err = err < 0 ? err : -EINVAL;
        atomic_store(&t->fail_index, index);
    }
    weft__unlock(&t->fail_lock);
}

static void finish(struct for_task *t)
{
    if (atomic_load(&t->fail_index) == NO_FAILURE)
        weft_future_fulfill_int(&t->result, 0);
    else
        weft_future_reject(&t->result, t->fail_err, "a parallel loop body failed");
}

static bool above_failure(struct for_task *t, size_t i)
{
    return i > atomic_load_explicit(&t->fail_index, memory_order_relaxed);
}

static void run_chunk(struct for_task *t, size_t b, size_t e)
{
    if (above_failure(t, b)) {
        /* skipped: counted as done below */
    } else if (t->range_body) {
        int r = t->range_body(b, e, t->arg);
        if (r)
            record_failure(t, b, r);
    } else {
        for (size_t i = b; i < e; i++) {
            int r = t->index_body(i, t->arg);
            if (weft_unlikely(r)) {
                record_failure(t, i, r);
                break;
            }
            if (weft_unlikely((i & 1023) == 0) && above_failure(t, i))
                break;
        }
    }
    if (atomic_fetch_sub_explicit(&t->remaining, e - b, memory_order_acq_rel) == e - b)
        finish(t);
}

/* ---- taking and stealing ------------------------------------------------- */

static bool take(struct for_task *t, struct part *pt, size_t *b, size_t *e)
{
    weft__lock(&pt->lock);
    size_t begin = atomic_load_explicit(&pt->begin, memory_order_relaxed);
    size_t end = atomic_load_explicit(&pt->end, memory_order_relaxed);
    bool got = begin < end;
    if (got) {
        *b = begin;
        *e = end - begin > t->grain ? begin + t->grain : end;
        atomic_store_explicit(&pt->begin, *e, memory_order_relaxed);
    }
    weft__unlock(&pt->lock);
    return got;
}

static size_t left_in(struct part *pt)
{
    size_t b = atomic_load_explicit(&pt->begin, memory_order_relaxed);
    size_t e = atomic_load_explicit(&pt->end, memory_order_relaxed);
    return e > b ? e - b : 0;
}

/* Moves the back half of the fullest other part into `mine` (which is
   empty). False when there is nothing left anywhere. */
static bool steal(struct for_task *t, unsigned mine)
{
    for (;;) {
        struct part *victim = NULL;
        size_t most = 0;
        for (unsigned k = 1; k < t->n_parts; k++) {
            struct part *pt = &t->parts[(mine + k) % t->n_parts];
            size_t left = left_in(pt);
            if (left > most)
                most = left, victim = pt;
        }
        if (!victim)
            return false;
        weft__lock(&victim->lock);
        size_t b = atomic_load_explicit(&victim->begin, memory_order_relaxed);
        size_t e = atomic_load_explicit(&victim->end, memory_order_relaxed);
        size_t mid = e - b > t->grain ? b + (e - b) / 2 : b;
        if (b < e)
            atomic_store_explicit(&victim->end, mid, memory_order_relaxed);
        weft__unlock(&victim->lock);
        if (b >= e)
            continue; /* emptied meanwhile: look again */
        struct part *own = &t->parts[mine];
        weft__lock(&own->lock);
        atomic_store_explicit(&own->begin, mid, memory_order_relaxed);
        atomic_store_explicit(&own->end, e, memory_order_relaxed);
        weft__unlock(&own->lock);
        return true;
    }
}

static void participate(struct for_task *t)
{
    unsigned mine = atomic_fetch_add(&t->next_part, 1);
    if (mine >= t->n_parts)
        return;
    atomic_fetch_add(&t->participants, 1);
    size_t b, e;
    do {
        while (take(t, &t->parts[mine], &b, &e))
            run_chunk(t, b, e);
    } while (steal(t, mine));
    atomic_fetch_sub(&t->participants, 1);
}

/* ---- helpers on the pool ----------------------------------------------- */

/* Runs on a worker; a helper entry holds a reference to the task. */
static void helper(weft_job_t *job, void *arg)
{
    struct for_task *t = arg;
    atomic_fetch_add(&t->participants, 1); /* before the pending count drops */
    atomic_fetch_sub(&t->helpers_pending, 1);
    participate(t);
    atomic_fetch_sub(&t->participants, 1);
    weft_future_unref(&t->result);
}

/* Close took a helper out of a queue: it will never run. */
void weft__helper_cancelled(void *arg)
{
    struct for_task *t = arg;
    if (atomic_fetch_sub(&t->helpers_pending, 1) == 1 && atomic_load(&t->participants) == 0 &&
        atomic_load(&t->remaining) > 0)
        /* Nobody will ever do the rest: the pool closed under it. */
        weft_future_reject(&t->result, -ECANCELED, "the pool closed during a parallel loop");
    weft_future_unref(&t->result);
}

/* Queues `count` helpers at the front of the pool's queue. */
static int spawn_helpers(struct weft_pool *p, struct for_task *t, unsigned count)
{
    if (!count)
        return 0;
    for (unsigned i = 0; i < count; i++)
        weft_future_ref(&t->result);
    atomic_fetch_add(&t->helpers_pending, count);
    struct weft__entry e = {helper, t, WEFT__HELPER};
    int r = weft__pool_enqueue_helpers(p, &e, count);
    if (r < 0) {
        atomic_fetch_sub(&t->helpers_pending, count);
        for (unsigned i = 0; i < count; i++)
            weft_future_unref(&t->result);
    }
    return r;
}

static bool pool_closed(struct weft_pool *p)
{
    weft__lock(&p->qlock);
    bool closed = p->intake_closed;
    weft__unlock(&p->qlock);
    return closed;
}

/* Starts a loop over [0, n): the caller takes part when `caller` is set.
   Returns the task with the caller's reference, or NULL with *err. */
static struct for_task *start(struct weft_pool *p, size_t n, size_t grain, weft_index_fn ib,
                              weft_range_fn rb, void *arg, bool caller, int *err)
{
    if (pool_closed(p)) {
        *err = -EPIPE;
        return NULL;
    }
    unsigned parts = p->threads + (caller ? 1 : 0);
    struct for_task *t = task_new(n, grain, parts);
    if (!t) {
        *err = -ENOMEM;
        return NULL;
    }
    t->index_body = ib;
    t->range_body = rb;
    t->arg = arg;
    size_t chunks = (n + t->grain - 1) / t->grain;
    unsigned helpers =
        chunks - (caller ? 1 : 0) < p->threads ? chunks - (caller ? 1 : 0) : p->threads;
    *err = spawn_helpers(p, t, helpers);
    if (*err < 0 && !caller) {
        weft_future_unref(&t->result);
        return NULL;
    }
    *err = 0;
    return t;
}

static int run_blocking(struct weft_pool *p, size_t n, size_t grain, weft_index_fn ib,
                        weft_range_fn rb, void *arg)
{
    if (weft__self.is_loop)
        return -EDEADLK;
    if (n == 0)
        return 0;
    int err;
    struct for_task *t = start(p, n, grain, ib, rb, arg, true, &err);
    if (!t)
        return err;
    participate(t);
    /* Other participants may still be inside their last chunk; as a worker
       of this pool the wait runs queued jobs meanwhile. */
    weft_future_wait(&t->result, -1);
    err = weft_future_error(&t->result);
    weft_future_unref(&t->result);
    return err;
}

int weft_pool_for(weft_pool_t *p, size_t n, weft_index_fn body, void *arg)
{
    return run_blocking(p, n, 0, body, NULL, arg);
}

int weft_pool_for_range(weft_pool_t *p, size_t n, size_t grain, weft_range_fn body, void *arg)
{
    return run_blocking(p, n, grain, NULL, body, arg);
}

weft_future_t *weft_pool_for_async(weft_pool_t *p, size_t n, weft_index_fn body, void *arg)
{
    int err = 0;
    struct for_task *t = n ? start(p, n, 0, body, NULL, arg, false, &err) : NULL;
    if (t)
        return &t->result;
    if (err == -ENOMEM) {
        errno = ENOMEM;
        return NULL;
    }
    weft_future_t *f = weft_promise_new();
    if (!f)
        return NULL;
    if (err)
        weft_future_reject(f, err, NULL);
    else
        weft_future_fulfill_int(f, 0);
    return f;
}
