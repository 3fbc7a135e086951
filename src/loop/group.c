/*
 * group.c - N loops on N threads: the shape of a server (one loop per
 * core, SO_REUSEPORT listeners per loop).
 *
 * Each member owns one loop and, once started, one thread that runs it
 * (weft__thread_start: async signals blocked; libuv delivers a uv_signal_t
 * to its loop whichever thread the signal lands on). The on_start hook is
 * posted before the thread starts, so it runs first on that loop's thread;
 * on_stop is registered as the loop's on_stop hook.
 *
 * Threads: one managing thread creates, starts, joins and frees the group;
 * stop may come from anywhere (a loop's own thread included), as
 * weft_loop_stop may. Nothing here is locked: members are written by the
 * managing thread before their threads start (pthread_create orders it)
 * and read back after join.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "loop/loop-int.h"
#include "sync/thread.h"

#define MAX_LOOPS 4096

struct member {
    weft_loop_group_t *g;
    weft_loop_t *loop;
    unsigned index;
    pthread_t thread;
    bool started, joined;
    char name[32];
};

struct weft_loop_group {
    unsigned n;
    bool started;
    void (*on_start)(weft_loop_t *loop, unsigned index, void *arg);
    void (*on_stop)(weft_loop_t *loop, unsigned index, void *arg);
    void *arg;
    struct member m[];
};

static unsigned cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

static void member_stop_hook(weft_loop_t *loop, void *arg)
{
    struct member *m = arg;
    m->g->on_stop(loop, m->index, m->g->arg);
}

static void member_start_hook(void *arg)
{
    struct member *m = arg;
    /* If the thread never started, close runs this post: not on_start's
       thread, so skip it. */
    if (weft_loop_on_thread(m->loop) && atomic_load(&m->loop->running))
        m->g->on_start(m->loop, m->index, m->g->arg);
}

static int member_init(weft_loop_group_t *g, unsigned i, const weft_loop_group_options_t *o)
{
    struct member *m = &g->m[i];
    weft_loop_options_t lo = o->loop;
    m->g = g;
    m->index = i;
    snprintf(m->name, sizeof(m->name), "%s-%u", o->name ? o->name : "weft-loop", i);
    lo.name = m->name;
    m->loop = weft_loop_new_ex(&lo);
    if (!m->loop)
        return -errno;
    if (g->on_stop)
        return weft_loop_on_stop(m->loop, member_stop_hook, m);
    return 0;
}

weft_loop_group_t *weft_loop_group_new(const weft_loop_group_options_t *opts)
{
    weft_loop_group_options_t defaults = {0}, o = opts ? *opts : defaults;
    unsigned n = o.loops ? o.loops : cpu_count();
    if (n > MAX_LOOPS) {
        errno = EINVAL;
        return NULL;
    }
    weft_loop_group_t *g = weft__calloc(1, sizeof(*g) + n * sizeof(g->m[0]));
    if (!g)
        return NULL;
    g->n = n;
    g->on_start = o.on_start;
    g->on_stop = o.on_stop;
    g->arg = o.arg;
    for (unsigned i = 0; i < n; i++) {
        int r = member_init(g, i, &o);
        if (r < 0) {
            weft_loop_group_free(g);
            errno = -r;
            return NULL;
        }
    }
    return g;
}

static void *member_main(void *arg)
{
    struct member *m = arg;
    weft__thread_set_name(m->name);
    weft_loop_run(m->loop);
    return NULL;
}

static int member_start(struct member *m)
{
    int r = 0;
    if (m->g->on_start)
        r = weft_loop_post(m->loop, member_start_hook, m);
    if (r == 0)
        r = weft__thread_start(&m->thread, member_main, m, false);
    m->started = r == 0;
    return r;
}

int weft_loop_group_start(weft_loop_group_t *g)
{
    if (g->started)
        return -EBUSY;
    g->started = true;
    for (unsigned i = 0; i < g->n; i++) {
        int r = member_start(&g->m[i]);
        if (r < 0) {
            weft_loop_group_stop(g);
            weft_loop_group_join(g);
            return r;
        }
    }
    return 0;
}

int weft_loop_group_stop(weft_loop_group_t *g)
{
    for (unsigned i = 0; i < g->n; i++)
        if (g->m[i].loop)
            weft_loop_stop(g->m[i].loop);
    return 0;
}

int weft_loop_group_join(weft_loop_group_t *g)
{
    if (weft__on_loop_thread())
        return -EDEADLK;
    for (unsigned i = 0; i < g->n; i++) {
        struct member *m = &g->m[i];
        if (m->started && !m->joined) {
            pthread_join(m->thread, NULL);
            m->joined = true;
        }
    }
    return 0;
}

unsigned weft_loop_group_size(const weft_loop_group_t *g)
{
    return g->n;
}

weft_loop_t *weft_loop_group_loop(weft_loop_group_t *g, unsigned i)
{
    return i < g->n ? g->m[i].loop : NULL;
}

void weft_loop_group_free(weft_loop_group_t *g)
{
    if (!g)
        return;
    weft_loop_group_stop(g);
    if (weft_loop_group_join(g) < 0) {
        weft_log(WEFT_LOG_ERROR, "weft_loop_group_free on a loop thread; the group is leaked");
        return;
    }
    for (unsigned i = 0; i < g->n; i++)
        weft_loop_free(g->m[i].loop);
    weft__free(g);
}
