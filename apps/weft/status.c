/*
 * status.c - the admin listener's live status page:
 *   /status       a small self-contained HTML page (no external resources;
 *                 its Content-Security-Policy allows none) whose script
 *                 polls /status.json on the same listener every second and
 *                 fills elements with stable ids (docs/operations.md);
 *   /status.json  the figures: requests and requests per second, latency
 *                 percentiles, connections, the pool, every loop.
 *
 * Requests per second are computed here, not by the page, so any client
 * of /status.json gets them: each call keeps a sample (time, requests the
 * public app answered) at most every 200 ms in a small ring, and the rate
 * is the difference to the oldest sample of the last 10 s. A sample taken
 * when the app was created seeds it, so the first poll already has a
 * figure. Only the public app's answers count, so the page's own polls do
 * not show up as traffic.
 *
 * Latency percentiles (p50, p90, p99) are estimated from the histogram
 * weft_server_latency keeps since the server started: the bucket holding
 * the quantile, linearly interpolated between its bounds (above the last
 * bound, the last bound is reported and "above_ms" says so).
 *
 * Threading: handlers run on whichever loop accepted the connection; the
 * ring is the only shared state here, behind a mutex held for a few
 * arithmetic operations.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "status.h"

#define SAMPLES     32
#define SAMPLE_NS   200000000LL   /* one sample per 200 ms at most */
#define WINDOW_NS   10000000000LL /* the rate looks back 10 s at most */
#define MIN_SPAN_NS 500000000LL   /* below this, no rate yet */

struct sample {
    int64_t t_ns;
    uint64_t answered;
};

/* One admin listener per process: its ring is file-scope state. */
static struct {
    pthread_mutex_t mu;
    struct sample ring[SAMPLES];
    unsigned n, next; /* samples held; where the next goes */
    int64_t started_ns;
} window = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void add_class_counts(const char *method, const char *pattern, const uint64_t by_class[6],
                             void *arg)
{
    uint64_t *sum = arg;
    for (int c = 1; c <= 5; c++)
        *sum += by_class[c];
}

static uint64_t app_answered(weft_app_t *app)
{
    uint64_t sum = 0;
    if (app)
        weft_app_route_stats(app, add_class_counts, &sum);
    return sum;
}

/* Keeps a sample (t, answered) and returns the rate over the window, or
   a negative value while the window is too short. */
static double rate(int64_t t, uint64_t answered)
{
    pthread_mutex_lock(&window.mu);
    const struct sample *newest = &window.ring[(window.next + SAMPLES - 1) % SAMPLES];
    if (window.n == 0 || t - newest->t_ns >= SAMPLE_NS) {
        window.ring[window.next] = (struct sample){t, answered};
        window.next = (window.next + 1) % SAMPLES;
        if (window.n < SAMPLES)
            window.n++;
    }
    /* the oldest sample still inside the window (else the newest kept) */
    const struct sample *from = NULL;
    for (unsigned k = window.n; k-- > 0;) {
        const struct sample *s = &window.ring[(window.next + SAMPLES - 1 - k) % SAMPLES];
        if (t - s->t_ns <= WINDOW_NS) {
            from = s;
            break;
        }
    }
    double r = -1;
    if (from && t - from->t_ns >= MIN_SPAN_NS && answered >= from->answered)
        r = (double)(answered - from->answered) * 1e9 / (double)(t - from->t_ns);
    pthread_mutex_unlock(&window.mu);
    return r;
}

/* The q-quantile of the histogram in milliseconds, or -1 with no data;
 *above set when it lies past the last bound. */
static double quantile_ms(const weft_latency_t *l, double q, bool *above)
{
    *above = false;
    if (l->count == 0)
        return -1;
    double target = q * (double)l->count, before = 0;
    for (int b = 0; b < WEFT_LATENCY_BUCKETS; b++) {
        double n = (double)l->counts[b];
        if (n > 0 && before + n >= target) {
            double lo = b ? l->bounds[b - 1] : 0, hi = l->bounds[b];
            return (lo + (hi - lo) * (target - before) / n) * 1e3;
        }
        before += n;
    }
    *above = true;
    return l->bounds[WEFT_LATENCY_BUCKETS - 1] * 1e3;
}

static void json_number(FILE *f, const char *name, double v)
{
    if (v < 0)
        fprintf(f, "\"%s\":null", name);
    else
        fprintf(f, "\"%s\":%.6g", name, v);
}

static void json_latency(FILE *f, weft_server_t *srv)
{
    weft_latency_t l;
    weft_server_latency(srv, &l);
    static const struct {
        const char *name;
        double q;
    } qs[] = {{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}};
    bool any_above = false;
    fprintf(f, "\"latency_ms\":{\"count\":%llu,", (unsigned long long)l.count);
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        bool above;
        json_number(f, qs[i].name, quantile_ms(&l, qs[i].q, &above));
        any_above |= above;
        fputc(',', f);
    }
    json_number(f, "mean", l.count ? l.sum_seconds * 1e3 / (double)l.count : -1);
    fprintf(f, ",\"above_ms\":%s}", any_above ? "true" : "false");
}

static void json_pool(FILE *f, weft_pool_t *pool)
{
    weft_pool_stats_t s = {0};
    if (pool)
        weft_pool_stats(pool, &s);
    fprintf(f,
            "\"pool\":{\"threads\":%u,\"queued\":%zu,\"running\":%zu,\"submitted\":%llu,"
            "\"completed\":%llu,\"failed\":%llu,\"cancelled\":%llu,\"timed_out\":%llu,"
            "\"rejected\":%llu,\"degraded\":%s}",
            s.threads, s.queued, s.running, (unsigned long long)s.submitted,
            (unsigned long long)s.completed, (unsigned long long)s.failed,
            (unsigned long long)s.cancelled, (unsigned long long)s.timed_out,
            (unsigned long long)s.rejected, s.degraded ? "true" : "false");
}

static void json_loops(FILE *f, weft_server_t *srv)
{
    weft_loop_t *loop;
    fputs("\"loops\":[", f);
    for (unsigned i = 0; (loop = weft_server_loop(srv, i)); i++) {
        weft_loop_stats_t s;
        weft_loop_stats(loop, &s);
        fprintf(f,
                "%s{\"busy\":%.4f,\"busy_seconds\":%.6f,\"lag_ms\":%.3f,\"lag_max_ms\":%.3f,"
                "\"blocked\":%llu}",
                i ? "," : "", s.run_ns > 0 ? (double)s.busy_ns / (double)s.run_ns : 0.0,
                s.busy_ns / 1e9, s.lag_ns / 1e6, s.lag_max_ns / 1e6, (unsigned long long)s.blocked);
    }
    fputc(']', f);
}

static void json_server(FILE *f, struct admin *a, int64_t t)
{
    weft_server_stats_t s;
    weft_server_stats(a->srv, &s);
    weft_proxy_stats_t p;
    weft_server_proxy_stats(a->srv, &p);
    uint64_t answered = app_answered(a->app);
    fprintf(f, "\"version\":\"%s\",\"uptime_seconds\":%.3f,\"draining\":%s,", weft_version_string(),
            (double)(t - window.started_ns) / 1e9, atomic_load(&a->draining) ? "true" : "false");
    fprintf(f, "\"requests\":{\"total\":%llu,\"app\":%llu,", (unsigned long long)s.requests,
            (unsigned long long)answered);
    json_number(f, "per_second", rate(t, answered));
    fprintf(f,
            "},\"responses\":{\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu},"
            "\"connections\":{\"open\":%llu,\"accepted\":%llu},"
            "\"proxy\":{\"headers\":%llu,\"rejected\":%llu},",
            (unsigned long long)s.responses_2xx, (unsigned long long)s.responses_3xx,
            (unsigned long long)s.responses_4xx, (unsigned long long)s.responses_5xx,
            (unsigned long long)s.connections_open, (unsigned long long)s.connections_accepted,
            (unsigned long long)p.headers, (unsigned long long)p.rejected);
}

static void status_json(weft_request_t *req, weft_response_t *res, void *arg)
{
    struct admin *a = arg;
    char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);
    if (!f) {
        weft_response_send_error(res, 503, "out of memory");
        return;
    }
    fputc('{', f);
    json_server(f, a, now_ns());
    json_latency(f, a->srv);
    fputc(',', f);
    json_pool(f, a->pool);
    fputc(',', f);
    json_loops(f, a->srv);
    fputs("}\n", f);
    bool failed = ferror(f);
    if (fclose(f) != 0 || failed) {
        free(body);
        weft_response_send_error(res, 503, "out of memory");
        return;
    }
    weft_response_header(res, "Content-Type", "application/json");
    weft_response_header(res, "Cache-Control", "no-store");
    weft_response_send(res, body, len);
    free(body);
}

/* The page. Every figure has a stable id (the e2e test and operators'
   scripts read them): state, polls, version, uptime, rps, app-requests,
   requests, r2xx..r5xx, connections, accepted, p50, p90, p99, mean,
   latency-count, pool-threads, pool-queued, pool-running, pool-completed,
   pool-failed, pool-rejected, proxy-headers, proxy-rejected, and the
   tbody "loops" with one row per loop. */
static const char page[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>weft status</title>\n"
    "<style>\n"
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}\n"
    "h1{font-size:1.3em;margin:0 0 .2em}h2{font-size:1em;margin:1.2em 0 .3em}\n"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(11em,1fr));gap:.6em}\n"
    ".card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.5em .8em}\n"
    ".card b{display:block;font-size:1.6em;font-variant-numeric:tabular-nums}\n"
    ".card span.l{color:#666}table{border-collapse:collapse;background:#fff}\n"
    "td,th{border:1px solid #ddd;padding:.2em .6em;text-align:right;"
    "font-variant-numeric:tabular-nums}\n"
    "#state.bad{color:#b00}#state.draining{color:#b60}#state.ok{color:#070}\n"
    "</style></head><body>\n"
    "<h1>weft <span id=\"version\">&ndash;</span></h1>\n"
    "<p><span id=\"state\">loading</span> &middot; up <span id=\"uptime\">&ndash;</span> s "
    "&middot; <span id=\"polls\">0</span> updates (every second from /status.json)</p>\n"
    "<h2>Requests</h2><div class=\"grid\">\n"
    "<div class=\"card\"><span class=\"l\">per second</span><b id=\"rps\">&ndash;</b></div>\n"
    "<div class=\"card\"><span class=\"l\">answered by the app</span>"
    "<b id=\"app-requests\">&ndash;</b></div>\n"
    "<div class=\"card\"><span class=\"l\">read, all listeners</span>"
    "<b id=\"requests\">&ndash;</b></div>\n"
    "<div class=\"card\"><span class=\"l\">2xx / 3xx / 4xx / 5xx</span><b>"
    "<span id=\"r2xx\">&ndash;</span>/<span id=\"r3xx\">&ndash;</span>/"
    "<span id=\"r4xx\">&ndash;</span>/<span id=\"r5xx\">&ndash;</span></b></div>\n"
    "<div class=\"card\"><span class=\"l\">connections open</span>"
    "<b id=\"connections\">&ndash;</b></div>\n"
    "<div class=\"card\"><span class=\"l\">connections accepted</span>"
    "<b id=\"accepted\">&ndash;</b></div>\n"
    "</div><h2>Latency (ms, since start, <span id=\"latency-count\">&ndash;</span> "
    "responses)</h2><div class=\"grid\">\n"
    "<div class=\"card\"><span class=\"l\">p50</span><b id=\"p50\">&ndash;</b></div>\n"
    "<div class=\"card\"><span class=\"l\">p90</span><b id=\"p90\">&ndash;</b></div>\n"
    "<div class=\"card\"><span class=\"l\">p99</span><b id=\"p99\">&ndash;</b></div>\n"
    "<div class=\"card\"><span class=\"l\">mean</span><b id=\"mean\">&ndash;</b></div>\n"
    "</div><h2>Job pool</h2><div class=\"grid\">\n"
    "<div class=\"card\"><span class=\"l\">threads</span><b id=\"pool-threads\">&ndash;</b></div>\n"
    "<div class=\"card\"><span class=\"l\">queued</span><b id=\"pool-queued\">&ndash;</b></div>\n"
    "<div class=\"card\"><span class=\"l\">running</span><b id=\"pool-running\">&ndash;</b></div>\n"
    "<div class=\"card\"><span class=\"l\">completed</span>"
    "<b id=\"pool-completed\">&ndash;</b></div>\n"
    "<div class=\"card\"><span class=\"l\">failed</span><b id=\"pool-failed\">&ndash;</b></div>\n"
    "<div class=\"card\"><span class=\"l\">rejected (full)</span>"
    "<b id=\"pool-rejected\">&ndash;</b></div>\n"
    "</div><h2>PROXY protocol</h2><p>headers <span id=\"proxy-headers\">&ndash;</span>, "
    "connections refused <span id=\"proxy-rejected\">&ndash;</span></p>\n"
    "<h2>Event loops</h2><table><thead><tr><th>loop</th><th>busy</th><th>lag ms</th>"
    "<th>max lag ms</th><th>blocked</th></tr></thead><tbody id=\"loops\"></tbody></table>\n"
    "<script>\n"
    "'use strict';\n"
    "const $ = (id) => document.getElementById(id);\n"
    "let polls = 0;\n"
    "function num(v, digits) {\n"
    "  if (v === null || v === undefined) return '\\u2013';\n"
    "  return digits === undefined ? String(v) : v.toFixed(digits);\n"
    "}\n"
    "function set(id, v, digits) { $(id).textContent = num(v, digits); }\n"
    "function render(s) {\n"
    "  set('version', s.version); set('uptime', s.uptime_seconds, 0);\n"
    "  set('rps', s.requests.per_second, 1); set('app-requests', s.requests.app);\n"
    "  set('requests', s.requests.total);\n"
    "  for (const c of ['2xx', '3xx', '4xx', '5xx']) set('r' + c, s.responses[c]);\n"
    "  set('connections', s.connections.open); set('accepted', s.connections.accepted);\n"
    "  const l = s.latency_ms;\n"
    "  set('latency-count', l.count);\n"
    "  for (const q of ['p50', 'p90', 'p99', 'mean'])\n"
    "    $(q).textContent = num(l[q], 2) + (l.above_ms && q !== 'mean' ? '+' : '');\n"
    "  for (const k of ['threads', 'queued', 'running', 'completed', 'failed', 'rejected'])\n"
    "    set('pool-' + k, s.pool[k]);\n"
    "  set('proxy-headers', s.proxy.headers); set('proxy-rejected', s.proxy.rejected);\n"
    "  const rows = s.loops.map((lp, i) => {\n"
    "    const tr = document.createElement('tr');\n"
    "    tr.id = 'loop-' + i;\n"
    "    for (const v of [i, (lp.busy * 100).toFixed(1) + '%', lp.lag_ms.toFixed(2),\n"
    "                     lp.lag_max_ms.toFixed(2), lp.blocked]) {\n"
    "      const td = document.createElement('td');\n"
    "      td.textContent = v;\n"
    "      tr.appendChild(td);\n"
    "    }\n"
    "    return tr;\n"
    "  });\n"
    "  $('loops').replaceChildren(...rows);\n"
    "  const st = $('state');\n"
    "  st.textContent = s.draining ? 'draining' : 'serving';\n"
    "  st.className = s.draining ? 'draining' : 'ok';\n"
    "}\n"
    "async function poll() {\n"
    "  try {\n"
    "    const r = await fetch('/status.json', {cache: 'no-store'});\n"
    "    if (!r.ok) throw new Error('HTTP ' + r.status);\n"
    "    render(await r.json());\n"
    "    $('polls').textContent = String(++polls);\n"
    "  } catch (e) {\n"
    "    $('state').textContent = 'unreachable (' + e.message + ')';\n"
    "    $('state').className = 'bad';\n"
    "  }\n"
    "  setTimeout(poll, 1000);\n"
    "}\n"
    "poll();\n"
    "</script></body></html>\n";

static void status_page(weft_request_t *req, weft_response_t *res, void *arg)
{
    weft_response_header(res, "Content-Type", "text/html; charset=utf-8");
    weft_response_header(res, "Cache-Control", "no-store");
    /* Self-contained: nothing but this listener's /status.json is reached. */
    weft_response_header(res, "Content-Security-Policy",
                         "default-src 'none'; connect-src 'self'; script-src 'unsafe-inline'; "
                         "style-src 'unsafe-inline'");
    weft_response_send_borrowed(res, page, sizeof(page) - 1, NULL, NULL);
}

int status_routes(weft_app_t *app, struct admin *a)
{
    window.started_ns = now_ns();
    rate(window.started_ns, 0); /* the seed: the first poll has a rate */
    int r = weft_app_route(app, "GET", "/status", status_page, a);
    return r < 0 ? r : weft_app_route(app, "GET", "/status.json", status_json, a);
}
