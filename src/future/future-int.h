/*
 * future-int.h - the future's layout and the internal hooks that let other
 * layers build on futures without extra allocations.
 *
 * A future may be embedded in a bigger object (a pool job, an all/any
 * combinator): weft__future_init sets it up with a `release` function that
 * runs instead of free() when the last reference goes, so the container
 * decides when its memory dies.
 *
 * Callback nodes (weft__future_cb) are intrusive: the caller embeds them
 * and recovers its object with weft_container_of. A settle node fires once
 * with fire=true when the future settles. A cancel node fires with
 * fire=true if the future is cancelled, or with fire=false when it settles
 * otherwise, so its owner can reclaim it. Nodes run after the future's lock
 * is released, in registration order.
 *
 * Waiter nodes (weft__future_waiter) are for threads that must be woken by
 * a settle while sleeping on something else (a pool worker that also
 * wants new jobs): wake() is called with the future's lock held, after the
 * settled state is published (sequentially consistent), must not block,
 * and the node may be removed again if the wait gives up.
 */
#ifndef WEFT_FUTURE_INT_H
#define WEFT_FUTURE_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "error/base.h"
#include "sync/lock.h"
#include "weft/future.h"

struct weft__future_cb {
    struct weft__future_cb *next;
    void (*fn)(weft_future_t *f, struct weft__future_cb *cb, bool fire);
};

struct weft__future_waiter {
    struct weft__future_waiter *next, *prev;
    void (*wake)(struct weft__future_waiter *w);
};

enum weft__value_kind { WEFT__VALUE_NONE, WEFT__VALUE_INT, WEFT__VALUE_DOUBLE, WEFT__VALUE_PTR };

/* State word: the weft_state_t in the low bits, plus a flag set by
   threads sleeping on the word itself (weft_future_wait). */
#define WEFT__FUTURE_STATE_MASK 0xffu
#define WEFT__FUTURE_SLEEPERS   0x100u
/* While pending: a waiter that spins yields its CPU often, because the
   party that settles this future needs one (a process pool's supervisor
   thread, between a worker process and the waiter). Cleared by the
   settle, which no longer matters then. */
#define WEFT__FUTURE_YIELDING 0x200u

/* 64 bytes, one cache line: a job record embeds one per job. */
struct weft_future {
    _Atomic uint32_t state; /* weft_state_t | WEFT__FUTURE_SLEEPERS */
    _Atomic uint32_t refs;
    weft__lock_t lock; /* guards everything below until settled */
    union {
        int32_t err;  /* rejected or cancelled: negative errno */
        uint8_t kind; /* fulfilled: enum weft__value_kind */
    } how;
    union {
        int64_t i;
        double d;
        void *p;
    } value;
    union {
        void (*dtor)(void *); /* fulfilled with a pointer */
        char *msg;            /* rejected: owned copy of the message */
    } aux;
    /* Pending callbacks, newest first; publish() reverses them so they run
       in registration order. */
    struct weft__future_cb *settle_cbs, *cancel_cbs;
    struct weft__future_waiter *waiters;
    void (*release)(weft_future_t *f); /* NULL: weft__free(f) */
};

/* Sets up an embedded future: pending, refcount 1. */
void weft__future_init(weft_future_t *f, void (*release)(weft_future_t *f)) WEFT_INTERNAL;

/* Takes a reference unless the count is already zero (the future is
   being destroyed): for internal code that reaches a future through a
   callback rather than a reference of its own. */
bool weft__future_try_ref(weft_future_t *f) WEFT_INTERNAL;

/* Registers a settle node; if f is already settled it fires at once, in
   the caller. Never fails. */
void weft__future_on_settle_cb(weft_future_t *f, struct weft__future_cb *cb) WEFT_INTERNAL;

/* Registers a cancel node. Returns 0 (registered, or fired at once because
   f is already cancelled) or -EALREADY (f settled otherwise; the node is
   not touched). */
int weft__future_on_cancel_cb(weft_future_t *f, struct weft__future_cb *cb) WEFT_INTERNAL;

/* Adds a waiter unless f is settled: true if added. */
bool weft__future_add_waiter(weft_future_t *f, struct weft__future_waiter *w) WEFT_INTERNAL;

/* Removes a waiter if a settle has not already detached it. */
void weft__future_remove_waiter(weft_future_t *f, struct weft__future_waiter *w) WEFT_INTERNAL;

/* Settles f with whatever is in `kind`/`value`/`dtor`, as the pool does
   for a job's result; the pointer value is destroyed on -EALREADY. */
int weft__future_fulfill(weft_future_t *f, enum weft__value_kind kind, int64_t i, double d, void *p,
                         void (*dtor)(void *)) WEFT_INTERNAL;

/* weft_future_reject taking ownership of msg (allocated with weft__malloc,
   may be NULL): freed on -EALREADY. */
int weft__future_reject_take(weft_future_t *f, int err, char *msg) WEFT_INTERNAL;

/* Waits for f like weft_future_wait, without the loop check and the pool
   hook: spin, then sleep, until the absolute deadline. 0 or -ETIMEDOUT. */
int weft__future_wait_until(weft_future_t *f, int64_t deadline_ns) WEFT_INTERNAL;

/* Marks a pending future WEFT__FUTURE_YIELDING; for its producer. */
static inline void weft__future_mark_yielding(weft_future_t *f)
{
    atomic_fetch_or_explicit(&f->state, WEFT__FUTURE_YIELDING, memory_order_relaxed);
}

static inline weft_state_t weft__future_state_acquire(const weft_future_t *f)
{
    return (weft_state_t)(atomic_load_explicit(&f->state, memory_order_acquire) &
                          WEFT__FUTURE_STATE_MASK);
}

#endif /* WEFT_FUTURE_INT_H */
