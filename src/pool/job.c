/*
 * job.c - a job's life on the pool: creation, cancellation while queued,
 * running on a worker, ending exactly once, and the API a job calls on
 * itself (return, fail, cancelled, exit).
 *
 * Ending a running job is a CAS of its phase from RUNNING to ENDED, so
 * exactly one of its worker (returned, failed, died), the supervisor
 * (deadline) or close (abandoned) ends and counts it; the others only
 * destroy the result they hold. The worker that ran a job always drops the
 * pool's reference when the job function is done with it, because a
 * stuck job still writes into its job record when it finally returns.
 *
 * The result is staged in the job record while the job runs and delivered
 * when it returns, so a settled future always means the job is over. Only
 * the job's own thread touches the staged fields.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "pool/pool-int.h"

static void job_cancel_fired(weft_future_t *f, struct weft__future_cb *cb, bool fire);

struct weft_job *weft__job_new(struct weft_pool *p, weft_job_fn fn, void *arg, int64_t deadline_ns,
                               bool detached)
{
    struct weft_job *job = weft__malloc(sizeof(*job));
    if (!job)
        return NULL;
    memset(job, 0, sizeof(*job));
    weft__future_init(&job->future, NULL); /* first member: freed as the job */
    job->fn = fn;
    job->arg = arg;
    job->pool = p;
    job->deadline_ns = deadline_ns;
    job->heap_index = WEFT__NO_HEAP;
    job->detached = detached;
    atomic_init(&job->phase, JOB_QUEUED);
    if (!detached) {
        weft_future_ref(&job->future); /* the submitter's */
        job->on_cancel.fn = job_cancel_fired;
        weft__future_on_cancel_cb(&job->future, &job->on_cancel);
    }
    return job;
}

bool weft__pool_closing(struct weft_pool *p)
{
    return atomic_load_explicit(&p->closing, memory_order_seq_cst);
}

/* close waits for the queue and the running jobs to empty: tell it. */
void weft__pool_maybe_idle(struct weft_pool *p)
{
    if (!weft__pool_closing(p) || atomic_load(&p->queue_len) || atomic_load(&p->active))
        return;
    pthread_mutex_lock(&p->ctl);
    pthread_cond_broadcast(&p->idle_cond);
    pthread_mutex_unlock(&p->ctl);
}

void weft__job_forget_deadline(struct weft_job *job)
{
    if (job->deadline_ns == WEFT_FOREVER)
        return;
    struct weft_pool *p = job->pool;
    pthread_mutex_lock(&p->ctl);
    weft__deadline_remove(p, job);
    pthread_mutex_unlock(&p->ctl);
}

/* A queued job left the queue without running (cancelled, timed out,
   closed): settle its future if that has not happened, forget it. */
void weft__job_end_queued(struct weft_job *job, int err)
{
    if (job->internal) {
        /* A helper tells its parallel loop it will never run. */
        atomic_store_explicit(&job->cancel_requested, true, memory_order_release);
        job->fn(job, job->arg);
    }
    if (err == -ECANCELED)
        weft_future_cancel(&job->future);
    else
        weft_future_reject(&job->future, err, "job deadline passed while queued");
    weft__job_forget_deadline(job);
    weft__pool_maybe_idle(job->pool);
    weft_future_unref(&job->future); /* the pool's reference */
}

/* The submitter cancelled the future: a queued job leaves the queue and
   never runs; a running one sees weft_job_cancelled() and its result will
   be destroyed. Runs on the cancelling thread, which holds a reference. */
static void job_cancel_fired(weft_future_t *f, struct weft__future_cb *cb, bool fire)
{
    if (!fire)
        return;
    struct weft_job *job = weft_container_of(cb, struct weft_job, on_cancel);
    atomic_store_explicit(&job->cancel_requested, true, memory_order_release);
    if (weft__pool_unlink_queued(job->pool, job, END_CANCELLED))
        weft__job_end_queued(job, -ECANCELED);
}

/* ---- running ------------------------------------------------------------ */

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

void weft__job_discard_result(struct weft_job *job)
{
    if (job->has_result && job->kind == WEFT__VALUE_PTR && job->rdtor)
        job->rdtor(job->rp);
    weft__free(job->rmsg);
    job->rmsg = NULL;
    job->has_result = false;
}

/* Settles the future with the staged result; says how the job ended (a
   future already cancelled makes it END_CANCELLED). */
static enum job_end deliver(struct weft_job *job)
{
    weft_future_t *f = &job->future;
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

static void count_own(struct pool_worker *w, enum job_end why)
{
    /* Single writer (this slot's thread): a relaxed add is enough; stats
       readers acquire the whole set before reading the queue counters. */
    _Atomic uint64_t *c = why == END_COMPLETED ? &w->completed
                          : why == END_FAILED  ? &w->failed
                                               : &w->cancelled;
    atomic_fetch_add_explicit(c, 1, memory_order_release);
}

/* The worker ends its own job: false if someone else already had. */
static bool end_own(struct pool_worker *w, struct weft_job *job)
{
    uint32_t expect = JOB_RUNNING;
    if (!atomic_compare_exchange_strong(&job->phase, &expect, JOB_ENDED)) {
        weft__job_discard_result(job);
        return false;
    }
    enum job_end why = deliver(job);
    if (!job->internal)
        count_own(w, why);
    weft__job_forget_deadline(job);
    atomic_fetch_sub_explicit(&job->pool->active, 1, memory_order_seq_cst);
    weft__pool_maybe_idle(job->pool);
    return true;
}

bool weft__job_end_by_other(struct weft_job *job, enum job_end why, int err, const char *msg)
{
    uint32_t expect = JOB_RUNNING;
    if (!atomic_compare_exchange_strong(&job->phase, &expect, JOB_ENDED))
        return false;
    struct weft_pool *p = job->pool;
    atomic_store_explicit(&job->cancel_requested, true, memory_order_release);
    if (why == END_TIMED_OUT)
        weft_future_reject(&job->future, err, msg);
    else
        weft_future_cancel(&job->future);
    if (!job->internal)
        atomic_fetch_add_explicit(why == END_TIMED_OUT ? &p->timed_out_r : &p->cancelled_r, 1,
                                  memory_order_release);
    weft__job_forget_deadline(job);
    atomic_fetch_sub_explicit(&p->active, 1, memory_order_seq_cst);
    weft__pool_maybe_idle(p);
    return true;
}

static bool expired(const struct weft_job *job)
{
    return job->deadline_ns != WEFT_FOREVER && weft__now_ns() >= job->deadline_ns;
}

void weft__job_run(struct pool_worker *w, struct weft_job *job)
{
    push_current(w, job);
    if (job->internal)
        job->fn(job, job->arg); /* a helper handles its own cancellation */
    else if (expired(job))
        /* The supervisor had not got to it yet: it must never run. */
        weft__job_end_by_other(job, END_TIMED_OUT, -ETIMEDOUT, "job deadline passed while queued");
    else if (!weft_job_cancelled(job))
        job->fn(job, job->arg);
    pop_current(w, job);
    if (!end_own(w, job))
        weft__worker_reclaimed(w);
    weft_future_unref(&job->future); /* the pool's reference */
}

/* weft_job_exit unwound the thread: every job on its stack ends failed
   with -EOWNERDEAD. Runs on the dying worker (pthread cleanup handler). */
void weft__job_end_all_dead(struct pool_worker *w)
{
    struct weft_job *job;
    while ((job = w->current)) {
        pop_current(w, job);
        weft__job_discard_result(job);
        job->rerr = -EOWNERDEAD;
        job->rmsg = weft__strdup("its worker thread exited (weft_job_exit)");
        if (!end_own(w, job))
            weft__worker_reclaimed(w);
        weft_future_unref(&job->future);
    }
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
    return atomic_load_explicit(&job->cancel_requested, memory_order_acquire) ||
           weft_future_state(&job->future) != WEFT_FUTURE_PENDING;
}

void *weft_job_arg(const weft_job_t *job)
{
    return job->arg;
}

void weft_job_exit(weft_job_t *job)
{
    (void)job;
    pthread_exit(NULL); /* the worker's cleanup handler takes it from here */
}
