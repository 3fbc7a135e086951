/*
 * bench-pool - weft's pool against its peers, in one run, rounds
 * interleaved (each round runs every contender once, in rotating order),
 * medians quoted.
 *
 * Contenders, all with the same thread count T (default: the CPUs this
 * process may run on, weft's own default):
 *   weft             weft_pool_* (pool.h)
 *   uv_queue_work    libuv's thread pool, UV_THREADPOOL_SIZE=T, set before
 *                    the first libuv call; one loop per submitter thread
 *   GThreadPool      g_thread_pool_new(fn, NULL, T, exclusive FALSE)
 *   mutex+cond pool  the textbook pool written below: a linked FIFO of
 *                    malloc'd tasks, one mutex, one condvar, one signal per
 *                    push, workers joined on close
 *   hand split       (c) only: T threads (the caller and T-1 new ones),
 *                    each running a contiguous n/T slice
 *
 * Scenarios:
 *   (a) --jobs empty jobs from one submitter, then close: detached, and
 *       with a future (or the peer's equivalent) per job, all waited;
 *   (b) the same from two submitter threads, --jobs/2 each;
 *   (c) weft_pool_for and weft_pool_for_range over --indexes indexes
 *       against the hand split, every side calling the same out-of-line
 *       bodies through function pointers;
 *   (d) submit-then-wait round trip, one job at a time: p50, p99 and CPU
 *       time per round trip.
 * What each peer does for "a future per job" is written beside its code
 * and in bench/README.md. CPU time is getrusage(RUSAGE_SELF): every thread
 * of the process, so spinning shows.
 */
#include "bench-common.h"

#include <errno.h>
#include <getopt.h>
#include <glib.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "weft/error.h"
#include "weft/pool.h"

#define MAX_ROUNDS 100
#define WHY_LEN    160

/* ---- options ------------------------------------------------------------ */

enum { C_WEFT, C_UV, C_GLIB, C_MUTEX, C_HAND, C_COUNT };
static const char *const c_name[C_COUNT] = {"weft", "uv_queue_work", "GThreadPool",
                                            "mutex+cond pool", "hand split"};
static const char *const c_key[C_COUNT] = {"weft", "uv", "glib", "mutex", "hand"};
#define C_BIT(c)  (1u << (c))
#define C_PEERS   (C_BIT(C_UV) | C_BIT(C_GLIB) | C_BIT(C_MUTEX) | C_BIT(C_HAND))
#define C_ALL     (C_BIT(C_WEFT) | C_PEERS)
#define C_BURST   (C_BIT(C_WEFT) | C_BIT(C_UV) | C_BIT(C_GLIB) | C_BIT(C_MUTEX))
#define C_FORLOOP (C_BIT(C_WEFT) | C_BIT(C_HAND))

static struct {
    unsigned rounds, threads;
    uint64_t jobs, indexes, iterations, warmup;
    unsigned only;      /* contenders to run, C_BIT mask */
    char scenarios[16]; /* letters a-d */
} opt;

/* ---- scenarios and results ---------------------------------------------- */

enum kind { K_BURST, K_FOR, K_FOR_RANGE, K_ROUNDTRIP };

typedef struct {
    double wall; /* seconds */
    double cpu;  /* process CPU seconds per operation */
    double p50, p99;
} sample_t;

typedef struct {
    bool na; /* could not run: why says so */
    char why[WHY_LEN];
    unsigned n;
    sample_t s[MAX_ROUNDS];
} result_t;

typedef struct {
    char letter;
    char label[96];
    enum kind kind;
    uint64_t ops; /* jobs, indexes or round trips per run */
    unsigned submitters;
    bool futures;
    unsigned contenders;
    result_t res[C_COUNT];
} scenario_t;

typedef int (*run_fn)(const scenario_t *s, uint64_t ops, sample_t *out, char *why);

static int fail(char *why, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *why, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, WHY_LEN, fmt, ap);
    va_end(ap);
    return err < 0 ? err : -EIO;
}

/* One scratch area reused by every run (records, futures, latencies), and
   touched before the clock starts so first-touch page faults stay out. */
static void *scratch(size_t bytes)
{
    static void *area;
    static size_t size;
    if (bytes > size) {
        free(area);
        area = aligned_alloc(64, (bytes + 63) / 64 * 64); /* whole cache lines */
        if (!area) {
            fprintf(stderr, "bench-pool: out of memory (%zu bytes)\n", bytes);
            exit(1);
        }
        size = bytes;
    }
    memset(area, 0, bytes);
    return area;
}

/* ---- the textbook mutex+condvar pool -------------------------------------- */

struct tp_task {
    void (*fn)(void *);
    void *arg;
    struct tp_task *next;
};

struct tpool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct tp_task *head, *tail;
    bool stop;
    unsigned n;
    pthread_t th[];
};

static void *tp_worker(void *p)
{
    struct tpool *tp = p;
    pthread_mutex_lock(&tp->mu);
    for (;;) {
        while (!tp->head && !tp->stop)
            pthread_cond_wait(&tp->cv, &tp->mu);
        struct tp_task *t = tp->head;
        if (!t)
            break; /* stopped and drained */
        tp->head = t->next;
        if (!tp->head)
            tp->tail = NULL;
        pthread_mutex_unlock(&tp->mu);
        t->fn(t->arg);
        free(t);
        pthread_mutex_lock(&tp->mu);
    }
    pthread_mutex_unlock(&tp->mu);
    return NULL;
}

static struct tpool *tp_new(unsigned n)
{
    struct tpool *tp = calloc(1, sizeof *tp + n * sizeof tp->th[0]);
    if (!tp)
        return NULL;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->cv, NULL);
    for (tp->n = 0; tp->n < n; tp->n++)
        if (pthread_create(&tp->th[tp->n], NULL, tp_worker, tp) != 0)
            break;
    return tp;
}

static int tp_push(struct tpool *tp, void (*fn)(void *), void *arg)
{
    struct tp_task *t = malloc(sizeof *t);
    if (!t)
        return -ENOMEM;
    t->fn = fn;
    t->arg = arg;
    t->next = NULL;
    pthread_mutex_lock(&tp->mu);
    if (tp->tail)
        tp->tail->next = t;
    else
        tp->head = t;
    tp->tail = t;
    pthread_cond_signal(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
    return 0;
}

/* Runs what is queued, then joins the workers and frees the pool. */
static void tp_close(struct tpool *tp)
{
    pthread_mutex_lock(&tp->mu);
    tp->stop = true;
    pthread_cond_broadcast(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
    for (unsigned i = 0; i < tp->n; i++)
        pthread_join(tp->th[i], NULL);
    pthread_cond_destroy(&tp->cv);
    pthread_mutex_destroy(&tp->mu);
    free(tp);
}

/* ---- the peers' stand-in for a future --------------------------------------
   A per-job record with a completion flag; the job sets it under its
   submitter's mutex and signals the submitter's condvar; the submitter
   waits for each record in turn, as weft's side waits for each future. */

struct pwaiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
};
struct prec {
    struct pwaiter *w;
    int done;
};
struct gwaiter {
    GMutex mu;
    GCond cv;
};
struct grec {
    struct gwaiter *w;
    int done;
};

static void prec_settle(void *p)
{
    struct prec *r = p;
    pthread_mutex_lock(&r->w->mu);
    r->done = 1;
    pthread_cond_signal(&r->w->cv);
    pthread_mutex_unlock(&r->w->mu);
}

static void prec_wait(struct prec *r)
{
    pthread_mutex_lock(&r->w->mu);
    while (!r->done)
        pthread_cond_wait(&r->w->cv, &r->w->mu);
    pthread_mutex_unlock(&r->w->mu);
}

static void grec_settle(gpointer data, gpointer user)
{
    struct grec *r = data;
    (void)user;
    g_mutex_lock(&r->w->mu);
    r->done = 1;
    g_cond_signal(&r->w->cv);
    g_mutex_unlock(&r->w->mu);
}

static void grec_wait(struct grec *r)
{
    g_mutex_lock(&r->w->mu);
    while (!r->done)
        g_cond_wait(&r->w->cv, &r->w->mu);
    g_mutex_unlock(&r->w->mu);
}

/* ---- empty jobs ----------------------------------------------------------- */

static void mutex_noop(void *arg)
{
    (void)arg;
}

static void glib_noop(gpointer data, gpointer user)
{
    (void)data;
    (void)user;
}

static void uv_noop(uv_work_t *req)
{
    (void)req;
}

static void weft_noop(weft_job_t *job, void *arg)
{
    (void)job;
    (void)arg;
}

/* ---- (a), (b): bursts of empty jobs -------------------------------------- */

/* One submitter's share; only the fields of its contender are used. */
typedef struct {
    size_t count;
    bool futures;
    int err;
    char why[WHY_LEN];
    weft_pool_t *pool;
    weft_future_t **fs;
    uv_loop_t loop;
    size_t done;
    GThreadPool *gpool;
    struct grec **grecs;
    struct gwaiter gw;
    struct tpool *tp;
    struct prec **precs;
    struct pwaiter pw;
} part_t;

static void split(part_t *parts, unsigned n, uint64_t ops, bool futures)
{
    memset(parts, 0, n * sizeof *parts);
    for (unsigned i = 0; i < n; i++) {
        parts[i].count = ops / n + (i == n - 1 ? ops % n : 0);
        parts[i].futures = futures;
    }
}

/* weft: detached jobs with weft_pool_try_submit(out NULL); futures with
   weft_pool_submit, kept, then each waited (weft_future_wait) and
   unreferenced. */
static void *weft_part(void *p_)
{
    part_t *p = p_;
    if (!p->futures) {
        for (size_t i = 0; i < p->count; i++) {
            int rc = weft_pool_try_submit(p->pool, weft_noop, NULL, NULL);
            if (rc < 0) {
                p->err = fail(p->why, rc, "weft_pool_try_submit: %s", weft_strerror(rc));
                return NULL;
            }
        }
        return NULL;
    }
    size_t n = 0;
    for (; n < p->count; n++) {
        p->fs[n] = weft_pool_submit(p->pool, weft_noop, NULL);
        if (!p->fs[n]) {
            p->err = fail(p->why, -ENOMEM, "weft_pool_submit: out of memory");
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        weft_future_wait(p->fs[i], -1);
        int e = weft_future_error(p->fs[i]);
        if (e && !p->err)
            p->err = fail(p->why, e, "a job's future failed: %s", weft_strerror(e));
        weft_future_unref(p->fs[i]);
    }
    return NULL;
}

static int weft_burst(const scenario_t *s, uint64_t ops, sample_t *out, char *why)
{
    part_t parts[2];
    unsigned n = s->submitters;
    split(parts, n, ops, s->futures);
    weft_future_t **fs = s->futures ? scratch(ops * sizeof *fs) : NULL;
    weft_pool_t *pool = weft_pool_new(&(weft_pool_options_t){.threads = opt.threads});
    if (!pool)
        return fail(why, -errno, "weft_pool_new: %s", strerror(errno));
    size_t at = 0;
    for (unsigned i = 0; i < n; at += parts[i].count, i++) {
        parts[i].pool = pool;
        parts[i].fs = fs ? fs + at : NULL;
    }
    bench_meas_t m = {0};
    bench_run_threads(n, weft_part, parts, sizeof parts[0], &m);
    int rc = weft_pool_close(pool, -1);
    bench_meas_end(&m);
    weft_pool_stats_t st;
    weft_pool_stats(pool, &st);
    weft_pool_free(pool);
    for (unsigned i = 0; i < n; i++)
        if (parts[i].err)
            return fail(why, parts[i].err, "%s", parts[i].why);
    if (rc < 0)
        return fail(why, rc, "weft_pool_close: %s", weft_strerror(rc));
    if (st.completed != ops)
        return fail(why, -EIO, "stats: %llu of %llu jobs completed",
                    (unsigned long long)st.completed, (unsigned long long)ops);
    *out = (sample_t){.wall = m.wall, .cpu = m.cpu / (double)ops};
    return 0;
}

/* uv: uv_queue_work on the submitter's own loop, then uv_run until every
   request is done. As a libuv user must, each job gets a uv_work_t from
   malloc, freed in after_work (every contender allocates what its API
   needs per job inside the timed region). Futures: after_work also counts
   completions (libuv's natural completion hand-off, on the loop). */
static void uv_free_done(uv_work_t *req, int status)
{
    part_t *p = req->loop->data;
    if (status && !p->err)
        p->err = fail(p->why, status, "after_work status: %s", uv_strerror(status));
    p->done++;
    free(req);
}

static void *uv_part(void *p_)
{
    part_t *p = p_;
    for (size_t i = 0; i < p->count; i++) {
        uv_work_t *req = malloc(sizeof(*req));
        int rc = req ? uv_queue_work(&p->loop, req, uv_noop, uv_free_done) : -ENOMEM;
        if (rc < 0) {
            free(req);
            p->err = fail(p->why, rc, "uv_queue_work: %s", uv_strerror(rc));
            break;
        }
    }
    uv_run(&p->loop, UV_RUN_DEFAULT);
    if (p->futures && !p->err && p->done != p->count)
        p->err = fail(p->why, -EIO, "%zu of %zu completions", p->done, p->count);
    return NULL;
}

static int uv_burst(const scenario_t *s, uint64_t ops, sample_t *out, char *why)
{
    part_t parts[2];
    unsigned n = s->submitters;
    split(parts, n, ops, s->futures);
    for (unsigned i = 0; i < n; i++) {
        int rc = uv_loop_init(&parts[i].loop);
        if (rc < 0)
            return fail(why, rc, "uv_loop_init: %s", uv_strerror(rc));
        parts[i].loop.data = &parts[i];
    }
    bench_meas_t m = {0};
    bench_run_threads(n, uv_part, parts, sizeof parts[0], &m);
    bench_meas_end(&m);
    int err = 0;
    for (unsigned i = 0; i < n; i++) {
        if (parts[i].err && !err)
            err = fail(why, parts[i].err, "%s", parts[i].why);
        uv_loop_close(&parts[i].loop);
    }
    if (err)
        return err;
    *out = (sample_t){.wall = m.wall, .cpu = m.cpu / (double)ops};
    return 0;
}

/* GLib: g_thread_pool_push, then g_thread_pool_free(pool, FALSE, TRUE),
   which runs what is queued and waits for it. Futures: each job settles a
   record from malloc (flag + GMutex/GCond of its submitter) that the
   submitter waits for, in order, then frees. */
static void *glib_part(void *p_)
{
    part_t *p = p_;
    static struct grec dummy; /* GLib refuses NULL data */
    for (size_t i = 0; i < p->count; i++) {
        GError *gerr = NULL;
        gpointer data = &dummy;
        if (p->futures) {
            p->grecs[i] = calloc(1, sizeof(struct grec));
            p->grecs[i]->w = &p->gw;
            data = p->grecs[i];
        }
        if (!g_thread_pool_push(p->gpool, data, &gerr)) {
            p->err =
                fail(p->why, -EAGAIN, "g_thread_pool_push: %s", gerr ? gerr->message : "failed");
            g_clear_error(&gerr);
            p->count = i;
            break;
        }
    }
    if (p->futures)
        for (size_t i = 0; i < p->count; i++) {
            grec_wait(p->grecs[i]);
            free(p->grecs[i]);
        }
    return NULL;
}

static int glib_burst(const scenario_t *s, uint64_t ops, sample_t *out, char *why)
{
    part_t parts[2];
    unsigned n = s->submitters;
    split(parts, n, ops, s->futures);
    struct grec **recs = s->futures ? scratch(ops * sizeof *recs) : NULL;
    GError *gerr = NULL;
    GThreadPool *pool = g_thread_pool_new(s->futures ? grec_settle : glib_noop, NULL,
                                          (gint)opt.threads, FALSE, &gerr);
    if (!pool) {
        int e = fail(why, -EAGAIN, "g_thread_pool_new: %s", gerr ? gerr->message : "failed");
        g_clear_error(&gerr);
        return e;
    }
    size_t at = 0;
    for (unsigned i = 0; i < n; at += parts[i].count, i++) {
        parts[i].gpool = pool;
        parts[i].grecs = recs ? recs + at : NULL;
        g_mutex_init(&parts[i].gw.mu);
        g_cond_init(&parts[i].gw.cv);
    }
    bench_meas_t m = {0};
    bench_run_threads(n, glib_part, parts, sizeof parts[0], &m);
    g_thread_pool_free(pool, FALSE, TRUE);
    bench_meas_end(&m);
    int err = 0;
    for (unsigned i = 0; i < n; i++) {
        if (parts[i].err && !err)
            err = fail(why, parts[i].err, "%s", parts[i].why);
        g_mutex_clear(&parts[i].gw.mu);
        g_cond_clear(&parts[i].gw.cv);
    }
    if (err)
        return err;
    *out = (sample_t){.wall = m.wall, .cpu = m.cpu / (double)ops};
    return 0;
}

/* The textbook pool: tp_push (malloc a task, lock, append, signal), then
   tp_close (drain, join). Futures: records as for GLib, with pthreads. */
static void *mutex_part(void *p_)
{
    part_t *p = p_;
    for (size_t i = 0; i < p->count; i++) {
        int rc;
        if (p->futures) {
            p->precs[i] = calloc(1, sizeof(struct prec));
            p->precs[i]->w = &p->pw;
            rc = tp_push(p->tp, prec_settle, p->precs[i]);
        } else {
            rc = tp_push(p->tp, mutex_noop, NULL);
        }
        if (rc < 0) {
            p->err = fail(p->why, rc, "tp_push: %s", strerror(-rc));
            p->count = i;
            break;
        }
    }
    if (p->futures)
        for (size_t i = 0; i < p->count; i++) {
            prec_wait(p->precs[i]);
            free(p->precs[i]);
        }
    return NULL;
}

static int mutex_burst(const scenario_t *s, uint64_t ops, sample_t *out, char *why)
{
    part_t parts[2];
    unsigned n = s->submitters;
    split(parts, n, ops, s->futures);
    struct prec **recs = s->futures ? scratch(ops * sizeof *recs) : NULL;
    struct tpool *tp = tp_new(opt.threads);
    if (!tp)
        return fail(why, -ENOMEM, "tp_new: out of memory");
    size_t at = 0;
    for (unsigned i = 0; i < n; at += parts[i].count, i++) {
        parts[i].tp = tp;
        parts[i].precs = recs ? recs + at : NULL;
        pthread_mutex_init(&parts[i].pw.mu, NULL);
        pthread_cond_init(&parts[i].pw.cv, NULL);
    }
    bench_meas_t m = {0};
    bench_run_threads(n, mutex_part, parts, sizeof parts[0], &m);
    tp_close(tp);
    bench_meas_end(&m);
    int err = 0;
    for (unsigned i = 0; i < n; i++) {
        if (parts[i].err && !err)
            err = fail(why, parts[i].err, "%s", parts[i].why);
        pthread_mutex_destroy(&parts[i].pw.mu);
        pthread_cond_destroy(&parts[i].pw.cv);
    }
    if (err)
        return err;
    *out = (sample_t){.wall = m.wall, .cpu = m.cpu / (double)ops};
    return 0;
}

/* ---- (c): parallel loops --------------------------------------------------
   Both sides call the same out-of-line bodies through function pointers
   (weft through its own; the hand split through volatile ones the compiler
   cannot see through). The index body adds i into the calling thread's
   slot (one cache line each, no atomics); the range body adds item(i) for
   each index of its range, item being another out-of-line call. The slots
   are summed and checked against n(n-1)/2 after each run. */

struct for_slot {
    uint64_t sum;
    char pad[64 - sizeof(uint64_t)];
};

struct for_ctx {
    struct for_slot *slots;
    unsigned nslots;
    _Atomic uint64_t overflow; /* threads beyond nslots (not expected) */
};

static atomic_uint slot_gen, slot_next;
static __thread unsigned tl_slot_gen, tl_slot;

static inline void add_sum(struct for_ctx *c, uint64_t v)
{
    unsigned gen = atomic_load_explicit(&slot_gen, memory_order_relaxed);
    if (tl_slot_gen != gen) {
        tl_slot_gen = gen;
        tl_slot = atomic_fetch_add(&slot_next, 1);
    }
    if (tl_slot < c->nslots)
        c->slots[tl_slot].sum += v;
    else
        atomic_fetch_add(&c->overflow, v);
}

__attribute__((noinline)) static uint64_t item(size_t i)
{
    return i;
}

__attribute__((noinline)) static int index_body(size_t i, void *arg)
{
    add_sum(arg, i);
    return 0;
}

static uint64_t (*volatile item_fn)(size_t) = item;

__attribute__((noinline)) static int range_body(size_t begin, size_t end, void *arg)
{
    uint64_t (*f)(size_t) = item_fn;
    uint64_t s = 0;
    for (size_t i = begin; i < end; i++)
        s += f(i);
    add_sum(arg, s);
    return 0;
}

static int (*volatile index_fn)(size_t, void *) = index_body;
static int (*volatile range_fn)(size_t, size_t, void *) = range_body;

static struct for_ctx *for_ctx_reset(void)
{
    static struct for_ctx ctx;
    ctx.nslots = opt.threads + 8;
    ctx.slots = scratch(ctx.nslots * sizeof *ctx.slots);
    atomic_store(&ctx.overflow, 0);
    atomic_store(&slot_next, 0);
    atomic_fetch_add(&slot_gen, 1); /* every thread takes a fresh slot */
    return &ctx;
}

static int for_check(struct for_ctx *c, uint64_t n, char *why)
{
    uint64_t sum = atomic_load(&c->overflow);
    for (unsigned i = 0; i < c->nslots; i++)
        sum += c->slots[i].sum;
    uint64_t want = n ? n * (n - 1) / 2 : 0;
    if (sum != want)
        return fail(why, -EIO, "wrong sum %llu, want %llu", (unsigned long long)sum,
                    (unsigned long long)want);
    return 0;
}

static int weft_for(const scenario_t *s, uint64_t n, sample_t *out, char *why)
{
    weft_pool_t *pool = weft_pool_new(&(weft_pool_options_t){.threads = opt.threads});
    if (!pool)
        return fail(why, -errno, "weft_pool_new: %s", strerror(errno));
    struct for_ctx *c = for_ctx_reset();
    bench_meas_t m = {0};
    int rc;
    bench_meas_begin(&m);
    if (s->kind == K_FOR_RANGE)
        rc = weft_pool_for_range(pool, n, 0, range_body, c);
    else
        rc = weft_pool_for(pool, n, index_body, c);
    bench_meas_end(&m);
    weft_pool_free(pool);
    if (rc < 0)
        return fail(why, rc, "%s: %s",
                    s->kind == K_FOR_RANGE ? "weft_pool_for_range" : "weft_pool_for",
                    weft_strerror(rc));
    if ((rc = for_check(c, n, why)) < 0)
        return rc;
    *out = (sample_t){.wall = m.wall, .cpu = m.cpu / (double)n};
    return 0;
}

struct hand_part {
    size_t begin, end;
    bool range;
    struct for_ctx *ctx;
};

static void *hand_slice(void *p_)
{
    struct hand_part *p = p_;
    if (p->range) {
        range_fn(p->begin, p->end, p->ctx);
        return NULL;
    }
    int (*f)(size_t, void *) = index_fn;
    for (size_t i = p->begin; i < p->end; i++)
        f(i, p->ctx);
    return NULL;
}

static int hand_for(const scenario_t *s, uint64_t n, sample_t *out, char *why)
{
    unsigned t = opt.threads;
    struct hand_part *parts = calloc(t, sizeof *parts);
    pthread_t *th = calloc(t, sizeof *th);
    if (!parts || !th) {
        free(parts);
        free(th);
        return fail(why, -ENOMEM, "out of memory");
    }
    struct for_ctx *c = for_ctx_reset();
    for (unsigned i = 0; i < t; i++)
        parts[i] = (struct hand_part){
            .begin = n * i / t, .end = n * (i + 1) / t, .range = s->kind == K_FOR_RANGE, .ctx = c};
    bench_meas_t m = {0};
    int err = 0;
    bench_meas_begin(&m);
    unsigned started = 1;
    for (; started < t; started++)
        if (pthread_create(&th[started], NULL, hand_slice, &parts[started]) != 0)
            break;
    hand_slice(&parts[0]);
    for (unsigned i = 1; i < started; i++)
        pthread_join(th[i], NULL);
    bench_meas_end(&m);
    if (started < t)
        err = fail(why, -EAGAIN, "pthread_create failed");
    free(parts);
    free(th);
    if (err || (err = for_check(c, n, why)) < 0)
        return err;
    *out = (sample_t){.wall = m.wall, .cpu = m.cpu / (double)n};
    return 0;
}

/* ---- (d): submit-then-wait round trips ----------------------------------- */

static int finish_latency(double *lat, uint64_t n, const bench_meas_t *m, sample_t *out)
{
    bench_sort(lat, n);
    *out = (sample_t){.wall = m->wall,
                      .cpu = m->cpu / (double)n,
                      .p50 = bench_percentile_sorted(lat, n, 50),
                      .p99 = bench_percentile_sorted(lat, n, 99)};
    return 0;
}

/* weft: weft_pool_submit, weft_future_wait(-1), unref. */
static int weft_rt(const scenario_t *s, uint64_t iters, sample_t *out, char *why)
{
    (void)s;
    double *lat = scratch(iters * sizeof *lat);
    weft_pool_t *pool = weft_pool_new(&(weft_pool_options_t){.threads = opt.threads});
    if (!pool)
        return fail(why, -errno, "weft_pool_new: %s", strerror(errno));
    bench_meas_t m = {0};
    int err = 0;
    for (uint64_t i = 0; i < opt.warmup + iters && !err; i++) {
        if (i == opt.warmup)
            bench_meas_begin(&m);
        uint64_t t0 = bench_now_ns();
        weft_future_t *f = weft_pool_submit(pool, weft_noop, NULL);
        if (!f) {
            err = fail(why, -ENOMEM, "weft_pool_submit: out of memory");
            break;
        }
        weft_future_wait(f, -1);
        uint64_t t1 = bench_now_ns();
        int e = weft_future_error(f);
        weft_future_unref(f);
        if (e)
            err = fail(why, e, "a job's future failed: %s", weft_strerror(e));
        if (i >= opt.warmup)
            lat[i - opt.warmup] = (double)(t1 - t0) / 1e9;
    }
    bench_meas_end(&m);
    weft_pool_free(pool);
    return err ? err : finish_latency(lat, iters, &m, out);
}

/* uv: uv_queue_work from the loop's thread, after_work notes completion,
   uv_run(UV_RUN_DEFAULT) returns once it has run: one round trip. */
static void uv_rt_done(uv_work_t *req, int status)
{
    *(int *)req->loop->data = status ? status : 1;
}

static int uv_rt(const scenario_t *s, uint64_t iters, sample_t *out, char *why)
{
    (void)s;
    double *lat = scratch(iters * sizeof *lat);
    uv_loop_t loop;
    uv_work_t req;
    int done = 0, rc = uv_loop_init(&loop);
    if (rc < 0)
        return fail(why, rc, "uv_loop_init: %s", uv_strerror(rc));
    loop.data = &done;
    bench_meas_t m = {0};
    int err = 0;
    for (uint64_t i = 0; i < opt.warmup + iters; i++) {
        if (i == opt.warmup)
            bench_meas_begin(&m);
        done = 0;
        uint64_t t0 = bench_now_ns();
        rc = uv_queue_work(&loop, &req, uv_noop, uv_rt_done);
        if (rc == 0)
            uv_run(&loop, UV_RUN_DEFAULT);
        uint64_t t1 = bench_now_ns();
        if (rc < 0 || done != 1) {
            err =
                fail(why, rc < 0 ? rc : -EIO, "uv_queue_work: %s", uv_strerror(rc < 0 ? rc : done));
            break;
        }
        if (i >= opt.warmup)
            lat[i - opt.warmup] = (double)(t1 - t0) / 1e9;
    }
    bench_meas_end(&m);
    uv_loop_close(&loop);
    return err ? err : finish_latency(lat, iters, &m, out);
}

/* GLib: g_thread_pool_push, the job pushes its data onto a GAsyncQueue,
   the submitter pops it (GLib's own blocking hand-back). */
static void glib_reply(gpointer data, gpointer user)
{
    g_async_queue_push(user, data);
}

static int glib_rt(const scenario_t *s, uint64_t iters, sample_t *out, char *why)
{
    (void)s;
    double *lat = scratch(iters * sizeof *lat);
    GAsyncQueue *reply = g_async_queue_new();
    GError *gerr = NULL;
    GThreadPool *pool = g_thread_pool_new(glib_reply, reply, (gint)opt.threads, FALSE, &gerr);
    if (!pool) {
        int e = fail(why, -EAGAIN, "g_thread_pool_new: %s", gerr ? gerr->message : "failed");
        g_clear_error(&gerr);
        g_async_queue_unref(reply);
        return e;
    }
    static int token;
    bench_meas_t m = {0};
    int err = 0;
    for (uint64_t i = 0; i < opt.warmup + iters; i++) {
        if (i == opt.warmup)
            bench_meas_begin(&m);
        uint64_t t0 = bench_now_ns();
        if (!g_thread_pool_push(pool, &token, &gerr)) {
            err = fail(why, -EAGAIN, "g_thread_pool_push: %s", gerr ? gerr->message : "failed");
            g_clear_error(&gerr);
            break;
        }
        g_async_queue_pop(reply);
        uint64_t t1 = bench_now_ns();
        if (i >= opt.warmup)
            lat[i - opt.warmup] = (double)(t1 - t0) / 1e9;
    }
    bench_meas_end(&m);
    g_thread_pool_free(pool, FALSE, TRUE);
    g_async_queue_unref(reply);
    return err ? err : finish_latency(lat, iters, &m, out);
}

/* The textbook pool: tp_push, then wait for the record's flag. */
static int mutex_rt(const scenario_t *s, uint64_t iters, sample_t *out, char *why)
{
    (void)s;
    double *lat = scratch(iters * sizeof *lat);
    struct tpool *tp = tp_new(opt.threads);
    if (!tp)
        return fail(why, -ENOMEM, "tp_new: out of memory");
    struct pwaiter w;
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    struct prec r = {.w = &w};
    bench_meas_t m = {0};
    int err = 0;
    for (uint64_t i = 0; i < opt.warmup + iters; i++) {
        if (i == opt.warmup)
            bench_meas_begin(&m);
        r.done = 0; /* the previous job is over: nobody else touches r */
        uint64_t t0 = bench_now_ns();
        int rc = tp_push(tp, prec_settle, &r);
        if (rc < 0) {
            err = fail(why, rc, "tp_push: %s", strerror(-rc));
            break;
        }
        prec_wait(&r);
        uint64_t t1 = bench_now_ns();
        if (i >= opt.warmup)
            lat[i - opt.warmup] = (double)(t1 - t0) / 1e9;
    }
    bench_meas_end(&m);
    tp_close(tp);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    return err ? err : finish_latency(lat, iters, &m, out);
}

/* ---- the driver ---------------------------------------------------------- */

static const run_fn burst_fns[C_COUNT] = {weft_burst, uv_burst, glib_burst, mutex_burst, NULL};
static const run_fn for_fns[C_COUNT] = {weft_for, NULL, NULL, NULL, hand_for};
static const run_fn rt_fns[C_COUNT] = {weft_rt, uv_rt, glib_rt, mutex_rt, NULL};

static run_fn fn_for(const scenario_t *s, int c)
{
    switch (s->kind) {
    case K_BURST:
        return burst_fns[c];
    case K_FOR:
    case K_FOR_RANGE:
        return for_fns[c];
    case K_ROUNDTRIP:
        return rt_fns[c];
    }
    return NULL;
}

static void describe(const sample_t *x, const scenario_t *s, char *buf, size_t len)
{
    char a[32], b[32];
    if (s->kind == K_ROUNDTRIP)
        snprintf(buf, len, "p50 %s p99 %s", bench_fmt_time(x->p50, a, sizeof a),
                 bench_fmt_time(x->p99, b, sizeof b));
    else
        snprintf(buf, len, "%s", bench_fmt_time(x->wall, a, sizeof a));
}

static void run_scenario(scenario_t *s)
{
    int list[C_COUNT], n = 0;
    for (int c = 0; c < C_COUNT; c++)
        if (s->contenders & opt.only & C_BIT(c))
            list[n++] = c;
    if (n == 0)
        return;

    /* Warm-up, not recorded: starts libuv's pool, GLib's shared threads,
       and faults the scratch area in. Round trips warm up inside. */
    if (s->kind != K_ROUNDTRIP) {
        uint64_t small = s->ops / 20 > 1000 ? s->ops / 20 : 1000;
        if (small > s->ops)
            small = s->ops;
        for (int k = 0; k < n; k++) {
            sample_t x;
            result_t *r = &s->res[list[k]];
            if (fn_for(s, list[k])(s, small, &x, r->why) < 0)
                r->na = true;
        }
    }
    for (unsigned round = 0; round < opt.rounds; round++) {
        char line[512];
        int at = snprintf(line, sizeof line, "%s round %u/%u:", s->label, round + 1, opt.rounds);
        for (int k = 0; k < n; k++) {
            int c = list[(round + (unsigned)k) % (unsigned)n];
            result_t *r = &s->res[c];
            if (r->na)
                continue;
            sample_t x;
            if (fn_for(s, c)(s, s->ops, &x, r->why) < 0) {
                r->na = true;
                at += snprintf(line + at, sizeof line - (size_t)at, " %s n/a;", c_key[c]);
                continue;
            }
            r->s[r->n++] = x;
            char d[64];
            describe(&x, s, d, sizeof d);
            at += snprintf(line + at, sizeof line - (size_t)at, " %s %s;", c_key[c], d);
            if (at >= (int)sizeof line)
                at = (int)sizeof line - 1;
        }
        fprintf(stderr, "%s\n", line);
    }
}

/* ---- the report ----------------------------------------------------------- */

typedef struct {
    bool ok;
    double wall, wall_min, wall_max, cpu, p50, p99;
} summary_t;

static double median_of(const result_t *r, size_t offset, double *lo, double *hi)
{
    double v[MAX_ROUNDS];
    for (unsigned i = 0; i < r->n; i++)
        memcpy(&v[i], (const char *)&r->s[i] + offset, sizeof v[i]);
    if (lo)
        *lo = bench_min(v, r->n);
    if (hi)
        *hi = bench_max(v, r->n);
    return bench_median(v, r->n);
}

static summary_t summarize(const result_t *r)
{
    summary_t m = {0};
    if (r->na || r->n == 0)
        return m;
    m.ok = true;
    m.wall = median_of(r, offsetof(sample_t, wall), &m.wall_min, &m.wall_max);
    m.cpu = median_of(r, offsetof(sample_t, cpu), NULL, NULL);
    m.p50 = median_of(r, offsetof(sample_t, p50), NULL, NULL);
    m.p99 = median_of(r, offsetof(sample_t, p99), NULL, NULL);
    return m;
}

static const char *ratio(double peer, double weft, bool weft_ok, char *buf, size_t len)
{
    if (!weft_ok || weft <= 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.2fx", peer / weft);
    return buf;
}

/* Notes under a table: why a contender shows n/a, each reason once. */
static void add_note(char *notes, size_t len, const char *who, const char *why)
{
    char line[WHY_LEN + 64];
    snprintf(line, sizeof line, "  n/a: %s: %s\n", who, why);
    if (!strstr(notes, line))
        snprintf(notes + strlen(notes), len - strlen(notes), "%s", line);
}

static void add_rows(bench_table_t *tput, bench_table_t *lat, const scenario_t *s, char *notes,
                     size_t len)
{
    summary_t w = summarize(&s->res[C_WEFT]);
    bool first = true;
    for (int c = 0; c < C_COUNT; c++) {
        if (!(s->contenders & opt.only & C_BIT(c)))
            continue;
        const result_t *r = &s->res[c];
        summary_t m = summarize(r);
        const char *label = first ? s->label : "";
        first = false;
        char b[6][48];
        if (!m.ok) {
            add_note(notes, len, c_name[c], r->na ? r->why : "not run");
            bench_table_rowv(s->kind == K_ROUNDTRIP ? lat : tput, label, c_name[c], "n/a", "", "",
                             "", "");
            continue;
        }
        if (s->kind == K_ROUNDTRIP) {
            bench_table_rowv(lat, label, c_name[c], bench_fmt_time(m.p50, b[0], 48),
                             bench_fmt_time(m.p99, b[1], 48), bench_fmt_time(m.cpu, b[2], 48),
                             ratio(m.p50, w.p50, w.ok, b[3], 48),
                             ratio(m.p99, w.p99, w.ok, b[4], 48));
        } else {
            char range[100], lo[32], hi[32];
            snprintf(range, sizeof range, "%s..%s", bench_fmt_time(m.wall_min, lo, sizeof lo),
                     bench_fmt_time(m.wall_max, hi, sizeof hi));
            bench_table_rowv(tput, label, c_name[c], bench_fmt_time(m.wall, b[0], 48), range,
                             bench_fmt_rate((double)s->ops / m.wall, b[1], 48),
                             bench_fmt_time(m.cpu, b[2], 48),
                             ratio(m.wall, w.wall, w.ok, b[3], 48));
        }
    }
}

/* One line per target: the figures and "met", "MISSED" or "n/a". */
static void print_targets(FILE *out, scenario_t *sc, size_t nsc)
{
    fprintf(out, "\nTargets (peer/weft is peer time over weft time: above 1, weft is faster)\n");
    for (size_t i = 0; i < nsc; i++) {
        scenario_t *s = &sc[i];
        summary_t w = summarize(&s->res[C_WEFT]);
        char line[256];
        const char *verdict = "n/a";
        if (s->kind == K_BURST) {
            summary_t u = summarize(&s->res[C_UV]), g = summarize(&s->res[C_GLIB]);
            char ru[16] = "n/a", rg[16] = "n/a";
            if (w.ok && u.ok)
                snprintf(ru, sizeof ru, "%.2fx", u.wall / w.wall);
            if (w.ok && g.ok)
                snprintf(rg, sizeof rg, "%.2fx", g.wall / w.wall);
            if (w.ok && u.ok && g.ok)
                verdict = u.wall >= 3 * w.wall && g.wall >= 3 * w.wall ? "met" : "MISSED";
            snprintf(line, sizeof line,
                     "weft >= 3x faster than uv_queue_work (%s) and GThreadPool (%s)", ru, rg);
        } else if (s->kind == K_FOR || s->kind == K_FOR_RANGE) {
            summary_t h = summarize(&s->res[C_HAND]);
            char r[16] = "n/a";
            if (w.ok && h.ok) {
                snprintf(r, sizeof r, "%.2fx", w.wall / h.wall);
                verdict = w.wall <= 1.5 * h.wall ? "met" : "MISSED";
            }
            snprintf(line, sizeof line, "weft within 1.5x of the hand split (weft/hand %s)", r);
        } else {
            summary_t u = summarize(&s->res[C_UV]);
            char r[16] = "n/a";
            if (w.ok && u.ok) {
                snprintf(r, sizeof r, "%.2fx", w.p50 / u.p50);
                verdict = w.p50 <= 0.5 * u.p50 ? "met" : "MISSED";
            }
            snprintf(line, sizeof line, "weft p50 <= 1/2 of uv_queue_work's (weft/uv %s)", r);
        }
        fprintf(out, "- %s: %s: %s\n", s->label, line, verdict);
    }
}

static void report(scenario_t *sc, size_t nsc)
{
    char t[64];
    snprintf(t, sizeof t, "Throughput (T = %u threads, median of %u rounds)", opt.threads,
             opt.rounds);
    bench_table_t *tput =
        bench_table_new(t, "llrrrrr",
                        (const char *const[]){"scenario", "contender", "wall", "min..max", "jobs/s",
                                              "CPU/job", "peer/weft"});
    snprintf(t, sizeof t, "Round trip (T = %u threads, median of %u rounds)", opt.threads,
             opt.rounds);
    bench_table_t *lat =
        bench_table_new(t, "llrrrrr",
                        (const char *const[]){"scenario", "contender", "p50", "p99",
                                              "CPU/round trip", "p50 peer/weft", "p99 peer/weft"});
    size_t ntput = 0, nlat = 0;
    static char tnotes[4096], lnotes[4096];
    for (size_t i = 0; i < nsc; i++) {
        bool rt = sc[i].kind == K_ROUNDTRIP;
        if (rt)
            nlat++;
        else if (ntput++)
            bench_table_gap(tput);
        add_rows(tput, lat, &sc[i], rt ? lnotes : tnotes, sizeof tnotes);
    }
    printf("\n");
    if (ntput) {
        bench_table_print_text(tput, stdout);
        printf("(c): jobs/s counts indexes, CPU/job is per index.\n%s\n", tnotes);
    }
    if (nlat) {
        bench_table_print_text(lat, stdout);
        printf("%s\n", lnotes);
    }
    print_targets(stdout, sc, nsc);
    printf("\n---- markdown ----\n\n");
    if (ntput) {
        bench_table_print_markdown(tput, stdout);
        printf("\n(c): jobs/s counts indexes, CPU/job is per index.\n\n");
    }
    if (nlat) {
        bench_table_print_markdown(lat, stdout);
        printf("\n");
    }
    print_targets(stdout, sc, nsc);
    bench_table_free(tput);
    bench_table_free(lat);
}

/* ---- main ----------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bench-pool [--rounds N] [--jobs N] [--threads N] [--quick]\n"
            "                  [--indexes N] [--iterations N] [--only LIST] [--scenarios LIST]\n"
            "  --rounds N       interleaved rounds; medians are quoted (default 5)\n"
            "  --jobs N         jobs in (a) and (b) (default 1M; k/M suffixes)\n"
            "  --threads N      threads of every pool (default: CPUs this process may use)\n"
            "  --quick          small counts, a smoke test of a few seconds\n"
            "  --indexes N      indexes in (c) (default 10M)\n"
            "  --iterations N   round trips in (d) after warm-up (default 20k)\n"
            "  --only LIST      contenders: weft,uv,glib,mutex,hand or peers (all but weft)\n"
            "  --scenarios LIST letters among a,b,c,d (default abcd)\n");
}

static unsigned parse_only(const char *s)
{
    unsigned mask = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "peers") == 0) {
            mask |= C_PEERS;
            continue;
        }
        if (strcmp(tok, "all") == 0) {
            mask |= C_ALL;
            continue;
        }
        int c = 0;
        while (c < C_COUNT && strcmp(tok, c_key[c]) != 0)
            c++;
        if (c == C_COUNT)
            return 0;
        mask |= C_BIT(c);
    }
    return mask;
}

static void parse_args(int argc, char **argv)
{
    enum { O_ROUNDS = 256, O_JOBS, O_THREADS, O_QUICK, O_INDEXES, O_ITER, O_ONLY, O_SCEN };
    static const struct option longopts[] = {
        {"rounds", required_argument, NULL, O_ROUNDS},
        {"jobs", required_argument, NULL, O_JOBS},
        {"threads", required_argument, NULL, O_THREADS},
        {"quick", no_argument, NULL, O_QUICK},
        {"indexes", required_argument, NULL, O_INDEXES},
        {"iterations", required_argument, NULL, O_ITER},
        {"only", required_argument, NULL, O_ONLY},
        {"scenarios", required_argument, NULL, O_SCEN},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t rounds = 0, jobs = 0, threads = 0, indexes = 0, iters = 0, v;
    bool quick = false;
    opt.only = C_ALL;
    snprintf(opt.scenarios, sizeof opt.scenarios, "abcd");
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        uint64_t *dst = NULL;
        switch (ch) {
        case O_ROUNDS:
            dst = &rounds;
            break;
        case O_JOBS:
            dst = &jobs;
            break;
        case O_THREADS:
            dst = &threads;
            break;
        case O_INDEXES:
            dst = &indexes;
            break;
        case O_ITER:
            dst = &iters;
            break;
        case O_QUICK:
            quick = true;
            break;
        case O_ONLY:
            if (!(opt.only = parse_only(optarg))) {
                fprintf(stderr, "bench-pool: bad --only '%s'\n", optarg);
                exit(2);
            }
            break;
        case O_SCEN:
            snprintf(opt.scenarios, sizeof opt.scenarios, "%s", optarg);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
        if (dst && (bench_parse_count(optarg, &v) < 0 || v == 0)) {
            fprintf(stderr, "bench-pool: bad number '%s'\n", optarg);
            exit(2);
        }
        if (dst)
            *dst = v;
    }
    if (optind < argc) {
        usage(stderr);
        exit(2);
    }
    opt.rounds = quick ? 3 : 5;
    opt.jobs = quick ? 100000 : 1000000;
    opt.indexes = quick ? 1000000 : 10000000;
    opt.iterations = quick ? 2000 : 20000;
    opt.warmup = quick ? 200 : 1000;
    opt.threads = bench_cpus();
    if (rounds)
        opt.rounds = rounds > MAX_ROUNDS ? MAX_ROUNDS : (unsigned)rounds;
    if (jobs)
        opt.jobs = jobs < 2 ? 2 : jobs;
    if (threads)
        opt.threads = threads > 1024 ? 1024 : (unsigned)threads;
    if (indexes)
        opt.indexes = indexes;
    if (iters)
        opt.iterations = iters;
}

static bool wanted(char letter)
{
    return strchr(opt.scenarios, letter) != NULL;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);

    /* Before any libuv call: libuv reads it when its pool first starts. */
    char n[16];
    snprintf(n, sizeof n, "%u", opt.threads);
    setenv("UV_THREADPOOL_SIZE", n, 1);

    char jobs[32], idx[32], it[32];
    bench_print_machine(stdout, "bench-pool");
    printf("versions: weft %s, libuv %s, GLib %u.%u.%u\n", weft_version_string(),
           uv_version_string(), glib_major_version, glib_minor_version, glib_micro_version);
    printf("settings: T = %u threads for every pool (UV_THREADPOOL_SIZE=%u), %u rounds, "
           "%s jobs, %s indexes, %s round trips; scheduler free (no pinning)\n",
           opt.threads, opt.threads, opt.rounds, bench_fmt_count(opt.jobs, jobs, sizeof jobs),
           bench_fmt_count(opt.indexes, idx, sizeof idx),
           bench_fmt_count(opt.iterations, it, sizeof it));
    fflush(stdout);

    static scenario_t sc[8];
    size_t nsc = 0;
    if (wanted('a') || wanted('b'))
        for (unsigned subs = 1; subs <= 2; subs++) {
            if (!wanted(subs == 1 ? 'a' : 'b'))
                continue;
            for (int fut = 0; fut <= 1; fut++) {
                scenario_t *s = &sc[nsc++];
                s->letter = subs == 1 ? 'a' : 'b';
                s->kind = K_BURST;
                s->ops = opt.jobs;
                s->submitters = subs;
                s->futures = fut;
                s->contenders = C_BURST;
                snprintf(s->label, sizeof s->label, "(%c) %u submitter%s, %s", s->letter, subs,
                         subs > 1 ? "s" : "", fut ? "futures" : "detached");
            }
        }
    if (wanted('c'))
        for (int range = 0; range <= 1; range++) {
            scenario_t *s = &sc[nsc++];
            s->letter = 'c';
            s->kind = range ? K_FOR_RANGE : K_FOR;
            s->ops = opt.indexes;
            s->contenders = C_FORLOOP;
            snprintf(s->label, sizeof s->label, "(c) %s", range ? "for_range" : "for");
        }
    if (wanted('d')) {
        scenario_t *s = &sc[nsc++];
        s->letter = 'd';
        s->kind = K_ROUNDTRIP;
        s->ops = opt.iterations;
        s->contenders = C_BURST;
        snprintf(s->label, sizeof s->label, "(d) submit+wait");
    }
    for (size_t i = 0; i < nsc; i++)
        run_scenario(&sc[i]);
    report(sc, nsc);
    return 0;
}
