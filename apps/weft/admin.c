/*
 * admin.c - the admin listener (--admin H:P), an app of its own on its
 * own port, so nothing of it is reachable on the public one:
 *   /healthz   200 "ok" while serving, 503 "draining" once a stop began
 *              (load balancers take the instance out first);
 *   /metrics   the Prometheus text format (0.0.4): the server's, the
 *              pool's and every loop's figures, read from the counters
 *              they keep anyway (weft_server_stats, weft_pool_stats,
 *              weft_loop_stats), so serving requests pays nothing for it.
 *   /status, /status.json   the live status page (status.c).
 * Names follow Prometheus conventions: weft_ prefix, _total counters,
 * _seconds units. docs/operations.md lists every metric.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "admin.h"
#include "status.h"

/* A growing text body; its failure sticks. */
struct text {
    char *p;
    size_t len, cap;
    bool failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !t->failed; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
        } else if (t->p && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        } else {
            size_t cap = (t->cap ? t->cap : 4096) * 2 + (size_t)n;
            char *p = realloc(t->p, cap);
            t->failed = !p;
            t->p = p ? p : t->p;
            t->cap = p ? cap : t->cap;
        }
    }
}

/* One family's HELP and TYPE lines. */
static void family(struct text *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(struct text *t, const char *name, const char *type, const char *help, double v)
{
    family(t, name, type, help);
    put(t, "%s %.17g\n", name, v);
}

static void server_metrics(struct text *t, weft_server_t *srv)
{
    weft_server_stats_t s;
    weft_server_stats(srv, &s);
    uint64_t answered = s.responses_2xx + s.responses_3xx + s.responses_4xx + s.responses_5xx;
    one(t, "weft_http_connections_accepted_total", "counter", "Connections accepted.",
        (double)s.connections_accepted);
    one(t, "weft_http_connections", "gauge", "Connections open.", (double)s.connections_open);
    one(t, "weft_http_requests_total", "counter", "Requests read.", (double)s.requests);
    one(t, "weft_http_requests_in_flight", "gauge", "Requests read and not answered yet.",
        s.requests > answered ? (double)(s.requests - answered) : 0.0);
    family(t, "weft_http_responses_total", "counter", "Responses by status class.");
    const uint64_t by_class[] = {s.responses_2xx, s.responses_3xx, s.responses_4xx,
                                 s.responses_5xx};
    for (int c = 0; c < 4; c++)
        put(t, "weft_http_responses_total{code=\"%dxx\"} %llu\n", c + 2,
            (unsigned long long)by_class[c]);
    one(t, "weft_http_requests_rejected_total", "counter",
        "Requests the engine refused itself (4xx: limits, bad syntax).",
        (double)s.rejected_requests);
    one(t, "weft_http_timeouts_total", "counter", "Connections closed or answered 408 by a timer.",
        (double)s.timeouts);
}

/* A label value in the text format: backslash, quote and newline escaped. */
static void put_label(struct text *t, const char *s)
{
    for (; *s; s++)
        put(t, *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : "%c", *s);
}

static void route_row(const char *method, const char *pattern, const uint64_t by_class[6],
                      void *arg)
{
    struct text *t = arg;
    for (int c = 1; c <= 5; c++) {
        if (!by_class[c] && c != 2)
            continue; /* 2xx always, the others once seen */
        put(t, "weft_http_requests_by_route_total{method=\"");
        put_label(t, method ? method : "");
        put(t, "\",route=\"");
        put_label(t, pattern ? pattern : "(none)");
        put(t, "\",code=\"%dxx\"} %llu\n", c, (unsigned long long)by_class[c]);
    }
}

static void latency_metrics(struct text *t, weft_server_t *srv)
{
    weft_latency_t l;
    weft_server_latency(srv, &l);
    family(t, "weft_http_request_duration_seconds", "histogram",
           "From a request's head to its response handed to the socket.");
    uint64_t below = 0;
    for (int b = 0; b < WEFT_LATENCY_BUCKETS; b++) {
        below += l.counts[b];
        put(t, "weft_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n", l.bounds[b],
            (unsigned long long)below);
    }
    put(t, "weft_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
        (unsigned long long)l.count);
    put(t, "weft_http_request_duration_seconds_sum %.9f\n", l.sum_seconds);
    put(t, "weft_http_request_duration_seconds_count %llu\n", (unsigned long long)l.count);
}

static void pool_metrics(struct text *t, weft_pool_t *pool)
{
    weft_pool_stats_t s;
    weft_pool_stats(pool, &s);
    one(t, "weft_pool_threads", "gauge", "Live pool workers.", s.threads);
    one(t, "weft_pool_jobs_queued", "gauge", "Jobs waiting.", (double)s.queued);
    one(t, "weft_pool_jobs_running", "gauge", "Jobs running.", (double)s.running);
    one(t, "weft_pool_jobs_submitted_total", "counter", "Jobs accepted.", (double)s.submitted);
    one(t, "weft_pool_jobs_completed_total", "counter", "Jobs that returned.", (double)s.completed);
    one(t, "weft_pool_jobs_failed_total", "counter", "Jobs that failed.", (double)s.failed);
    one(t, "weft_pool_jobs_cancelled_total", "counter", "Jobs cancelled.", (double)s.cancelled);
    one(t, "weft_pool_jobs_rejected_total", "counter", "Submissions refused: the queue was full.",
        (double)s.rejected);
    one(t, "weft_pool_jobs_timed_out_total", "counter", "Jobs past their deadline.",
        (double)s.timed_out);
    one(t, "weft_pool_workers_replaced_total", "counter", "Workers replaced (dead or stuck).",
        (double)s.replaced);
    one(t, "weft_pool_workers_abandoned_total", "counter", "Stuck workers abandoned.",
        (double)s.abandoned);
    one(t, "weft_pool_degraded", "gauge", "1 while the pool cannot keep its capacity.", s.degraded);
}

static void loop_metrics(struct text *t, weft_server_t *srv)
{
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"weft_loop_busy_seconds_total", "counter", "Time a loop spent working, not waiting."},
        {"weft_loop_lag_seconds", "gauge", "Timer lag at the last tick."},
        {"weft_loop_lag_max_seconds", "gauge", "The largest timer lag seen."},
        {"weft_loop_blocked_episodes_total", "counter", "Iterations that held a loop too long."},
    };
    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        family(t, fams[f].name, fams[f].type, fams[f].help);
        weft_loop_t *loop;
        for (unsigned i = 0; (loop = weft_server_loop(srv, i)); i++) {
            weft_loop_stats_t s;
            weft_loop_stats(loop, &s);
            double v = f == 0   ? s.busy_ns / 1e9
                       : f == 1 ? s.lag_ns / 1e9
                       : f == 2 ? s.lag_max_ns / 1e9
                                : (double)s.blocked;
            put(t, "%s{loop=\"%u\"} %.17g\n", fams[f].name, i, v);
        }
    }
}

/* Behind a proxy (--proxy-protocol): headers taken and connections
   refused for a bad or missing one. */
static void proxy_metrics(struct text *t, weft_server_t *srv)
{
    weft_proxy_stats_t s;
    weft_server_proxy_stats(srv, &s);
    one(t, "weft_proxy_protocol_headers_total", "counter", "PROXY protocol headers taken.",
        (double)s.headers);
    one(t, "weft_proxy_protocol_rejected_total", "counter",
        "Connections closed for a malformed, cut short or missing PROXY protocol header.",
        (double)s.rejected);
}

static void metrics(weft_request_t *req, weft_response_t *res, void *arg)
{
    struct admin *a = arg;
    struct text t = {0};
    server_metrics(&t, a->srv);
    latency_metrics(&t, a->srv);
    if (a->app) {
        family(&t, "weft_http_requests_by_route_total", "counter",
               "Responses by route and status class; route \"(none)\": no route took it.");
        weft_app_route_stats(a->app, route_row, &t);
    }
    if (a->pool)
        pool_metrics(&t, a->pool);
    loop_metrics(&t, a->srv);
    proxy_metrics(&t, a->srv);
    if (t.failed) {
        free(t.p);
        weft_response_send_error(res, 503, "out of memory");
        return;
    }
    weft_response_header(res, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    weft_response_send(res, t.p, t.len);
    free(t.p);
}

static void healthz(weft_request_t *req, weft_response_t *res, void *arg)
{
    struct admin *a = arg;
    bool draining = atomic_load(&a->draining);
    weft_response_status(res, draining ? 503 : 200);
    weft_response_header(res, "Content-Type", "text/plain; charset=utf-8");
    weft_response_header(res, "Cache-Control", "no-store");
    weft_response_send(res, draining ? "draining\n" : "ok\n", draining ? 9 : 3);
}

weft_app_t *admin_app_new(struct admin *a)
{
    weft_app_t *app = weft_app_new();
    if (!app)
        return NULL;
    int r = weft_app_route(app, "GET", "/healthz", healthz, a);
    if (r == 0)
        r = weft_app_route(app, "GET", "/metrics", metrics, a);
    if (r == 0)
        r = status_routes(app, a); /* /status, /status.json */
    if (r < 0) {
        weft_app_free(app);
        errno = -r;
        return NULL;
    }
    return app;
}
