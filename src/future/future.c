/*
 * future.c - the future's life: settle exactly once, callbacks, references.
 *
 * Threading. Any thread may settle, read, register callbacks and drop
 * references. The per-future lock (4 bytes, sync/lock.h) guards the value
 * fields until the state leaves PENDING and the callback and waiter lists
 * always; the state word is published with release and read with acquire,
 * so a reader that sees a settled state sees the value without the lock.
 * After settling, the value is immutable except for take_ptr (under the
 * lock). Callbacks run after the lock is released; waiter wake-ups run
 * under it (they only poke a futex).
 *
 * Order of a settle: on_cancel nodes (cancel only, producers first, so a
 * producer can stop its work), then settle nodes, each list in
 * registration order. Settle nodes registered after the settle run at once
 * on the registering thread.
 *
 * The last unref of a pending future cancels it first, with a temporary
 * reference held so that callbacks may use the future; then the value's
 * destructor runs and the memory goes (or `release` tells its container).
 */
#include <errno.h>
#include <string.h>

#include "future/future-int.h"
#include "sync/futex.h"

void weft__future_init(weft_future_t *f, void (*release)(weft_future_t *f))
{
    memset(f, 0, sizeof(*f));
    atomic_init(&f->state, WEFT_FUTURE_PENDING);
    atomic_init(&f->refs, 1);
    f->release = release;
}

weft_future_t *weft_promise_new(void)
{
    weft_future_t *f = weft__malloc(sizeof(*f));
    if (!f)
        return NULL;
    weft__future_init(f, NULL);
    return f;
}

/* ---- settling ----------------------------------------------------------- */

struct settled_lists {
    struct weft__future_cb *settle, *cancel;
};

/* Publishes the new state (value fields written before, under the lock),
   wakes registered waiters, and takes the callback lists out. Called with
   the lock held; returns with it released. */
static struct weft__future_cb *reversed(struct weft__future_cb *cb)
{
    struct weft__future_cb *out = NULL;
    while (cb) {
        struct weft__future_cb *next = cb->next;
        cb->next = out;
        out = cb;
        cb = next;
    }
    return out;
}

static struct settled_lists publish(weft_future_t *f, weft_state_t state)
{
    struct settled_lists out = {reversed(f->settle_cbs), reversed(f->cancel_cbs)};
    f->settle_cbs = f->cancel_cbs = NULL;
    /* Release: the value written before is visible to whoever acquires the
       settled state, lock-free readers included. Sequentially consistent
       because a waiter node's owner (a pool worker) clears its park word,
       then reads this state, then sleeps while the word is clear: with the
       wake below ordered after this store, it either sees the state or
       gets the wake. */
    uint32_t old = atomic_exchange_explicit(&f->state, state, memory_order_seq_cst);
    for (struct weft__future_waiter *w = f->waiters, *next; w; w = next) {
        next = w->next;
        w->next = w->prev = NULL;
        w->wake(w);
    }
    f->waiters = NULL;
    weft__unlock(&f->lock);
    if (old & WEFT__FUTURE_SLEEPERS)
        weft__futex_wake_all(&f->state);
    return out;
}

static void run_lists(weft_future_t *f, struct settled_lists lists, bool cancelled)
{
    for (struct weft__future_cb *cb = lists.cancel, *next; cb; cb = next) {
        next = cb->next;
        cb->fn(f, cb, cancelled);
    }
    for (struct weft__future_cb *cb = lists.settle, *next; cb; cb = next) {
        next = cb->next;
        cb->fn(f, cb, true);
    }
}

/* Takes the lock if f is pending; false (lock not held) if settled. */
static bool lock_pending(weft_future_t *f)
{
    weft__lock(&f->lock);
    if (weft__future_state_acquire(f) == WEFT_FUTURE_PENDING)
        return true;
    weft__unlock(&f->lock);
    return false;
}

int weft__future_fulfill(weft_future_t *f, enum weft__value_kind kind, int64_t i, double d, void *p,
                         void (*dtor)(void *))
{
    if (!lock_pending(f)) {
        if (kind == WEFT__VALUE_PTR && dtor)
            dtor(p);
        return -EALREADY;
    }
    f->how.kind = (uint8_t)kind;
    if (kind == WEFT__VALUE_DOUBLE)
        f->value.d = d;
    else if (kind == WEFT__VALUE_PTR)
        f->value.p = p, f->aux.dtor = dtor;
    else
        f->value.i = i;
    run_lists(f, publish(f, WEFT_FUTURE_FULFILLED), false);
    return 0;
}

int weft_future_fulfill_int(weft_future_t *f, int64_t value)
{
    return weft__future_fulfill(f, WEFT__VALUE_INT, value, 0, NULL, NULL);
}

int weft_future_fulfill_double(weft_future_t *f, double value)
{
    return weft__future_fulfill(f, WEFT__VALUE_DOUBLE, 0, value, NULL, NULL);
}

int weft_future_fulfill_ptr(weft_future_t *f, void *ptr, void (*dtor)(void *))
{
    return weft__future_fulfill(f, WEFT__VALUE_PTR, 0, 0, ptr, dtor);
}

int weft__future_reject_take(weft_future_t *f, int err, char *msg)
{
    if (err >= 0)
        err = -EINVAL;
    if (!lock_pending(f)) {
        weft__free(msg);
        return -EALREADY;
    }
    f->how.err = err;
    f->aux.msg = msg;
    run_lists(f, publish(f, WEFT_FUTURE_REJECTED), false);
    return 0;
}

int weft_future_reject(weft_future_t *f, int err, const char *msg)
{
    /* Copy outside the lock; out of memory only loses the message. */
    return weft__future_reject_take(f, err, msg ? weft__strdup(msg) : NULL);
}

int weft_future_cancel(weft_future_t *f)
{
    if (!lock_pending(f))
        return -EALREADY;
    f->how.err = -ECANCELED;
    run_lists(f, publish(f, WEFT_FUTURE_CANCELLED), true);
    return 0;
}

/* ---- callbacks ---------------------------------------------------------- */

void weft__future_on_settle_cb(weft_future_t *f, struct weft__future_cb *cb)
{
    cb->next = NULL;
    if (lock_pending(f)) {
        cb->next = f->settle_cbs;
        f->settle_cbs = cb;
        weft__unlock(&f->lock);
        return;
    }
    cb->fn(f, cb, true);
}

int weft__future_on_cancel_cb(weft_future_t *f, struct weft__future_cb *cb)
{
    cb->next = NULL;
    if (lock_pending(f)) {
        cb->next = f->cancel_cbs;
        f->cancel_cbs = cb;
        weft__unlock(&f->lock);
        return 0;
    }
    if (weft__future_state_acquire(f) != WEFT_FUTURE_CANCELLED)
        return -EALREADY;
    cb->fn(f, cb, true);
    return 0;
}

/* The public callbacks wrap a heap node around (fn, arg). */
struct settle_node {
    struct weft__future_cb cb;
    weft_settle_fn fn;
    void *arg;
};

static void settle_node_fire(weft_future_t *f, struct weft__future_cb *cb, bool fire)
{
    struct settle_node *n = weft_container_of(cb, struct settle_node, cb);
    weft_settle_fn fn = n->fn;
    void *arg = n->arg;
    weft__free(n);
    fn(f, arg);
}

int weft_future_on_settle(weft_future_t *f, weft_settle_fn fn, void *arg)
{
    struct settle_node *n = weft__malloc(sizeof(*n));
    if (!n)
        return -ENOMEM;
    n->cb.fn = settle_node_fire;
    n->fn = fn;
    n->arg = arg;
    weft__future_on_settle_cb(f, &n->cb);
    return 0;
}

struct cancel_node {
    struct weft__future_cb cb;
    void (*fn)(void *);
    void *arg;
};

static void cancel_node_fire(weft_future_t *f, struct weft__future_cb *cb, bool fire)
{
    struct cancel_node *n = weft_container_of(cb, struct cancel_node, cb);
    void (*fn)(void *) = n->fn;
    void *arg = n->arg;
    weft__free(n);
    if (fire)
        fn(arg);
}

int weft_future_on_cancel(weft_future_t *f, void (*fn)(void *), void *arg)
{
    if (weft__future_state_acquire(f) == WEFT_FUTURE_CANCELLED) {
        fn(arg);
        return 0;
    }
    struct cancel_node *n = weft__malloc(sizeof(*n));
    if (!n)
        return -ENOMEM;
    n->cb.fn = cancel_node_fire;
    n->fn = fn;
    n->arg = arg;
    int r = weft__future_on_cancel_cb(f, &n->cb);
    if (r < 0)
        weft__free(n);
    return r;
}

/* ---- waiters ------------------------------------------------------------ */

bool weft__future_add_waiter(weft_future_t *f, struct weft__future_waiter *w)
{
    if (!lock_pending(f))
        return false;
    w->prev = NULL;
    w->next = f->waiters;
    if (f->waiters)
        f->waiters->prev = w;
    f->waiters = w;
    weft__unlock(&f->lock);
    return true;
}

void weft__future_remove_waiter(weft_future_t *f, struct weft__future_waiter *w)
{
    weft__lock(&f->lock);
    /* A settle detaches every waiter (prev and next NULL) and empties the
       list, so a node still on the list is the head or has a prev. */
    if (f->waiters == w || w->prev) {
        if (w->prev)
            w->prev->next = w->next;
        else
            f->waiters = w->next;
        if (w->next)
            w->next->prev = w->prev;
        w->next = w->prev = NULL;
    }
    weft__unlock(&f->lock);
}

/* ---- reading ------------------------------------------------------------ */

weft_state_t weft_future_state(const weft_future_t *f)
{
    return weft__future_state_acquire(f);
}

bool weft_future_is_done(const weft_future_t *f)
{
    return weft__future_state_acquire(f) != WEFT_FUTURE_PENDING;
}

/* The value fields are immutable once the state says fulfilled. */
static bool fulfilled_with(const weft_future_t *f, enum weft__value_kind kind)
{
    return weft__future_state_acquire(f) == WEFT_FUTURE_FULFILLED && f->how.kind == kind;
}

int64_t weft_future_int(const weft_future_t *f)
{
    return fulfilled_with(f, WEFT__VALUE_INT) ? f->value.i : 0;
}

double weft_future_double(const weft_future_t *f)
{
    return fulfilled_with(f, WEFT__VALUE_DOUBLE) ? f->value.d : 0.0;
}

void *weft_future_ptr(const weft_future_t *f)
{
    if (!fulfilled_with(f, WEFT__VALUE_PTR))
        return NULL;
    /* take_ptr may clear it concurrently; read under the lock. */
    weft_future_t *mf = (weft_future_t *)f;
    weft__lock(&mf->lock);
    void *p = mf->value.p;
    weft__unlock(&mf->lock);
    return p;
}

void *weft_future_take_ptr(weft_future_t *f)
{
    if (!fulfilled_with(f, WEFT__VALUE_PTR))
        return NULL;
    weft__lock(&f->lock);
    void *p = f->value.p;
    f->value.p = NULL;
    weft__unlock(&f->lock);
    return p;
}

int weft_future_error(const weft_future_t *f)
{
    weft_state_t s = weft__future_state_acquire(f);
    return s == WEFT_FUTURE_REJECTED || s == WEFT_FUTURE_CANCELLED ? f->how.err : 0;
}

const char *weft_future_message(const weft_future_t *f)
{
    return weft__future_state_acquire(f) == WEFT_FUTURE_REJECTED ? f->aux.msg : NULL;
}

/* ---- references --------------------------------------------------------- */

weft_future_t *weft_future_ref(weft_future_t *f)
{
    /* Relaxed: the caller already holds a reference, which orders this. */
    uint32_t old = atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    WEFT_ASSERT(old > 0);
    (void)old;
    return f;
}

bool weft__future_try_ref(weft_future_t *f)
{
    uint32_t n = atomic_load_explicit(&f->refs, memory_order_relaxed);
    do {
        if (n == 0)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&f->refs, &n, n + 1, memory_order_acquire,
                                                    memory_order_relaxed));
    return true;
}

static void destroy(weft_future_t *f)
{
    WEFT_ASSERT(!f->settle_cbs && !f->cancel_cbs && !f->waiters);
    weft_state_t s = weft__future_state_acquire(f);
    if (s == WEFT_FUTURE_FULFILLED && f->how.kind == WEFT__VALUE_PTR && f->aux.dtor && f->value.p)
        f->aux.dtor(f->value.p);
    else if (s == WEFT_FUTURE_REJECTED)
        weft__free(f->aux.msg);
    if (f->release)
        f->release(f);
    else
        weft__free(f);
}

/* Drops one reference: true if it was the last (and the caller must now
   destroy). Release so our writes happen before the destroyer's, acquire
   so the destroyer sees everybody's (acq_rel rather than a fence: TSan
   does not model fences). */
static bool drop_ref(weft_future_t *f)
{
    uint32_t old = atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel);
    WEFT_ASSERT(old > 0);
    return old == 1;
}

void weft_future_unref(weft_future_t *f)
{
    if (!f || !drop_ref(f))
        return;
    if (weft__future_state_acquire(f) == WEFT_FUTURE_PENDING) {
        /* Nobody can reach f now but its callbacks: hold a reference for
           them while they run, then drop it like any other. */
        atomic_store_explicit(&f->refs, 1, memory_order_relaxed);
        weft_future_cancel(f);
        if (!drop_ref(f))
            return;
    }
    destroy(f);
}
