/*
 * loop.c - a weft_loop_t's life: new, run, stop, close, free.
 *
 * Threads. new, stop and the getters run on any thread; run turns the
 * calling thread into the loop thread (weft__loop_enter: weft_loop_current
 * and the -EDEADLK mark) until it returns; close and free run while no
 * thread runs the loop, and count as its thread meanwhile. `running` is
 * the hand-off: run's last store releases everything the loop thread did
 * to the closing thread's acquire.
 *
 * Stopping is terminal. The inbox's closed bit (inbox.c) is the truth; a
 * stop from another thread rings the doorbell and the loop notices it
 * there (uv_stop). Run then drains what was accepted, cancels delays, runs
 * the on_stop hooks and lets handles finish closing, in that order, before
 * it returns. Close does what run could not (a loop that never ran, posts
 * left), closes weft's own handles and the uv loop. Lock order: stats_mu
 * is a leaf (libuv's metrics lock is taken inside it); no lock is held
 * while user code runs.
 */
#include <errno.h>
#include <stdio.h>

#include "loop/loop-int.h"
#include "sync/clock.h"
#include "sync/thread.h"

#define DEFAULT_BLOCKED_MS 100
#define DEFAULT_LAG_MS     100
#define MAX_CLOSING_ROUNDS 1000 /* a close callback may close more handles */

char weft__loop_internal_tag;

static __thread weft_loop_t *tls_current;
static atomic_uint loop_counter;

struct weft__loop_tls weft__loop_enter(weft_loop_t *loop)
{
    struct weft__loop_tls saved = {tls_current, weft__on_loop_thread()};
    tls_current = loop;
    weft__thread_mark_loop(loop != NULL);
    return saved;
}

void weft__loop_leave(struct weft__loop_tls saved)
{
    tls_current = saved.current;
    weft__thread_mark_loop(saved.is_loop);
}

weft_loop_t *weft_loop_current(void)
{
    return tls_current;
}

bool weft_loop_on_thread(const weft_loop_t *loop)
{
    return loop && tls_current == loop;
}

bool weft__loop_owner(const weft_loop_t *loop)
{
    /* Acquire: pairs with run's release of `running`, so a thread that
       finds the loop idle sees everything its last run did. */
    return tls_current == loop || !atomic_load_explicit(&loop->running, memory_order_acquire);
}

/* ---- creating ------------------------------------------------------------ */

/* Runs what the inbox and the local ring hold; status as for inbox items. */
static void drain(weft_loop_t *loop, int status)
{
    size_t n = weft__inbox_drain(loop->ib, status);
    weft__stat_add(&loop->posts, n + weft__local_run(loop, loop->local.len));
}

static void doorbell_cb(uv_poll_t *p, int status, int events)
{
    weft_loop_t *loop = weft_container_of(p, weft_loop_t, doorbell);
    weft__inbox_bell_reset(loop->ib); /* before the take: see inbox.c */
    weft__stat_add(&loop->posts, weft__inbox_drain(loop->ib, 0));
    if (weft__inbox_closed(loop->ib))
        uv_stop(&loop->uv);
}

static void apply_options(weft_loop_t *loop, const weft_loop_options_t *o)
{
    if (o->name)
        snprintf(loop->name, sizeof(loop->name), "%s", o->name);
    else
        snprintf(loop->name, sizeof(loop->name), "loop-%u", /* relaxed: just a number */
                 atomic_fetch_add_explicit(&loop_counter, 1, memory_order_relaxed));
    int64_t blocked = o->blocked_threshold_ms ? o->blocked_threshold_ms : DEFAULT_BLOCKED_MS;
    loop->watch.threshold_ns = blocked > 0 ? blocked * WEFT_NS_PER_MS : 0;
    loop->watch.name = loop->name;
    loop->lag_interval_ms = o->lag_interval_ms ? o->lag_interval_ms : DEFAULT_LAG_MS;
}

/* The uv loop and weft's own handles; only the doorbell can fail. */
static int init_uv(weft_loop_t *loop)
{
    int r = uv_loop_init(&loop->uv);
    if (r < 0)
        return r;
    /* Busy time in the stats; never fails for this option on Linux. */
    uv_loop_configure(&loop->uv, UV_METRICS_IDLE_TIME);
    r = uv_poll_init(&loop->uv, &loop->doorbell, weft__inbox_bell_fd(loop->ib));
    if (r < 0) {
        uv_loop_close(&loop->uv);
        return r;
    }
    uv_poll_start(&loop->doorbell, UV_READABLE, doorbell_cb); /* a fresh eventfd: cannot fail */
    uv_idle_init(&loop->uv, &loop->local_idle);
    loop->doorbell.data = &weft__loop_internal_tag;
    loop->local_idle.data = &weft__loop_internal_tag;
    uv_unref((uv_handle_t *)&loop->local_idle);
    /* The doorbell stays referenced: uv_run returns only when stopped. */
    return weft__stats_init(loop);
}

weft_loop_t *weft_loop_new_ex(const weft_loop_options_t *opts)
{
    weft_loop_options_t defaults = {0};
    weft_loop_t *loop = weft__calloc(1, sizeof(*loop));
    if (!loop)
        return NULL;
    apply_options(loop, opts ? opts : &defaults);
    int r = weft__mutex_init(&loop->stats_mu);
    if (r < 0)
        goto out_free;
    loop->ib = weft__inbox_new();
    if (!loop->ib) {
        r = -errno;
        goto out_mutex;
    }
    r = init_uv(loop);
    if (r < 0)
        goto out_inbox;
    return loop;

out_inbox:
    weft__inbox_unref(loop->ib);
out_mutex:
    pthread_mutex_destroy(&loop->stats_mu);
out_free:
    weft__free(loop);
    errno = -r;
    return NULL;
}

weft_loop_t *weft_loop_new(void)
{
    return weft_loop_new_ex(NULL);
}

/* ---- running ------------------------------------------------------------- */

static void run_hooks(weft_loop_t *loop)
{
    if (loop->hooks_ran)
        return;
    loop->hooks_ran = true;
    for (struct weft__hook *h = loop->hooks; h; h = h->next)
        h->fn(loop, h->arg);
}

static void count_closing(uv_handle_t *h, void *arg)
{
    if (uv_is_closing(h))
        ++*(unsigned *)arg;
}

/* Lets handles closed by hooks (or posts) run their close callbacks. */
static void finish_closing(weft_loop_t *loop)
{
    for (int i = 0; i < MAX_CLOSING_ROUNDS; i++) {
        unsigned closing = 0;
        uv_walk(&loop->uv, count_closing, &closing);
        if (!closing)
            return;
        uv_run(&loop->uv, UV_RUN_NOWAIT);
    }
    weft_log(WEFT_LOG_WARN, "loop %s: handles still closing after %d rounds", loop->name,
             MAX_CLOSING_ROUNDS);
}

/* The loop thread, once stopped: everything accepted runs, then the
   hooks, then their closes. */
static void shut_down(weft_loop_t *loop)
{
    drain(loop, 0);
    weft__delays_cancel_all(loop);
    run_hooks(loop);
    finish_closing(loop);
    drain(loop, 0);
}

int weft_loop_run(weft_loop_t *loop)
{
    if (!loop)
        return -EINVAL;
    if (weft__on_loop_thread())
        return -EDEADLK;
    if (loop->closed)
        return -EPIPE;
    bool idle = false;
    if (!atomic_compare_exchange_strong(&loop->running, &idle, true))
        return -EBUSY;
    struct weft__loop_tls saved = weft__loop_enter(loop);
    weft__stats_run_begin(loop);
    drain(loop, 0); /* every post accepted so far runs first */
    /* A user's uv_stop ends uv_run early: only our stop ends the loop. */
    while (!weft__inbox_closed(loop->ib))
        uv_run(&loop->uv, UV_RUN_DEFAULT);
    shut_down(loop);
    weft__stats_run_end(loop);
    weft__loop_leave(saved);
    /* Release: whoever closes the loop next sees all the loop did. */
    atomic_store_explicit(&loop->running, false, memory_order_release);
    return 0;
}

int weft_loop_stop(weft_loop_t *loop)
{
    if (!loop)
        return -EINVAL;
    struct weft__cont *cancelled, *next;
    if (!weft__inbox_stop(loop->ib, &cancelled))
        return 0;
    if (weft_loop_on_thread(loop))
        uv_stop(&loop->uv); /* from elsewhere, the doorbell does it */
    for (; cancelled; cancelled = next) {
        next = cancelled->next;
        weft__cont_deliver(cancelled, -ECANCELED);
    }
    return 0;
}

bool weft_loop_is_stopped(const weft_loop_t *loop)
{
    return weft__inbox_closed(loop->ib);
}

/* ---- closing ------------------------------------------------------------- */

static void count_user(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h) && h->data != &weft__loop_internal_tag)
        ++*(unsigned *)arg;
}

static void close_internal(weft_loop_t *loop)
{
    pthread_mutex_lock(&loop->stats_mu);
    loop->closed = true; /* the stats stop asking libuv */
    pthread_mutex_unlock(&loop->stats_mu);
    uv_close((uv_handle_t *)&loop->doorbell, NULL);
    uv_close((uv_handle_t *)&loop->local_idle, NULL);
    weft__stats_close(loop);
    weft__delays_close(loop);
    /* Their close callbacks. A uv_stop left pending (a stop before uv_run
       ever ran) makes the first uv_run return at once: run until done. */
    for (int i = 0; i < MAX_CLOSING_ROUNDS && uv_run(&loop->uv, UV_RUN_DEFAULT); i++)
        ;
    int r = uv_loop_close(&loop->uv);
    if (WEFT_NEVER(r != 0))
        weft_log(WEFT_LOG_ERROR, "loop %s: uv_loop_close: %s", loop->name, uv_strerror(r));
    weft__delays_free(loop);
    weft__local_free(loop);
    for (struct weft__hook *h = loop->hooks, *next; h; h = next) {
        next = h->next;
        weft__free(h);
    }
    loop->hooks = NULL;
}

int weft_loop_close(weft_loop_t *loop)
{
    if (!loop)
        return -EINVAL;
    if (loop->closed)
        return 0;
    /* Acquire: pairs with run's release of `running`. */
    if (atomic_load_explicit(&loop->running, memory_order_acquire) || !weft__inbox_closed(loop->ib))
        return -EBUSY;
    struct weft__loop_tls saved = weft__loop_enter(loop);
    weft__inbox_wait_reservations(loop->ib);
    drain(loop, -ECANCELED);
    weft__delays_cancel_all(loop);
    run_hooks(loop);
    finish_closing(loop);
    unsigned user = 0;
    uv_walk(&loop->uv, count_user, &user);
    if (!user)
        close_internal(loop);
    weft__loop_leave(saved);
    return user ? -EBUSY : 0;
}

void weft_loop_free(weft_loop_t *loop)
{
    if (!loop)
        return;
    WEFT_ASSERT(!atomic_load(&loop->running));
    if (!loop->closed) {
        weft_loop_stop(loop);
        int r = weft_loop_close(loop);
        if (r < 0) {
            weft_log(WEFT_LOG_ERROR, "weft_loop_free: loop %s: %s (handles still open); leaked",
                     loop->name, weft_strerror(r));
            return;
        }
    }
    pthread_mutex_destroy(&loop->stats_mu);
    weft__inbox_unref(loop->ib);
    weft__free(loop);
}

/* ---- small things ---------------------------------------------------------- */

uv_loop_t *weft_loop_uv(weft_loop_t *loop)
{
    return &loop->uv;
}

void weft_loop_set_data(weft_loop_t *loop, void *data)
{
    loop->data = data;
}

void *weft_loop_data(const weft_loop_t *loop)
{
    return loop->data;
}

const char *weft_loop_name(const weft_loop_t *loop)
{
    return loop->name;
}

int weft_loop_on_stop(weft_loop_t *loop, void (*fn)(weft_loop_t *, void *), void *arg)
{
    if (!loop || !fn)
        return -EINVAL;
    if (!weft__loop_owner(loop))
        return -EPERM;
    if (weft__inbox_closed(loop->ib) || loop->hooks_ran)
        return -EPIPE;
    struct weft__hook *h = weft__malloc(sizeof(*h)), **tail = &loop->hooks;
    if (!h)
        return -ENOMEM;
    h->fn = fn;
    h->arg = arg;
    h->next = NULL;
    while (*tail)
        tail = &(*tail)->next;
    *tail = h;
    return 0;
}
