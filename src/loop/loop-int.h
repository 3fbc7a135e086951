/*
 * loop-int.h - what the modules of the loop layer share: the loop's
 * layout, the inbox (inbox.c), continuation records (then.c), delays
 * (delay.c) and the watchdog (watchdog.c).
 *
 * Ownership. A weft_loop_t owns its uv_loop_t, its internal handles and a
 * reference to its inbox. The inbox is separate and refcounted because
 * producers that are not the loop's owner (continuation records sitting on
 * a future's settle list) must outlive the loop object and find the inbox
 * closed rather than freed memory.
 */
#ifndef WEFT_LOOP_INT_H
#define WEFT_LOOP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "error/base.h"
#include "future/future-int.h"
#include "weft/loop.h"

/* ---- statistics counters --------------------------------------------------
 * Each counter has one writer at a time (the loop thread, or the watchdog)
 * and is read from any thread for a snapshot: no other data is published
 * through it, so relaxed loads and stores are enough (no RMW needed). */

static inline void weft__stat_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline uint64_t weft__stat_get(const _Atomic uint64_t *c)
{
    return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

static inline void weft__stat_set_i64(_Atomic int64_t *c, int64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline int64_t weft__stat_get_i64(const _Atomic int64_t *c)
{
    return atomic_load_explicit((_Atomic int64_t *)c, memory_order_relaxed);
}

static inline void weft__stat_max_i64(_Atomic int64_t *c, int64_t v)
{
    if (v > weft__stat_get_i64(c))
        weft__stat_set_i64(c, v);
}

/* ---- the inbox (inbox.c) ------------------------------------------------- */

struct weft__inbox;
struct weft__cont;

/* Something on an inbox's list: a block of posts, or a continuation. run()
   is called once per batch that holds the item, with status 0 on the loop
   thread or -ECANCELED when weft_loop_close drains it; it returns how many
   posts it ran. The item may be freed or reused once run() returns. */
struct weft__inbox_item {
    struct weft__inbox_item *next;
    size_t (*run)(struct weft__inbox_item *it, int status);
};

struct weft__inbox *weft__inbox_new(void) WEFT_INTERNAL;
void weft__inbox_ref(struct weft__inbox *ib) WEFT_INTERNAL;
void weft__inbox_unref(struct weft__inbox *ib) WEFT_INTERNAL;

/* The doorbell, rung on empty -> non-empty: an eventfd for the loop to
   poll, read empty (reset) before the loop drains the inbox. */
int weft__inbox_bell_fd(const struct weft__inbox *ib) WEFT_INTERNAL;
void weft__inbox_bell_reset(struct weft__inbox *ib) WEFT_INTERNAL;

/* True once weft__inbox_stop ran (any thread; a snapshot). */
bool weft__inbox_closed(const struct weft__inbox *ib) WEFT_INTERNAL;

/* A post from any thread: 0, -EPIPE (closed), -ENOMEM. */
int weft__inbox_post(struct weft__inbox *ib, void (*fn)(void *), void *arg) WEFT_INTERNAL;

/* Takes the whole list and runs it (the consumer: one thread at a time).
   Returns the number of posts run. */
size_t weft__inbox_drain(struct weft__inbox *ib, int status) WEFT_INTERNAL;

/* Closes the inbox for good and rings it. Returns false if it already
   was. *cancelled receives the continuations whose futures had not
   settled (state CANCELLED, linked through item.next): the caller calls
   them with -ECANCELED. */
bool weft__inbox_stop(struct weft__inbox *ib, struct weft__cont **cancelled) WEFT_INTERNAL;

/* Reservations cover a registration that cannot take back what it did
   (weft_loop_work's submit): -EPIPE if closed, else counted until
   weft__cont_attach(c, true); weft_loop_close waits for none to be left. */
int weft__inbox_reserve(struct weft__inbox *ib) WEFT_INTERNAL;
void weft__inbox_unreserve(struct weft__inbox *ib) WEFT_INTERNAL;
void weft__inbox_wait_reservations(struct weft__inbox *ib) WEFT_INTERNAL;

/* Continuations delivered with status 0 (statistics). */
void weft__inbox_count_cont(struct weft__inbox *ib) WEFT_INTERNAL;
uint64_t weft__inbox_conts(const struct weft__inbox *ib) WEFT_INTERNAL;

/* Releases the calling thread's post blocks (also done at thread exit);
   tests call it before counting live allocations. */
void weft__inbox_release_thread_cache(void) WEFT_INTERNAL;

/* ---- continuation records (then.c; states moved by inbox.c) ------------ */

enum weft__cont_state {
    WEFT__CONT_NEW,           /* node registered on f, not yet attached */
    WEFT__CONT_SETTLED_EARLY, /* f settled before the attach */
    WEFT__CONT_WAITING,       /* in the inbox's waiting set, f pending */
    WEFT__CONT_QUEUED,        /* on the inbox's list */
    WEFT__CONT_CANCELLED,     /* a stop took it; the stopper delivers */
    WEFT__CONT_ORPHANED,      /* a stop took it (work); the settle delivers */
    WEFT__CONT_ABANDONED,     /* the registration failed (-EPIPE) */
    WEFT__CONT_DONE           /* delivered, or being delivered */
};

struct weft__cont {
    struct weft__inbox_item item;   /* on the list when QUEUED */
    struct weft__future_cb node;    /* on f's settle list */
    struct weft__cont *prev, *next; /* the waiting set, under the inbox lock */
    struct weft__inbox *ib;         /* a reference */
    weft_future_t *f;               /* then's own reference */
    weft_then_fn fn;
    void *arg;
    _Atomic uint32_t refs; /* the settle node + the delivery */
    uint8_t state;         /* enum weft__cont_state, inbox lock */
    bool work;             /* weft_loop_work: a stop orphans it */
    bool cancelled;        /* queued after the stop: -ECANCELED */
};

/* After the settle node is registered: moves the record into the waiting
   set or onto the list. reserved: the caller holds a reservation, and the
   attach consumes it. Returns 0, or -EPIPE (closed, not reserved: the
   record is ABANDONED and the callback will never run). */
int weft__cont_attach(struct weft__cont *c, bool reserved) WEFT_INTERNAL;

/* The settle node fired: true if the caller must now deliver -ECANCELED
   (an orphaned work record); otherwise the record was queued or needs
   nothing. */
bool weft__cont_settled(struct weft__cont *c) WEFT_INTERNAL;

/* Calls the continuation and drops the delivery's references. */
void weft__cont_deliver(struct weft__cont *c, int status) WEFT_INTERNAL;

/* A record for fn(f, status, arg) holding a reference to ib: refs 2 (the
   settle node and the delivery), state NEW, no future yet. NULL if out of
   memory. discard() frees one that was never registered anywhere. */
struct weft__cont *weft__cont_new(struct weft__inbox *ib, weft_then_fn fn, void *arg,
                                  bool work) WEFT_INTERNAL;
void weft__cont_discard(struct weft__cont *c) WEFT_INTERNAL;

/* Registers c's settle node on f (c takes over the caller's reference to
   f) and attaches it; the result of weft__cont_attach. */
int weft__cont_register(struct weft__cont *c, weft_future_t *f, bool reserved) WEFT_INTERNAL;

/* ---- the blocked-loop watchdog (watchdog.c) ------------------------------ */

struct weft__watch {
    struct weft__watch *next, *prev; /* the watchdog's list, under its mutex */
    uv_loop_t *uv;
    const char *name;
    int64_t threshold_ns;
    _Atomic uint64_t seq; /* bumped by the loop in prepare and check */
    /* The watchdog's, under its mutex. */
    bool linked, blocked;
    bool pinned; /* being logged: removal waits */
    uint64_t last_seq, last_idle;
    int64_t last_progress_ns;
    struct weft__watch *act_next; /* this sweep's reports */
    int act;
    int64_t act_ms;
    weft_log_episode_t episode;
    /* Results, read by weft_loop_stats. */
    _Atomic uint64_t episodes;
    _Atomic int64_t max_ns;
};

/* Starts watching (the loop thread, as run starts; starts the shared
   watchdog thread on first use) and stops (as run ends: returns after any
   sample in progress, so the uv loop may go). */
void weft__watchdog_add(struct weft__watch *w) WEFT_INTERNAL;
void weft__watchdog_remove(struct weft__watch *w) WEFT_INTERNAL;

/* ---- delays (delay.c) ---------------------------------------------------- */

struct weft__delay;

struct weft__delays {
    struct weft__delay **slots; /* every slot ever made, by index */
    uint32_t n, cap;
    struct weft__delay *free; /* slots not in use */
    uint32_t pending;
};

/* Calls every pending delay with -ECANCELED (the loop stopped). */
void weft__delays_cancel_all(weft_loop_t *loop) WEFT_INTERNAL;
/* Closes every slot's timer (close); frees the slots once closed (free). */
void weft__delays_close(weft_loop_t *loop) WEFT_INTERNAL;
void weft__delays_free(weft_loop_t *loop) WEFT_INTERNAL;

/* ---- the loop (loop.c) --------------------------------------------------- */

/* Posts the loop thread makes to its own loop: a ring of (fn, arg) run by
   an idle handle on the next iteration, without atomics. */
struct weft__local {
    struct weft__post {
        void (*fn)(void *);
        void *arg;
    } * v;
    size_t cap, head, len;
};

struct weft__hook {
    struct weft__hook *next;
    void (*fn)(weft_loop_t *loop, void *arg);
    void *arg;
};

struct weft_loop {
    uv_loop_t uv;
    struct weft__inbox *ib;
    uv_poll_t doorbell;   /* polls the inbox's doorbell */
    uv_idle_t local_idle; /* runs local posts */
    uv_prepare_t prepare; /* watchdog stamps, iteration count */
    uv_check_t check;
    uv_timer_t lag_timer;
    struct weft__local local;
    struct weft__delays delays;
    struct weft__hook *hooks; /* on_stop, in order */
    bool hooks_ran;
    _Atomic bool running;
    bool closed;
    void *data;
    char name[32];
    int64_t lag_interval_ms; /* < 0: off */
    int64_t lag_due_ns;
    struct weft__watch watch; /* threshold_ns 0: off */
    /* Statistics: counters written by the loop thread. */
    _Atomic uint64_t iterations, posts;
    _Atomic int64_t lag_ns, lag_max_ns;
    pthread_mutex_t stats_mu; /* guards the run-time fields below */
    int64_t run_started_ns;   /* 0 while not running */
    int64_t run_total_ns;
    uint64_t idle_final_ns; /* idle time when run last returned */
};

/* Marks the calling thread as running `loop` (NULL: as running none) and
   returns what it was, for a later restore. */
struct weft__loop_tls {
    weft_loop_t *current;
    bool is_loop;
};
struct weft__loop_tls weft__loop_enter(weft_loop_t *loop) WEFT_INTERNAL;
void weft__loop_leave(struct weft__loop_tls saved) WEFT_INTERNAL;

/* Whether the calling thread may use loop-thread-only functions now: it
   runs the loop, or nobody does. */
bool weft__loop_owner(const weft_loop_t *loop) WEFT_INTERNAL;

/* The marker weft's own handles carry in handle->data, so close can tell
   them from the user's. */
extern char weft__loop_internal_tag WEFT_INTERNAL;

/* Local posts (post.c): runs up to n of them (the loop thread, or the
   closing thread); frees the ring. */
size_t weft__local_run(weft_loop_t *loop, size_t n) WEFT_INTERNAL;
void weft__local_free(weft_loop_t *loop) WEFT_INTERNAL;

/* Stats hooks (stats.c): the prepare/check/lag handles. */
int weft__stats_init(weft_loop_t *loop) WEFT_INTERNAL;
void weft__stats_run_begin(weft_loop_t *loop) WEFT_INTERNAL;
void weft__stats_run_end(weft_loop_t *loop) WEFT_INTERNAL;
void weft__stats_close(weft_loop_t *loop) WEFT_INTERNAL;

#endif /* WEFT_LOOP_INT_H */
