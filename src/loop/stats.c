/*
 * stats.c - a loop's figures: iterations, posts, busy time, timer lag and
 * blocked episodes (weft_loop_stats).
 *
 * The loop thread stamps each iteration in a uv_prepare (before it polls)
 * and a uv_check (after the I/O callbacks) handle; the shared watchdog
 * (watchdog.c) reads the stamps. Busy time is run time minus libuv's idle
 * time (UV_METRICS_IDLE_TIME, set by weft_loop_new). Lag is the drift of a
 * one-shot timer re-armed at each tick, so drift never accumulates.
 *
 * Threads: counters have one writer (the loop thread) and are read
 * relaxed from any thread; the run-time fields are under stats_mu, a leaf
 * lock (uv_metrics_idle_time takes libuv's own lock inside it, and is
 * documented as thread-safe). After close, libuv is no longer asked.
 */
#include <string.h>

#include "loop/loop-int.h"
#include "sync/clock.h"

static void prepare_cb(uv_prepare_t *h)
{
    weft_loop_t *loop = weft_container_of(h, weft_loop_t, prepare);
    weft__stat_add(&loop->iterations, 1);
    weft__stat_add(&loop->watch.seq, 1);
}

static void check_cb(uv_check_t *h)
{
    weft_loop_t *loop = weft_container_of(h, weft_loop_t, check);
    weft__stat_add(&loop->watch.seq, 1);
}

static void lag_cb(uv_timer_t *t)
{
    weft_loop_t *loop = weft_container_of(t, weft_loop_t, lag_timer);
    int64_t now = weft__now_ns(), lag = now - loop->lag_due_ns;
    if (lag < 0) /* libuv's clock is coarser than ours */
        lag = 0;
    weft__stat_set_i64(&loop->lag_ns, lag);
    weft__stat_max_i64(&loop->lag_max_ns, lag);
    loop->lag_due_ns = now + loop->lag_interval_ms * WEFT_NS_PER_MS;
    uv_timer_start(t, lag_cb, (uint64_t)loop->lag_interval_ms, 0);
}

int weft__stats_init(weft_loop_t *loop)
{
    uv_prepare_init(&loop->uv, &loop->prepare);
    uv_check_init(&loop->uv, &loop->check);
    uv_timer_init(&loop->uv, &loop->lag_timer);
    uv_handle_t *hs[] = {(uv_handle_t *)&loop->prepare, (uv_handle_t *)&loop->check,
                         (uv_handle_t *)&loop->lag_timer};
    for (size_t i = 0; i < WEFT_ARRAY_SIZE(hs); i++) {
        hs[i]->data = &weft__loop_internal_tag;
        uv_unref(hs[i]);
    }
    return 0;
}

void weft__stats_run_begin(weft_loop_t *loop)
{
    int64_t now = weft__now_ns();
    pthread_mutex_lock(&loop->stats_mu);
    loop->run_started_ns = now;
    pthread_mutex_unlock(&loop->stats_mu);
    uv_prepare_start(&loop->prepare, prepare_cb);
    uv_check_start(&loop->check, check_cb);
    if (loop->lag_interval_ms > 0) {
        loop->lag_due_ns = now + loop->lag_interval_ms * WEFT_NS_PER_MS;
        uv_timer_start(&loop->lag_timer, lag_cb, (uint64_t)loop->lag_interval_ms, 0);
    }
    if (loop->watch.threshold_ns > 0) {
        loop->watch.uv = &loop->uv;
        weft__watchdog_add(&loop->watch);
    }
}

void weft__stats_run_end(weft_loop_t *loop)
{
    if (loop->watch.threshold_ns > 0)
        weft__watchdog_remove(&loop->watch);
    uv_prepare_stop(&loop->prepare);
    uv_check_stop(&loop->check);
    uv_timer_stop(&loop->lag_timer);
    pthread_mutex_lock(&loop->stats_mu);
    loop->run_total_ns += weft__now_ns() - loop->run_started_ns;
    loop->run_started_ns = 0;
    loop->idle_final_ns = uv_metrics_idle_time(&loop->uv);
    pthread_mutex_unlock(&loop->stats_mu);
}

void weft__stats_close(weft_loop_t *loop)
{
    uv_close((uv_handle_t *)&loop->prepare, NULL);
    uv_close((uv_handle_t *)&loop->check, NULL);
    uv_close((uv_handle_t *)&loop->lag_timer, NULL);
}

void weft_loop_stats(weft_loop_t *loop, weft_loop_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&loop->stats_mu);
    out->running = loop->run_started_ns != 0;
    out->run_ns = loop->run_total_ns;
    uint64_t idle = loop->idle_final_ns;
    if (out->running) {
        out->run_ns += weft__now_ns() - loop->run_started_ns;
        if (!loop->closed)
            idle = uv_metrics_idle_time(&loop->uv);
    }
    pthread_mutex_unlock(&loop->stats_mu);
    out->busy_ns = out->run_ns > (int64_t)idle ? out->run_ns - (int64_t)idle : 0;
    out->iterations = weft__stat_get(&loop->iterations);
    out->posts = weft__stat_get(&loop->posts);
    out->continuations = weft__inbox_conts(loop->ib);
    out->lag_ns = weft__stat_get_i64(&loop->lag_ns);
    out->lag_max_ns = weft__stat_get_i64(&loop->lag_max_ns);
    out->blocked = weft__stat_get(&loop->watch.episodes);
    out->blocked_max_ns = weft__stat_get_i64(&loop->watch.max_ns);
}
