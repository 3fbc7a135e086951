/*
 * submit.c - jobs into the pool: submit, the queue, handing a job to an
 * idle worker, and the cancel node that hears of a cancelled future.
 *
 * A submitter that finds a worker idle hands the job over itself (copy
 * into the worker's segment, the request into its box, a doorbell only
 * if the worker sleeps), under mu: the supervisor is not woken for it. Otherwise the job waits in
 * the queue, and the supervisor hands it on when a worker turns idle.
 *
 * Lock: mu, never held while a future is settled or cancelled.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procpool/procpool-int.h"
#include "sync/thread.h"

/* ---- jobs ------------------------------------------------------------------ */

void weft__pp_job_unref(struct pp_job *j)
{
    /* acq_rel: whoever frees sees every write of the other holder. */
    if (atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (j->arg_fd >= 0)
        close(j->arg_fd);
    free(j->out.result);
    weft_future_unref(j->f);
    weft__free(j);
}

void weft__pp_space_locked(struct weft_procpool *pp)
{
    if (pp->space_waiters)
        pthread_cond_broadcast(&pp->space_cond);
}

void weft__pp_maybe_idle_locked(struct weft_procpool *pp)
{
    if (!pp->queued && !pp->running)
        pthread_cond_broadcast(&pp->idle_cond);
}

static void enqueue_locked(struct weft_procpool *pp, struct pp_job *j, bool at_head)
{
    j->state = PJ_QUEUED;
    j->prev = at_head ? NULL : pp->tail;
    j->next = at_head ? pp->head : NULL;
    if (j->prev)
        j->prev->next = j;
    else
        pp->head = j;
    if (j->next)
        j->next->prev = j;
    else
        pp->tail = j;
    pp->queued++;
    if (j->deadline_ns != WEFT_FOREVER)
        pp->n_deadlines_queued++;
}

void weft__pp_unqueue_locked(struct weft_procpool *pp, struct pp_job *j)
{
    WEFT_ASSERT(j->state == PJ_QUEUED);
    if (j->prev)
        j->prev->next = j->next;
    else
        pp->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        pp->tail = j->prev;
    j->prev = j->next = NULL;
    pp->queued--;
    if (j->deadline_ns != WEFT_FOREVER)
        pp->n_deadlines_queued--;
    weft__pp_space_locked(pp);
}

bool weft__pp_end_cancelled_locked(struct weft_procpool *pp, struct pp_job *j)
{
    if (j->state == PJ_QUEUED) {
        weft__pp_unqueue_locked(pp, j);
    } else if (j->state == PJ_RUNNING) {
        struct pp_slot *s = j->slot;
        pp->running--;
        s->job = NULL;
        j->slot = NULL;
        s->killed_for = "its job was cancelled";
        weft_proc_signal(s->proc, SIGKILL); /* the supervisor sees it die */
    } else {
        return false;
    }
    j->state = PJ_ENDED;
    pp->cancelled++;
    weft__pp_maybe_idle_locked(pp);
    return true;
}

/* The future settled (fire: cancelled). A job the pool has not ended was
   cancelled (or, against the contract, settled by someone else): end it. */
static void cancel_node(weft_future_t *f, struct weft__future_cb *cb, bool fire)
{
    struct pp_job *j = weft_container_of(cb, struct pp_job, on_cancel);
    struct weft_procpool *pp = j->pp;
    pthread_mutex_lock(&pp->mu);
    bool ended = weft__pp_end_cancelled_locked(pp, j);
    pthread_mutex_unlock(&pp->mu);
    if (ended)
        weft__pp_job_unref(j); /* the pool's: nobody else will settle it */
    weft__pp_job_unref(j);     /* the node's */
}

void weft__pp_settle(struct pp_job *j)
{
    if (j->out.result) {
        weft_procpool_result_t *r = j->out.result;
        j->out.result = NULL;
        weft_future_fulfill_ptr(j->f, r->data, weft_procpool_result_free);
    } else {
        weft_future_reject(j->f, j->out.err, j->out.msg[0] ? j->out.msg : NULL);
    }
    weft__pp_job_unref(j);
}

static struct pp_job *job_new(struct weft_procpool *pp, const char *name, const void *arg,
                              size_t len, int64_t deadline_ns, int *err)
{
    bool in_line = len <= pp->shm_size;
    struct pp_job *j = weft__calloc(1, sizeof(*j) + (in_line ? len : 0));
    if (!j || !(j->f = weft_promise_new())) {
        weft__free(j);
        *err = -ENOMEM;
        return NULL;
    }
    weft__future_mark_yielding(j->f); /* its settler is the supervisor: a third party */
    j->arg_fd = -1;
    if (!in_line && (j->arg_fd = weft__pp_memfd_with(arg, len)) < 0) {
        *err = j->arg_fd;
        weft_future_unref(j->f);
        weft__free(j);
        return NULL;
    }
    if (in_line && len)
        memcpy(j->arg, arg, len);
    j->pp = pp;
    j->len = len;
    j->deadline_ns = deadline_ns;
    j->state = PJ_ENDED; /* until it is queued or dispatched */
    strcpy(j->name, name);
    atomic_init(&j->refs, 2); /* the pool's, the cancel node's */
    j->on_cancel.fn = cancel_node;
    /* A new future: registering cannot find it settled. */
    weft__future_on_cancel_cb(j->f, &j->on_cancel);
    return j;
}

/* ---- handing jobs to workers ------------------------------------------------ */

/* Sends j to idle slot s: true, or false if the worker cannot take it
   (its socket failed: it is dying), j left as it was. The slot is BUSY
   before the packet leaves: the answer may reach the supervisor before
   this returns, and it checks the state under mu. */
static bool dispatch_locked(struct weft_procpool *pp, struct pp_slot *s, struct pp_job *j)
{
    if (j->arg_fd < 0 && j->len)
        memcpy(s->args, j->arg, j->len);
    struct pp_msg m = {.type = PP_REQUEST,
                       .flags = j->arg_fd >= 0 ? PP_IN_FD : 0,
                       .len = j->len,
                       .text_len = (uint32_t)strlen(j->name)};
    s->state = PS_BUSY;
    s->job = j;
    j->slot = s;
    j->state = PJ_RUNNING;
    pp->running++;
    if (weft__pp_post(&s->ctl->req, s->sock, &m, j->name, j->arg_fd) < 0) {
        s->job = NULL; /* out of service until it is reaped */
        j->slot = NULL;
        j->state = PJ_ENDED;
        pp->running--;
        s->killed_for = "its socket failed";
        weft_proc_signal(s->proc, SIGKILL);
        return false;
    }
    if (j->deadline_ns != WEFT_FOREVER)
        weft__pp_wake(pp); /* the supervisor's next timeout changed */
    return true;
}

void weft__pp_dispatch_queued_locked(struct weft_procpool *pp, struct pp_slot *s)
{
    while (s->state == PS_IDLE && pp->head) {
        struct pp_job *j = pp->head;
        weft__pp_unqueue_locked(pp, j);
        if (!dispatch_locked(pp, s, j))
            enqueue_locked(pp, j, true);
    }
}

static struct pp_slot *idle_slot_locked(struct weft_procpool *pp)
{
    for (unsigned i = 0; i < pp->opts.workers; i++)
        if (pp->slots[i].state == PS_IDLE)
            return &pp->slots[i];
    return NULL;
}

/* ---- submitting --------------------------------------------------------------- */

/* Waits for room in the queue: 0, -EAGAIN, -EDEADLK or -EPIPE (mu held). */
static int wait_for_room_locked(struct weft_procpool *pp, bool nonblocking)
{
    while (!pp->intake_closed && pp->opts.queue_capacity && pp->queued >= pp->opts.queue_capacity &&
           !idle_slot_locked(pp)) {
        if (nonblocking) {
            pp->rejected++;
            return -EAGAIN;
        }
        if (weft__would_block_loop(-1))
            return -EDEADLK;
        pp->space_waiters++;
        pthread_cond_wait(&pp->space_cond, &pp->mu);
        pp->space_waiters--;
    }
    return pp->intake_closed ? -EPIPE : 0;
}

static void place_locked(struct weft_procpool *pp, struct pp_job *j)
{
    pp->submitted++;
    for (struct pp_slot *s; (s = idle_slot_locked(pp));)
        if (dispatch_locked(pp, s, j))
            return;
    enqueue_locked(pp, j, false);
    if (j->deadline_ns != WEFT_FOREVER)
        weft__pp_wake(pp);
}

static int64_t job_deadline(const struct weft_procpool *pp, const weft_procjob_options_t *o)
{
    int64_t ms = o && o->deadline_ms ? o->deadline_ms : pp->opts.job_deadline_ms;
    return ms > 0 ? weft__deadline_ns(ms) : WEFT_FOREVER;
}

int weft_procpool_submit_ex(weft_procpool_t *pp, const char *name, const void *arg, size_t len,
                            const weft_procjob_options_t *opts, weft_future_t **out)
{
    if (out)
        *out = NULL;
    if (!pp || !out || !name || (len && !arg) || strlen(name) > WEFT_PROCPOOL_NAME_MAX)
        return -EINVAL;
    if (!weft__procjob_lookup(name))
        return -ENOENT;
    int r;
    struct pp_job *j = job_new(pp, name, arg, len, job_deadline(pp, opts), &r);
    if (!j)
        return r;
    /* The caller's reference first: once placed, j may end and go at any
       moment. */
    weft_future_t *f = weft_future_ref(j->f);
    pthread_mutex_lock(&pp->mu);
    r = wait_for_room_locked(pp, opts && opts->nonblocking);
    if (r == 0)
        place_locked(pp, j);
    pthread_mutex_unlock(&pp->mu);
    if (r < 0) {
        weft_future_cancel(f); /* j is ENDED: the node only lets go */
        weft__pp_job_unref(j);
        weft_future_unref(f);
        return r;
    }
    *out = f;
    return 0;
}

weft_future_t *weft_procpool_submit(weft_procpool_t *pp, const char *name, const void *arg,
                                    size_t len)
{
    weft_future_t *f;
    int r = weft_procpool_submit_ex(pp, name, arg, len, NULL, &f);
    if (r == 0)
        return f;
    if (!(f = weft_promise_new()))
        return NULL;
    weft_future_reject(f, r, NULL);
    return f;
}

static weft_procpool_result_t *result_of(const void *data)
{
    return weft_container_of((unsigned char *)data, weft_procpool_result_t, data);
}

const void *weft_procpool_result(const weft_future_t *f, size_t *len)
{
    const void *data =
        f && weft_future_state(f) == WEFT_FUTURE_FULFILLED ? weft_future_ptr(f) : NULL;
    if (len)
        *len = data ? result_of(data)->len : 0;
    return data;
}

size_t weft_procpool_result_len(const void *data)
{
    return data ? result_of(data)->len : 0;
}

void weft_procpool_result_free(void *data)
{
    if (data)
        free(result_of(data));
}
