/*
 * submit.c - jobs into the pool: submit (waits while full), try_submit
 * (load shedding) and submit_ex (per-job options).
 *
 * A detached job without a deadline is only an entry (fn, arg) in the
 * queue: nothing to allocate. Any other job gets a record holding its
 * future, and its deadline if it has one.
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

static int track_deadline(struct weft_pool *p, struct job_record *rec)
{
    if (rec->deadline_ns == WEFT_FOREVER)
        return 0;
    pthread_mutex_lock(&p->ctl);
    int r = weft__deadline_add(p, rec);
    if (r == 0 && weft__deadline_peek(p) == rec)
        weft__supervisor_kick(p); /* the new earliest deadline */
    pthread_mutex_unlock(&p->ctl);
    return r;
}

/* Queues a job. *rec_out gets its record (NULL for a light job), holding
   the submitter's reference unless detached. On failure nothing is queued;
   with keep_rejected the record comes back anyway, its future rejected with
   the error, for weft_pool_submit to return. */
static int submit_job(struct weft_pool *p, weft_job_fn fn, void *arg, int64_t deadline_ms,
                      bool detached, bool nonblocking, bool keep_rejected, const char *note,
                      struct job_record **rec_out)
{
    *rec_out = NULL;
    int64_t deadline = job_deadline(p, deadline_ms);
    struct weft__entry e = {fn, arg, NULL};
    if (!detached || deadline != WEFT_FOREVER || note) {
        e.rec = weft__record_new(p, deadline, detached);
        if (!e.rec)
            return -ENOMEM;
        e.rec->note = note;
    }
    int r = e.rec ? track_deadline(p, e.rec) : 0;
    if (r == 0)
        r = weft__pool_enqueue(p, &e, nonblocking);
    if (r == 0) {
        *rec_out = e.rec;
        return 0;
    }
    if (!e.rec)
        return r;
    weft__record_forget_deadline(e.rec);
    weft_future_reject(&e.rec->future, r, NULL);
    if (keep_rejected && !detached)
        *rec_out = e.rec; /* the submitter's reference */
    else if (!detached)
        weft_future_unref(&e.rec->future);
    weft_future_unref(&e.rec->future); /* the entry's */
    return r;
}

weft_future_t *weft_pool_submit(weft_pool_t *p, weft_job_fn fn, void *arg)
{
    struct job_record *rec;
    int r = submit_job(p, fn, arg, 0, false, false, true, NULL, &rec);
    if (!rec) {
        errno = -r;
        return NULL;
    }
    return &rec->future;
}

int weft_pool_try_submit(weft_pool_t *p, weft_job_fn fn, void *arg, weft_future_t **out)
{
    struct job_record *rec;
    int r = submit_job(p, fn, arg, 0, out == NULL, true, false, NULL, &rec);
    if (out)
        *out = r == 0 ? &rec->future : NULL;
    return r;
}

int weft_pool_submit_ex(weft_pool_t *p, weft_job_fn fn, void *arg, const weft_job_options_t *opts,
                        weft_future_t **out)
{
    weft_job_options_t defaults = {0};
    const weft_job_options_t *o = opts ? opts : &defaults;
    bool detached = o->detached || out == NULL;
    struct job_record *rec;
    int r = submit_job(p, fn, arg, o->deadline_ms, detached, o->nonblocking, false, o->note, &rec);
    if (out)
        *out = r == 0 && !detached ? &rec->future : NULL;
    return r;
}
