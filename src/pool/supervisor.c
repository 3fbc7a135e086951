/*
 * supervisor.c - one thread per pool that keeps its capacity: it times out
 * jobs at their deadline, joins workers that died (weft_job_exit), lets go
 * of workers stuck past a deadline (abandons them) and starts replacements,
 * with a bounded restart intensity so a crash loop cannot spin.
 *
 * Threading: everything here runs under the pool's ctl mutex, except the
 * settling of futures (user callbacks may run) which happens with ctl
 * released and a reference held. The supervisor sleeps on ctl_cond until
 * the earliest deadline or scheduled restart; whoever changes either kicks
 * it.
 *
 * Restart intensity: the last restart_max replacement times are kept in a
 * ring; once restart_max of them fall within restart_period, the next
 * replacement waits `backoff` (10 ms, doubling per replacement up to
 * restart_backoff_max) and the pool reports itself degraded; a
 * replacement made with the window calm again resets the backoff.
 *
 * Stuck workers: a worker whose job passed its deadline is abandoned
 * (detached, left to return on its own, replaced) while fewer than
 * max_abandoned are out; past that it is kept and the pool is degraded
 * until it returns.
 */
#include <errno.h>
#include <stdio.h>

#include "pool/pool-int.h"
#include "sync/thread.h"

#define BACKOFF_START_NS (10 * WEFT_NS_PER_MS)

void weft__supervisor_kick(struct weft_pool *p)
{
    pthread_cond_signal(&p->ctl_cond);
}

static struct pool_worker *free_slot(struct weft_pool *p)
{
    for (unsigned i = 0; i < p->n_slots; i++)
        if (p->slots[i].state == SLOT_FREE)
            return &p->slots[i];
    return NULL;
}

static bool intensity_exceeded(const struct weft_pool *p, int64_t now)
{
    /* The ring's oldest entry is the restart_max-th most recent restart. */
    return p->restart_times[p->restart_next] > now - p->restart_period_ns;
}

static int64_t backoff_start(const struct weft_pool *p)
{
    return BACKOFF_START_NS < p->backoff_max_ns ? BACKOFF_START_NS : p->backoff_max_ns;
}

/* Degraded: stuck workers kept, restarts throttled because the intensity
   was exceeded (until its window is calm again), or too few workers with
   no way to start more right now. One log line when it starts, one when
   it ends. */
void weft__update_degraded_locked(struct weft_pool *p, int64_t now)
{
    if (!intensity_exceeded(p, now))
        p->backoff_ns = backoff_start(p);
    bool throttled = p->backoff_ns > backoff_start(p);
    bool short_handed = p->live < p->threads && (now < p->next_restart_ns || !free_slot(p));
    bool degraded = p->stuck_kept > 0 || throttled || short_handed;
    if (degraded == p->degraded)
        return;
    p->degraded = degraded;
    if (degraded)
        weft_log_episode_begin(&p->degraded_log, WEFT_LOG_WARN,
                               "pool %s degraded: %u of %u workers, %u stuck and kept, %s", p->name,
                               p->live, p->threads, p->stuck_kept,
                               throttled ? "restarts throttled" : "restarts not throttled");
    else
        weft_log_episode_end(&p->degraded_log, WEFT_LOG_INFO, "pool %s recovered: %u workers",
                             p->name, p->live);
}

/* ---- worker endings, reported by the workers themselves ----------------- */

void weft__worker_died(struct pool_worker *w)
{
    struct weft_pool *p = w->pool;
    pthread_mutex_lock(&p->ctl);
    if (w->state == SLOT_ABANDONED) {
        pthread_mutex_unlock(&p->ctl);
        weft__worker_exit_abandoned(w);
        return;
    }
    w->state = SLOT_DEAD; /* still joinable: the supervisor joins it */
    p->live--;
    if (w->kept) {
        w->kept = false;
        p->stuck_kept--;
    }
    weft__supervisor_kick(p);
    pthread_mutex_unlock(&p->ctl);
}

void weft__worker_exit_abandoned(struct pool_worker *w)
{
    struct weft_pool *p = w->pool;
    pthread_detach(pthread_self());
    pthread_mutex_lock(&p->ctl);
    w->state = SLOT_FREE;
    w->joinable = false;
    p->abandoned_out--;
    weft__supervisor_kick(p); /* a slot for a replacement, maybe */
    pthread_mutex_unlock(&p->ctl);
    weft__pool_unref(p);
}

void weft__worker_reclaimed(struct pool_worker *w)
{
    struct weft_pool *p = w->pool;
    pthread_mutex_lock(&p->ctl);
    if (w->kept) {
        w->kept = false;
        p->stuck_kept--;
        weft__update_degraded_locked(p, weft__now_ns());
    }
    pthread_mutex_unlock(&p->ctl);
}

void weft__abandon_worker_locked(struct weft_pool *p, struct pool_worker *w, bool force)
{
    if (w->state != SLOT_ACTIVE)
        return;
    if (!force && p->abandoned_out >= p->max_abandoned) {
        if (!w->kept) {
            w->kept = true;
            p->stuck_kept++;
        }
        weft__update_degraded_locked(p, weft__now_ns());
        return;
    }
    if (w->kept) {
        w->kept = false;
        p->stuck_kept--;
    }
    atomic_store(&w->abandoned, true);
    w->state = SLOT_ABANDONED;
    w->joinable = false; /* it detaches itself when it returns */
    p->live--;
    p->abandoned_out++;
    atomic_fetch_add_explicit(&p->abandoned_total, 1, memory_order_relaxed);
    weft__supervisor_kick(p);
    /* It may have returned and gone to sleep already: wake it to exit. */
    weft__pool_unpark(w);
}

/* ---- deadlines ---------------------------------------------------------- */

static void time_out(struct weft_pool *p, struct job_record *rec)
{
    if (weft__record_end_queued(rec, END_TIMED_OUT))
        return; /* its entry is skipped when popped */
    if (!weft__record_end_running(rec, END_TIMED_OUT))
        return;
    pthread_mutex_lock(&p->ctl);
    weft__abandon_worker_locked(p, rec->worker, false);
    pthread_mutex_unlock(&p->ctl);
}

/* Times out every job whose deadline has come. Under ctl; drops it around
   each settle. A record in the heap is alive: it leaves the heap before
   the references that keep it alive go. */
static void expire_locked(struct weft_pool *p, int64_t now)
{
    struct job_record *rec;
    while ((rec = weft__deadline_peek(p)) && rec->deadline_ns <= now) {
        weft__deadline_remove(p, rec);
        weft_future_ref(&rec->future);
        pthread_mutex_unlock(&p->ctl);
        time_out(p, rec);
        weft_future_unref(&rec->future);
        pthread_mutex_lock(&p->ctl);
    }
}

/* ---- replacements ------------------------------------------------------- */

/* Joins workers that died. The dead thread releases ctl before it exits
   and never takes it again, so joining under ctl cannot deadlock. */
static void reap_locked(struct weft_pool *p)
{
    for (unsigned i = 0; i < p->n_slots; i++) {
        struct pool_worker *w = &p->slots[i];
        if (w->state != SLOT_DEAD || !w->joinable)
            continue;
        pthread_join(w->thread, NULL);
        w->joinable = false;
        w->state = SLOT_FREE;
        weft__pool_unref(p); /* never the last: the supervisor holds one */
    }
}

static void replace_locked(struct weft_pool *p, int64_t now)
{
    while (p->live < p->threads && !p->supervisor_stop && now >= p->next_restart_ns) {
        struct pool_worker *w = free_slot(p);
        if (!w)
            break; /* every slot holds a stuck thread: wait for one to return */
        if (weft__worker_start(w) < 0) {
            p->next_restart_ns = now + p->backoff_ns;
            break;
        }
        atomic_fetch_add_explicit(&p->replaced, 1, memory_order_relaxed);
        p->restart_times[p->restart_next] = now;
        p->restart_next = (p->restart_next + 1) % p->restart_max;
        if (intensity_exceeded(p, now)) {
            p->next_restart_ns = now + p->backoff_ns;
            p->backoff_ns =
                p->backoff_ns * 2 < p->backoff_max_ns ? p->backoff_ns * 2 : p->backoff_max_ns;
        }
    }
    weft__update_degraded_locked(p, now);
}

static int64_t next_wakeup(const struct weft_pool *p)
{
    struct job_record *rec = weft__deadline_peek(p);
    int64_t next = rec ? rec->deadline_ns : WEFT_FOREVER;
    if (p->live < p->threads && p->next_restart_ns < next)
        next = p->next_restart_ns;
    /* While throttled, look again when the window has calmed down. */
    int64_t calm = p->restart_times[p->restart_next] + p->restart_period_ns;
    if (p->backoff_ns > backoff_start(p) && calm < next)
        next = calm;
    return next;
}

void *weft__supervisor_main(void *arg)
{
    struct weft_pool *p = arg;
    char name[32];
    snprintf(name, sizeof(name), "%s-sup", p->name);
    weft__thread_set_name(name);
    pthread_mutex_lock(&p->ctl);
    while (!p->supervisor_stop) {
        expire_locked(p, weft__now_ns());
        reap_locked(p);
        replace_locked(p, weft__now_ns());
        if (!p->supervisor_stop)
            weft__cond_wait_until(&p->ctl_cond, &p->ctl, next_wakeup(p));
    }
    pthread_mutex_unlock(&p->ctl);
    return NULL; /* joined by close, which drops our reference */
}
