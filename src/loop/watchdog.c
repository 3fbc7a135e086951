/*
 * watchdog.c - the blocked-loop detector: one thread shared by every
 * running loop, started by the first run (weft__thread_start: async
 * signals blocked) and never stopped (it sleeps while no loop runs).
 *
 * Every interval (a quarter of the smallest threshold, 1 to 50 ms) it
 * samples each loop's iteration stamp (bumped in uv_prepare and uv_check)
 * and libuv's idle time, which grows while the loop sleeps in epoll. When
 * neither has moved for longer than the loop's threshold, one iteration is
 * holding the loop: an episode starts, logged once (weft_log_episode_begin)
 * and counted; it ends at the first sample that sees either move, logged
 * with its duration (to within two sample intervals).
 *
 * Lock order: wd.mu is a leaf but for libuv's metrics lock, taken inside
 * it by uv_metrics_idle_time. Logging runs user code (the log handler), so
 * it happens without wd.mu: a watch being logged is pinned, and removal
 * waits until it is unpinned, so a loop never goes while its watch is used.
 */
#include <errno.h>

#include "loop/loop-int.h"
#include "sync/clock.h"
#include "sync/thread.h"

#define MIN_INTERVAL_NS (1 * WEFT_NS_PER_MS)
#define MAX_INTERVAL_NS (50 * WEFT_NS_PER_MS)

enum { ACT_NONE, ACT_BEGIN, ACT_END };

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake;     /* the watchdog's sleep (monotonic) */
    pthread_cond_t unpinned; /* removals waiting for a report to finish */
    bool ready, started;
    struct weft__watch *list;
} wd = {.mu = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t wd_once = PTHREAD_ONCE_INIT;

static void wd_init(void)
{
    wd.ready = weft__cond_init(&wd.wake) == 0 && pthread_cond_init(&wd.unpinned, NULL) == 0;
}

static int sample(struct weft__watch *w, int64_t now)
{
    /* A counter (relaxed): a stale stamp only delays detection a sample. */
    uint64_t seq = weft__stat_get(&w->seq);
    uint64_t idle = uv_metrics_idle_time(w->uv);
    int64_t held = now - w->last_progress_ns;
    if (seq != w->last_seq || idle != w->last_idle) {
        w->last_seq = seq;
        w->last_idle = idle;
        w->last_progress_ns = now;
        if (!w->blocked)
            return ACT_NONE;
        w->blocked = false;
        weft__stat_max_i64(&w->max_ns, held);
        w->act_ms = held / WEFT_NS_PER_MS;
        return ACT_END;
    }
    if (held <= w->threshold_ns)
        return ACT_NONE;
    weft__stat_max_i64(&w->max_ns, held);
    if (w->blocked)
        return ACT_NONE;
    w->blocked = true;
    weft__stat_add(&w->episodes, 1);
    w->act_ms = held / WEFT_NS_PER_MS;
    return ACT_BEGIN;
}

static void report(struct weft__watch *w, int act, int64_t ms)
{
    long long held = ms, limit = w->threshold_ns / WEFT_NS_PER_MS;
    if (act == ACT_BEGIN)
        weft_log_episode_begin(&w->episode, WEFT_LOG_WARN,
                               "loop %s blocked: one iteration has held it for %lld ms "
                               "(threshold %lld ms)",
                               w->name, held, limit);
    else
        weft_log_episode_end(&w->episode, WEFT_LOG_WARN,
                             "loop %s unblocked: one iteration held it for about %lld ms", w->name,
                             held);
}

/* Samples every watch; reports with wd.mu released. */
static void sweep_locked(void)
{
    int64_t now = weft__now_ns();
    struct weft__watch *acts = NULL, *w;
    for (w = wd.list; w; w = w->next) {
        w->act = sample(w, now);
        if (w->act != ACT_NONE) {
            w->pinned = true;
            w->act_next = acts;
            acts = w;
        }
    }
    if (!acts)
        return;
    pthread_mutex_unlock(&wd.mu);
    for (w = acts; w; w = w->act_next)
        report(w, w->act, w->act_ms);
    pthread_mutex_lock(&wd.mu);
    for (w = acts; w; w = w->act_next)
        w->pinned = false;
    pthread_cond_broadcast(&wd.unpinned);
}

static int64_t interval_locked(void)
{
    int64_t iv = -1;
    for (struct weft__watch *w = wd.list; w; w = w->next)
        if (iv < 0 || w->threshold_ns / 4 < iv)
            iv = w->threshold_ns / 4;
    if (iv < 0)
        return WEFT_FOREVER;
    iv = iv < MIN_INTERVAL_NS ? MIN_INTERVAL_NS : iv > MAX_INTERVAL_NS ? MAX_INTERVAL_NS : iv;
    return weft__now_ns() + iv;
}

static void *wd_main(void *unused)
{
    weft__thread_set_name("weft-watchdog");
    pthread_mutex_lock(&wd.mu);
    for (;;) {
        weft__cond_wait_until(&wd.wake, &wd.mu, interval_locked());
        sweep_locked();
    }
    return NULL;
}

static void start_locked(void)
{
    static bool logged;
    pthread_t t;
    int r = weft__thread_start(&t, wd_main, NULL, true);
    wd.started = r == 0;
    if (r < 0 && !logged) {
        logged = true;
        weft_log(WEFT_LOG_ERROR, "cannot start the loop watchdog: %s; blocked loops go unseen",
                 weft_strerror(r));
    }
}

void weft__watchdog_add(struct weft__watch *w)
{
    pthread_once(&wd_once, wd_init);
    if (!wd.ready)
        return;
    pthread_mutex_lock(&wd.mu);
    w->last_seq = weft__stat_get(&w->seq);
    w->last_idle = uv_metrics_idle_time(w->uv);
    w->last_progress_ns = weft__now_ns();
    w->blocked = w->pinned = false;
    w->prev = NULL;
    w->next = wd.list;
    if (wd.list)
        wd.list->prev = w;
    wd.list = w;
    w->linked = true;
    if (!wd.started)
        start_locked();
    pthread_cond_signal(&wd.wake); /* the interval may be shorter now */
    pthread_mutex_unlock(&wd.mu);
}

void weft__watchdog_remove(struct weft__watch *w)
{
    if (!w->linked)
        return;
    pthread_mutex_lock(&wd.mu);
    while (w->pinned)
        pthread_cond_wait(&wd.unpinned, &wd.mu);
    if (w->prev)
        w->prev->next = w->next;
    else
        wd.list = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->linked = false;
    bool was_blocked = w->blocked;
    int64_t held = weft__now_ns() - w->last_progress_ns;
    w->blocked = false;
    pthread_mutex_unlock(&wd.mu);
    if (was_blocked)
        report(w, ACT_END, held / WEFT_NS_PER_MS);
}
