/*
 * post.c - weft_loop_post, and the local ring for posts a loop thread makes
 * to its own loop.
 *
 * A post from another thread goes through the inbox (inbox.c). A post from
 * the loop's own thread needs no atomics: it goes into a ring owned by the
 * loop thread, run by an idle handle on the next iteration (an active idle
 * handle makes libuv poll without waiting), only as many entries as the
 * ring held when the batch began, so a callback that posts itself runs
 * once per iteration and never starves I/O. Order per producer holds: a
 * thread's posts made before it started running the loop sit in the inbox,
 * which weft_loop_run drains before the first iteration.
 *
 * Threads: the ring is touched only by the thread that runs the loop, or
 * by the closing thread once no thread runs it.
 */
#include <errno.h>
#include <string.h>

#include "loop/loop-int.h"

#define LOCAL_MIN 64 /* entries; the ring's capacity is a power of two */

static int grow(struct weft__local *q)
{
    size_t cap = q->cap ? q->cap * 2 : LOCAL_MIN;
    struct weft__post *v = weft__malloc(cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < q->len; i++)
        v[i] = q->v[(q->head + i) & (q->cap - 1)];
    weft__free(q->v);
    q->v = v;
    q->cap = cap;
    q->head = 0;
    return 0;
}

static void local_cb(uv_idle_t *idle)
{
    weft_loop_t *loop = weft_container_of(idle, weft_loop_t, local_idle);
    weft__stat_add(&loop->posts, weft__local_run(loop, loop->local.len));
}

size_t weft__local_run(weft_loop_t *loop, size_t n)
{
    struct weft__local *q = &loop->local;
    for (size_t i = 0; i < n; i++) {
        struct weft__post p = q->v[q->head]; /* copied: fn may grow the ring */
        q->head = (q->head + 1) & (q->cap - 1);
        q->len--;
        p.fn(p.arg);
    }
    if (!q->len && !uv_is_closing((uv_handle_t *)&loop->local_idle))
        uv_idle_stop(&loop->local_idle);
    return n;
}

void weft__local_free(weft_loop_t *loop)
{
    WEFT_ASSERT(loop->local.len == 0);
    weft__free(loop->local.v);
    memset(&loop->local, 0, sizeof(loop->local));
}

static int post_local(weft_loop_t *loop, void (*fn)(void *), void *arg)
{
    struct weft__local *q = &loop->local;
    if (weft__inbox_closed(loop->ib))
        return -EPIPE;
    if (q->len == q->cap && grow(q) < 0)
        return -ENOMEM;
    q->v[(q->head + q->len) & (q->cap - 1)] = (struct weft__post){fn, arg};
    if (q->len++ == 0)
        uv_idle_start(&loop->local_idle, local_cb);
    return 0;
}

int weft_loop_post(weft_loop_t *loop, void (*fn)(void *), void *arg)
{
    if (!loop || !fn)
        return -EINVAL;
    if (weft_loop_on_thread(loop))
        return post_local(loop, fn, arg);
    return weft__inbox_post(loop->ib, fn, arg);
}
