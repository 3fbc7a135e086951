/*
 * notifier.c - cl-async's make-notifier / trigger-notifier: a callback on
 * the loop thread that any thread can wake.
 *
 * A notifier is an eventfd of its own that the loop polls (not a
 * uv_async_t: libuv 1.44's async handle spins the loop while a sender is
 * between its two steps, as the inbox's doorbell found; see inbox.c).
 * Triggers coalesce: `rung` says a wake-up is already on its way, so only
 * the first trigger after the callback started writes to the eventfd.
 * After each trigger the callback runs at least once, later; triggers that
 * arrive before it runs may share one call. This is a wake-up, not a
 * queue: to hand over values, post (weft_loop_post) or keep them in a
 * structure the callback reads.
 *
 * Threads: new and free on the loop thread (or while no thread runs it);
 * trigger from any thread until free. The trigger's release and the
 * callback's acquire on `triggers` make the hand-off visible to tools
 * (ThreadSanitizer cannot see the kernel's ordering inside the eventfd).
 */
#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "loop/loop-int.h"

struct weft_notifier {
    uv_poll_t poll;
    int fd; /* the eventfd */
    weft_loop_t *loop;
    void (*cb)(void *arg);
    void *arg;
    _Atomic uint64_t triggers;
    atomic_bool rung; /* written to fd, the callback not started yet */
};

static void notifier_cb(uv_poll_t *p, int status, int events)
{
    weft_notifier_t *n = weft_container_of(p, weft_notifier_t, poll);
    uint64_t count;
    if (read(n->fd, &count, sizeof(count)) < 0)
        return; /* EAGAIN: a spurious wake-up */
    /* Cleared before cb (seq_cst with the triggers' exchange): a trigger
       that still saw it set came before this point, and cb runs after. */
    atomic_store(&n->rung, false);
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
    n->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    r = n->fd < 0 ? -errno : uv_poll_init(&loop->uv, &n->poll, n->fd);
    if (r < 0) {
        if (n->fd >= 0)
            close(n->fd);
        weft__free(n);
        goto out_err;
    }
    uv_poll_start(&n->poll, UV_READABLE, notifier_cb); /* a fresh eventfd: cannot fail */
    n->poll.data = n;
    n->loop = loop;
    n->cb = cb;
    n->arg = arg;
    atomic_init(&n->triggers, 0);
    atomic_init(&n->rung, false);
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
    if (!atomic_exchange(&n->rung, true)) {
        uint64_t one = 1;
        ssize_t w = write(n->fd, &one, sizeof(one)); /* cannot fill: read each wake-up */
        (void)w;
    }
    return 0;
}

static void free_cb(uv_handle_t *h)
{
    weft_notifier_t *n = weft_container_of((uv_poll_t *)h, weft_notifier_t, poll);
    close(n->fd); /* after libuv let go of it */
    weft__free(n);
}

void weft_notifier_free(weft_notifier_t *n)
{
    if (!n)
        return;
    WEFT_ASSERT(weft__loop_owner(n->loop));
    uv_close((uv_handle_t *)&n->poll, free_cb);
}
