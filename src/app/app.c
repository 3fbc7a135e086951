/*
 * app.c - an application: set-up, freezing, and the pipeline every request
 * goes through (app.h): before hooks (each may answer, or hold the request
 * on a future), routing, the handler, after hooks once it is answered.
 *
 * A before hook's future is continued on the request's loop
 * (weft_future_then): fulfilled goes on with the next hook, rejected goes
 * to the error hooks (default 403), a loop stopping meanwhile answers 503.
 * The request cannot be finished under a pending gate: the pipeline owns
 * it until the gate settles.
 *
 * The server dispatches to the app through its http_site: the handler is
 * weft__app_dispatch, and the engine tells the app when a response is
 * finished (after hooks; a pending offload is detached) and when the
 * client goes away (a pending offload's job is cancelled).
 */
#include <errno.h>
#include <string.h>

#include "app/app-int.h"

static void app_dispatch(weft_request_t *req, weft_response_t *res, void *arg);
static void app_done(weft_request_t *req, weft_response_t *res, void *arg);
static void app_gone(weft_request_t *req, weft_response_t *res, bool reset, void *arg);
static bool app_streams(weft_slice_t method, weft_slice_t path, uint64_t *max_body, void *arg);

weft_app_t *weft_app_new(void)
{
    struct weft_app *app = weft__calloc(1, sizeof(*app));
    if (!app)
        return NULL;
    app->site = (struct http_site){.handler = app_dispatch,
                                   .handler_arg = app,
                                   .on_done = app_done,
                                   .on_gone = app_gone,
                                   .streams = app_streams};
    return app;
}

static void free_rows(struct rnode *n, const struct figures_area *area)
{
    for (struct route *r = n->routes; r; r = r->next)
        weft__figures_free(area, r->counts);
    for (size_t i = 0; i < n->n_statics; i++)
        free_rows(n->statics[i], area);
    if (n->param)
        free_rows(n->param, area);
    if (n->rest)
        free_rows(n->rest, area);
}

void weft_app_free(weft_app_t *app)
{
    if (!app)
        return;
    weft__plugins_fini(app); /* first, while the app is whole */
    for (struct app_cleanup *c = app->cleanups, *next; c; c = next) {
        next = c->next;
        c->fn(c->arg);
        weft__free(c);
    }
    free_rows(&app->root, &app->figures);
    weft__router_free(&app->root);
    weft__free(app->before.v);
    weft__free(app->after.v);
    weft__free(app->error.v);
    weft__figures_free(&app->figures, app->unrouted);
    weft__free(app);
}

/* ---- set-up ----------------------------------------------------------------- */

int weft__app_on_free(weft_app_t *app, void (*fn)(void *arg), void *arg)
{
    struct app_cleanup *c = weft__malloc(sizeof(*c));
    if (!c)
        return -ENOMEM;
    *c = (struct app_cleanup){app->cleanups, fn, arg};
    app->cleanups = c;
    return 0;
}

int weft_app_route_ex(weft_app_t *app, const char *method, const char *pattern,
                      weft_handler_fn handler, void *arg, const weft_route_options_t *opts)
{
    if (app->frozen)
        return -EBUSY;
    int r = weft__router_add(&app->root, method, pattern, handler, arg, opts);
    if (r == 0 && opts && opts->stream_body)
        app->any_streamed = true;
    return r;
}

int weft_app_route(weft_app_t *app, const char *method, const char *pattern,
                   weft_handler_fn handler, void *arg)
{
    return weft_app_route_ex(app, method, pattern, handler, arg, NULL);
}

int weft_app_set_handler(weft_app_t *app, weft_handler_fn fn, void *arg)
{
    if (app->frozen)
        return -EBUSY;
    app->fallback = fn;
    app->fallback_arg = arg;
    return 0;
}

static int add_hook(weft_app_t *app, struct hooks *h, void *fn, void *arg)
{
    if (app->frozen)
        return -EBUSY;
    if (!fn)
        return -EINVAL;
    struct hook *v = weft__realloc(h->v, (h->n + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    v[h->n++] = (struct hook){fn, arg};
    h->v = v;
    return 0;
}

int weft_app_before(weft_app_t *app, weft_before_fn fn, void *arg)
{
    return add_hook(app, &app->before, (void *)fn, arg);
}

int weft_app_after(weft_app_t *app, weft_after_fn fn, void *arg)
{
    return add_hook(app, &app->after, (void *)fn, arg);
}

int weft_app_on_error(weft_app_t *app, weft_error_fn fn, void *arg)
{
    return add_hook(app, &app->error, (void *)fn, arg);
}

int weft_app_set_state(weft_app_t *app, void *state)
{
    if (app->frozen)
        return -EBUSY;
    app->state = state;
    return 0;
}

void *weft_app_state(const weft_app_t *app)
{
    return app->state;
}

int weft_app_set_pool(weft_app_t *app, weft_pool_t *pool)
{
    if (app->frozen)
        return -EBUSY;
    app->pool = pool;
    return 0;
}

weft_pool_t *weft_app_pool(const weft_app_t *app)
{
    return app->pool;
}

static struct route_counts *new_rows(struct figures_area *area, unsigned n, const char *what)
{
    return weft__figures_alloc(area, n * sizeof(struct route_counts), what);
}

static int prepare_node(struct rnode *n, unsigned rows, struct figures_area *area)
{
    for (struct route *r = n->routes; r; r = r->next)
        if (!r->counts && !(r->counts = new_rows(area, rows, r->note)))
            return area->base ? -ENOSPC : -ENOMEM;
    int e = 0;
    for (size_t i = 0; i < n->n_statics && !e; i++)
        e = prepare_node(n->statics[i], rows, area);
    if (!e && n->param)
        e = prepare_node(n->param, rows, area);
    if (!e && n->rest)
        e = prepare_node(n->rest, rows, area);
    return e;
}

int weft__app_prepare_stats(weft_app_t *app, unsigned loops, struct figures_area *area)
{
    if (app->stat_rows)
        return 0; /* already served: its rows stay (loops share them) */
    unsigned rows = loops ? loops : 1;
    if (!app->unrouted) { /* kept across a failed attempt */
        app->figures = *area;
        app->unrouted = new_rows(area, rows, "unrouted");
    }
    int r = app->unrouted ? prepare_node(&app->root, rows, area) : -ENOMEM;
    if (r == 0)
        app->stat_rows = rows;
    return r;
}

void weft__app_figures_sealed(weft_app_t *app, const struct figures_area *area)
{
    if (app->figures.base == area->base)
        app->figures = *area;
}

static void sum_rows(const struct weft_app *app, const struct route_counts *rows, uint64_t sum[6])
{
    for (unsigned i = 0; rows && i < app->stat_rows; i++)
        for (int c = 0; c < 6; c++)
            sum[c] += weft__figures_sum(&app->figures, &rows[i].by_class[c]);
}

static void walk_stats(const struct weft_app *app, const struct rnode *n, weft_route_stats_fn fn,
                       void *arg)
{
    for (const struct route *r = n->routes; r; r = r->next) {
        uint64_t sum[6] = {0};
        sum_rows(app, r->counts, sum);
        fn(r->method[0] ? r->method : "*", r->pattern, sum, arg);
    }
    for (size_t i = 0; i < n->n_statics; i++)
        walk_stats(app, n->statics[i], fn, arg);
    if (n->param)
        walk_stats(app, n->param, fn, arg);
    if (n->rest)
        walk_stats(app, n->rest, fn, arg);
}

void weft_app_route_stats(const weft_app_t *app, weft_route_stats_fn fn, void *arg)
{
    walk_stats(app, &app->root, fn, arg);
    uint64_t sum[6] = {0};
    sum_rows(app, app->unrouted, sum);
    fn(NULL, NULL, sum, arg);
}

void weft_app_freeze(weft_app_t *app)
{
    app->frozen = true;
}

bool weft_app_frozen(const weft_app_t *app)
{
    return app->frozen;
}

const struct http_site *weft__app_site(weft_app_t *app)
{
    return &app->site;
}

/* ---- per request -------------------------------------------------------------- */

struct app_req *weft__app_req(weft_request_t *req)
{
    return req->app_data;
}

weft_app_t *weft_request_app(const weft_request_t *req)
{
    const struct app_req *ar = req->app_data;
    return ar ? ar->app : NULL;
}

void weft__app_error(struct app_req *ar, weft_request_t *req, weft_response_t *res, int err,
                     const char *msg, int status)
{
    const struct hooks *h = &ar->app->error;
    for (size_t i = 0; i < h->n && !weft_response_finished(res); i++)
        ((weft_error_fn)h->v[i].fn)(req, res, err, msg, h->v[i].arg);
    if (!weft_response_finished(res))
        weft_response_send_error(res, status, NULL);
}

static void route(struct app_req *ar, weft_request_t *req, weft_response_t *res)
{
    const struct weft_app *app = ar->app;
    const struct rnode *node = weft__router_match(&app->root, weft_request_path(req), ar);
    if (node) {
        const struct route *r = weft__router_method(node, weft_request_method(req));
        if (r) {
            ar->route = r;
            weft_proc_note(r->note); /* named in the log if the process dies here */
            r->handler(req, res, r->arg);
            weft_proc_note(NULL);
            return;
        }
        char allow[256];
        weft__router_allow(node, allow, sizeof(allow));
        weft_response_header(res, "Allow", allow);
        weft_response_send_error(res, 405, NULL);
        return;
    }
    ar->n_params = 0;
    if (app->fallback)
        app->fallback(req, res, app->fallback_arg);
    else
        weft_response_send_error(res, 404, NULL);
}

static void run_before(struct app_req *ar, weft_request_t *req, weft_response_t *res);

static void gate_settled(weft_future_t *f, int status, void *arg)
{
    weft_response_t *res = arg;
    weft_request_t *req = weft_response_request(res);
    struct app_req *ar = weft__app_req(req);
    if (status < 0) {
        weft_response_send_error(res, 503, NULL); /* the loop is stopping */
    } else if (weft_future_state(f) == WEFT_FUTURE_FULFILLED) {
        if (weft_response_client_gone(res))
            weft_response_abort(res);
        else
            run_before(ar, req, res);
    } else {
        weft__app_error(ar, req, res, weft_future_error(f), weft_future_message(f), 403);
    }
}

/* Runs the before hooks from ar->next_hook on, then routes. */
static void run_before(struct app_req *ar, weft_request_t *req, weft_response_t *res)
{
    const struct hooks *h = &ar->app->before;
    while (ar->next_hook < h->n) {
        const struct hook *hk = &h->v[ar->next_hook++];
        weft_future_t *gate = ((weft_before_fn)hk->fn)(req, res, hk->arg);
        if (weft_response_finished(res)) {
            weft_future_unref(gate);
            return; /* the hook answered */
        }
        if (gate) {
            int r = weft_future_then(gate, weft_request_loop(req), gate_settled, res);
            weft_future_unref(gate);
            if (r < 0)
                weft_response_send_error(res, 503, NULL);
            return;
        }
    }
    route(ar, req, res);
}

static void app_dispatch(weft_request_t *req, weft_response_t *res, void *arg)
{
    struct app_req *ar = weft_request_alloc(req, sizeof(*ar));
    if (!ar) {
        weft_response_send_error(res, 503, NULL);
        return;
    }
    ar->app = arg; /* field by field: params[] (most of it) needs no zeroing */
    ar->route = NULL;
    ar->next_hook = 0;
    ar->offload = NULL;
    ar->n_params = 0;
    req->app_data = ar;
    run_before(ar, req, res);
}

/* One response more for its route (or the unrouted row), on this loop's
   own cache line: a relaxed add nobody else writes. */
static void count_response(struct app_req *ar, weft_request_t *req, weft_response_t *res)
{
    struct route_counts *rows = ar->route ? ar->route->counts : ar->app->unrouted;
    unsigned cls = (unsigned)weft_response_code(res) / 100;
    if (!rows || cls > 5)
        return; /* an app set up and frozen without a server */
    struct route_counts *row = &rows[req->hl->index % ar->app->stat_rows];
    atomic_fetch_add_explicit(&row->by_class[cls], 1, memory_order_relaxed);
}

static void app_done(weft_request_t *req, weft_response_t *res, void *arg)
{
    struct app_req *ar = weft__app_req(req);
    if (!ar)
        return; /* answered before the app saw it */
    count_response(ar, req, res);
    weft__offload_response_done(ar);
    const struct hooks *h = &ar->app->after;
    for (size_t i = 0; i < h->n; i++)
        ((weft_after_fn)h->v[i].fn)(req, res, h->v[i].arg);
}

static void app_gone(weft_request_t *req, weft_response_t *res, bool reset, void *arg)
{
    struct app_req *ar = weft__app_req(req);
    if (ar)
        weft__offload_client_gone(ar, reset);
}

/* At a request's head: does its route stream the body? Apps without such
   routes answer at once; the others match the path once more here. */
static bool app_streams(weft_slice_t method, weft_slice_t path, uint64_t *max_body, void *arg)
{
    const struct weft_app *app = arg;
    if (!app->any_streamed)
        return false;
    struct app_req scratch;
    const struct rnode *node = weft__router_match(&app->root, path, &scratch);
    const struct route *r = node ? weft__router_method(node, method) : NULL;
    if (!r || !r->opts.stream_body)
        return false;
    if (r->opts.max_body_size)
        *max_body = r->opts.max_body_size;
    return true;
}
