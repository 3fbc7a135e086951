/*
 * inbox.c - the one door into a loop: every post from another thread and
 * every continuation (a pool worker's result included) enters here.
 *
 * Lock order: ib->lock is a leaf. While it is held nothing else is locked
 * and no user code or future callback runs (ringing takes no lock).
 * Settle nodes fire after the future's own lock is released, so the
 * continuation code below takes ib->lock from them freely.
 *
 * The list is the truth, the doorbell only wakes. `head` is a push-only
 * stack whose bit 0 means closed: producers push with one CAS and ring
 * only when the list was empty; the loop swaps the whole list out, reverses
 * it and runs it unlocked (nothing pops one item: no ABA). Once closed,
 * pushes fail with -EPIPE, except a continuation reserved before the stop.
 *
 * The doorbell is our own eventfd, which the loop polls: libuv 1.44's
 * uv_async_t makes the loop spin while a sender is between its two steps,
 * and a pool worker preempted there on the loop's core (the default
 * layout: as many workers as cores) held the loop spinning for whole time
 * slices (libuv issue 2949). The eventfd lives as long as the inbox, so a
 * producer rings without a lock and can never write to a closed (or
 * reused) descriptor. The loop reads it empty before it takes the list:
 * a producer that then finds the list empty rings again.
 *
 * Invariant: each continuation is queued before the stop (runs with status
 * 0) or taken by it (-ECANCELED), never both -- the stop takes the waiting
 * set under the same lock that sets the closed bit. Post blocks: see below.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "loop/loop-int.h"
#include "sync/futex.h"
#include "sync/lock.h"

#define CLOSED ((uintptr_t)1)

struct weft__inbox {
    _Atomic uintptr_t head; /* item list | CLOSED */
    char pad[64];           /* producers' CAS line apart from the lock's */
    weft__lock_t lock;      /* guards the fields down to `reservations` */
    bool stopped;           /* the CLOSED bit, as seen under the lock */
    int bell;               /* the doorbell: an eventfd the loop polls */
    struct weft__cont *waiting;
    _Atomic uint32_t reservations; /* written under the lock; close sleeps on it */
    _Atomic uint32_t refs;
    _Atomic uint64_t conts;
};

struct weft__inbox *weft__inbox_new(void)
{
    struct weft__inbox *ib = weft__calloc(1, sizeof(*ib));
    if (!ib)
        return NULL;
    ib->bell = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ib->bell < 0) {
        weft__free(ib);
        return NULL; /* errno: EMFILE, ENFILE, ENOMEM */
    }
    atomic_init(&ib->head, 0);
    atomic_init(&ib->reservations, 0);
    atomic_init(&ib->refs, 1);
    atomic_init(&ib->conts, 0);
    return ib;
}

void weft__inbox_ref(struct weft__inbox *ib)
{
    /* Relaxed: the caller already holds a reference, which orders this. */
    atomic_fetch_add_explicit(&ib->refs, 1, memory_order_relaxed);
}

void weft__inbox_unref(struct weft__inbox *ib)
{
    /* acq_rel: our writes happen before the free, and the freeing thread
       sees every other holder's. */
    if (!ib || atomic_fetch_sub_explicit(&ib->refs, 1, memory_order_acq_rel) != 1)
        return;
    WEFT_ASSERT((atomic_load_explicit(&ib->head, memory_order_relaxed) & ~CLOSED) == 0);
    WEFT_ASSERT(!ib->waiting);
    close(ib->bell);
    weft__free(ib);
}

bool weft__inbox_closed(const struct weft__inbox *ib)
{
    /* Relaxed: only a yes/no answer depends on it, and a load that happens
       after the stop (through any synchronisation) sees the bit. */
    return atomic_load_explicit(&ib->head, memory_order_relaxed) & CLOSED;
}

int weft__inbox_bell_fd(const struct weft__inbox *ib)
{
    return ib->bell;
}

void weft__inbox_bell_reset(struct weft__inbox *ib)
{
    uint64_t n;
    ssize_t r;
    do /* nothing to read (a spurious wake) is fine */
        r = read(ib->bell, &n, sizeof(n));
    while (r < 0 && errno == EINTR);
}

/* Wakes the loop. EAGAIN (the counter at its maximum) cannot happen with
   one ring per empty -> non-empty, and would not matter: the loop is
   awake anyway, and the list is the truth. */
static void ring(struct weft__inbox *ib)
{
    static const uint64_t one = 1;
    ssize_t r;
    do
        r = write(ib->bell, &one, sizeof(one));
    while (r < 0 && errno == EINTR);
}

/* Pushes an item: 1 if the list was empty (the caller rings), 0, or
   -EPIPE once closed (unless forced). */
static int push(struct weft__inbox *ib, struct weft__inbox_item *it, bool force)
{
    /* Relaxed: a first guess; the CAS below checks it. */
    uintptr_t old = atomic_load_explicit(&ib->head, memory_order_relaxed);
    do {
        if ((old & CLOSED) && !force)
            return -EPIPE;
        it->next = (struct weft__inbox_item *)(old & ~CLOSED);
        /* Release: the item and `next` are visible to the loop that takes
           the list. Acquire: if we found the list empty because the loop
           just took it, our ring comes after the loop's earlier read of
           the doorbell, so it is not swallowed. Relaxed on failure: we
           only retry. */
    } while (!atomic_compare_exchange_weak_explicit(&ib->head, &old, (uintptr_t)it | (old & CLOSED),
                                                    memory_order_acq_rel, memory_order_relaxed));
    return (old & ~CLOSED) == 0;
}

static struct weft__inbox_item *take_batch(struct weft__inbox *ib)
{
    /* Acquire: pairs with every push's release, so the items (and the
       slots of post blocks written before their push) are visible.
       Release: see push() -- the loop read the doorbell empty before
       calling us, and a producer that finds the list empty must ring
       after that read. */
    uintptr_t old = atomic_fetch_and_explicit(&ib->head, CLOSED, memory_order_acq_rel);
    struct weft__inbox_item *it = (struct weft__inbox_item *)(old & ~CLOSED), *rev = NULL;
    while (it) {
        struct weft__inbox_item *next = it->next;
        it->next = rev;
        rev = it;
        it = next;
    }
    return rev;
}

size_t weft__inbox_drain(struct weft__inbox *ib, int status)
{
    size_t n = 0;
    struct weft__inbox_item *it = take_batch(ib), *next;
    for (; it; it = next) {
        next = it->next; /* first: run() may free or reuse the item */
        n += it->run(it, status);
    }
    return n;
}

/* ---- post blocks ----------------------------------------------------------
 *
 * Posts travel in blocks of CHUNK_SLOTS that one producer thread owns. It
 * pushes a block with its first post, then appends further posts with one
 * CAS on the block's word while the block is on the list or being run. The
 * loop runs a block's slots, then seals it (CAS word |= SEALED); an append
 * that loses against the seal is retried in a new push. So each post runs
 * exactly once, and a producer's posts keep their order: a block is sealed
 * only after every slot in it ran, and its producer moves to another block
 * only once this one is sealed (and reuses it: no allocation) or full (then
 * hands it to the loop with ORPHAN, and the loop frees it after running it).
 * A block is bounded, so one producer cannot keep the loop in one batch.
 */

#define CHUNK_SLOTS 62
#define CACHE_WAYS  8
#define COUNT_MASK  0x3fffffffu
#define SEALED      0x40000000u /* the loop is done with it: the producer's again */
#define ORPHAN      0x80000000u /* the producer let go: the loop frees it */

struct chunk {
    struct weft__inbox_item item;
    _Atomic uint32_t word; /* slots filled | SEALED | ORPHAN */
    struct weft__post slot[CHUNK_SLOTS];
};

/* Each thread keeps its current block for the last few inboxes it posted
   to. The key is only compared: a block whose inbox died is sealed (close
   drains everything), so reusing it for a new inbox at the same address is
   just a reuse. */
static __thread struct {
    struct {
        const struct weft__inbox *ib;
        struct chunk *c;
    } way[CACHE_WAYS];
    unsigned victim;
    bool keyed; /* the thread-exit destructor is armed */
} cache;

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static bool cache_key_ok;

static size_t chunk_run(struct weft__inbox_item *it, int status)
{
    struct chunk *c = weft_container_of(it, struct chunk, item);
    /* Acquire: each slot below the count was written before the count. */
    uint32_t w = atomic_load_explicit(&c->word, memory_order_acquire), i = 0;
    for (;;) {
        for (; i < (w & COUNT_MASK); i++)
            c->slot[i].fn(c->slot[i].arg);
        if (w & ORPHAN) { /* no append can follow an orphaning */
            weft__free(c);
            return i;
        }
        /* Release: our reads of the slots happen before the producer
           reuses them; acquire (also on failure) for slots appended since. */
        if (atomic_compare_exchange_weak_explicit(&c->word, &w, w | SEALED, memory_order_acq_rel,
                                                  memory_order_acquire))
            return i;
    }
}

/* Lets go of a block this thread holds: frees it if the loop is done with
   it, else hands it over. */
static void release_chunk(struct chunk *c)
{
    /* Acquire: if sealed, the loop's last reads happened before our free. */
    uint32_t w = atomic_load_explicit(&c->word, memory_order_acquire);
    for (;;) {
        if (w & SEALED) {
            weft__free(c);
            return;
        }
        /* acq_rel as in the append; acquire on failure: it was sealed. */
        if (atomic_compare_exchange_weak_explicit(&c->word, &w, w | ORPHAN, memory_order_acq_rel,
                                                  memory_order_acquire))
            return;
    }
}

void weft__inbox_release_thread_cache(void)
{
    for (unsigned i = 0; i < CACHE_WAYS; i++) {
        if (cache.way[i].c)
            release_chunk(cache.way[i].c);
        cache.way[i].c = NULL;
        cache.way[i].ib = NULL;
    }
}

static void cache_destructor(void *unused)
{
    weft__inbox_release_thread_cache();
}

static void make_cache_key(void)
{
    cache_key_ok = pthread_key_create(&cache_key, cache_destructor) == 0;
}

static struct chunk *chunk_new(void)
{
    if (!cache.keyed) {
        pthread_once(&cache_once, make_cache_key);
        /* Without a key the blocks of an exiting thread leak; nothing else
           goes wrong, and key creation fails only at PTHREAD_KEYS_MAX. */
        cache.keyed = cache_key_ok && pthread_setspecific(cache_key, &cache) == 0;
    }
    struct chunk *c = weft__malloc(sizeof(*c));
    if (c)
        c->item.run = chunk_run;
    return c;
}

/* The way for ib: a hit, a free way, or the round-robin victim. */
static unsigned cache_way(const struct weft__inbox *ib)
{
    unsigned i, empty = CACHE_WAYS;
    for (i = 0; i < CACHE_WAYS; i++) {
        if (cache.way[i].ib == ib)
            return i;
        if (!cache.way[i].c && empty == CACHE_WAYS)
            empty = i;
    }
    if (empty == CACHE_WAYS) {
        empty = cache.victim++ % CACHE_WAYS;
        release_chunk(cache.way[empty].c);
        cache.way[empty].c = NULL;
    }
    cache.way[empty].ib = ib;
    return empty;
}

/* Appends to the block this thread pushed. False if the loop sealed it
   (*w has SEALED: reusable) or it is full. */
static bool append(struct chunk *c, void (*fn)(void *), void *arg, uint32_t *w)
{
    /* Acquire: if it is sealed, the loop's reads of the slots happened
       before the reuse that follows. */
    *w = atomic_load_explicit(&c->word, memory_order_acquire);
    if ((*w & SEALED) || *w == CHUNK_SLOTS)
        return false;
    c->slot[*w].fn = fn; /* past the count: the loop does not read it yet */
    c->slot[*w].arg = arg;
    /* Release: the slot is visible to the loop that acquires the count.
       Only the loop races us, and only to seal. */
    return atomic_compare_exchange_strong_explicit(&c->word, w, *w + 1, memory_order_release,
                                                   memory_order_acquire);
}

/* Pushes a block (new, or sealed and reused) holding one post. */
static int push_first(struct weft__inbox *ib, struct chunk *c, void (*fn)(void *), void *arg)
{
    c->slot[0].fn = fn;
    c->slot[0].arg = arg;
    /* Relaxed: the block is private until the push's release publishes it. */
    atomic_store_explicit(&c->word, 1, memory_order_relaxed);
    int r = push(ib, &c->item, false);
    if (r < 0) {
        atomic_store_explicit(&c->word, SEALED, memory_order_relaxed); /* still ours */
        return r;
    }
    if (r == 1)
        ring(ib);
    return 0;
}

int weft__inbox_post(struct weft__inbox *ib, void (*fn)(void *), void *arg)
{
    if (weft__inbox_closed(ib))
        return -EPIPE;
    unsigned i = cache_way(ib);
    struct chunk *c = cache.way[i].c;
    uint32_t w = 0;
    if (c && append(c, fn, arg, &w))
        return 0;
    if (c && !(w & SEALED)) {
        /* Full: hand it to the loop, unless it sealed it meanwhile
           (acquire on failure: then we reuse it, after the loop's reads). */
        if (atomic_compare_exchange_strong_explicit(&c->word, &w, w | ORPHAN, memory_order_acq_rel,
                                                    memory_order_acquire))
            c = cache.way[i].c = NULL;
    }
    if (!c) {
        c = chunk_new();
        if (!c)
            return -ENOMEM;
        cache.way[i].c = c;
    }
    return push_first(ib, c, fn, arg);
}

/* ---- continuations -------------------------------------------------------- */

static void queue_locked(struct weft__inbox *ib, struct weft__cont *c)
{
    c->state = WEFT__CONT_QUEUED;
    if (push(ib, &c->item, true) == 1)
        ring(ib);
}

static void unlink_locked(struct weft__inbox *ib, struct weft__cont *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        ib->waiting = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void unreserve_locked(struct weft__inbox *ib)
{
    /* Relaxed: every writer holds ib->lock. */
    uint32_t n = atomic_load_explicit(&ib->reservations, memory_order_relaxed) - 1;
    /* Release: a forced push made under this lock happens before close,
       which acquires the count, drains the list. */
    atomic_store_explicit(&ib->reservations, n, memory_order_release);
    if (n == 0 && ib->stopped)
        weft__futex_wake_all(&ib->reservations); /* close may be waiting */
}

int weft__cont_attach(struct weft__cont *c, bool reserved)
{
    struct weft__inbox *ib = c->ib;
    int r = 0;
    weft__lock(&ib->lock);
    if (ib->stopped && !reserved) {
        c->state = WEFT__CONT_ABANDONED;
        r = -EPIPE;
    } else if (c->state == WEFT__CONT_SETTLED_EARLY) {
        c->cancelled = ib->stopped; /* reserved and the stop came first */
        queue_locked(ib, c);
    } else if (ib->stopped) {
        c->state = WEFT__CONT_ORPHANED; /* its job runs: the settle delivers */
    } else {
        c->state = WEFT__CONT_WAITING;
        c->prev = NULL;
        c->next = ib->waiting;
        if (c->next)
            c->next->prev = c;
        ib->waiting = c;
    }
    if (reserved)
        unreserve_locked(ib);
    weft__unlock(&ib->lock);
    return r;
}

bool weft__cont_settled(struct weft__cont *c)
{
    struct weft__inbox *ib = c->ib;
    bool deliver = false;
    weft__lock(&ib->lock);
    switch (c->state) {
    case WEFT__CONT_NEW:
        c->state = WEFT__CONT_SETTLED_EARLY; /* the attach queues it */
        break;
    case WEFT__CONT_WAITING:
        WEFT_ASSERT(!ib->stopped); /* a stop empties the waiting set */
        unlink_locked(ib, c);
        queue_locked(ib, c);
        break;
    case WEFT__CONT_ORPHANED:
        c->state = WEFT__CONT_DONE;
        deliver = true;
        break;
    default: /* CANCELLED or ABANDONED: someone else delivers, or nobody */
        break;
    }
    weft__unlock(&ib->lock);
    return deliver;
}

bool weft__inbox_stop(struct weft__inbox *ib, struct weft__cont **cancelled)
{
    struct weft__cont *out = NULL, *c, *next;
    weft__lock(&ib->lock);
    if (ib->stopped) {
        weft__unlock(&ib->lock);
        *cancelled = NULL;
        return false;
    }
    ib->stopped = true;
    /* acq_rel, as for a push: either the loop's next take of the list
       sees the bit, or this RMW comes after that take and the ring below
       comes after the loop's read of the doorbell (rule as in push). */
    atomic_fetch_or_explicit(&ib->head, CLOSED, memory_order_acq_rel);
    /* The set is newest first; prepending restores registration order. */
    for (c = ib->waiting; c; c = next) {
        next = c->next;
        c->prev = NULL;
        if (c->work) {
            c->state = WEFT__CONT_ORPHANED;
            c->next = NULL;
            continue;
        }
        c->state = WEFT__CONT_CANCELLED;
        c->next = out;
        out = c;
    }
    ib->waiting = NULL;
    ring(ib);
    weft__unlock(&ib->lock);
    *cancelled = out;
    return true;
}

int weft__inbox_reserve(struct weft__inbox *ib)
{
    int r = 0;
    weft__lock(&ib->lock);
    if (ib->stopped)
        r = -EPIPE;
    else /* relaxed: every writer holds ib->lock */
        atomic_store_explicit(&ib->reservations,
                              atomic_load_explicit(&ib->reservations, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    weft__unlock(&ib->lock);
    return r;
}

void weft__inbox_unreserve(struct weft__inbox *ib)
{
    weft__lock(&ib->lock);
    unreserve_locked(ib);
    weft__unlock(&ib->lock);
}

void weft__inbox_wait_reservations(struct weft__inbox *ib)
{
    for (;;) {
        /* Acquire: pairs with unreserve_locked (see there). */
        uint32_t n = atomic_load_explicit(&ib->reservations, memory_order_acquire);
        if (n == 0)
            return;
        /* Bounded: a reservation spans one non-blocking pool submit. */
        weft__futex_wait(&ib->reservations, n, WEFT_FOREVER);
    }
}

void weft__inbox_count_cont(struct weft__inbox *ib)
{
    weft__stat_add(&ib->conts, 1); /* only the draining thread writes it */
}

uint64_t weft__inbox_conts(const struct weft__inbox *ib)
{
    return weft__stat_get(&ib->conts);
}
