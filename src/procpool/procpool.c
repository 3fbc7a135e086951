/*
 * procpool.c - the process pool's life: new (segments, the doorbell, the
 * supervisor thread, which spawns the workers), close (drain, cancel,
 * stop and reap every worker, unmap and close every segment), free, and
 * the figures.
 *
 * Lock order: close_mu (closers, one at a time) before mu. Close never
 * holds mu while it cancels a future: the cancel node takes mu.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "procpool/procpool-int.h"
#include "sync/thread.h"

#if defined(WEFT_UNDER_ASAN) || defined(WEFT_UNDER_TSAN)
#define UNDER_SANITIZER 1
#else
#define UNDER_SANITIZER 0
#endif

/* ---- the workers' environment ------------------------------------------------ */

/* Under a sanitizer, a crash must stay a signal in the workers (so the
   pool can name it): its SIGSEGV handler would turn it into a report and
   an exit status. Returns "NAME=<ours>:handle_segv=0", or NULL. */
static char *sanitizer_options(void)
{
#if defined(WEFT_UNDER_ASAN)
    const char *name = "ASAN_OPTIONS";
#elif defined(WEFT_UNDER_TSAN)
    const char *name = "TSAN_OPTIONS";
#else
    const char *name = NULL;
#endif
    if (!name)
        return NULL;
    const char *old = getenv(name);
    size_t n = strlen(name) + (old ? strlen(old) : 0) + 32;
    char *s = weft__malloc(n);
    if (s)
        snprintf(s, n, "%s=%s%shandle_segv=0", name, old ? old : "", old && *old ? ":" : "");
    return s;
}

/* opts.env plus the sanitizer's options, in one allocation with the
   latter's text after the array. */
static int build_env(struct weft_procpool *pp)
{
    size_t n = 0;
    while (pp->opts.env && pp->opts.env[n])
        n++;
    char *extra = sanitizer_options();
    if (UNDER_SANITIZER && !extra)
        return -ENOMEM;
    pp->env = weft__calloc(n + 2, sizeof(char *));
    if (!pp->env) {
        weft__free(extra);
        return -ENOMEM;
    }
    size_t k = 0;
    if (extra)
        pp->env[k++] = extra;
    for (size_t i = 0; i < n; i++)
        pp->env[k++] = pp->opts.env[i];
    return 0;
}

static void free_env(struct weft_procpool *pp)
{
    if (pp->env && UNDER_SANITIZER)
        weft__free((char *)pp->env[0]);
    weft__free(pp->env);
}

/* ---- new ------------------------------------------------------------------------ */

static int resolve(struct weft_procpool *pp, const weft_procpool_options_t *opts)
{
    pp->opts = opts ? *opts : (weft_procpool_options_t){0};
    if (!pp->opts.workers)
        pp->opts.workers = 2;
    if (pp->opts.workers > PP_MAX_WORKERS)
        return -EINVAL;
    pp->shm_size = pp->opts.shm_size ? pp->opts.shm_size : PP_DEFAULT_SHM;
    if (pp->shm_size > SIZE_MAX / 4)
        return -EINVAL;
    snprintf(pp->name, sizeof(pp->name), "%s", pp->opts.name ? pp->opts.name : "weft-procpool");
    pp->memory_limit = pp->opts.memory_limit;
    if (pp->memory_limit && UNDER_SANITIZER) {
        weft_log(WEFT_LOG_WARN,
                 "%s: memory_limit ignored: a sanitizer's shadow memory does not "
                 "fit under RLIMIT_AS",
                 pp->name);
        pp->memory_limit = 0;
    }
    weft_restart_policy_t rp = pp->opts.restart;
    if (!rp.intensity)
        rp.intensity = WEFT_RESTART_WINDOW;
    if (!rp.period_ms)
        rp.period_ms = 1000;
    if (!rp.max_backoff_ms)
        rp.max_backoff_ms = 1000;
    weft_restarts_init(&pp->restarts, &rp);
    return 0;
}

static int make_slots(struct weft_procpool *pp)
{
    if (!(pp->slots = weft__calloc(pp->opts.workers, sizeof(*pp->slots))))
        return -ENOMEM;
    for (unsigned i = 0; i < pp->opts.workers; i++) {
        struct pp_slot *s = &pp->slots[i];
        *s = (struct pp_slot){
            .index = i, .state = PS_EMPTY, .sock = -1, .shm_fd = -1, .pending_fd = -1};
        if (!(s->shm =
                  weft_shm_create(PP_SHM_NAME, weft__pp_segment_size(pp->shm_size), &s->shm_fd)))
            return -errno;
        s->ctl = (struct pp_ctl *)s->shm;
        s->args = s->shm + PP_CTL_SIZE;
        s->results = s->args + pp->shm_size;
    }
    return 0;
}

static void free_slots(struct weft_procpool *pp)
{
    for (unsigned i = 0; pp->slots && i < pp->opts.workers; i++) {
        struct pp_slot *s = &pp->slots[i];
        weft_shm_unmap(s->shm, weft__pp_segment_size(pp->shm_size));
        s->shm = s->args = s->results = NULL;
        s->ctl = NULL;
        if (s->shm_fd >= 0)
            close(s->shm_fd);
        s->shm_fd = -1;
    }
}

static int init_sync(struct weft_procpool *pp)
{
    int r;
    if ((r = weft__mutex_init(&pp->mu)) || (r = weft__mutex_init(&pp->close_mu)) ||
        (r = weft__cond_init(&pp->space_cond)) || (r = weft__cond_init(&pp->idle_cond)))
        return r;
    pp->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return pp->wake_fd < 0 ? -errno : 0;
}

static void destroy(struct weft_procpool *pp)
{
    free_slots(pp);
    weft__free(pp->slots);
    free_env(pp);
    if (pp->wake_fd >= 0)
        close(pp->wake_fd);
    pthread_mutex_destroy(&pp->mu);
    pthread_mutex_destroy(&pp->close_mu);
    pthread_cond_destroy(&pp->space_cond);
    pthread_cond_destroy(&pp->idle_cond);
    weft__free(pp);
}

weft_procpool_t *weft_procpool_new(const weft_procpool_options_t *opts)
{
    if (!weft__procpool_main_called()) {
        errno = ENOEXEC; /* its workers would run the whole program */
        return NULL;
    }
    struct weft_procpool *pp = weft__calloc(1, sizeof(*pp));
    if (!pp) {
        errno = ENOMEM;
        return NULL;
    }
    pp->wake_fd = -1;
    int r = resolve(pp, opts);
    if (!r)
        r = init_sync(pp);
    if (!r)
        r = build_env(pp);
    if (!r)
        r = make_slots(pp);
    if (!r)
        r = weft__thread_start(&pp->supervisor, weft__pp_supervisor_main, pp, false);
    if (r) {
        destroy(pp);
        errno = -r;
        return NULL;
    }
    pp->supervisor_started = true;
    return pp;
}

/* ---- close ------------------------------------------------------------------------ */

/* Some job still queued or running, with a reference to its future for
   the caller; NULL if none (mu held). */
static weft_future_t *some_job_locked(struct weft_procpool *pp)
{
    if (pp->head)
        return weft_future_ref(pp->head->f);
    for (unsigned i = 0; i < pp->opts.workers; i++)
        if (pp->slots[i].job)
            return weft_future_ref(pp->slots[i].job->f);
    return NULL;
}

/* Cancels every job left: the cancel node drops the queued ones and
   kills the running ones' workers. Returns how many. */
static unsigned cancel_the_rest(struct weft_procpool *pp)
{
    unsigned n = 0;
    for (;;) {
        pthread_mutex_lock(&pp->mu);
        weft_future_t *f = some_job_locked(pp);
        pthread_mutex_unlock(&pp->mu);
        if (!f)
            return n;
        weft_future_cancel(f); /* settled meanwhile: its job is ENDED now */
        weft_future_unref(f);
        n++;
    }
}

static void drain_locked(struct weft_procpool *pp, int64_t drain_timeout_ms)
{
    int64_t deadline = weft__deadline_ns(drain_timeout_ms);
    while ((pp->queued || pp->running) &&
           weft__cond_wait_until(&pp->idle_cond, &pp->mu, deadline) == 0)
        ;
}

int weft_procpool_close(weft_procpool_t *pp, int64_t drain_timeout_ms)
{
    if (!pp)
        return -EINVAL;
    if (weft__would_block_loop(drain_timeout_ms))
        return -EDEADLK;
    pthread_mutex_lock(&pp->close_mu);
    if (pp->closed) {
        pthread_mutex_unlock(&pp->close_mu);
        return 0;
    }
    pthread_mutex_lock(&pp->mu);
    pp->intake_closed = true;
    pthread_cond_broadcast(&pp->space_cond);
    drain_locked(pp, drain_timeout_ms);
    pthread_mutex_unlock(&pp->mu);
    unsigned cancelled = cancel_the_rest(pp);
    pthread_mutex_lock(&pp->mu);
    pp->stopping = true;
    pthread_mutex_unlock(&pp->mu);
    weft__pp_wake(pp);
    if (pp->supervisor_started)
        pthread_join(pp->supervisor, NULL);
    pp->supervisor_started = false;
    free_slots(pp); /* no segment outlives close */
    pp->closed = true;
    pthread_mutex_unlock(&pp->close_mu);
    return cancelled ? -ETIMEDOUT : 0;
}

void weft_procpool_free(weft_procpool_t *pp)
{
    if (!pp)
        return;
    bool on_loop = weft__on_loop_thread();
    weft__thread_mark_loop(false); /* a drain of 0 never waits */
    weft_procpool_close(pp, 0);
    weft__thread_mark_loop(on_loop);
    destroy(pp);
}

/* ---- figures -------------------------------------------------------------------------- */

void weft_procpool_stats(weft_procpool_t *pp, weft_procpool_stats_t *out)
{
    *out = (weft_procpool_stats_t){0};
    if (!pp)
        return;
    pthread_mutex_lock(&pp->mu);
    for (unsigned i = 0; i < pp->opts.workers; i++) {
        enum pp_slot_state st = pp->slots[i].state;
        out->workers += st != PS_EMPTY;
        out->ready += st == PS_IDLE || (st == PS_BUSY && !pp->slots[i].killed_for);
    }
    out->queued = pp->queued;
    out->running = pp->running;
    out->submitted = pp->submitted;
    out->completed = pp->completed;
    out->failed = pp->failed;
    out->cancelled = pp->cancelled;
    out->timed_out = pp->timed_out;
    out->rejected = pp->rejected;
    out->crashed = pp->crashed;
    out->replaced = pp->replaced;
    out->degraded = pp->degraded;
    pthread_mutex_unlock(&pp->mu);
}

unsigned weft_procpool_pids(weft_procpool_t *pp, pid_t *pids, unsigned max)
{
    unsigned n = 0;
    if (!pp)
        return 0;
    pthread_mutex_lock(&pp->mu);
    for (unsigned i = 0; i < pp->opts.workers; i++) {
        if (!pp->slots[i].proc)
            continue;
        if (pids && n < max)
            pids[n] = weft_proc_pid(pp->slots[i].proc);
        n++;
    }
    pthread_mutex_unlock(&pp->mu);
    return n;
}
