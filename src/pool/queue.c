/*
 * queue.c - the pool's job queue and its wake policy.
 *
 * One FIFO (a doubly linked list, so a cancelled job leaves in O(1)) under
 * the 4-byte qlock; the lock is held for a few pointer moves, never while a
 * job or a callback runs, and futex wakes happen after it is released.
 *
 * Wake policy. Idle workers first linger (spin up to LINGER_NS watching
 * queue_len), then sleep on their own park word, on a LIFO stack (the most
 * recently active worker has the warmest cache). A new job wakes a sleeper
 * only when the jobs waiting outnumber the workers already awake and idle
 * (lingering, or woken and on their way); so a steady stream keeps a few
 * workers spinning and costs no wake-ups at all, and a burst wakes as many
 * workers as it has jobs. A worker that takes a job and leaves more behind
 * applies the same rule, so wakes propagate without a thundering herd.
 * `wakes` counts wake-ups, `futile_wakes` those that found nothing to do.
 *
 * Correctness of "no wake because someone is lingering": a lingering
 * worker stops counting itself only after it took the lock and found the
 * queue empty (next_job), and every enqueue happens under that lock, so a
 * job queued while it lingered is either seen by it or counted against
 * the awake workers by a later enqueue's check.
 *
 * Fairness: the lock is never held while a job runs (the Rust book's
 * Mutex<Receiver> pitfall), and woken workers take jobs in FIFO order.
 */
#include <errno.h>

#include "pool/pool-int.h"
#include "sync/futex.h"
#include "sync/spin.h"
#include "sync/thread.h"

/* How long an idle worker spins before it sleeps: longer than a typical
   gap between submissions in a stream, far shorter than a scheduler tick. */
#define LINGER_NS (50 * 1000)

static size_t qlen(const struct weft_pool *p)
{
    return atomic_load_explicit(&p->queue_len, memory_order_relaxed);
}

/* Picks a sleeper to wake if the waiting jobs outnumber the awake idle
   workers; the caller wakes it after unlocking. Under qlock. */
static struct pool_worker *pick_sleeper(struct weft_pool *p)
{
    unsigned awake = atomic_load_explicit(&p->spinning, memory_order_relaxed) + p->wake_pending;
    struct pool_worker *w = p->sleepers;
    if (!w || qlen(p) <= awake)
        return NULL;
    p->sleepers = w->next_sleeper;
    p->n_sleepers--;
    w->sleeping = false;
    w->woken_by_pool = true;
    p->wake_pending++;
    atomic_store_explicit(&w->park, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&p->wakes, 1, memory_order_relaxed);
    return w;
}

static void wake(struct pool_worker *w)
{
    if (w)
        weft__futex_wake(&w->park, 1);
}

/* A queue slot freed up: tell one blocked submitter. Under qlock; returns
   whether the caller must wake after unlocking. */
static bool space_freed(struct weft_pool *p)
{
    if (!p->space_waiters)
        return false;
    atomic_fetch_add_explicit(&p->space_seq, 1, memory_order_release);
    return true;
}

static void unlink_job(struct weft_pool *p, struct weft_job *job)
{
    if (job->prev)
        job->prev->next = job->next;
    else
        p->head = job->next;
    if (job->next)
        job->next->prev = job->prev;
    else
        p->tail = job->prev;
    job->next = job->prev = NULL;
    atomic_store_explicit(&p->queue_len, qlen(p) - 1, memory_order_relaxed);
}

/* Waits for a free slot; returns with qlock held. */
static void wait_for_space(struct weft_pool *p)
{
    uint32_t seq = atomic_load_explicit(&p->space_seq, memory_order_acquire);
    p->space_waiters++;
    weft__unlock(&p->qlock);
    weft__futex_wait(&p->space_seq, seq, WEFT_FOREVER);
    weft__lock(&p->qlock);
    p->space_waiters--;
}

int weft__pool_enqueue(struct weft_pool *p, struct weft_job *job, bool nonblocking)
{
    weft__lock(&p->qlock);
    for (;;) {
        int err = 0;
        if (p->intake_closed)
            err = -EPIPE;
        else if (!p->capacity || qlen(p) - p->helpers_queued < p->capacity)
            break;
        else if (nonblocking)
            err = -EAGAIN;
        else if (weft__self.is_loop || weft__self.pool == p)
            err = -EDEADLK; /* waiting here could deadlock */
        if (err) {
            weft__unlock(&p->qlock);
            if (err == -EAGAIN)
                atomic_fetch_add_explicit(&p->rejected, 1, memory_order_relaxed);
            return err;
        }
        wait_for_space(p);
    }
    job->prev = p->tail;
    job->next = NULL;
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    atomic_store_explicit(&p->queue_len, qlen(p) + 1, memory_order_relaxed);
    p->submitted++;
    struct pool_worker *w = pick_sleeper(p);
    weft__unlock(&p->qlock);
    wake(w);
    return 0;
}

/* Queues a parallel-loop helper at the front, ahead of ordinary jobs,
   outside the capacity and the stats. */
int weft__pool_enqueue_helper(struct weft_pool *p, struct weft_job *job)
{
    weft__lock(&p->qlock);
    if (p->intake_closed) {
        weft__unlock(&p->qlock);
        return -EPIPE;
    }
    job->prev = NULL;
    job->next = p->head;
    if (p->head)
        p->head->prev = job;
    else
        p->tail = job;
    p->head = job;
    p->helpers_queued++;
    atomic_store_explicit(&p->queue_len, qlen(p) + 1, memory_order_relaxed);
    struct pool_worker *w = pick_sleeper(p);
    weft__unlock(&p->qlock);
    wake(w);
    return 0;
}

/* Takes the head job to run. Under qlock. `active` goes up before
   queue_len goes down, so close's drain check (queue_len, then active)
   never sees a popped job in neither. */
static struct weft_job *pop_locked(struct weft_pool *p, struct pool_worker *w, bool *space)
{
    struct weft_job *job = p->head;
    if (!job)
        return NULL;
    atomic_fetch_add_explicit(&p->active, 1, memory_order_seq_cst);
    unlink_job(p, job);
    if (job->internal)
        p->helpers_queued--;
    else
        p->started++;
    job->worker = w; /* before RUNNING: whoever ends it finds its thread */
    atomic_store_explicit(&job->phase, JOB_RUNNING, memory_order_release);
    *space = space_freed(p);
    return job;
}

static void after_pop(struct weft_pool *p, bool space, struct pool_worker *next)
{
    if (space)
        weft__futex_wake(&p->space_seq, 1);
    wake(next);
}

struct weft_job *weft__pool_try_pop(struct pool_worker *w)
{
    struct weft_pool *p = w->pool;
    if (qlen(p) == 0)
        return NULL;
    bool space = false;
    weft__lock(&p->qlock);
    struct weft_job *job = pop_locked(p, w, &space);
    struct pool_worker *next = job ? pick_sleeper(p) : NULL;
    weft__unlock(&p->qlock);
    after_pop(p, space, next);
    return job;
}

/* Spins up to LINGER_NS for a job to appear. Returns true if one did, with
   the worker still counted in `spinning` (next_job uncounts it under the
   lock); false, uncounted, if none came. */
static bool linger(struct weft_pool *p)
{
    atomic_fetch_add_explicit(&p->spinning, 1, memory_order_seq_cst);
    struct weft__spin spin = weft__spin_begin(LINGER_NS, WEFT_FOREVER);
    while (weft__spin_next(&spin))
        if (qlen(p) > 0)
            return true;
    atomic_fetch_sub_explicit(&p->spinning, 1, memory_order_seq_cst);
    return false;
}

/* Puts w on the sleepers stack if there is still nothing to do. Under
   qlock. Returns false if w must not sleep. */
static bool push_sleeper(struct weft_pool *p, struct pool_worker *w)
{
    if (qlen(p) > 0 || p->stop_workers || atomic_load(&w->abandoned))
        return false;
    atomic_store_explicit(&w->park, 0, memory_order_seq_cst);
    w->sleeping = true;
    w->next_sleeper = p->sleepers;
    p->sleepers = w;
    p->n_sleepers++;
    return true;
}

void weft__pool_park(struct pool_worker *w, int64_t deadline_ns)
{
    while (atomic_load_explicit(&w->park, memory_order_seq_cst) == 0)
        if (weft__futex_wait(&w->park, 0, deadline_ns) == -ETIMEDOUT)
            return;
}

/* Takes w off the sleepers stack if it is still there. Under qlock. */
static void remove_sleeper(struct weft_pool *p, struct pool_worker *w)
{
    if (!w->sleeping)
        return;
    for (struct pool_worker **pp = &p->sleepers; *pp; pp = &(*pp)->next_sleeper) {
        if (*pp == w) {
            *pp = w->next_sleeper;
            break;
        }
    }
    w->sleeping = false;
    p->n_sleepers--;
}

/* A worker woken by the pool is no longer pending once it holds the lock.
   Under qlock. Returns whether it had been woken by the pool. */
static bool claim_wake(struct weft_pool *p, struct pool_worker *w)
{
    if (!w->woken_by_pool)
        return false;
    w->woken_by_pool = false;
    p->wake_pending--;
    return true;
}

struct weft_job *weft__pool_next_job(struct pool_worker *w)
{
    struct weft_pool *p = w->pool;
    bool lingered = false;
    for (;;) {
        bool space = false;
        weft__lock(&p->qlock);
        if (lingered)
            atomic_fetch_sub_explicit(&p->spinning, 1, memory_order_seq_cst);
        bool woken = claim_wake(p, w);
        if (atomic_load(&w->abandoned)) {
            /* Let go by the supervisor: take nothing more, pass the wake on. */
            struct pool_worker *next = woken ? pick_sleeper(p) : NULL;
            weft__unlock(&p->qlock);
            wake(next);
            return NULL;
        }
        struct weft_job *job = pop_locked(p, w, &space);
        if (job) {
            struct pool_worker *next = pick_sleeper(p);
            weft__unlock(&p->qlock);
            after_pop(p, space, next);
            return job;
        }
        if (woken)
            atomic_fetch_add_explicit(&p->futile_wakes, 1, memory_order_relaxed);
        if (p->stop_workers) {
            weft__unlock(&p->qlock);
            return NULL;
        }
        weft__unlock(&p->qlock);
        if ((lingered = linger(p)))
            continue;
        weft__lock(&p->qlock);
        bool sleep = push_sleeper(p, w);
        weft__unlock(&p->qlock);
        if (sleep)
            weft__pool_park(w, WEFT_FOREVER);
    }
}

/* For the wait hook: park w until it is woken (by the pool, by the future
   it waits on, or by close) or the deadline passes, unless there is work
   or `pending` has become false. Leaves w off the sleepers stack. */
void weft__pool_park_waiting(struct pool_worker *w, const weft_future_t *f, int64_t deadline_ns)
{
    struct weft_pool *p = w->pool;
    weft__lock(&p->qlock);
    bool sleep = push_sleeper(p, w);
    weft__unlock(&p->qlock);
    /* push_sleeper cleared park before this check (seq_cst): a settle after
       the check sets it again (future.c, publish). */
    if (sleep && weft_future_state(f) == WEFT_FUTURE_PENDING)
        weft__pool_park(w, deadline_ns);
    weft__lock(&p->qlock);
    remove_sleeper(p, w);
    bool woken = claim_wake(p, w);
    /* A wake meant for a job this waiter may not take goes to another. */
    struct pool_worker *next = woken ? pick_sleeper(p) : NULL;
    weft__unlock(&p->qlock);
    wake(next);
}

void weft__pool_unpark(struct pool_worker *w)
{
    struct weft_pool *p = w->pool;
    weft__lock(&p->qlock);
    remove_sleeper(p, w);
    atomic_store_explicit(&w->park, 1, memory_order_seq_cst);
    weft__unlock(&p->qlock);
    weft__futex_wake(&w->park, 1);
}

bool weft__pool_unlink_queued(struct weft_pool *p, struct weft_job *job, enum job_end why)
{
    weft__lock(&p->qlock);
    bool queued = atomic_load_explicit(&job->phase, memory_order_relaxed) == JOB_QUEUED;
    bool space = false;
    if (queued) {
        unlink_job(p, job);
        atomic_store_explicit(&job->phase, JOB_ENDED, memory_order_release);
        if (why == END_TIMED_OUT)
            p->timed_out_q++;
        else
            p->cancelled_q++;
        space = space_freed(p);
    }
    weft__unlock(&p->qlock);
    if (space)
        weft__futex_wake(&p->space_seq, 1);
    return queued;
}

size_t weft__pool_take_all_queued(struct weft_pool *p, struct weft_job **list)
{
    weft__lock(&p->qlock);
    size_t n = 0;
    for (struct weft_job *job = p->head; job; job = job->next, n++)
        atomic_store_explicit(&job->phase, JOB_ENDED, memory_order_release);
    *list = p->head;
    p->head = p->tail = NULL;
    atomic_store_explicit(&p->queue_len, 0, memory_order_relaxed);
    p->cancelled_q += n - p->helpers_queued;
    p->helpers_queued = 0;
    weft__unlock(&p->qlock);
    return n;
}

void weft__pool_close_intake(struct weft_pool *p)
{
    weft__lock(&p->qlock);
    p->intake_closed = true;
    atomic_fetch_add_explicit(&p->space_seq, 1, memory_order_release);
    weft__unlock(&p->qlock);
    weft__futex_wake_all(&p->space_seq);
}

void weft__pool_stop_workers(struct weft_pool *p)
{
    weft__lock(&p->qlock);
    p->stop_workers = true;
    struct pool_worker *list = p->sleepers;
    for (struct pool_worker *w = list; w; w = w->next_sleeper) {
        w->sleeping = false;
        atomic_store_explicit(&w->park, 1, memory_order_seq_cst);
    }
    p->sleepers = NULL;
    p->n_sleepers = 0;
    weft__unlock(&p->qlock);
    /* Slots outlive the pool's threads, so the list is safe to walk. */
    for (struct pool_worker *w = list, *next; w; w = next) {
        next = w->next_sleeper;
        weft__futex_wake(&w->park, 1);
    }
}
