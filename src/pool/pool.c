/*
 * pool.c - the pool's life: new, close, free, stats.
 *
 * The pool structure is reference counted: the user's handle holds one
 * reference, and so does every live thread (workers and the supervisor).
 * close joins the threads it can and abandons (detaches) the ones stuck in
 * a job; those keep the structure alive until they return, then drop the
 * last reference.
 *
 * Stats without a lock on the hot path: a job is counted submitted (under
 * qlock), then started (its worker's slot), then ended (its slot, or a
 * pool-wide counter when someone else ended it), each before the next can
 * happen. A snapshot reads the end counters first, then the starts, then
 * the submissions, so every job it counts as ended it also counts as
 * started and submitted: queued and running derived from them are never
 * negative, and the contract's identity (submitted = completed + failed +
 * cancelled + timed_out + queued + running) holds by construction.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pool/pool-int.h"
#include "sync/thread.h"

#define CLOSE_GRACE_MS            100
#define DEFAULT_RESTART_MAX       100
#define DEFAULT_RESTART_PERIOD_MS 1000
#define DEFAULT_BACKOFF_MAX_MS    1000

static unsigned cpus_available(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

static void destroy(struct weft_pool *p)
{
    WEFT_ASSERT(p->n_deadlines == 0 && atomic_load(&p->ring_len) == 0);
    weft__free(p->ring);
    pthread_mutex_destroy(&p->ctl);
    pthread_mutex_destroy(&p->close_mu);
    pthread_cond_destroy(&p->ctl_cond);
    pthread_cond_destroy(&p->idle_cond);
    weft__free(p->deadlines);
    weft__free(p->restart_times);
    weft__free(p->slots);
    weft__free(p);
}

void weft__pool_unref(struct weft_pool *p)
{
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        destroy(p);
}

/* Copies the options in, with defaults. Returns 0 or -EINVAL. */
static int configure(struct weft_pool *p, const weft_pool_options_t *o)
{
    if (o->restart_period_ms < 0 || o->restart_backoff_max_ms < 0)
        return -EINVAL;
    p->threads = o->threads ? o->threads : cpus_available();
    p->capacity = o->queue_capacity;
    p->job_deadline_ms = o->job_deadline_ms > 0 ? o->job_deadline_ms : 0;
    p->max_abandoned = o->max_abandoned ? o->max_abandoned : p->threads;
    p->n_slots = p->threads + p->max_abandoned;
    p->restart_max = o->restart_max ? o->restart_max : DEFAULT_RESTART_MAX;
    int64_t period = o->restart_period_ms ? o->restart_period_ms : DEFAULT_RESTART_PERIOD_MS;
    int64_t cap = o->restart_backoff_max_ms ? o->restart_backoff_max_ms : DEFAULT_BACKOFF_MAX_MS;
    p->restart_period_ns = period * WEFT_NS_PER_MS;
    p->backoff_max_ns = cap * WEFT_NS_PER_MS;
    p->backoff_ns =
        10 * WEFT_NS_PER_MS < p->backoff_max_ns ? 10 * WEFT_NS_PER_MS : p->backoff_max_ns;
    snprintf(p->name, sizeof(p->name), "%s", o->name ? o->name : "weft");
    return 0;
}

static int init_sync(struct weft_pool *p)
{
    int r;
    if ((r = weft__mutex_init(&p->ctl)) < 0)
        return r;
    if ((r = weft__mutex_init(&p->close_mu)) < 0)
        goto out_ctl;
    if ((r = weft__cond_init(&p->ctl_cond)) < 0)
        goto out_close_mu;
    if ((r = weft__cond_init(&p->idle_cond)) < 0)
        goto out_ctl_cond;
    return 0;
out_ctl_cond:
    pthread_cond_destroy(&p->ctl_cond);
out_close_mu:
    pthread_mutex_destroy(&p->close_mu);
out_ctl:
    pthread_mutex_destroy(&p->ctl);
    return r;
}

static int alloc_parts(struct weft_pool *p)
{
    p->slots = weft__calloc_aligned(WEFT__CACHELINE, p->n_slots * sizeof(*p->slots));
    p->restart_times = weft__malloc(p->restart_max * sizeof(*p->restart_times));
    if (!p->slots || !p->restart_times)
        return -ENOMEM;
    for (unsigned i = 0; i < p->n_slots; i++) {
        p->slots[i].pool = p;
        p->slots[i].index = i;
        p->slots[i].state = SLOT_FREE;
    }
    for (unsigned i = 0; i < p->restart_max; i++)
        p->restart_times[i] = INT64_MIN / 2; /* long ago */
    p->next_restart_ns = 0;
    return 0;
}

static void stop_threads(struct weft_pool *p);

/* Starts the supervisor and the workers. On failure stops what started. */
static int start_threads(struct weft_pool *p)
{
    int r = 0;
    /* Under ctl, so the supervisor sees every worker started, not a short
       pool to top up. */
    pthread_mutex_lock(&p->ctl);
    atomic_fetch_add(&p->refs, 1);
    if ((r = weft__thread_start(&p->supervisor, weft__supervisor_main, p, false)) < 0) {
        atomic_fetch_sub(&p->refs, 1);
        pthread_mutex_unlock(&p->ctl);
        return r;
    }
    for (unsigned i = 0; i < p->threads && r == 0; i++)
        r = weft__worker_start(&p->slots[i]);
    pthread_mutex_unlock(&p->ctl);
    if (r < 0)
        stop_threads(p);
    return r;
}

weft_pool_t *weft_pool_new(const weft_pool_options_t *opts)
{
    weft_pool_options_t defaults = {0};
    struct weft_pool *p = weft__calloc_aligned(WEFT__CACHELINE, sizeof(*p));
    if (!p)
        return NULL;
    atomic_init(&p->refs, 1);
    int r = configure(p, opts ? opts : &defaults);
    if (r == 0)
        r = init_sync(p);
    if (r < 0) {
        weft__free(p);
        errno = -r;
        return NULL;
    }
    if ((r = alloc_parts(p)) < 0 || (r = start_threads(p)) < 0) {
        destroy(p);
        errno = r == -ENOMEM ? ENOMEM : EAGAIN;
        return NULL;
    }
    return p;
}

/* ---- close -------------------------------------------------------------- */

static bool worker_busy(struct pool_worker *w)
{
    weft__lock(&w->cur_lock);
    bool busy = w->current != NULL;
    weft__unlock(&w->cur_lock);
    return busy;
}

/* Nothing queued anywhere and nothing running. Workers that end a job or
   skip an entry while closing broadcast idle_cond after the change. */
static bool idle(struct weft_pool *p)
{
    if (weft__pool_anything_queued(p))
        return false;
    for (unsigned i = 0; i < p->n_slots; i++)
        if (worker_busy(&p->slots[i]))
            return false;
    return true;
}

/* Waits until idle, or the deadline passes. The answer is the check that
   ended the wait, not a second one: a worker's busy mark flickers while it
   skips an entry that ended in the queue (idle, busy, idle), and a second
   look could see the flicker and call a drained pool timed out. */
static bool wait_idle(struct weft_pool *p, int64_t deadline_ns)
{
    pthread_mutex_lock(&p->ctl);
    bool done;
    while (!(done = idle(p)) && weft__cond_wait_until(&p->idle_cond, &p->ctl, deadline_ns) == 0)
        ;
    pthread_mutex_unlock(&p->ctl);
    return done;
}

/* Takes every entry out of the shared ring and the local rings: none of
   them will run. Returns how many. */
static size_t cancel_queued(struct weft_pool *p)
{
    size_t count = 0;
    struct weft__entry e;
    for (; weft__pool_pop_shared(p, &e); count++)
        weft__entry_cancelled(p, &e);
    struct weft__entry buf[WEFT__LOCAL_CAP];
    for (unsigned i = 0; i < p->n_slots; i++) {
        unsigned n = weft__local_drain(&p->slots[i], buf);
        for (unsigned k = 0; k < n; k++)
            weft__entry_cancelled(p, &buf[k]);
        count += n;
    }
    return count;
}

size_t weft_pool_cancel_queued(weft_pool_t *p)
{
    return p ? cancel_queued(p) : 0;
}

/* Under w's cur_lock: marks light jobs cancelled (or ends them, when
   `end`), and returns a reference to the first record in `phase` whose
   future is still pending, or NULL. */
static struct job_record *scan_running(struct pool_worker *w, bool end, bool *ended_light)
{
    struct job_record *found = NULL;
    weft__lock(&w->cur_lock);
    for (struct weft_job *job = w->current; job && !found; job = job->outer) {
        if (!job->rec) {
            atomic_store(&job->cancel_requested, true);
            if (end)
                *ended_light |= weft__light_end_by_other(job);
        } else if (end ? atomic_load(&job->rec->phase) == JOB_RUNNING
                       : weft_future_state(&job->rec->future) == WEFT_FUTURE_PENDING) {
            found = job->rec;
            weft_future_ref(&found->future);
        }
    }
    weft__unlock(&w->cur_lock);
    return found;
}

/* Settles every running job's future with -ECANCELED; the jobs see
   weft_job_cancelled() and their results will be destroyed. */
static void cancel_running(struct weft_pool *p)
{
    for (unsigned i = 0; i < p->n_slots; i++) {
        struct job_record *rec;
        while ((rec = scan_running(&p->slots[i], false, NULL))) {
            weft_future_cancel(&rec->future);
            weft_future_unref(&rec->future);
        }
    }
}

/* Lets go of the threads still running a job after the grace: their jobs
   end as cancelled, the threads return on their own, detached. */
static void abandon_running(struct weft_pool *p)
{
    for (unsigned i = 0; i < p->n_slots; i++) {
        struct pool_worker *w = &p->slots[i];
        struct job_record *rec;
        bool stuck = false;
        while ((rec = scan_running(w, true, &stuck))) {
            stuck |= weft__record_end_running(rec, END_CANCELLED);
            weft_future_unref(&rec->future);
        }
        if (stuck) {
            pthread_mutex_lock(&p->ctl);
            weft__abandon_worker_locked(p, w, true);
            pthread_mutex_unlock(&p->ctl);
        }
    }
}

/* Stops the supervisor and every worker that is not abandoned, and joins
   them; each drops its reference as it is joined. */
static void stop_threads(struct weft_pool *p)
{
    weft__pool_stop_workers(p);
    pthread_mutex_lock(&p->ctl);
    p->supervisor_stop = true;
    weft__supervisor_kick(p);
    pthread_mutex_unlock(&p->ctl);
    pthread_join(p->supervisor, NULL);
    weft__pool_unref(p);
    for (unsigned i = 0; i < p->n_slots; i++) {
        struct pool_worker *w = &p->slots[i];
        pthread_mutex_lock(&p->ctl);
        bool join = w->joinable && (w->state == SLOT_ACTIVE || w->state == SLOT_DEAD);
        if (join)
            w->joinable = false;
        pthread_mutex_unlock(&p->ctl);
        if (!join)
            continue;
        pthread_join(w->thread, NULL);
        pthread_mutex_lock(&p->ctl);
        if (w->state == SLOT_ACTIVE)
            p->live--;
        w->state = SLOT_FREE;
        pthread_mutex_unlock(&p->ctl);
        weft__pool_unref(p);
    }
}

static int close_pool(struct weft_pool *p, int64_t drain_timeout_ms)
{
    pthread_mutex_lock(&p->close_mu);
    if (p->closed) {
        pthread_mutex_unlock(&p->close_mu);
        return 0;
    }
    int64_t deadline = weft__deadline_ns(drain_timeout_ms);
    atomic_store(&p->closing, true);
    weft__pool_close_intake(p);
    int r = 0;
    if (!wait_idle(p, deadline)) {
        r = -ETIMEDOUT;
        cancel_queued(p);
        cancel_running(p);
        if (!wait_idle(p, weft__deadline_ns(CLOSE_GRACE_MS)))
            abandon_running(p);
    }
    stop_threads(p);
    p->closed = true;
    pthread_mutex_unlock(&p->close_mu);
    return r;
}

int weft_pool_close(weft_pool_t *p, int64_t drain_timeout_ms)
{
    if (weft__self.pool == p || weft__self.is_loop)
        return -EDEADLK;
    return close_pool(p, drain_timeout_ms);
}

void weft_pool_free(weft_pool_t *p)
{
    if (!p)
        return;
    if (weft__self.pool == p) {
        weft_log(WEFT_LOG_ERROR, "weft_pool_free called from a worker of pool %s: not freed",
                 p->name);
        return;
    }
    close_pool(p, 0); /* at once if already closed; a loop thread may free */
    weft__pool_unref(p);
}

/* ---- stats -------------------------------------------------------------- */

void weft_pool_stats(weft_pool_t *p, weft_pool_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    /* Endings first, then starts, then submissions: each job is counted in
       a later read no less than in an earlier one (see the top comment). */
    uint64_t timed_out_r = atomic_load_explicit(&p->timed_out_r, memory_order_acquire);
    uint64_t cancelled_r = atomic_load_explicit(&p->cancelled_r, memory_order_acquire);
    uint64_t cancelled_w = 0, started = 0;
    for (unsigned i = 0; i < p->n_slots; i++) {
        struct pool_worker *w = &p->slots[i];
        out->completed += atomic_load_explicit(&w->completed, memory_order_acquire);
        out->failed += atomic_load_explicit(&w->failed, memory_order_acquire);
        cancelled_w += atomic_load_explicit(&w->cancelled, memory_order_acquire);
    }
    for (unsigned i = 0; i < p->n_slots; i++)
        started += atomic_load_explicit(&p->slots[i].started, memory_order_acquire);
    uint64_t cancelled_q = atomic_load_explicit(&p->cancelled_q, memory_order_acquire);
    uint64_t timed_out_q = atomic_load_explicit(&p->timed_out_q, memory_order_acquire);
    weft__lock(&p->qlock);
    out->submitted = p->submitted;
    weft__unlock(&p->qlock);

    uint64_t ended_running = out->completed + out->failed + cancelled_w + cancelled_r + timed_out_r;
    WEFT_ASSERT(started >= ended_running);
    WEFT_ASSERT(out->submitted >= started + cancelled_q + timed_out_q);
    out->running = (size_t)(started - ended_running);
    out->queued = (size_t)(out->submitted - started - cancelled_q - timed_out_q);
    out->cancelled = cancelled_w + cancelled_r + cancelled_q;
    out->timed_out = timed_out_r + timed_out_q;

    out->rejected = atomic_load(&p->rejected);
    out->replaced = atomic_load(&p->replaced);
    out->abandoned = atomic_load(&p->abandoned_total);
    out->wakes = atomic_load(&p->wakes);
    out->futile_wakes = atomic_load(&p->futile_wakes);
    pthread_mutex_lock(&p->ctl);
    out->threads = p->live;
    out->degraded = p->degraded;
    pthread_mutex_unlock(&p->ctl);
}
