/*
 * offload.c - weft_offload: a blocking job on the app's pool, answered on
 * the request's loop when it settles, without ever blocking the loop.
 *
 * The job is submitted without waiting (nonblocking): a full pool is a 503
 * with Retry-After, decided at once. Its future is continued on the loop
 * (weft_future_then). An offload record ties the job to the response; the
 * response may end before the job does (the route's deadline answered 504,
 * or the client went away): then the response detaches the record, and a
 * late result finds nobody to answer and is dropped (DESIGN rule 7: a late
 * result never touches a freed request). A detached record is freed by
 * whichever of the continuation and the response lets go of it last.
 *
 * Deadlines and disconnects cancel the job's future: a cooperative job
 * sees weft_job_cancelled(); its result, if any, is destroyed by the pool.
 *
 * weft_offload_future does the same for a future from elsewhere (a
 * process pool's job): everything but the submitting.
 *
 * Threads: everything here runs on the request's loop thread, except the
 * job itself (a pool worker) and weft_offload_detached (any thread).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app/app-int.h"

struct offload {
    weft_request_t *req; /* NULL once the response let go */
    weft_response_t *res;
    weft_future_t *f;
    weft_loop_t *loop;
    weft_offload_fn done;
    void *done_arg;
    weft_delay_id_t deadline;
    bool deadline_armed, cancel_on_eof;
    int holders; /* the continuation, the response */
};

static void release(struct offload *o)
{
    if (--o->holders > 0)
        return;
    weft_future_unref(o->f);
    weft__free(o);
}

static void disarm(struct offload *o)
{
    if (o->deadline_armed) {
        weft_loop_delay_cancel(o->loop, o->deadline);
        o->deadline_armed = false;
    }
}

/* The default answer: the job's value as the body. */
static void answer_value(weft_request_t *req, weft_response_t *res, weft_future_t *f)
{
    struct app_req *ar = weft__app_req(req);
    char text[64];
    int n;
    switch (weft_future_state(f)) {
    case WEFT_FUTURE_FULFILLED:
        if (weft_future_ptr(f)) {
            const char *s = weft_future_ptr(f);
            weft_response_header(res, "Content-Type", "text/plain; charset=utf-8");
            weft_response_send(res, s, strlen(s));
            return;
        }
        n = weft_future_double(f) != 0.0
                ? snprintf(text, sizeof(text), "%.17g\n", weft_future_double(f))
                : snprintf(text, sizeof(text), "%lld\n", (long long)weft_future_int(f));
        weft_response_header(res, "Content-Type", "text/plain; charset=utf-8");
        weft_response_send(res, text, (size_t)n);
        return;
    case WEFT_FUTURE_CANCELLED:
        weft__app_error(ar, req, res, -ECANCELED, NULL, 503);
        return;
    default:
        weft__app_error(ar, req, res, weft_future_error(f), weft_future_message(f), 500);
    }
}

static void settled(weft_future_t *f, int status, void *arg)
{
    struct offload *o = arg;
    disarm(o);
    if (o->res && status == 0) {
        weft_response_t *res = o->res;
        weft_request_t *req = o->req;
        if (weft_response_client_gone(res))
            weft_response_abort(res); /* nobody to answer: just finish */
        else if (o->done)
            o->done(req, res, f, o->done_arg);
        else
            answer_value(req, res, f);
    } else if (o->res) {
        weft_response_send_error(o->res, 503, NULL); /* the loop is stopping */
    }
    release(o);
}

static void deadline_passed(weft_loop_t *loop, int status, void *arg)
{
    struct offload *o = arg;
    o->deadline_armed = false;
    if (status < 0 || !o->res)
        return;
    weft_response_t *res = o->res;
    weft_future_cancel(o->f); /* the job may see it; its result is dropped */
    if (!weft_response_finished(res))
        weft_response_send_error(res, 504, NULL); /* detaches o (app_done) */
}

void weft__offload_response_done(struct app_req *ar)
{
    struct offload *o = ar->offload;
    if (!o)
        return;
    ar->offload = NULL;
    disarm(o);
    o->req = NULL;
    o->res = NULL;
    release(o);
}

void weft__offload_client_gone(struct app_req *ar, bool reset)
{
    struct offload *o = ar->offload;
    if (o && (reset || o->cancel_on_eof))
        weft_future_cancel(o->f); /* the continuation finishes the response */
}

static int refuse(weft_response_t *res, int err)
{
    weft_response_header(res, "Retry-After", "1");
    weft_response_send_error(res, 503,
                             err == -EPIPE ? "the job pool is closed" : "the job pool is full");
    return err;
}

/* Answers res when o->f settles (o->f set, the rest filled here). */
static int wait_for(struct offload *o, struct app_req *ar, weft_request_t *req,
                    weft_response_t *res, weft_offload_fn done, void *done_arg)
{
    const weft_route_options_t *ro = ar->route ? &ar->route->opts : NULL;
    *o = (struct offload){.req = req,
                          .res = res,
                          .f = o->f,
                          .loop = weft_request_loop(req),
                          .done = done,
                          .done_arg = done_arg,
                          .cancel_on_eof = ro && ro->cancel_on_eof,
                          .holders = 2};
    int r = weft_future_then(o->f, o->loop, settled, o);
    if (r < 0) {
        weft_future_cancel(o->f);
        weft_future_unref(o->f);
        weft__free(o);
        weft_response_send_error(res, 503, NULL);
        return r;
    }
    ar->offload = o;
    if (ro && ro->deadline_ms > 0 &&
        weft_loop_delay(o->loop, (uint64_t)ro->deadline_ms, deadline_passed, o, &o->deadline) == 0)
        o->deadline_armed = true;
    if (weft_response_client_gone(res))
        weft_future_cancel(o->f);
    return 0;
}

int weft_offload(weft_request_t *req, weft_response_t *res, weft_job_fn fn, void *arg,
                 weft_offload_fn done, void *done_arg)
{
    struct app_req *ar = weft__app_req(req);
    weft_pool_t *pool = ar ? ar->app->pool : NULL;
    if (!pool) {
        weft_response_send_error(res, 500, "no job pool");
        return -ENOSYS;
    }
    struct offload *o = weft__calloc(1, sizeof(*o));
    if (!o) {
        weft_response_send_error(res, 503, NULL);
        return -ENOMEM;
    }
    weft_job_options_t jo = {
        .nonblocking = true, .deadline_ms = -1, .note = ar->route ? ar->route->note : NULL};
    int r = weft_pool_submit_ex(pool, fn, arg, &jo, &o->f);
    if (r < 0) {
        weft__free(o);
        return r == -EAGAIN || r == -EPIPE ? refuse(res, r)
                                           : (weft_response_send_error(res, 503, NULL), r);
    }
    return wait_for(o, ar, req, res, done, done_arg);
}

int weft_offload_future(weft_request_t *req, weft_response_t *res, weft_future_t *f,
                        weft_offload_fn done, void *done_arg)
{
    struct app_req *ar = weft__app_req(req);
    struct offload *o = ar && f ? weft__calloc(1, sizeof(*o)) : NULL;
    if (!o) {
        weft_future_cancel(f);
        weft_future_unref(f);
        weft_response_send_error(res, ar && f ? 503 : 500, NULL);
        return ar && f ? -ENOMEM : -EINVAL;
    }
    o->f = f;
    return wait_for(o, ar, req, res, done, done_arg);
}

int weft_offload_detached(weft_app_t *app, weft_job_fn fn, void *arg)
{
    return app->pool ? weft_pool_try_submit(app->pool, fn, arg, NULL) : -ENOSYS;
}
