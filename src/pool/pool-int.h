/*
 * pool-int.h - the worker pool's private structures, shared by its modules:
 *
 *   pool.c        new, close, free, stats: the pool's life
 *   submit.c      submit, try_submit, submit_ex: jobs into the queue
 *   queue.c       the job queue, the wake policy, parking workers
 *   worker.c      the worker thread, running a job, the wait hook
 *   job.c         what a job calls: return, fail, cancelled, exit; ending a job
 *   supervisor.c  deadlines, replacing dead and stuck workers, restart intensity
 *   deadlines.c   the deadline heap
 *   parallel.c    weft_pool_for and friends: chunks with work stealing, run by
 *                 internal helper jobs queued at the front (not counted)
 *
 * Locks, in the only order they nest: `ctl` (pthread mutex: worker slots,
 * the deadline heap, supervision, close) before `qlock` (4-byte futex lock:
 * the queue, the sleepers, the queue counters) before a worker's `cur_lock`
 * (its running-job stack). A future's lock is never held while any of
 * these is taken, and no user code (jobs, future callbacks) runs under any
 * of them.
 *
 * A job's life: QUEUED (on the queue, under qlock) -> RUNNING (popped by a
 * worker) -> ENDED; or QUEUED -> ENDED (cancelled or timed out in the
 * queue, under qlock). Leaving RUNNING is a CAS, so exactly one of the
 * worker (returned, failed, died), the supervisor (deadline) or close
 * (abandoned) ends a running job and counts it.
 *
 * Every job embeds its future. The pool holds one reference from submit
 * until the job ends; the submitter holds another unless detached. The
 * job's memory goes with the future's last reference.
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

enum job_phase { JOB_QUEUED, JOB_RUNNING, JOB_ENDED };

/* How a running job ended, for the counters. */
enum job_end { END_COMPLETED, END_FAILED, END_CANCELLED, END_TIMED_OUT };

struct pool_worker;

struct weft_job {
    struct weft_future future;    /* first: the job's memory is the future's */
    struct weft_job *next, *prev; /* queue links, under qlock */
    weft_job_fn fn;
    void *arg;
    struct weft_pool *pool;
    int64_t deadline_ns;    /* absolute; WEFT_FOREVER: none */
    size_t heap_index;      /* in pool->deadlines (ctl); WEFT__NO_HEAP */
    _Atomic uint32_t phase; /* enum job_phase */
    _Atomic bool cancel_requested;
    bool detached;
    bool internal;              /* a parallel-loop helper: no stats, no capacity */
    struct pool_worker *worker; /* while running */
    struct weft_job *outer;     /* the job this one runs nested in (a wait) */
    struct weft__future_cb on_cancel;
    /* The result, staged by the job and delivered when it returns. */
    bool has_result;
    enum weft__value_kind kind;
    int64_t ri;
    double rd;
    void *rp;
    void (*rdtor)(void *);
    int rerr; /* < 0: weft_job_fail */
    char *rmsg;
};

enum slot_state { SLOT_FREE, SLOT_ACTIVE, SLOT_DEAD, SLOT_ABANDONED };

/* One worker thread's slot. Slots live as long as the pool, so a wake-up
   aimed at a worker never touches freed memory; a replacement reuses the
   slot of a dead worker. Counters written only by the slot's thread. */
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
    struct pool_worker *next_sleeper;
    weft__lock_t cur_lock;
    struct weft_job *current;                      /* innermost running job; cur_lock */
    _Atomic uint64_t completed, failed, cancelled; /* jobs ended by this slot */
} __attribute__((aligned(WEFT__CACHELINE)));       /* allocated with weft__calloc_aligned */

struct weft_pool {
    /* ---- hot: the queue, under qlock ---- */
    weft__lock_t qlock;
    struct weft_job *head, *tail;
    _Atomic size_t queue_len;          /* written under qlock; read anywhere */
    size_t helpers_queued;             /* internal jobs among them; qlock */
    size_t capacity;                   /* 0: unbounded */
    uint64_t submitted, started;       /* qlock */
    uint64_t cancelled_q, timed_out_q; /* ended while queued; qlock */
    struct pool_worker *sleepers;      /* qlock */
    unsigned n_sleepers, wake_pending; /* qlock */
    bool intake_closed;                /* qlock */
    bool stop_workers;                 /* qlock */
    _Atomic unsigned spinning;         /* workers lingering for work */
    _Atomic uint32_t space_seq;        /* bumped when a queue slot frees up */
    unsigned space_waiters;            /* qlock */
    _Atomic size_t active;             /* running jobs (for close's drain) */
    _Atomic bool closing;              /* close has begun */

    /* ---- counters of rarer events ---- */
    _Atomic uint64_t rejected __attribute__((aligned(WEFT__CACHELINE)));
    _Atomic uint64_t timed_out_r, cancelled_r; /* running jobs ended by others */
    _Atomic uint64_t replaced, abandoned_total, wakes, futile_wakes;
    _Atomic uint32_t refs; /* the user's + one per live thread */

    /* ---- control plane, under ctl ---- */
    pthread_mutex_t ctl;
    pthread_cond_t ctl_cond;  /* the supervisor sleeps here */
    pthread_cond_t idle_cond; /* close waits for the drain here */
    pthread_mutex_t close_mu; /* serialises closers */
    struct pool_worker *slots;
    unsigned n_slots;       /* threads + max_abandoned */
    unsigned threads;       /* wanted */
    unsigned live;          /* ACTIVE slots */
    unsigned abandoned_out; /* abandoned threads not yet returned */
    unsigned stuck_kept;    /* stuck past a deadline but not abandoned */
    unsigned max_abandoned;
    struct weft_job **deadlines; /* min-heap on deadline_ns */
    size_t n_deadlines, cap_deadlines;
    int64_t job_deadline_ms;
    /* restart intensity */
    unsigned restart_max;
    int64_t restart_period_ns, backoff_max_ns, backoff_ns;
    int64_t *restart_times; /* ring of the last restart_max restarts */
    unsigned restart_next;
    int64_t next_restart_ns; /* WEFT_FOREVER: none scheduled */
    bool degraded;
    weft_log_episode_t degraded_log;
    pthread_t supervisor;
    bool supervisor_stop;
    bool closed; /* close finished */
    char name[16];
};

/* ---- queue.c ---- */
int weft__pool_enqueue(struct weft_pool *p, struct weft_job *job, bool nonblocking) WEFT_INTERNAL;
int weft__pool_enqueue_helper(struct weft_pool *p, struct weft_job *job) WEFT_INTERNAL;
int weft__pool_enqueue_helper(struct weft_pool *p, struct weft_job *job) WEFT_INTERNAL;
struct weft_job *weft__pool_next_job(struct pool_worker *w) WEFT_INTERNAL;
struct weft_job *weft__pool_try_pop(struct pool_worker *w) WEFT_INTERNAL;
bool weft__pool_unlink_queued(struct weft_pool *p, struct weft_job *job,
                              enum job_end why) WEFT_INTERNAL;
size_t weft__pool_take_all_queued(struct weft_pool *p, struct weft_job **list) WEFT_INTERNAL;
void weft__pool_park(struct pool_worker *w, int64_t deadline_ns) WEFT_INTERNAL;
void weft__pool_park_waiting(struct pool_worker *w, const weft_future_t *f,
                             int64_t deadline_ns) WEFT_INTERNAL;
void weft__pool_unpark(struct pool_worker *w) WEFT_INTERNAL;
void weft__pool_stop_workers(struct weft_pool *p) WEFT_INTERNAL;
void weft__pool_close_intake(struct weft_pool *p) WEFT_INTERNAL;

/* ---- job.c ---- */
struct weft_job *weft__job_new(struct weft_pool *p, weft_job_fn fn, void *arg, int64_t deadline_ns,
                               bool detached) WEFT_INTERNAL;
void weft__job_run(struct pool_worker *w, struct weft_job *job) WEFT_INTERNAL;
void weft__job_end_queued(struct weft_job *job, int err) WEFT_INTERNAL;
bool weft__job_end_by_other(struct weft_job *job, enum job_end why, int err,
                            const char *msg) WEFT_INTERNAL;
void weft__job_end_all_dead(struct pool_worker *w) WEFT_INTERNAL;
void weft__job_discard_result(struct weft_job *job) WEFT_INTERNAL;
void weft__job_forget_deadline(struct weft_job *job) WEFT_INTERNAL;
bool weft__pool_closing(struct weft_pool *p) WEFT_INTERNAL;
void weft__pool_maybe_idle(struct weft_pool *p) WEFT_INTERNAL;

/* ---- worker.c ---- */
int weft__worker_start(struct pool_worker *w) WEFT_INTERNAL;
void weft__pool_unref(struct weft_pool *p) WEFT_INTERNAL;

/* ---- deadlines.c (under ctl) ---- */
int weft__deadline_add(struct weft_pool *p, struct weft_job *job) WEFT_INTERNAL;
void weft__deadline_remove(struct weft_pool *p, struct weft_job *job) WEFT_INTERNAL;
struct weft_job *weft__deadline_peek(const struct weft_pool *p) WEFT_INTERNAL;

/* ---- supervisor.c ---- */
void *weft__supervisor_main(void *arg) WEFT_INTERNAL;
void weft__supervisor_kick(struct weft_pool *p) WEFT_INTERNAL;
void weft__worker_died(struct pool_worker *w) WEFT_INTERNAL;
void weft__worker_exit_abandoned(struct pool_worker *w) WEFT_INTERNAL;
void weft__worker_reclaimed(struct pool_worker *w) WEFT_INTERNAL;
void weft__abandon_worker_locked(struct weft_pool *p, struct pool_worker *w,
                                 bool force) WEFT_INTERNAL;
void weft__update_degraded_locked(struct weft_pool *p, int64_t now) WEFT_INTERNAL;

#endif /* WEFT_POOL_INT_H */
