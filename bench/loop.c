/*
 * bench-loop - weft's loop bridge against libuv, in one run, rounds
 * interleaved (each round runs every contender once, in rotating order),
 * medians quoted.
 *
 * Scenarios:
 *   posts       --posts closures posted into one running loop from 1 and
 *               from 2 producer threads (half each); each closure
 *               increments a counter on the loop thread. The clock runs
 *               from the producers' release until the last closure has
 *               run: posts/s and process CPU per post.
 *               weft:  weft_loop_post.
 *               libuv: what a libuv user writes for the same job: a
 *                      malloc'd node appended to a mutex-protected list,
 *                      then uv_async_send (which coalesces); the async
 *                      callback swaps the list out under the mutex and
 *                      runs it in order.
 *   round trip  loop -> pool -> loop, one job in flight, the next
 *               submitted from the completion callback on the loop thread:
 *               p50, p99 and process CPU per round trip (every thread, so
 *               spinning shows).
 *               weft:  weft_loop_work(loop, pool, empty job, done) with a
 *                      weft pool of T threads.
 *               libuv: uv_queue_work + after_work, UV_THREADPOOL_SIZE = T.
 * Targets: >= 5,000,000 posts/s from one producer; round trip p50 at most
 * half of libuv's.
 */
#include "bench-common.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "weft/loop.h"
#include "weft/pool.h"

#define MAX_ROUNDS 100
#define WHY_LEN    160

enum { C_WEFT, C_UV, C_COUNT };
static const char *const c_name_post[C_COUNT] = {"weft_loop_post", "uv_async + mutex list"};
static const char *const c_name_rt[C_COUNT] = {"weft_loop_work", "uv_queue_work"};
static const char *const c_key[C_COUNT] = {"weft", "uv"};

static struct {
    unsigned rounds, threads;
    uint64_t posts, iterations, warmup;
    unsigned only; /* bit per contender */
} opt;

typedef struct {
    double wall, cpu; /* seconds; CPU seconds per operation */
    double p50, p99;
} sample_t;

typedef struct {
    bool na;
    char why[WHY_LEN];
    unsigned n;
    sample_t s[MAX_ROUNDS];
} result_t;

enum kind { K_POSTS, K_ROUNDTRIP };

typedef struct {
    char label[64];
    enum kind kind;
    unsigned producers;
    uint64_t ops;
    result_t res[C_COUNT];
} scenario_t;

static int fail(char *why, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *why, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, WHY_LEN, fmt, ap);
    va_end(ap);
    return err < 0 ? err : -EIO;
}

/* ---- posts ----------------------------------------------------------------- */

/* One run: the counter lives on the loop thread; the last closure notes
   the time and stops the loop. */
struct post_run {
    uint64_t total, delivered;
    double wall_end, cpu_end;
    weft_loop_t *wloop;
    struct uvq *uq;
};

struct producer {
    struct post_run *run;
    uint64_t count;
    int err;
};

static void note_end(struct post_run *r)
{
    r->wall_end = bench_now();
    r->cpu_end = bench_cpu();
}

/* weft */

static void weft_count(void *arg)
{
    struct post_run *r = arg;
    if (++r->delivered == r->total) {
        note_end(r);
        weft_loop_stop(r->wloop);
    }
}

static void weft_ready(void *arg)
{
    sem_post(arg);
}

static void *weft_loop_main(void *loop)
{
    weft_loop_run(loop);
    return NULL;
}

static void *weft_producer(void *p_)
{
    struct producer *p = p_;
    for (uint64_t i = 0; i < p->count; i++) {
        int rc = weft_loop_post(p->run->wloop, weft_count, p->run);
        if (rc < 0) {
            p->err = rc;
            weft_loop_stop(p->run->wloop); /* never completes: stop the run */
            break;
        }
    }
    return NULL;
}

static int weft_posts(const scenario_t *s, uint64_t total, sample_t *out, char *why)
{
    struct post_run run = {.total = total};
    struct producer prod[2] = {{0}};
    unsigned n = s->producers;
    for (unsigned i = 0; i < n; i++)
        prod[i] = (struct producer){&run, total / n + (i == n - 1 ? total % n : 0), 0};
    run.wloop = weft_loop_new();
    if (!run.wloop)
        return fail(why, -errno, "weft_loop_new: %s", strerror(errno));
    /* the loop thread must be running before the clock starts */
    sem_t ready;
    sem_init(&ready, 0, 0);
    pthread_t th;
    int rc = weft_loop_post(run.wloop, weft_ready, &ready);
    if (rc == 0 && pthread_create(&th, NULL, weft_loop_main, run.wloop) != 0)
        rc = -EAGAIN;
    if (rc < 0) {
        weft_loop_stop(run.wloop);
        weft_loop_close(run.wloop);
        weft_loop_free(run.wloop);
        sem_destroy(&ready);
        return fail(why, rc, "starting the loop: %s", weft_strerror(rc));
    }
    sem_wait(&ready);
    bench_meas_t m = {0};
    bench_run_threads(n, weft_producer, prod, sizeof prod[0], &m);
    pthread_join(th, NULL);
    weft_loop_close(run.wloop);
    weft_loop_free(run.wloop);
    sem_destroy(&ready);
    for (unsigned i = 0; i < n; i++)
        if (prod[i].err)
            return fail(why, prod[i].err, "weft_loop_post: %s", weft_strerror(prod[i].err));
    if (run.delivered != total)
        return fail(why, -EIO, "%llu of %llu posts ran", (unsigned long long)run.delivered,
                    (unsigned long long)total);
    *out =
        (sample_t){.wall = run.wall_end - m.wall0, .cpu = (run.cpu_end - m.cpu0) / (double)total};
    return 0;
}

/* libuv: a mutex-protected list and a uv_async_t doorbell */

struct uvq_node {
    void (*fn)(void *);
    void *arg;
    struct uvq_node *next;
};

struct uvq {
    uv_loop_t loop;
    uv_async_t async;
    pthread_mutex_t mu;
    struct uvq_node *head, *tail;
};

static int uvq_post(struct uvq *q, void (*fn)(void *), void *arg)
{
    struct uvq_node *n = malloc(sizeof *n);
    if (!n)
        return -ENOMEM;
    n->fn = fn;
    n->arg = arg;
    n->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    pthread_mutex_unlock(&q->mu);
    return uv_async_send(&q->async);
}

static void uvq_drain(uv_async_t *a)
{
    struct uvq *q = a->data;
    pthread_mutex_lock(&q->mu);
    struct uvq_node *n = q->head;
    q->head = q->tail = NULL;
    pthread_mutex_unlock(&q->mu);
    while (n) {
        struct uvq_node *next = n->next;
        n->fn(n->arg);
        free(n);
        n = next;
    }
}

static void uv_count(void *arg)
{
    struct post_run *r = arg;
    if (++r->delivered == r->total) {
        note_end(r);
        uv_close((uv_handle_t *)&r->uq->async, NULL); /* the loop ends */
    }
}

static void uv_ready(void *arg)
{
    sem_post(arg);
}

static void *uv_loop_main(void *q_)
{
    struct uvq *q = q_;
    uv_run(&q->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void *uv_producer(void *p_)
{
    struct producer *p = p_;
    for (uint64_t i = 0; i < p->count; i++) {
        int rc = uvq_post(p->run->uq, uv_count, p->run);
        if (rc < 0) {
            p->err = rc;
            break;
        }
    }
    return NULL;
}

static int uv_posts(const scenario_t *s, uint64_t total, sample_t *out, char *why)
{
    struct post_run run = {.total = total};
    struct producer prod[2] = {{0}};
    unsigned n = s->producers;
    for (unsigned i = 0; i < n; i++)
        prod[i] = (struct producer){&run, total / n + (i == n - 1 ? total % n : 0), 0};
    struct uvq *q = calloc(1, sizeof *q);
    if (!q)
        return fail(why, -ENOMEM, "out of memory");
    run.uq = q;
    int rc = uv_loop_init(&q->loop);
    if (rc == 0)
        rc = uv_async_init(&q->loop, &q->async, uvq_drain);
    if (rc < 0) {
        free(q);
        return fail(why, rc, "uv init: %s", uv_strerror(rc));
    }
    q->async.data = q;
    pthread_mutex_init(&q->mu, NULL);
    sem_t ready;
    sem_init(&ready, 0, 0);
    uvq_post(q, uv_ready, &ready);
    pthread_t th;
    if (pthread_create(&th, NULL, uv_loop_main, q) != 0) {
        fprintf(stderr, "bench-loop: pthread_create failed\n");
        exit(1);
    }
    sem_wait(&ready);
    bench_meas_t m = {0};
    bench_run_threads(n, uv_producer, prod, sizeof prod[0], &m);
    int err = 0;
    for (unsigned i = 0; i < n && !err; i++)
        if (prod[i].err)
            err = fail(why, prod[i].err, "post: %s", uv_strerror(prod[i].err));
    if (err) /* the loop will not end by itself; nothing else is simple */
        exit((fprintf(stderr, "bench-loop: %s\n", why), 1));
    pthread_join(th, NULL);
    uv_loop_close(&q->loop);
    pthread_mutex_destroy(&q->mu);
    free(q);
    sem_destroy(&ready);
    if (run.delivered != total)
        return fail(why, -EIO, "%llu of %llu posts ran", (unsigned long long)run.delivered,
                    (unsigned long long)total);
    *out =
        (sample_t){.wall = run.wall_end - m.wall0, .cpu = (run.cpu_end - m.cpu0) / (double)total};
    return 0;
}

/* ---- loop -> pool -> loop round trips ----------------------------------- */

struct rt_run {
    uint64_t done, warmup, iters;
    uint64_t t0;
    double *lat;
    bench_meas_t m;
    int err;
    char why[WHY_LEN];
    weft_loop_t *wloop;
    weft_pool_t *pool;
    uv_work_t req;
};

/* Counts one completion at time t1; returns true when the run is over. */
static bool rt_complete(struct rt_run *r, uint64_t t1)
{
    if (r->done >= r->warmup)
        r->lat[r->done - r->warmup] = (double)(t1 - r->t0) / 1e9;
    r->done++;
    if (r->done == r->warmup)
        bench_meas_begin(&r->m);
    if (r->done == r->warmup + r->iters) {
        bench_meas_end(&r->m);
        return true;
    }
    return false;
}

static void rt_finish(struct rt_run *r, sample_t *out)
{
    bench_sort(r->lat, r->iters);
    *out = (sample_t){.wall = r->m.wall,
                      .cpu = r->m.cpu / (double)r->iters,
                      .p50 = bench_percentile_sorted(r->lat, r->iters, 50),
                      .p99 = bench_percentile_sorted(r->lat, r->iters, 99)};
}

/* weft */

static void weft_empty_job(weft_job_t *job, void *arg)
{
    (void)job;
    (void)arg;
}

static void weft_rt_submit(struct rt_run *r);

static void weft_rt_done(weft_future_t *f, int status, void *arg)
{
    uint64_t t1 = bench_now_ns();
    struct rt_run *r = arg;
    int e = status < 0 ? status : weft_future_error(f);
    if (e < 0) {
        r->err = fail(r->why, e, "work completed with %s", weft_strerror(e));
        weft_loop_stop(r->wloop);
        return;
    }
    if (rt_complete(r, t1))
        weft_loop_stop(r->wloop);
    else
        weft_rt_submit(r);
}

static void weft_rt_submit(struct rt_run *r)
{
    r->t0 = bench_now_ns();
    int rc = weft_loop_work(r->wloop, r->pool, weft_empty_job, NULL, weft_rt_done, r);
    if (rc < 0) {
        r->err = fail(r->why, rc, "weft_loop_work: %s", weft_strerror(rc));
        weft_loop_stop(r->wloop);
    }
}

static void weft_rt_kick(void *arg)
{
    struct rt_run *r = arg;
    if (r->warmup == 0)
        bench_meas_begin(&r->m);
    weft_rt_submit(r);
}

static int weft_rt(const scenario_t *s, uint64_t iters, sample_t *out, char *why, double *lat)
{
    (void)s;
    struct rt_run *r = calloc(1, sizeof *r);
    if (!r)
        return fail(why, -ENOMEM, "out of memory");
    *r = (struct rt_run){.warmup = opt.warmup, .iters = iters, .lat = lat};
    r->pool = weft_pool_new(&(weft_pool_options_t){.threads = opt.threads});
    r->wloop = weft_loop_new();
    int rc = 0;
    if (!r->pool || !r->wloop)
        rc = fail(why, -errno, "weft_%s_new: %s", r->pool ? "loop" : "pool", strerror(errno));
    else if ((rc = weft_loop_post(r->wloop, weft_rt_kick, r)) < 0)
        rc = fail(why, rc, "weft_loop_post: %s", weft_strerror(rc));
    if (rc == 0)
        weft_loop_run(r->wloop);
    else if (r->wloop)
        weft_loop_stop(r->wloop);
    if (r->wloop) {
        weft_loop_close(r->wloop);
        weft_loop_free(r->wloop);
    }
    weft_pool_free(r->pool);
    if (rc == 0 && r->err)
        rc = fail(why, r->err, "%s", r->why);
    if (rc == 0 && r->done != r->warmup + iters)
        rc = fail(why, -EIO, "the loop stopped early");
    if (rc == 0)
        rt_finish(r, out);
    free(r);
    return rc;
}

/* libuv */

static void uv_empty_work(uv_work_t *req)
{
    (void)req;
}

static void uv_rt_done(uv_work_t *req, int status)
{
    uint64_t t1 = bench_now_ns();
    struct rt_run *r = req->data;
    if (status < 0) {
        r->err = fail(r->why, status, "after_work status %s", uv_strerror(status));
        return;
    }
    if (rt_complete(r, t1))
        return; /* no request left: uv_run returns */
    r->t0 = bench_now_ns();
    int rc = uv_queue_work(req->loop, &r->req, uv_empty_work, uv_rt_done);
    if (rc < 0)
        r->err = fail(r->why, rc, "uv_queue_work: %s", uv_strerror(rc));
}

static int uv_rt(const scenario_t *s, uint64_t iters, sample_t *out, char *why, double *lat)
{
    (void)s;
    struct rt_run *r = calloc(1, sizeof *r);
    uv_loop_t *loop = calloc(1, sizeof *loop);
    int rc = r && loop ? uv_loop_init(loop) : UV_ENOMEM;
    if (rc < 0) {
        free(r);
        free(loop);
        return fail(why, rc, "uv_loop_init: %s", uv_strerror(rc));
    }
    *r = (struct rt_run){.warmup = opt.warmup, .iters = iters, .lat = lat};
    r->req.data = r;
    if (r->warmup == 0)
        bench_meas_begin(&r->m);
    r->t0 = bench_now_ns();
    rc = uv_queue_work(loop, &r->req, uv_empty_work, uv_rt_done);
    if (rc == 0)
        uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    free(loop);
    if (rc < 0)
        rc = fail(why, rc, "uv_queue_work: %s", uv_strerror(rc));
    else if (r->err)
        rc = fail(why, r->err, "%s", r->why);
    else if (r->done != r->warmup + iters)
        rc = fail(why, -EIO, "the loop ended early");
    if (rc == 0)
        rt_finish(r, out);
    free(r);
    return rc;
}

/* ---- the driver ------------------------------------------------------------ */

static int run_once(const scenario_t *s, int c, uint64_t ops, sample_t *out, char *why)
{
    if (s->kind == K_POSTS)
        return c == C_WEFT ? weft_posts(s, ops, out, why) : uv_posts(s, ops, out, why);
    static double *lat;
    static uint64_t cap;
    if (ops > cap) {
        free(lat);
        lat = malloc(ops * sizeof *lat);
        if (!lat)
            return fail(why, -ENOMEM, "out of memory");
        cap = ops;
    }
    memset(lat, 0, ops * sizeof *lat);
    return c == C_WEFT ? weft_rt(s, ops, out, why, lat) : uv_rt(s, ops, out, why, lat);
}

static void run_scenario(scenario_t *s)
{
    int list[C_COUNT], n = 0;
    for (int c = 0; c < C_COUNT; c++)
        if (opt.only & (1u << c))
            list[n++] = c;
    if (s->kind == K_POSTS) /* warm-up, not recorded */
        for (int k = 0; k < n; k++) {
            sample_t x;
            uint64_t small = s->ops / 20 > 1000 ? s->ops / 20 : 1000;
            if (run_once(s, list[k], small < s->ops ? small : s->ops, &x, s->res[list[k]].why) < 0)
                s->res[list[k]].na = true;
        }
    for (unsigned round = 0; round < opt.rounds; round++) {
        fprintf(stderr, "%s round %u/%u:", s->label, round + 1, opt.rounds);
        for (int k = 0; k < n; k++) {
            int c = list[(round + (unsigned)k) % (unsigned)n];
            result_t *r = &s->res[c];
            sample_t x;
            char a[32], b[32];
            if (r->na || run_once(s, c, s->ops, &x, r->why) < 0) {
                r->na = true;
                fprintf(stderr, " %s n/a;", c_key[c]);
                continue;
            }
            r->s[r->n++] = x;
            if (s->kind == K_POSTS)
                fprintf(stderr, " %s %s;", c_key[c],
                        bench_fmt_rate((double)s->ops / x.wall, a, sizeof a));
            else
                fprintf(stderr, " %s p50 %s p99 %s;", c_key[c], bench_fmt_time(x.p50, a, sizeof a),
                        bench_fmt_time(x.p99, b, sizeof b));
        }
        fprintf(stderr, "\n");
    }
}

/* ---- the report ------------------------------------------------------------- */

typedef struct {
    bool ok;
    double wall, rate_min, rate_max, cpu, p50, p99;
} summary_t;

static double median_of(const result_t *r, size_t offset)
{
    double v[MAX_ROUNDS];
    for (unsigned i = 0; i < r->n; i++)
        memcpy(&v[i], (const char *)&r->s[i] + offset, sizeof v[i]);
    return bench_median(v, r->n);
}

static summary_t summarize(const result_t *r, uint64_t ops)
{
    summary_t m = {0};
    if (r->na || r->n == 0)
        return m;
    m.ok = true;
    m.wall = median_of(r, offsetof(sample_t, wall));
    m.cpu = median_of(r, offsetof(sample_t, cpu));
    m.p50 = median_of(r, offsetof(sample_t, p50));
    m.p99 = median_of(r, offsetof(sample_t, p99));
    double v[MAX_ROUNDS];
    for (unsigned i = 0; i < r->n; i++)
        v[i] = (double)ops / r->s[i].wall;
    m.rate_min = bench_min(v, r->n);
    m.rate_max = bench_max(v, r->n);
    return m;
}

static const char *ratio(double peer, double weft, bool ok, char *buf, size_t len)
{
    if (ok && weft > 0)
        snprintf(buf, len, "%.2fx", peer / weft);
    else
        snprintf(buf, len, "-");
    return buf;
}

static void report(scenario_t *sc, size_t nsc)
{
    char title[96];
    snprintf(title, sizeof title, "Posts into one loop (median of %u rounds)", opt.rounds);
    bench_table_t *pt =
        bench_table_new(title, "llrrrrr",
                        (const char *const[]){"scenario", "contender", "posts/s", "min..max",
                                              "wall", "CPU/post", "peer/weft"});
    snprintf(title, sizeof title,
             "Loop -> pool -> loop round trip (T = %u pool threads, median of %u rounds)",
             opt.threads, opt.rounds);
    bench_table_t *rt =
        bench_table_new(title, "llrrrrr",
                        (const char *const[]){"scenario", "contender", "p50", "p99",
                                              "CPU/round trip", "p50 peer/weft", "p99 peer/weft"});
    static char notes[2048];
    bool npt = false, nrt = false;
    for (size_t i = 0; i < nsc; i++) {
        scenario_t *s = &sc[i];
        summary_t w = summarize(&s->res[C_WEFT], s->ops);
        if (s->kind == K_POSTS && npt)
            bench_table_gap(pt);
        for (int c = 0; c < C_COUNT; c++) {
            if (!(opt.only & (1u << c)))
                continue;
            summary_t m = summarize(&s->res[c], s->ops);
            const char *label = c == 0 || !(opt.only & 1u) ? s->label : "";
            const char *name = s->kind == K_POSTS ? c_name_post[c] : c_name_rt[c];
            bench_table_t *t = s->kind == K_POSTS ? pt : rt;
            char b[6][48];
            if (!m.ok) {
                char line[WHY_LEN + 64];
                snprintf(line, sizeof line, "  n/a: %s: %s\n", name,
                         s->res[c].na ? s->res[c].why : "not run");
                if (!strstr(notes, line))
                    snprintf(notes + strlen(notes), sizeof notes - strlen(notes), "%s", line);
                bench_table_rowv(t, label, name, "n/a", "", "", "", "");
                continue;
            }
            if (s->kind == K_POSTS) {
                char range[80];
                snprintf(range, sizeof range, "%s..%s", bench_fmt_rate(m.rate_min, b[4], 48),
                         bench_fmt_rate(m.rate_max, b[5], 48));
                bench_table_rowv(t, label, name, bench_fmt_rate((double)s->ops / m.wall, b[0], 48),
                                 range, bench_fmt_time(m.wall, b[1], 48),
                                 bench_fmt_time(m.cpu, b[2], 48),
                                 ratio(m.wall, w.wall, w.ok, b[3], 48));
            } else {
                bench_table_rowv(t, label, name, bench_fmt_time(m.p50, b[0], 48),
                                 bench_fmt_time(m.p99, b[1], 48), bench_fmt_time(m.cpu, b[2], 48),
                                 ratio(m.p50, w.p50, w.ok, b[3], 48),
                                 ratio(m.p99, w.p99, w.ok, b[4], 48));
            }
        }
        npt |= s->kind == K_POSTS;
        nrt |= s->kind == K_ROUNDTRIP;
    }

    /* targets */
    char targets[1024] = "";
    size_t at = 0;
    for (size_t i = 0; i < nsc; i++) {
        scenario_t *s = &sc[i];
        summary_t w = summarize(&s->res[C_WEFT], s->ops);
        summary_t u = summarize(&s->res[C_UV], s->ops);
        const char *verdict = "n/a";
        char fig[48] = "n/a";
        if (s->kind == K_POSTS && s->producers == 1) {
            if (w.ok) {
                bench_fmt_rate((double)s->ops / w.wall, fig, sizeof fig);
                verdict = (double)s->ops / w.wall >= 5e6 ? "met" : "MISSED";
            }
            at += (size_t)snprintf(targets + at, sizeof targets - at,
                                   "- %s: weft >= 5.00 M/s from one producer (%s): %s\n", s->label,
                                   fig, verdict);
        } else if (s->kind == K_ROUNDTRIP) {
            if (w.ok && u.ok) {
                snprintf(fig, sizeof fig, "weft/uv %.2fx", w.p50 / u.p50);
                verdict = w.p50 <= 0.5 * u.p50 ? "met" : "MISSED";
            }
            at += (size_t)snprintf(targets + at, sizeof targets - at,
                                   "- %s: weft p50 <= 1/2 of uv_queue_work's (%s): %s\n", s->label,
                                   fig, verdict);
        }
    }

    printf("\n");
    if (npt)
        bench_table_print_text(pt, stdout), printf("\n");
    if (nrt)
        bench_table_print_text(rt, stdout), printf("\n");
    printf("%s\nTargets (peer/weft is peer time over weft time: above 1, weft is faster)\n%s",
           notes, targets);
    printf("\n---- markdown ----\n\n");
    if (npt)
        bench_table_print_markdown(pt, stdout), printf("\n");
    if (nrt)
        bench_table_print_markdown(rt, stdout), printf("\n");
    printf("Targets:\n\n%s", targets);
    bench_table_free(pt);
    bench_table_free(rt);
}

/* ---- main ------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bench-loop [--rounds N] [--posts N] [--iterations N] [--threads N] [--quick]\n"
            "                  [--only LIST] [--scenarios LIST]\n"
            "  --rounds N       interleaved rounds; medians are quoted (default 5)\n"
            "  --posts N        posts per run, split among the producers (default 4M)\n"
            "  --iterations N   round trips after warm-up (default 20k)\n"
            "  --threads N      pool threads, weft and UV_THREADPOOL_SIZE (default: CPUs)\n"
            "  --quick          small counts, a smoke test of a few seconds\n"
            "  --only LIST      contenders: weft,uv or peers\n"
            "  --scenarios LIST posts,roundtrip (default both)\n");
}

int main(int argc, char **argv)
{
    enum { O_ROUNDS = 256, O_POSTS, O_ITER, O_THREADS, O_QUICK, O_ONLY, O_SCEN };
    static const struct option longopts[] = {
        {"rounds", required_argument, NULL, O_ROUNDS},
        {"posts", required_argument, NULL, O_POSTS},
        {"iterations", required_argument, NULL, O_ITER},
        {"threads", required_argument, NULL, O_THREADS},
        {"quick", no_argument, NULL, O_QUICK},
        {"only", required_argument, NULL, O_ONLY},
        {"scenarios", required_argument, NULL, O_SCEN},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t rounds = 0, posts = 0, iters = 0, threads = 0, v = 0;
    bool quick = false, want_posts = true, want_rt = true;
    opt.only = 3;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        uint64_t *dst = NULL;
        switch (ch) {
        case O_ROUNDS:
            dst = &rounds;
            break;
        case O_POSTS:
            dst = &posts;
            break;
        case O_ITER:
            dst = &iters;
            break;
        case O_THREADS:
            dst = &threads;
            break;
        case O_QUICK:
            quick = true;
            break;
        case O_ONLY:
            opt.only = (strstr(optarg, "weft") ? 1u : 0) |
                       (strstr(optarg, "uv") || strstr(optarg, "peers") ? 2u : 0);
            if (!opt.only) {
                fprintf(stderr, "bench-loop: bad --only '%s'\n", optarg);
                return 2;
            }
            break;
        case O_SCEN:
            want_posts = strstr(optarg, "post") != NULL;
            want_rt = strstr(optarg, "round") != NULL;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (dst && (bench_parse_count(optarg, &v) < 0 || v == 0)) {
            fprintf(stderr, "bench-loop: bad number '%s'\n", optarg);
            return 2;
        }
        if (dst)
            *dst = v;
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    opt.rounds = rounds ? (rounds > MAX_ROUNDS ? MAX_ROUNDS : (unsigned)rounds) : quick ? 3 : 5;
    opt.posts = posts ? posts : quick ? 200000 : 4000000;
    opt.iterations = iters ? iters : quick ? 2000 : 20000;
    opt.warmup = quick ? 200 : 1000;
    opt.threads = threads ? (threads > 1024 ? 1024 : (unsigned)threads) : bench_cpus();

    char n[16];
    snprintf(n, sizeof n, "%u", opt.threads);
    setenv("UV_THREADPOOL_SIZE", n, 1); /* before any libuv call */

    char a[32], b[32];
    bench_print_machine(stdout, "bench-loop");
    printf("versions: weft %s, libuv %s\n", weft_version_string(), uv_version_string());
    printf("settings: %u rounds, %s posts per run, %s round trips, T = %u pool threads "
           "(UV_THREADPOOL_SIZE=%u); scheduler free (no pinning)\n",
           opt.rounds, bench_fmt_count(opt.posts, a, sizeof a),
           bench_fmt_count(opt.iterations, b, sizeof b), opt.threads, opt.threads);
    fflush(stdout);

    static scenario_t sc[3];
    size_t nsc = 0;
    if (want_posts)
        for (unsigned p = 1; p <= 2; p++) {
            scenario_t *s = &sc[nsc++];
            s->kind = K_POSTS;
            s->producers = p;
            s->ops = opt.posts;
            snprintf(s->label, sizeof s->label, "posts, %u producer%s", p, p > 1 ? "s" : "");
        }
    if (want_rt) {
        scenario_t *s = &sc[nsc++];
        s->kind = K_ROUNDTRIP;
        s->ops = opt.iterations;
        snprintf(s->label, sizeof s->label, "loop->pool->loop");
    }
    for (size_t i = 0; i < nsc; i++)
        run_scenario(&sc[i]);
    report(sc, nsc);
    return 0;
}
