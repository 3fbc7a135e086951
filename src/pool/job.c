/*
 * job.c - a job's life on the pool: its record (for jobs with a future or
 * a deadline), running it on a worker, ending it exactly once, and the API
 * a job calls on itself (return, fail, cancelled, exit).
 *
 * Ending is a CAS of the phase (the record's, or the handle's for a light
 * job) so exactly one of the worker (returned, failed, died), the
 * supervisor (deadline) or close (cancelled, abandoned) ends and counts a
 * job; the others only destroy the result they hold.
 *
 * The result is staged in the handle while the job runs and delivered when
 * it returns, so a settled future always means the job is over.
 *
 * References: an entry in a ring owns the pool's reference to its record;
 * whoever pops the entry owns it next, and drops it when the job is over
 * (or at once if the record already ended while queued). A record is alive
 * while its entry is queued, while it runs, and while in the deadline heap.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "pool/pool-int.h"
#include "sync/thread.h"
#include "weft/proc.h"

static void record_cancel_fired(weft_future_t *f, struct weft__future_cb *cb, bool fire);

struct job_record *weft__record_new(struct weft_pool *p, int64_t deadline_ns, bool detached)
{
    struct job_record *rec = weft__malloc(sizeof(*rec));
    if (!rec)
        return NULL;
    weft__future_init(&rec->future, NULL); /* first member: freed as the record */
    rec->pool = p;
    rec->deadline_ns = deadline_ns;
    rec->heap_index = WEFT__NO_HEAP;
    atomic_init(&rec->phase, JOB_QUEUED);
    atomic_init(&rec->cancel_requested, false);
    rec->detached = detached;
    rec->worker = NULL;
    rec->note = NULL;
    if (!detached) {
        /* Nobody else can see the future yet: set it up without atomics. */
        atomic_store_explicit(&rec->future.refs, 2, memory_order_relaxed); /* + the submitter */
        rec->on_cancel.fn = record_cancel_fired;
        rec->on_cancel.next = NULL;
        rec->future.cancel_cbs = &rec->on_cancel;
    }
    return rec;
}

/* close waits for everything queued or running to be over: tell it. */
void weft__pool_maybe_idle(struct weft_pool *p)
{
    if (!atomic_load_explicit(&p->closing, memory_order_seq_cst))
        return;
    pthread_mutex_lock(&p->ctl);
    pthread_cond_broadcast(&p->idle_cond);
    pthread_mutex_unlock(&p->ctl);
}

void weft__record_forget_deadline(struct job_record *rec)
{
    if (rec->deadline_ns == WEFT_FOREVER)
        return;
    struct weft_pool *p = rec->pool;
    pthread_mutex_lock(&p->ctl);
    weft__deadline_remove(p, rec);
    pthread_mutex_unlock(&p->ctl);
}

/* A queued record ends without running (cancelled, timed out, closed): its
   entry stays in its ring and is skipped when popped. False if it was no
   longer queued. */
bool weft__record_end_queued(struct job_record *rec, enum job_end why)
{
    uint32_t expect = JOB_QUEUED;
    if (!atomic_compare_exchange_strong(&rec->phase, &expect, JOB_ENDED))
        return false;
    struct weft_pool *p = rec->pool;
    atomic_fetch_add(why == END_TIMED_OUT ? &p->timed_out_q : &p->cancelled_q, 1);
    atomic_store(&rec->cancel_requested, true);
    if (why == END_TIMED_OUT)
        weft_future_reject(&rec->future, -ETIMEDOUT, "job deadline passed while queued");
    else
        weft_future_cancel(&rec->future); /* -EALREADY if the user did */
    weft__record_forget_deadline(rec);
    weft__pool_space_freed(p);
    weft__pool_maybe_idle(p);
    return true;
}

/* The submitter cancelled the future: a queued job never runs; a running
   one sees weft_job_cancelled() and its result will be destroyed. Runs on
   the cancelling thread, which holds a reference. */
static void record_cancel_fired(weft_future_t *f, struct weft__future_cb *cb, bool fire)
{
    if (!fire)
        return;
    struct job_record *rec = weft_container_of(cb, struct job_record, on_cancel);
    atomic_store_explicit(&rec->cancel_requested, true, memory_order_release);
    weft__record_end_queued(rec, END_CANCELLED);
}

/* An entry close took out of a ring: it never runs. */
void weft__entry_cancelled(struct weft_pool *p, const struct weft__entry *e)
{
    if (e->rec == WEFT__HELPER) {
        weft__helper_cancelled(e->arg);
    } else if (e->rec) {
        weft__record_end_queued(e->rec, END_CANCELLED);
        weft_future_unref(&e->rec->future); /* the entry's reference */
    } else {
        atomic_fetch_add(&p->cancelled_q, 1);
    }
}

/* ---- running ------------------------------------------------------------ */

static _Atomic uint32_t *phase_of(struct weft_job *job)
{
    return job->rec ? &job->rec->phase : &job->phase;
}

static void push_current(struct pool_worker *w, struct weft_job *job)
{
    weft__lock(&w->cur_lock);
    job->outer = w->current;
    w->current = job;
    weft__unlock(&w->cur_lock);
}

static void pop_current(struct pool_worker *w, struct weft_job *job)
{
    weft__lock(&w->cur_lock);
    WEFT_ASSERT(w->current == job);
    w->current = job->outer;
    weft__unlock(&w->cur_lock);
}

static void discard_result(struct weft_job *job)
{
    if (job->has_result && job->kind == WEFT__VALUE_PTR && job->rdtor)
        job->rdtor(job->rp);
    weft__free(job->rmsg);
    job->rmsg = NULL;
    job->has_result = false;
}

/* Settles the record's future with the staged result; says how the job
   ended (a future cancelled meanwhile makes it END_CANCELLED). */
static enum job_end deliver(struct weft_job *job)
{
    weft_future_t *f = &job->rec->future;
    int r;
    if (job->rerr < 0) {
        r = weft__future_reject_take(f, job->rerr, job->rmsg);
        job->rmsg = NULL;
    } else if (job->has_result) {
        r = weft__future_fulfill(f, job->kind, job->ri, job->rd, job->rp, job->rdtor);
    } else {
        r = weft_future_fulfill_int(f, 0);
    }
    job->has_result = false; /* delivered, or destroyed by the failed settle */
    if (r == -EALREADY)
        return END_CANCELLED;
    return job->rerr < 0 ? END_FAILED : END_COMPLETED;
}

/* Single writer per counter (this slot's thread): load and store. */
static void bump(_Atomic uint64_t *c, memory_order order)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, order);
}

static void count_own(struct pool_worker *w, enum job_end why)
{
    _Atomic uint64_t *c = why == END_COMPLETED ? &w->completed
                          : why == END_FAILED  ? &w->failed
                                               : &w->cancelled;
    if (!w->pool->capacity) {
        bump(c, memory_order_release);
        return;
    }
    /* Bounded: pairs with wait_for_space (queue.c) so no wake is lost. */
    bump(c, memory_order_seq_cst);
    weft__pool_space_freed(w->pool);
}

/* The worker ends its own job: false if someone else already had. */
static bool end_own(struct pool_worker *w, struct weft_job *job)
{
    uint32_t expect = JOB_RUNNING;
    if (!atomic_compare_exchange_strong(phase_of(job), &expect, JOB_ENDED)) {
        discard_result(job);
        return false;
    }
    enum job_end why;
    if (job->rec) {
        why = deliver(job);
        weft__record_forget_deadline(job->rec);
    } else {
        why = atomic_load(&job->cancel_requested) ? END_CANCELLED
              : job->rerr < 0                     ? END_FAILED
                                                  : END_COMPLETED;
        discard_result(job); /* a light job's result has nowhere to go */
    }
    if (!job->helper)
        count_own(w, why);
    weft__pool_maybe_idle(w->pool);
    return true;
}

/* Close lets go of a light job or helper running on a stuck thread.
   Under the worker's cur_lock, which keeps the handle alive. */
bool weft__light_end_by_other(struct weft_job *job)
{
    uint32_t expect = JOB_RUNNING;
    if (!atomic_compare_exchange_strong(&job->phase, &expect, JOB_ENDED))
        return false;
    atomic_store(&job->cancel_requested, true);
    if (!job->helper) {
        atomic_fetch_add(&job->worker->pool->cancelled_r, 1);
        weft__pool_space_freed(job->worker->pool);
    }
    return true;
}

/* The supervisor (deadline) or close (abandoned) ends a running record's
   job; the caller holds a reference. False if it had already ended. */
bool weft__record_end_running(struct job_record *rec, enum job_end why)
{
    uint32_t expect = JOB_RUNNING;
    if (!atomic_compare_exchange_strong(&rec->phase, &expect, JOB_ENDED))
        return false;
    struct weft_pool *p = rec->pool;
    atomic_store(&rec->cancel_requested, true);
    atomic_fetch_add(why == END_TIMED_OUT ? &p->timed_out_r : &p->cancelled_r, 1);
    if (why == END_TIMED_OUT)
        weft_future_reject(&rec->future, -ETIMEDOUT, "job deadline passed");
    else
        weft_future_cancel(&rec->future);
    weft__record_forget_deadline(rec);
    weft__pool_space_freed(p);
    weft__pool_maybe_idle(p);
    return true;
}

/* Claims a popped record: false if it already ended while queued. */
static bool claim_record(struct pool_worker *w, struct job_record *rec)
{
    rec->worker = w; /* before RUNNING: whoever ends it finds its thread */
    uint32_t expect = JOB_QUEUED;
    return atomic_compare_exchange_strong(&rec->phase, &expect, JOB_CLAIMED);
}

static void count_start(struct pool_worker *w)
{
    bump(&w->started, memory_order_release);
}

/* An unwinding thread (weft_job_exit) passes through here: the job ends
   failed with -EOWNERDEAD. On a normal return `done` is set first. */
struct run_frame {
    struct pool_worker *w;
    struct weft_job *job;
    bool done;
};

static void run_frame_unwound(struct run_frame *fr)
{
    if (fr->done)
        return;
    struct weft_job *job = fr->job;
    pop_current(fr->w, job);
    discard_result(job);
    job->rerr = -EOWNERDEAD;
    job->rmsg = weft__strdup("its worker thread exited (weft_job_exit)");
    if (!end_own(fr->w, job))
        weft__worker_reclaimed(fr->w);
    if (job->rec)
        weft_future_unref(&job->rec->future);
}

static bool expired(const struct job_record *rec)
{
    return rec->deadline_ns != WEFT_FOREVER && weft__now_ns() >= rec->deadline_ns;
}

/* Crash notes (weft/proc.h): what this thread runs, for its supervisor
   to name if the process dies; the outer job's again once a nested one
   (run while waiting) is over. */
static void note_job(const struct job_record *rec)
{
    if (rec && rec->note)
        weft_proc_note(rec->note);
}

static void unnote_job(const struct job_record *rec, const struct weft_job *outer)
{
    if (rec && rec->note)
        weft_proc_note(outer && outer->rec ? outer->rec->note : NULL);
}

void weft__job_run(struct pool_worker *w, const struct weft__entry *e)
{
    bool helper = e->rec == WEFT__HELPER;
    struct job_record *rec = weft__entry_has_record(e) ? e->rec : NULL;
    if (rec && !claim_record(w, rec)) {
        weft_future_unref(&rec->future); /* ended while queued: skip it */
        weft__pool_maybe_idle(w->pool);
        return;
    }
    if (!helper)
        count_start(w);
    if (rec) /* counted first, so stats never see it end before it started */
        atomic_store(&rec->phase, JOB_RUNNING);
    struct weft_job job = {.rec = rec, .arg = e->arg, .worker = w, .helper = helper};
    atomic_init(&job.phase, JOB_RUNNING);
    struct run_frame fr __attribute__((cleanup(run_frame_unwound))) = {w, &job, false};
    push_current(w, &job);
    if (rec && expired(rec))
        weft__record_end_running(rec, END_TIMED_OUT); /* the supervisor was late */
    else if (helper || !weft_job_cancelled(&job)) {
        note_job(rec);
        e->fn(&job, e->arg); /* a helper handles cancellation itself */
        unnote_job(rec, job.outer);
    }
    pop_current(w, &job);
    fr.done = true;
    if (!end_own(w, &job))
        weft__worker_reclaimed(w);
    if (rec)
        weft_future_unref(&rec->future); /* the entry's reference */
}

/* ---- what a job calls ---------------------------------------------------- */

/* The first return or fail wins; later ones are ignored. */
static bool stage(weft_job_t *job)
{
    if (job->has_result || job->rerr < 0)
        return false;
    job->has_result = true;
    return true;
}

void weft_job_return_int(weft_job_t *job, int64_t value)
{
    if (stage(job)) {
        job->kind = WEFT__VALUE_INT;
        job->ri = value;
    }
}

void weft_job_return_double(weft_job_t *job, double value)
{
    if (stage(job)) {
        job->kind = WEFT__VALUE_DOUBLE;
        job->rd = value;
    }
}

void weft_job_return_ptr(weft_job_t *job, void *ptr, void (*dtor)(void *))
{
    if (!stage(job)) {
        if (dtor)
            dtor(ptr);
        return;
    }
    job->kind = WEFT__VALUE_PTR;
    job->rp = ptr;
    job->rdtor = dtor;
}

void weft_job_fail(weft_job_t *job, int err, const char *msg)
{
    if (job->has_result || job->rerr < 0)
        return;
    job->rerr = err < 0 ? err : -EINVAL;
    job->rmsg = msg ? weft__strdup(msg) : NULL;
}

bool weft_job_cancelled(const weft_job_t *job)
{
    if (atomic_load_explicit(&job->cancel_requested, memory_order_acquire))
        return true;
    const struct job_record *rec = job->rec;
    return rec && (atomic_load_explicit(&rec->cancel_requested, memory_order_acquire) ||
                   weft_future_state(&rec->future) != WEFT_FUTURE_PENDING);
}

void *weft_job_arg(const weft_job_t *job)
{
    return job->arg;
}

void weft_job_exit(weft_job_t *job)
{
    (void)job;
    pthread_exit(NULL); /* each job frame on the way out ends its job */
}
