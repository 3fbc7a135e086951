/*
 * timers.c - per-loop deadlines without a timer handle per connection.
 *
 * Every connection of a loop in a given phase waits with the same timeout
 * (header, idle, body window, send, linger), so one FIFO list per phase,
 * appended to in arming order, is sorted by deadline: arming is an append,
 * disarming an unlink, and one uv_timer_t per loop, ticking every TICK_MS,
 * pops the expired heads. This is the degenerate timer wheel for constant
 * timeouts (libev's "timer lists"), with no slot scanning at all; the cost
 * is a resolution of TICK_MS, far below any HTTP timeout.
 */
#include "http/http-int.h"

#define TICK_MS 100

static void unlink_timer(struct timer_link *t)
{
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->next = t->prev = NULL;
    t->list = TL_NONE;
}

void weft__timer_disarm(struct http_conn *c)
{
    if (c->timer.list != TL_NONE)
        unlink_timer(&c->timer);
}

void weft__timer_arm(struct http_conn *c, enum timer_list list, int64_t timeout_ms)
{
    struct http_loop *hl = c->hl;
    weft__timer_disarm(c);
    struct timer_link *head = &hl->lists[list];
    struct timer_link *t = &c->timer;
    t->deadline_ms = (int64_t)uv_now(hl->uv) + timeout_ms;
    t->list = (uint8_t)list;
    t->prev = head->prev;
    t->next = head;
    head->prev->next = t;
    head->prev = t;
}

static void on_tick(uv_timer_t *timer)
{
    struct http_loop *hl = timer->data;
    int64_t now = (int64_t)uv_now(hl->uv);
    hl->now_ms = now;
    for (int list = TL_NONE + 1; list < TL_COUNT; list++) {
        struct timer_link *head = &hl->lists[list];
        while (head->next != head && head->next->deadline_ms <= now) {
            struct http_conn *c = weft_container_of(head->next, struct http_conn, timer);
            unlink_timer(&c->timer);
            weft__conn_timeout(c, (enum timer_list)list);
        }
    }
    weft__site_tick(hl);
}

int weft__timers_start(struct http_loop *hl)
{
    for (int i = 0; i < TL_COUNT; i++)
        hl->lists[i].next = hl->lists[i].prev = &hl->lists[i];
    int r = uv_timer_init(hl->uv, &hl->tick);
    if (r < 0)
        return r;
    hl->tick.data = hl;
    hl->tick_open = true;
    return uv_timer_start(&hl->tick, on_tick, TICK_MS, TICK_MS);
}

void weft__timers_stop(struct http_loop *hl)
{
    if (hl->tick_open) {
        uv_timer_stop(&hl->tick);
        uv_close((uv_handle_t *)&hl->tick, NULL);
        hl->tick_open = false;
    }
}
