/*
 * then.c - continuations on a loop: weft_future_then (and the record that
 * weft_loop_work shares with it).
 *
 * A record (struct weft__cont) has two references: its settle node on the
 * future, dropped when the node fires, and its delivery, dropped after the
 * callback ran. The node is registered first, then the record is attached
 * to the inbox (weft__cont_attach), so a future that has already settled
 * still delivers through the loop, never inside the registering call.
 * Which state a record is in, and who delivers it, is decided under the
 * inbox's lock (inbox.c); the callback itself always runs with no lock
 * held. then holds its own reference to the future until the callback has
 * returned.
 *
 * Threads: the node fires on the settling thread; status 0 is delivered by
 * the loop thread, -ECANCELED by the stopping thread (then), the settling
 * thread (work, or a then registered concurrently with a stop), or the
 * closing thread (queued records of a loop that never ran them).
 */
#include <errno.h>

#include "loop/loop-int.h"

static void cont_put(struct weft__cont *c)
{
    /* acq_rel: each holder's writes happen before the free. */
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    weft__inbox_unref(c->ib);
    weft__free(c);
}

void weft__cont_deliver(struct weft__cont *c, int status)
{
    c->fn(c->f, status, c->arg);
    weft_future_unref(c->f);
    cont_put(c);
}

/* On the inbox's list: status 0 on the loop thread, -ECANCELED in close. */
static size_t cont_run(struct weft__inbox_item *it, int status)
{
    struct weft__cont *c = weft_container_of(it, struct weft__cont, item);
    if (c->cancelled)
        status = -ECANCELED;
    if (status == 0)
        weft__inbox_count_cont(c->ib);
    weft__cont_deliver(c, status);
    return 0;
}

static void cont_fire(weft_future_t *f, struct weft__future_cb *cb, bool fire)
{
    struct weft__cont *c = weft_container_of(cb, struct weft__cont, node);
    if (weft__cont_settled(c))
        weft__cont_deliver(c, -ECANCELED);
    cont_put(c);
}

struct weft__cont *weft__cont_new(struct weft__inbox *ib, weft_then_fn fn, void *arg, bool work)
{
    struct weft__cont *c = weft__calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->item.run = cont_run;
    c->node.fn = cont_fire;
    c->ib = ib;
    weft__inbox_ref(ib);
    c->fn = fn;
    c->arg = arg;
    c->work = work;
    c->state = WEFT__CONT_NEW;
    atomic_init(&c->refs, 2);
    return c;
}

void weft__cont_discard(struct weft__cont *c)
{
    weft__inbox_unref(c->ib);
    weft__free(c);
}

int weft__cont_register(struct weft__cont *c, weft_future_t *f, bool reserved)
{
    c->f = f;
    weft__future_on_settle_cb(f, &c->node); /* may fire at once: SETTLED_EARLY */
    int r = weft__cont_attach(c, reserved);
    if (r < 0) {
        /* ABANDONED: the node drops its own reference when it fires. The
           caller's reference keeps f alive across this unref. */
        weft_future_unref(f);
        cont_put(c);
    }
    return r;
}

int weft_future_then(weft_future_t *f, weft_loop_t *loop, weft_then_fn cb, void *arg)
{
    if (!f || !loop || !cb)
        return -EINVAL;
    if (weft__inbox_closed(loop->ib))
        return -EPIPE;
    struct weft__cont *c = weft__cont_new(loop->ib, cb, arg, false);
    if (!c)
        return -ENOMEM;
    return weft__cont_register(c, weft_future_ref(f), false);
}
