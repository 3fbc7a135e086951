/*
 * submit.c - jobs into the pool: submit (waits while full), try_submit
 * (load shedding) and submit_ex (per-job options).
 *
 * A job that is not accepted (closed, full, would deadlock) never counts
 * in the stats; with weft_pool_submit its own future comes back rejected
 * with the reason, so the caller has one path for every outcome.
 */
#include <errno.h>

#include "pool/pool-int.h"

static int64_t job_deadline(const struct weft_pool *p, int64_t deadline_ms)
{
    if (deadline_ms == 0)
        deadline_ms = p->job_deadline_ms;
    return deadline_ms > 0 ? weft__deadline_ns(deadline_ms) : WEFT_FOREVER;
}

static int track_deadline(struct weft_pool *p, struct weft_job *job)
{
    if (job->deadline_ns == WEFT_FOREVER)
        return 0;
    pthread_mutex_lock(&p->ctl);
    int r = weft__deadline_add(p, job);
    if (r == 0 && weft__deadline_peek(p) == job)
        weft__supervisor_kick(p); /* the new earliest deadline */
    pthread_mutex_unlock(&p->ctl);
    return r;
}

/* Creates and queues a job. On success *job_out holds the job, with the
   submitter's reference unless detached. On failure the job is gone,
   except for ret_rejected: then its future, rejected with the error, is
   returned in *job_out for weft_pool_submit to hand back. */
static int submit_job(struct weft_pool *p, weft_job_fn fn, void *arg, int64_t deadline_ms,
                      bool detached, bool nonblocking, bool ret_rejected, struct weft_job **job_out)
{
    *job_out = NULL;
    struct weft_job *job = weft__job_new(p, fn, arg, job_deadline(p, deadline_ms), detached);
    if (!job)
        return -ENOMEM;
    int r = track_deadline(p, job);
    if (r == 0)
        r = weft__pool_enqueue(p, job, nonblocking);
    if (r == 0) {
        *job_out = job;
        return 0;
    }
    weft__job_forget_deadline(job);
    weft_future_reject(&job->future, r, NULL);
    if (ret_rejected && !detached)
        *job_out = job; /* the submitter's reference */
    else if (!detached)
        weft_future_unref(&job->future);
    weft_future_unref(&job->future); /* the pool's */
    return r;
}

weft_future_t *weft_pool_submit(weft_pool_t *p, weft_job_fn fn, void *arg)
{
    struct weft_job *job;
    int r = submit_job(p, fn, arg, 0, false, false, true, &job);
    if (!job) {
        errno = -r;
        return NULL;
    }
    return &job->future;
}

int weft_pool_try_submit(weft_pool_t *p, weft_job_fn fn, void *arg, weft_future_t **out)
{
    struct weft_job *job;
    int r = submit_job(p, fn, arg, 0, out == NULL, true, false, &job);
    if (out)
        *out = r == 0 ? &job->future : NULL;
    return r;
}

int weft_pool_submit_ex(weft_pool_t *p, weft_job_fn fn, void *arg, const weft_job_options_t *opts,
                        weft_future_t **out)
{
    weft_job_options_t defaults = {0};
    const weft_job_options_t *o = opts ? opts : &defaults;
    bool detached = o->detached || out == NULL;
    struct weft_job *job;
    int r = submit_job(p, fn, arg, o->deadline_ms, detached, o->nonblocking, false, &job);
    if (out)
        *out = r == 0 && !detached ? &job->future : NULL;
    return r;
}
