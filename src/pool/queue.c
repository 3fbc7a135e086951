/*
 * queue.c - the pool's shared ring of entries, its capacity, and the wake
 * policy that decides which sleeping worker to wake.
 *
 * The ring holds 24-byte entries in a power-of-two array under the 4-byte
 * qlock, growing by doubling. Workers take entries in batches straight
 * into their local ring (refill), so the lock and the ring's cache lines
 * cross cores once per batch, not once per job.
 *
 * Capacity bounds the jobs in flight: submitted and not yet ended may be
 * at most queue_capacity + threads, so that many wait once every worker
 * is busy, and a worker that is idle but not yet awake never makes the
 * pool look full. Ends are counted per worker (and pool-wide when someone
 * else ends a job); the submitter keeps a stale lower bound of their sum
 * (ended_seen), which over-estimates what is in flight, and adds the
 * counters up again only when that estimate says "full". A submitter that
 * must wait for room sleeps on space_seq; it announces itself before its
 * last check and whoever ends a job checks for waiters after counting the
 * end (both sequentially consistent), so a wake-up cannot be lost.
 *
 * Wake policy. An idle worker lingers (spins up to LINGER_NS watching for
 * work), then sleeps on its own park word, on a LIFO stack (the most
 * recently active worker has the warmest cache). A new entry wakes a
 * sleeper only when the entries in the shared ring outnumber the workers
 * already awake and idle (lingering, or woken and on their way); a worker
 * that takes a batch and leaves work behind or has more than one entry in
 * its local ring wakes one more to steal, if nobody is looking. So a steady
 * stream keeps a few workers spinning and costs no wake-ups, and a burst
 * wakes as many as it can use. `wakes` counts wake-ups, `futile_wakes`
 * those that found nothing to do.
 *
 * "No wake because someone lingers" is safe: a lingering worker checks
 * the shared ring and the local rings under qlock before it sleeps, and
 * every enqueue and refill happens under qlock.
 */
#include <errno.h>

#include "pool/pool-int.h"
#include "sync/futex.h"
#include "sync/spin.h"
#include "sync/thread.h"

/* How long an idle worker spins before it sleeps: longer than a typical
   gap between submissions in a stream, far shorter than a scheduler tick. */
#define LINGER_NS (50 * 1000)

#define RING_START 64
#define BATCH_MAX  (WEFT__LOCAL_CAP / 2)

static size_t glen(const struct weft_pool *p)
{
    return atomic_load_explicit(&p->ring_len, memory_order_relaxed);
}

/* ---- the ring ----------------------------------------------------------- */

static int ring_reserve(struct weft_pool *p, size_t extra)
{
    size_t len = glen(p);
    if (len + extra <= p->ring_cap)
        return 0;
    size_t cap = p->ring_cap ? p->ring_cap : RING_START;
    while (cap < len + extra)
        cap *= 2;
    struct weft__entry *r = weft__malloc(cap * sizeof(*r));
    if (!r)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++)
        r[i] = p->ring[(p->ring_head + i) & (p->ring_cap - 1)];
    weft__free(p->ring);
    p->ring = r;
    p->ring_cap = cap;
    p->ring_head = 0;
    p->ring_tail = len;
    return 0;
}

static void ring_set_len(struct weft_pool *p)
{
    atomic_store_explicit(&p->ring_len, p->ring_tail - p->ring_head, memory_order_relaxed);
}

static struct weft__entry ring_pop(struct weft_pool *p)
{
    struct weft__entry e = p->ring[p->ring_head++ & (p->ring_cap - 1)];
    ring_set_len(p);
    return e;
}

/* ---- waking ------------------------------------------------------------- */

/* Takes the top sleeper off the stack and marks it woken; the caller wakes
   it after unlocking. Under qlock. */
static struct pool_worker *pop_sleeper(struct weft_pool *p)
{
    struct pool_worker *w = p->sleepers;
    if (!w)
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

static unsigned awake_idle(const struct weft_pool *p)
{
    return atomic_load_explicit(&p->spinning, memory_order_relaxed) + p->wake_pending;
}

/* A sleeper to wake if the shared ring holds more than the awake idle
   workers will take. Under qlock. */
static struct pool_worker *pick_sleeper(struct weft_pool *p)
{
    return glen(p) > awake_idle(p) ? pop_sleeper(p) : NULL;
}

static void wake(struct pool_worker *w)
{
    if (w)
        weft__futex_wake(&w->park, 1); /* slots outlive the pool's threads */
}

void weft__pool_wake_helper(struct weft_pool *p)
{
    weft__lock(&p->qlock);
    struct pool_worker *w = awake_idle(p) == 0 ? pop_sleeper(p) : NULL;
    weft__unlock(&p->qlock);
    wake(w);
}

/* ---- capacity ----------------------------------------------------------- */

/* Jobs ended so far, by any path: a lower bound, as each counter only
   grows and is read once. */
static uint64_t sum_ended(const struct weft_pool *p)
{
    uint64_t n = atomic_load(&p->cancelled_q) + atomic_load(&p->timed_out_q) +
                 atomic_load(&p->cancelled_r) + atomic_load(&p->timed_out_r);
    for (unsigned i = 0; i < p->n_slots; i++) {
        const struct pool_worker *w = &p->slots[i];
        n += atomic_load(&w->completed) + atomic_load(&w->failed) + atomic_load(&w->cancelled);
    }
    return n;
}

/* Under qlock. Exact when it says full; cheap when far from full. */
static bool full(struct weft_pool *p)
{
    uint64_t room = p->capacity + p->threads;
    if (!p->capacity || p->submitted - p->ended_seen < room)
        return false;
    p->ended_seen = sum_ended(p);
    return p->submitted - p->ended_seen >= room;
}

/* Sleeps until room may have freed up; returns with qlock held. */
static void wait_for_space(struct weft_pool *p)
{
    uint32_t seq = atomic_load_explicit(&p->space_seq, memory_order_seq_cst);
    p->space_waiters++;
    atomic_fetch_add_explicit(&p->space_waiting, 1, memory_order_seq_cst);
    bool still_full = full(p); /* after announcing: see the header comment */
    weft__unlock(&p->qlock);
    if (still_full)
        weft__futex_wait(&p->space_seq, seq, WEFT_FOREVER);
    weft__lock(&p->qlock);
    p->space_waiters--;
    atomic_fetch_sub_explicit(&p->space_waiting, 1, memory_order_relaxed);
}

void weft__pool_space_freed(struct weft_pool *p)
{
    if (atomic_load_explicit(&p->space_waiting, memory_order_seq_cst) == 0)
        return;
    atomic_fetch_add_explicit(&p->space_seq, 1, memory_order_seq_cst);
    weft__futex_wake(&p->space_seq, 1);
}

/* ---- in and out --------------------------------------------------------- */

static int admit(struct weft_pool *p, bool nonblocking)
{
    for (;;) {
        if (p->intake_closed)
            return -EPIPE;
        if (!full(p))
            return 0;
        if (nonblocking)
            return -EAGAIN;
        if (weft__self.is_loop || weft__self.pool == p)
            return -EDEADLK; /* waiting here could deadlock */
        wait_for_space(p);
    }
}

int weft__pool_enqueue(struct weft_pool *p, const struct weft__entry *e, bool nonblocking)
{
    weft__lock(&p->qlock);
    int err = admit(p, nonblocking);
    if (err == 0)
        err = ring_reserve(p, 1);
    if (err) {
        weft__unlock(&p->qlock);
        if (err == -EAGAIN)
            atomic_fetch_add_explicit(&p->rejected, 1, memory_order_relaxed);
        return err;
    }
    p->ring[p->ring_tail++ & (p->ring_cap - 1)] = *e;
    ring_set_len(p);
    p->submitted++;
    struct pool_worker *w = pick_sleeper(p);
    weft__unlock(&p->qlock);
    wake(w);
    return 0;
}

/* Helpers go to the front, ahead of ordinary jobs, outside capacity and
   the stats; as many sleepers wake as there are helpers to run. */
int weft__pool_enqueue_helpers(struct weft_pool *p, const struct weft__entry *e, unsigned n)
{
    weft__lock(&p->qlock);
    int err = p->intake_closed ? -EPIPE : ring_reserve(p, n);
    if (err) {
        weft__unlock(&p->qlock);
        return err;
    }
    for (unsigned i = 0; i < n; i++)
        p->ring[--p->ring_head & (p->ring_cap - 1)] = *e;
    ring_set_len(p);
    struct pool_worker *w = pick_sleeper(p);
    weft__unlock(&p->qlock);
    /* One at a time: a woken worker may reuse its sleeper link at once. */
    while (w) {
        wake(w);
        weft__lock(&p->qlock);
        w = pick_sleeper(p);
        weft__unlock(&p->qlock);
    }
    return 0;
}

/* Moves a batch from the shared ring into w's local ring (empty), a fair
   share: the ring's length over the thread count, at least one, at most
   half the local ring. Wakes a sleeper if work is left for one. */
unsigned weft__pool_take_batch(struct weft_pool *p, struct pool_worker *w, bool eager)
{
    const unsigned max = BATCH_MAX;
    /* A worker coming straight from a job takes only a fair share of at
       least one per thread; fewer entries are left to accumulate while it
       lingers (it polls about every half microsecond), so a submitter
       slower than the workers is not fought over one entry at a time. */
    if (glen(p) == 0 || (!eager && glen(p) < p->threads))
        return 0;
    struct weft__entry batch[BATCH_MAX];
    weft__lock(&p->qlock);
    size_t share = glen(p) / p->threads;
    unsigned n = share < 1 ? 1 : share > max ? max : (unsigned)share;
    if (n > glen(p))
        n = (unsigned)glen(p);
    for (unsigned i = 0; i < n; i++)
        batch[i] = ring_pop(p);
    /* Into the local ring before the wake decision, under qlock, so a
       worker about to sleep either sees these entries or is woken. */
    weft__local_push_batch(w, batch, n);
    struct pool_worker *next = pick_sleeper(p);
    if (!next && n > 1 && awake_idle(p) == 0)
        next = pop_sleeper(p); /* someone to steal the rest */
    weft__unlock(&p->qlock);
    wake(next);
    return n;
}

bool weft__pool_pop_shared(struct weft_pool *p, struct weft__entry *out)
{
    weft__lock(&p->qlock);
    bool got = glen(p) > 0;
    if (got)
        *out = ring_pop(p);
    weft__unlock(&p->qlock);
    return got;
}

/* ---- sleeping ----------------------------------------------------------- */

bool weft__pool_anything_queued(struct weft_pool *p)
{
    if (glen(p))
        return true;
    for (unsigned i = 0; i < p->n_slots; i++)
        if (weft__local_len(&p->slots[i]))
            return true;
    return false;
}

/* Puts w on the sleepers stack if there is still nothing to do. Under
   qlock. The park word is cleared before the checks (seq_cst), so a wake
   that follows them is not lost. */
static bool push_sleeper(struct weft_pool *p, struct pool_worker *w)
{
    atomic_store_explicit(&w->park, 0, memory_order_seq_cst);
    if (p->stop_workers || atomic_load(&w->abandoned) || weft__pool_anything_queued(p))
        return false;
    w->sleeping = true;
    w->next_sleeper = p->sleepers;
    p->sleepers = w;
    p->n_sleepers++;
    return true;
}

static void park(struct pool_worker *w, int64_t deadline_ns)
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

/* A woken worker is no longer pending once it holds the lock. Under qlock;
   says whether the pool had woken it. */
static bool claim_wake_locked(struct weft_pool *p, struct pool_worker *w)
{
    if (!w->woken_by_pool)
        return false;
    w->woken_by_pool = false;
    p->wake_pending--;
    return true;
}

/* Spins up to LINGER_NS for work to appear anywhere. */
static bool linger(struct weft_pool *p)
{
    /* At most half the workers (at least one) spin at a time: more would
       only burn CPU the submitters need (Go's scheduler has the same rule). */
    unsigned limit = p->threads / 2 ? p->threads / 2 : 1;
    if (atomic_fetch_add_explicit(&p->spinning, 1, memory_order_seq_cst) >= limit) {
        atomic_fetch_sub_explicit(&p->spinning, 1, memory_order_seq_cst);
        return false;
    }
    struct weft__spin spin = weft__spin_begin(LINGER_NS, WEFT_FOREVER);
    bool found = false;
    /* Look only every 16 pauses (about a microsecond): the shared ring's
       line is the submitters', and every look pulls it away from them. */
    while (!found && weft__spin_next(&spin))
        if ((spin.i & 15) == 0)
            found = weft__pool_anything_queued(p);
    atomic_fetch_sub_explicit(&p->spinning, 1, memory_order_seq_cst);
    return found;
}

/* Lingers, then sleeps until woken. Returns false when the worker must
   stop (the pool is stopping and nothing is left), true to look again. */
bool weft__pool_sleep(struct pool_worker *w)
{
    struct weft_pool *p = w->pool;
    if (linger(p)) {
        w->eager = true;
        return true;
    }
    weft__lock(&p->qlock);
    bool sleep = push_sleeper(p, w);
    bool stop = !sleep && p->stop_workers && !weft__pool_anything_queued(p);
    weft__unlock(&p->qlock);
    if (w->woken_unused) {
        atomic_fetch_add_explicit(&p->futile_wakes, 1, memory_order_relaxed);
        w->woken_unused = false;
    }
    if (stop)
        return false;
    if (sleep) {
        park(w, WEFT_FOREVER);
        weft__lock(&p->qlock);
        w->woken_unused = claim_wake_locked(p, w);
        weft__unlock(&p->qlock);
    }
    w->eager = true; /* woken, or something showed up: take whatever is there */
    return true;
}

/* For the wait hook: park w until it is woken (by the pool, by the future
   it waits on, or by close) or the deadline passes, unless there is work or
   f has settled. Leaves w off the sleepers stack. */
void weft__pool_park_waiting(struct pool_worker *w, const weft_future_t *f, int64_t deadline_ns)
{
    struct weft_pool *p = w->pool;
    weft__lock(&p->qlock);
    bool sleep = push_sleeper(p, w);
    weft__unlock(&p->qlock);
    /* push_sleeper cleared park before this check (seq_cst): a settle after
       the check sets it again (future.c, publish). */
    if (sleep && weft_future_state(f) == WEFT_FUTURE_PENDING)
        park(w, deadline_ns);
    weft__lock(&p->qlock);
    remove_sleeper(p, w);
    bool woken = claim_wake_locked(p, w);
    /* A wake meant for work this waiter may not get to goes to another. */
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

void weft__pool_close_intake(struct weft_pool *p)
{
    weft__lock(&p->qlock);
    p->intake_closed = true;
    atomic_fetch_add_explicit(&p->space_seq, 1, memory_order_seq_cst);
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
    /* A woken worker never touches next_sleeper again: push_sleeper
       refuses once stop_workers is set. */
    for (struct pool_worker *w = list, *next; w; w = next) {
        next = w->next_sleeper;
        weft__futex_wake(&w->park, 1);
    }
}
