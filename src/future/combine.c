/*
 * combine.c - weft_future_all and weft_future_any.
 *
 * One allocation holds the result future (embedded), a reference to every
 * input, and one settle node per input. The input references are dropped
 * when the result's last reference goes (an input the user also dropped
 * then settles as cancelled and fires its node). The block lives until both
 * the result is gone and every input node has fired: `holds` counts the
 * result (1) plus the input nodes not yet fired, and whoever takes it to
 * zero frees the block.
 *
 * An input node reaches the result through weft__future_try_ref, never a
 * reference of its own (that would keep the result alive, so dropping it
 * could never cancel it): if the result is already being destroyed there
 * is nobody left to tell.
 *
 * Cancelling the result (explicitly, or by dropping its last reference
 * while pending) cancels every input still pending, through a cancel node
 * on the result.
 */
#include <errno.h>
#include <stdatomic.h>

#include "future/future-int.h"

struct combine;

struct input_node {
    struct weft__future_cb cb;
    struct combine *c;
    size_t index;
};

struct combine {
    struct weft_future result; /* first: the release hook finds the block */
    struct weft__future_cb on_result_cancel;
    bool any; /* weft_future_any, else weft_future_all */
    size_t n;
    _Atomic size_t count; /* all: inputs fulfilled; any: inputs failed */
    _Atomic size_t holds; /* 1 for the result + input nodes not yet fired */
    weft_future_t **inputs;
    struct input_node nodes[];
};

static void drop_hold(struct combine *c)
{
    if (atomic_fetch_sub_explicit(&c->holds, 1, memory_order_acq_rel) == 1)
        weft__free(c);
}

/* The result's last reference is gone: nobody needs the inputs any more.
   Dropping them may fire their nodes here, which is why the result's own
   hold goes last. */
static void release_result(weft_future_t *f)
{
    struct combine *c = weft_container_of(f, struct combine, result);
    for (size_t i = 0; i < c->n; i++)
        weft_future_unref(c->inputs[i]);
    drop_hold(c);
}

/* Settles the result from input i, which has just settled. */
static void input_settled(struct combine *c, weft_future_t *in, size_t i)
{
    bool fulfilled = weft_future_state(in) == WEFT_FUTURE_FULFILLED;
    if (!c->any) {
        if (!fulfilled)
            weft_future_reject(&c->result, weft_future_error(in), weft_future_message(in));
        else if (atomic_fetch_add(&c->count, 1) + 1 == c->n)
            weft_future_fulfill_int(&c->result, (int64_t)c->n);
        return;
    }
    if (fulfilled) {
        weft_future_fulfill_int(&c->result, (int64_t)i);
    } else if (atomic_fetch_add(&c->count, 1) + 1 == c->n) {
        /* Every input failed, input 0 included: report its error. */
        weft_future_reject(&c->result, weft_future_error(c->inputs[0]),
                           weft_future_message(c->inputs[0]));
    }
}

static void input_fire(weft_future_t *f, struct weft__future_cb *cb, bool fire)
{
    struct input_node *node = weft_container_of(cb, struct input_node, cb);
    struct combine *c = node->c;
    if (weft__future_try_ref(&c->result)) {
        input_settled(c, f, node->index);
        weft_future_unref(&c->result);
    }
    drop_hold(c);
}

static void result_cancelled(weft_future_t *f, struct weft__future_cb *cb, bool fire)
{
    struct combine *c = weft_container_of(cb, struct combine, on_result_cancel);
    if (!fire)
        return;
    for (size_t i = 0; i < c->n; i++)
        weft_future_cancel(c->inputs[i]); /* -EALREADY for settled ones */
}

static weft_future_t *combine_new(weft_future_t *const *fs, size_t n, bool any)
{
    if (n && !fs) {
        errno = EINVAL;
        return NULL;
    }
    size_t per_input = sizeof(struct input_node) + sizeof(weft_future_t *);
    if (n > (SIZE_MAX - sizeof(struct combine)) / per_input) {
        errno = ENOMEM;
        return NULL;
    }
    struct combine *c = weft__malloc(sizeof(*c) + n * per_input);
    if (!c)
        return NULL;
    weft__future_init(&c->result, release_result);
    c->any = any;
    c->n = n;
    atomic_init(&c->count, 0);
    atomic_init(&c->holds, 1 + n);
    c->inputs = (weft_future_t **)&c->nodes[n];
    for (size_t i = 0; i < n; i++)
        c->inputs[i] = weft_future_ref(fs[i]);
    c->on_result_cancel.fn = result_cancelled;
    weft__future_on_cancel_cb(&c->result, &c->on_result_cancel);
    return &c->result;
}

static weft_future_t *combine(weft_future_t *const *fs, size_t n, bool any)
{
    struct combine *c = (struct combine *)combine_new(fs, n, any);
    if (!c)
        return NULL;
    if (n == 0) {
        if (any)
            weft_future_reject(&c->result, -EINVAL, "weft_future_any of no futures");
        else
            weft_future_fulfill_int(&c->result, 0);
        return &c->result;
    }
    /* Inputs already settled fire at once, possibly settling the result
       before the rest are registered: later ones then get -EALREADY. */
    for (size_t i = 0; i < n; i++) {
        c->nodes[i] = (struct input_node){.cb.fn = input_fire, .c = c, .index = i};
        weft__future_on_settle_cb(c->inputs[i], &c->nodes[i].cb);
    }
    return &c->result;
}

weft_future_t *weft_future_all(weft_future_t *const *fs, size_t n)
{
    return combine(fs, n, false);
}

weft_future_t *weft_future_any(weft_future_t *const *fs, size_t n)
{
    return combine(fs, n, true);
}
