/*
 * delay.c - cl-async's with-delay: a callback after some milliseconds, on
 * the loop thread, exactly once (expired: 0; loop stopped first:
 * -ECANCELED) unless cancelled.
 *
 * Each delay lives in a slot holding a uv_timer_t. Slots are kept for the
 * loop's life and reused through a free list, so a steady stream of delays
 * (per-request timeouts) allocates nothing; their timers stay initialised
 * (weft's own handles, tagged) until weft_loop_close closes them. A delay's
 * id is its slot index and the slot's generation, bumped at every reuse,
 * so a stale id never cancels a later delay (DESIGN rule 7).
 *
 * Threads: loop thread only (or while no thread runs the loop); nothing
 * here is shared with other threads, so nothing is locked.
 */
#include <errno.h>

#include "loop/loop-int.h"

struct weft__delay {
    uv_timer_t timer;
    weft_loop_t *loop;
    weft_delay_fn fn;
    void *arg;
    uint32_t index, gen;
    bool active;
    struct weft__delay *next_free;
};

static struct weft__delay *slot_new(weft_loop_t *loop)
{
    struct weft__delays *d = &loop->delays;
    if (d->n == d->cap) {
        uint32_t cap = d->cap ? d->cap * 2 : 16;
        struct weft__delay **v = weft__realloc(d->slots, cap * sizeof(*v));
        if (!v)
            return NULL;
        d->slots = v;
        d->cap = cap;
    }
    struct weft__delay *s = weft__calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    uv_timer_init(&loop->uv, &s->timer);
    s->timer.data = &weft__loop_internal_tag;
    uv_unref((uv_handle_t *)&s->timer);
    s->loop = loop;
    s->index = d->n;
    s->gen = 1;
    d->slots[d->n++] = s;
    return s;
}

static struct weft__delay *slot_get(weft_loop_t *loop)
{
    struct weft__delays *d = &loop->delays;
    struct weft__delay *s = d->free;
    if (!s)
        return slot_new(loop);
    d->free = s->next_free;
    return s;
}

static void slot_put(struct weft__delay *s)
{
    struct weft__delays *d = &s->loop->delays;
    s->active = false;
    s->fn = NULL;
    s->arg = NULL;
    if (++s->gen == 0) /* ids are never 0 */
        s->gen = 1;
    s->next_free = d->free;
    d->free = s;
    d->pending--;
}

static void fire(uv_timer_t *t)
{
    struct weft__delay *s = weft_container_of(t, struct weft__delay, timer);
    weft_loop_t *loop = s->loop;
    weft_delay_fn fn = s->fn;
    void *arg = s->arg;
    slot_put(s); /* first: fn may start or cancel delays */
    fn(loop, 0, arg);
}

int weft_loop_delay(weft_loop_t *loop, uint64_t ms, weft_delay_fn fn, void *arg,
                    weft_delay_id_t *id)
{
    if (!loop || !fn)
        return -EINVAL;
    if (!weft__loop_owner(loop))
        return -EPERM;
    if (weft__inbox_closed(loop->ib))
        return -EPIPE;
    struct weft__delay *s = slot_get(loop);
    if (!s)
        return -ENOMEM;
    s->fn = fn;
    s->arg = arg;
    s->active = true;
    loop->delays.pending++;
    uv_timer_start(&s->timer, fire, ms, 0); /* fails only on a closing handle */
    if (id)
        *id = (uint64_t)s->gen << 32 | s->index;
    return 0;
}

int weft_loop_delay_cancel(weft_loop_t *loop, weft_delay_id_t id)
{
    if (!loop)
        return -EINVAL;
    if (!weft__loop_owner(loop))
        return -EPERM;
    uint32_t index = (uint32_t)id, gen = (uint32_t)(id >> 32);
    if (index >= loop->delays.n)
        return -ENOENT;
    struct weft__delay *s = loop->delays.slots[index];
    if (!s->active || s->gen != gen)
        return -ENOENT;
    uv_timer_stop(&s->timer);
    slot_put(s);
    return 0;
}

void weft__delays_cancel_all(weft_loop_t *loop)
{
    struct weft__delays *d = &loop->delays;
    for (uint32_t i = 0; i < d->n && d->pending; i++) {
        struct weft__delay *s = d->slots[i];
        if (!s->active)
            continue;
        weft_delay_fn fn = s->fn;
        void *arg = s->arg;
        uv_timer_stop(&s->timer);
        slot_put(s);
        fn(loop, -ECANCELED, arg);
    }
}

void weft__delays_close(weft_loop_t *loop)
{
    for (uint32_t i = 0; i < loop->delays.n; i++)
        uv_close((uv_handle_t *)&loop->delays.slots[i]->timer, NULL);
}

void weft__delays_free(weft_loop_t *loop)
{
    struct weft__delays *d = &loop->delays;
    WEFT_ASSERT(d->pending == 0);
    for (uint32_t i = 0; i < d->n; i++)
        weft__free(d->slots[i]);
    weft__free(d->slots);
    *d = (struct weft__delays){0};
}
