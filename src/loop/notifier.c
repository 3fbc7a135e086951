/*
 * notifier.c - cl-async's make-notifier / trigger-notifier: a callback on
 * the loop thread that any thread can wake.
 *
 * A notifier is one uv_async_t, so triggers coalesce exactly as libuv's do:
 * after each trigger the callback runs at least once, later; triggers that
 * arrive before it runs may share one call. This is a wake-up, not a queue:
 * to hand over values, post (weft_loop_post) or keep them in a structure
 * the callback reads.
 *
 * Threads: new and free on the loop thread (or while no thread runs it);
 * trigger from any thread until free. The trigger's release and the
 * callback's acquire on `triggers` make the hand-off visible to tools
 * (ThreadSanitizer cannot see libuv's own barrier inside uv_async_send).
 */
#include <errno.h>

#include "loop/loop-int.h"

struct weft_notifier {
    uv_async_t async;
    weft_loop_t *loop;
    void (*cb)(void *arg);
    void *arg;
    _Atomic uint64_t triggers;
};

static void notifier_cb(uv_async_t *a)
{
    weft_notifier_t *n = weft_container_of(a, weft_notifier_t, async);
    /* Acquire: pairs with the triggers' release; whatever a triggering
       thread wrote before its trigger is visible to cb. */
    (void)atomic_load_explicit(&n->triggers, memory_order_acquire);
    n->cb(n->arg);
}

weft_notifier_t *weft_notifier_new(weft_loop_t *loop, void (*cb)(void *), void *arg)
{
    int r = -EINVAL;
    if (!loop || !cb)
        goto out_err;
    r = !weft__loop_owner(loop) ? -EPERM : weft__inbox_closed(loop->ib) ? -EPIPE : 0;
    if (r < 0)
        goto out_err;
    weft_notifier_t *n = weft__calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    r = uv_async_init(&loop->uv, &n->async, notifier_cb);
    if (r < 0) {
        weft__free(n);
        goto out_err;
    }
    n->async.data = n;
    n->loop = loop;
    n->cb = cb;
    n->arg = arg;
    atomic_init(&n->triggers, 0);
    return n;

out_err:
    errno = -r;
    return NULL;
}

int weft_notifier_trigger(weft_notifier_t *n)
{
    if (!n)
        return -EINVAL;
    if (weft__inbox_closed(n->loop->ib))
        return -EPIPE;
    /* Release: see notifier_cb. */
    atomic_fetch_add_explicit(&n->triggers, 1, memory_order_release);
    uv_async_send(&n->async); /* 0 always; libuv coalesces */
    return 0;
}

static void free_cb(uv_handle_t *h)
{
    weft__free(weft_container_of((uv_async_t *)h, weft_notifier_t, async));
}

void weft_notifier_free(weft_notifier_t *n)
{
    if (!n)
        return;
    WEFT_ASSERT(weft__loop_owner(n->loop));
    uv_close((uv_handle_t *)&n->async, free_cb);
}
