/*
 * pool-int.h - the worker pool's private structures, shared by its modules:
 *
 *   pool.c        new, close, free, stats: the pool's life
 *   submit.c      submit, try_submit, submit_ex: jobs into the queue
 *   queue.c       the shared queue, the wake policy, parking workers
 *   local.c       each worker's local ring: batches in, stealing out
 *   worker.c      the worker thread: finding work, the wait hook
 *   job.c         job records, running a job, ending it exactly once, and
 *                 what a job calls (return, fail, cancelled, exit)
 *   supervisor.c  deadlines, replacing dead and stuck workers, restart intensity
 *   deadlines.c   the deadline heap
 *   parallel.c    weft_pool_for and friends: chunks with work stealing, run by
 *                 internal helper entries queued at the front (not counted)
 *
 * The shape (Tokio's scheduler, for C): submitters append 24-byte entries
 * (fn, arg, record) to one shared ring under `qlock`; a worker moves a
 * batch of them to its own local ring and runs them from there, so the
 * cross-core traffic of the shared queue is paid once per batch, not once
 * per job; an idle worker steals half of a busy worker's local ring, so no
 * worker sits on jobs another could run. A detached job without a deadline
 * needs no record at all: its entry is the whole job.
 *
 * A job with a future (or a deadline) has a record, which embeds the
 * future: the pool holds one reference from submit until the job ends, the
 * submitter another unless detached. While a job runs, its handle
 * (weft_job_t) is an execution context on the worker's stack, linked into
 * the worker's `current` stack (a wait can nest jobs).
 *
 * Locks, in the only order they nest: `ctl` (pthread mutex: worker slots,
 * the deadline heap, supervision, close) before `qlock` (4-byte futex lock:
 * the shared ring, the sleepers) before a worker's `local.lock` before its
 * `cur_lock` (its execution stack). No user code (jobs, future callbacks)
 * runs under any of them, and a future's lock is never held while one of
 * them is taken.
 *
 * A record's phase: QUEUED -> CLAIMED -> RUNNING (popped by a worker and
 * counted as started) -> ENDED, or
 * QUEUED -> ENDED (cancelled, timed out or closed while queued; its entry
 * stays in a ring and is skipped when popped). Every change is a CAS, so
 * exactly one party ends a job and counts it.
 */
#ifndef WEFT_POOL_INT_H
#define WEFT_POOL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "error/base.h"
#include "future/future-int.h"
#include "sync/clock.h"
#include "sync/lock.h"
#include "weft/pool.h"

#define WEFT__CACHELINE 64
#define WEFT__NO_HEAP   SIZE_MAX
#define WEFT__LOCAL_CAP 256u /* entries in a worker's local ring */

/* CLAIMED: popped by a worker that has not counted the start yet, so
   neither a cancel-in-queue nor a deadline can end it in between. */
enum job_phase { JOB_QUEUED, JOB_CLAIMED, JOB_RUNNING, JOB_ENDED };

/* How a running job ended, for the counters. */
enum job_end { END_COMPLETED, END_FAILED, END_CANCELLED, END_TIMED_OUT };

struct pool_worker;
struct job_record;

/* One queued job. rec is NULL for a light job (detached, no deadline),
   WEFT__HELPER for a parallel-loop helper, else the job's record. */
struct weft__entry {
    weft_job_fn fn;
    void *arg;
    struct job_record *rec;
};
#define WEFT__HELPER ((struct job_record *)1)

static inline bool weft__entry_has_record(const struct weft__entry *e)
{
    return e->rec && e->rec != WEFT__HELPER;
}

struct job_record {
    struct weft_future future; /* first: the record's memory is the future's */
    struct weft_pool *pool;
    struct pool_worker *worker; /* set before RUNNING */
    struct weft__future_cb on_cancel;
    int64_t deadline_ns;    /* absolute; WEFT_FOREVER: none */
    size_t heap_index;      /* in pool->deadlines (ctl); WEFT__NO_HEAP */
    _Atomic uint32_t phase; /* enum job_phase */
    _Atomic bool cancel_requested;
    bool detached;
    const char *note; /* weft_job_options_t.note: noted while it runs */
};                    /* 128 bytes: a 128-byte malloc chunk */

/* A running job's handle: on the worker's stack for the duration of the
   job function. Only the job's thread touches the staged result; close
   and the supervisor touch the rest under the worker's cur_lock. */
struct weft_job {
    struct job_record *rec; /* NULL for light jobs and helpers */
    void *arg;
    struct pool_worker *worker;
    struct weft_job *outer;        /* the job this one runs nested in (a wait) */
    bool helper;                   /* a parallel-loop helper: not counted */
    _Atomic uint32_t phase;        /* light jobs: RUNNING -> ENDED (abandoned) */
    _Atomic bool cancel_requested; /* light jobs: set by close */
    bool has_result;
    enum weft__value_kind kind;
    int64_t ri;
    double rd;
    void *rp;
    void (*rdtor)(void *);
    int rerr; /* < 0: weft_job_fail */
    char *rmsg;
};

/* A worker's local ring: filled in batches from the shared ring by its
   owner, emptied by its owner from the head, or by a thief taking half. */
struct local_ring {
    weft__lock_t lock;
    _Atomic unsigned head, tail; /* written under lock; peeked at by thieves */
    struct weft__entry e[WEFT__LOCAL_CAP];
};

enum slot_state { SLOT_FREE, SLOT_ACTIVE, SLOT_DEAD, SLOT_ABANDONED };

/* One worker thread's slot. Slots live as long as the pool, so a wake-up
   aimed at a worker never touches freed memory; a replacement reuses the
   slot of a dead worker. Counters are written only by the slot's thread
   (relaxed stores), and add up across the threads the slot has had. */
struct pool_worker {
    struct weft_pool *pool;
    pthread_t thread;
    unsigned index;
    enum slot_state state;  /* ctl */
    bool joinable;          /* ctl: a thread to join in this slot */
    bool kept;              /* ctl: stuck past a deadline, not abandoned */
    _Atomic bool abandoned; /* set by supervisor/close: exit when free */
    _Atomic uint32_t park;  /* 0 parked, 1 woken */
    bool sleeping;          /* qlock: on the sleepers stack */
    bool woken_by_pool;     /* qlock: popped off it by a waker */
    bool woken_unused;      /* own thread: woken, no work found yet */
    bool eager;             /* own thread: idle a while, take any batch */
    struct pool_worker *next_sleeper;
    weft__lock_t cur_lock;
    struct weft_job *current; /* innermost running job; cur_lock */
    _Atomic uint64_t started, completed, failed, cancelled;
    unsigned steal_from; /* where the next steal looks first */
    struct local_ring local __attribute__((aligned(WEFT__CACHELINE)));
} __attribute__((aligned(WEFT__CACHELINE))); /* allocated with weft__calloc_aligned */

struct weft_pool {
    /* ---- read-only after weft_pool_new: its own cache line ---- */
    size_t capacity; /* 0: unbounded */
    struct pool_worker *slots;
    unsigned n_slots; /* threads + max_abandoned */
    unsigned threads; /* wanted */

    /* ---- hot: the shared ring, under qlock ---- */
    weft__lock_t qlock __attribute__((aligned(WEFT__CACHELINE)));
    struct weft__entry *ring; /* power-of-two sized */
    size_t ring_cap, ring_head, ring_tail;
    _Atomic size_t ring_len;           /* written under qlock; read anywhere */
    uint64_t submitted;                /* qlock */
    uint64_t ended_seen;               /* qlock: a lower bound of jobs ended */
    struct pool_worker *sleepers;      /* qlock */
    unsigned n_sleepers, wake_pending; /* qlock */
    bool intake_closed;                /* qlock */
    bool stop_workers;                 /* qlock */
    unsigned space_waiters;            /* qlock */

    /* ---- shared counters, read mostly ---- */
    _Atomic unsigned spinning __attribute__((aligned(WEFT__CACHELINE)));
    _Atomic uint32_t space_seq;                /* bumped when queue room frees up */
    _Atomic bool closing;                      /* close has begun */
    _Atomic unsigned space_waiting;            /* mirror of space_waiters, lock-free read */
    _Atomic uint64_t cancelled_q, timed_out_q; /* ended while queued */
    _Atomic uint64_t timed_out_r, cancelled_r; /* running jobs ended by others */
    _Atomic uint64_t rejected, replaced, abandoned_total, wakes, futile_wakes;
    _Atomic uint32_t refs; /* the user's + one per live thread */

    /* ---- control plane, under ctl ---- */
    pthread_mutex_t ctl __attribute__((aligned(WEFT__CACHELINE)));
    pthread_cond_t ctl_cond;  /* the supervisor sleeps here */
    pthread_cond_t idle_cond; /* close waits for the drain here */
    pthread_mutex_t close_mu; /* serialises closers */
    unsigned live;            /* ACTIVE slots */
    unsigned abandoned_out;   /* abandoned threads not yet returned */
    unsigned stuck_kept;      /* stuck past a deadline but not abandoned */
    unsigned max_abandoned;
    struct job_record **deadlines; /* min-heap on deadline_ns */
    size_t n_deadlines, cap_deadlines;
    int64_t job_deadline_ms;
    /* restart intensity */
    unsigned restart_max;
    int64_t restart_period_ns, backoff_max_ns, backoff_ns;
    int64_t *restart_times; /* ring of the last restart_max restarts */
    unsigned restart_next;
    int64_t next_restart_ns;
    bool degraded;
    weft_log_episode_t degraded_log;
    pthread_t supervisor;
    bool supervisor_stop;
    bool closed; /* close finished */
    char name[16];
};

/* ---- queue.c: the shared ring, waking and parking ---- */
int weft__pool_enqueue(struct weft_pool *p, const struct weft__entry *e,
                       bool nonblocking) WEFT_INTERNAL;
int weft__pool_enqueue_helpers(struct weft_pool *p, const struct weft__entry *e,
                               unsigned n) WEFT_INTERNAL;
unsigned weft__pool_take_batch(struct weft_pool *p, struct pool_worker *w,
                               bool eager) WEFT_INTERNAL;
bool weft__pool_pop_shared(struct weft_pool *p, struct weft__entry *out) WEFT_INTERNAL;
void weft__pool_space_freed(struct weft_pool *p) WEFT_INTERNAL;
bool weft__pool_sleep(struct pool_worker *w) WEFT_INTERNAL;
void weft__pool_park_waiting(struct pool_worker *w, const weft_future_t *f,
                             int64_t deadline_ns) WEFT_INTERNAL;
void weft__pool_unpark(struct pool_worker *w) WEFT_INTERNAL;
void weft__pool_wake_helper(struct weft_pool *p) WEFT_INTERNAL;
void weft__pool_stop_workers(struct weft_pool *p) WEFT_INTERNAL;
void weft__pool_close_intake(struct weft_pool *p) WEFT_INTERNAL;
bool weft__pool_anything_queued(struct weft_pool *p) WEFT_INTERNAL;

/* ---- local.c: a worker's own ring ---- */
void weft__local_push_batch(struct pool_worker *w, const struct weft__entry *e,
                            unsigned n) WEFT_INTERNAL;
bool weft__local_pop(struct pool_worker *w, struct weft__entry *out) WEFT_INTERNAL;
unsigned weft__local_len(const struct pool_worker *w) WEFT_INTERNAL;
bool weft__local_steal(struct pool_worker *thief) WEFT_INTERNAL;
unsigned weft__local_drain(struct pool_worker *w, struct weft__entry *out) WEFT_INTERNAL;

/* ---- job.c ---- */
struct job_record *weft__record_new(struct weft_pool *p, int64_t deadline_ns,
                                    bool detached) WEFT_INTERNAL;
void weft__job_run(struct pool_worker *w, const struct weft__entry *e) WEFT_INTERNAL;
void weft__entry_cancelled(struct weft_pool *p, const struct weft__entry *e) WEFT_INTERNAL;
bool weft__record_end_queued(struct job_record *rec, enum job_end why) WEFT_INTERNAL;
bool weft__record_end_running(struct job_record *rec, enum job_end why) WEFT_INTERNAL;
bool weft__light_end_by_other(struct weft_job *job) WEFT_INTERNAL;
void weft__record_forget_deadline(struct job_record *rec) WEFT_INTERNAL;
void weft__pool_maybe_idle(struct weft_pool *p) WEFT_INTERNAL;

/* ---- worker.c ---- */
int weft__worker_start(struct pool_worker *w) WEFT_INTERNAL;
void weft__pool_unref(struct weft_pool *p) WEFT_INTERNAL;
bool weft__worker_find_work(struct pool_worker *w, struct weft__entry *out) WEFT_INTERNAL;

/* ---- deadlines.c (under ctl) ---- */
int weft__deadline_add(struct weft_pool *p, struct job_record *rec) WEFT_INTERNAL;
void weft__deadline_remove(struct weft_pool *p, struct job_record *rec) WEFT_INTERNAL;
struct job_record *weft__deadline_peek(const struct weft_pool *p) WEFT_INTERNAL;

/* ---- supervisor.c ---- */
void *weft__supervisor_main(void *arg) WEFT_INTERNAL;
void weft__supervisor_kick(struct weft_pool *p) WEFT_INTERNAL;
void weft__worker_died(struct pool_worker *w) WEFT_INTERNAL;
void weft__worker_exit_abandoned(struct pool_worker *w) WEFT_INTERNAL;
void weft__worker_reclaimed(struct pool_worker *w) WEFT_INTERNAL;
void weft__abandon_worker_locked(struct weft_pool *p, struct pool_worker *w,
                                 bool force) WEFT_INTERNAL;
void weft__update_degraded_locked(struct weft_pool *p, int64_t now) WEFT_INTERNAL;

/* ---- parallel.c ---- */
void weft__helper_cancelled(void *task) WEFT_INTERNAL;

#endif /* WEFT_POOL_INT_H */
