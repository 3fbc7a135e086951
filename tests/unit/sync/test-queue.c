/* Unit tests for weft_queue_t (src/sync/queue.c). */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "weft/sync.h"
#include "error/base.h"
#include "sync/thread.h"
#include "test-support.h"

#define ITEM(n) ((void *)(uintptr_t)(n))

/* A push or pop run on another thread. */
struct call {
    weft_queue_t *q;
    void *item;
    int64_t timeout_ms;
    int result;
    atomic_bool done;
    pthread_t thread;
};

static void *push_main(void *arg)
{
    struct call *c = arg;
    c->result = weft_queue_push(c->q, c->item, c->timeout_ms);
    atomic_store(&c->done, true);
    return NULL;
}

static void *pop_main(void *arg)
{
    struct call *c = arg;
    c->result = weft_queue_pop(c->q, &c->item, c->timeout_ms);
    atomic_store(&c->done, true);
    return NULL;
}

static void start(struct call *c, void *(*fn)(void *), weft_queue_t *q, void *item)
{
    c->q = q;
    c->item = item;
    c->timeout_ms = -1;
    c->result = 1;
    atomic_init(&c->done, false);
    assert_int_equal(pthread_create(&c->thread, NULL, fn, c), 0);
}

static void join(struct call *c)
{
    assert_int_equal(pthread_join(c->thread, NULL), 0);
}

static int unmark_loop(void **state)
{
    weft__thread_mark_loop(false);
    return 0;
}

static void accessors_of_a_new_queue(void **state)
{
    weft_queue_t *q = weft_queue_new(3);
    assert_non_null(q);
    assert_int_equal(weft_queue_capacity(q), 3);
    assert_int_equal(weft_queue_len(q), 0);
    assert_false(weft_queue_is_closed(q));
    weft_queue_free(q);
    weft_queue_free(NULL);

    q = weft_queue_new(0);
    assert_int_equal(weft_queue_capacity(q), 0);
    weft_queue_free(q);
}

static void full_queue_refuses_and_times_out(void **state)
{
    weft_queue_t *q = weft_queue_new(2);
    assert_int_equal(weft_queue_push(q, ITEM(1), 0), 0);
    assert_int_equal(weft_queue_try_push(q, ITEM(2)), 0);
    assert_int_equal(weft_queue_try_push(q, ITEM(3)), -EAGAIN);
    assert_int_equal(weft_queue_push(q, ITEM(3), 0), -ETIMEDOUT);

    int64_t t0 = weft_test_now_ms();
    assert_int_equal(weft_queue_push(q, ITEM(3), 50), -ETIMEDOUT);
    int64_t elapsed = weft_test_now_ms() - t0;
    assert_true(elapsed >= 49);
    assert_true(elapsed < weft_test_ms(250));
    assert_int_equal(weft_queue_len(q), 2);

    void *item;
    assert_int_equal(weft_queue_pop(q, &item, 0), 0);
    assert_ptr_equal(item, ITEM(1));
    assert_int_equal(weft_queue_pop(q, &item, 0), 0);
    assert_ptr_equal(item, ITEM(2));
    weft_queue_free(q);
}

static void empty_queue_times_out(void **state)
{
    weft_queue_t *q = weft_queue_new(0);
    void *item = ITEM(7);
    assert_int_equal(weft_queue_pop(q, &item, 0), -ETIMEDOUT);
    int64_t t0 = weft_test_now_ms();
    assert_int_equal(weft_queue_pop(q, &item, 50), -ETIMEDOUT);
    int64_t elapsed = weft_test_now_ms() - t0;
    assert_true(elapsed >= 49);
    assert_true(elapsed < weft_test_ms(250));
    assert_ptr_equal(item, ITEM(7)); /* untouched on error */
    weft_queue_free(q);
}

static void push_waits_until_a_pop_frees_room(void **state)
{
    weft_queue_t *q = weft_queue_new(1);
    assert_int_equal(weft_queue_push(q, ITEM(1), 0), 0);
    struct call c;
    start(&c, push_main, q, ITEM(2));
    weft_test_sleep_ms(50);
    assert_false(atomic_load(&c.done));

    void *item;
    assert_int_equal(weft_queue_pop(q, &item, 0), 0);
    assert_ptr_equal(item, ITEM(1));
    join(&c);
    assert_int_equal(c.result, 0);
    assert_int_equal(weft_queue_pop(q, &item, 0), 0);
    assert_ptr_equal(item, ITEM(2));
    weft_queue_free(q);
}

static void batch_pop_wakes_every_pusher_it_made_room_for(void **state)
{
    weft_queue_t *q = weft_queue_new(2);
    assert_int_equal(weft_queue_push(q, ITEM(1), 0), 0);
    assert_int_equal(weft_queue_push(q, ITEM(2), 0), 0);
    struct call c[2];
    start(&c[0], push_main, q, ITEM(3));
    start(&c[1], push_main, q, ITEM(3));
    weft_test_sleep_ms(50);

    void *items[2];
    assert_int_equal(weft_queue_pop_batch(q, items, 2, 0), 2);
    join(&c[0]);
    join(&c[1]);
    assert_int_equal(c[0].result, 0);
    assert_int_equal(c[1].result, 0);
    assert_int_equal(weft_queue_len(q), 2);
    weft_queue_free(q);
}

/* Pushes and pops in a pattern that wraps the ring and grows it while
   wrapped; every pop must see the next number. */
static void check_fifo(weft_queue_t *q, size_t rounds)
{
    uintptr_t next_in = 0, next_out = 0;
    for (size_t r = 1; r <= rounds; r++) {
        for (size_t i = 0; i < r * 3 && weft_queue_try_push(q, ITEM(next_in)) == 0; i++)
            next_in++;
        for (size_t i = 0; i < r * 2 && next_out < next_in; i++) {
            void *item;
            assert_int_equal(weft_queue_pop(q, &item, 0), 0);
            assert_ptr_equal(item, ITEM(next_out));
            next_out++;
        }
        assert_int_equal(weft_queue_len(q), next_in - next_out);
    }
    void *item;
    while (weft_queue_pop(q, &item, 0) == 0)
        assert_ptr_equal(item, ITEM(next_out++));
    assert_int_equal(next_out, next_in);
}

static void fifo_order_across_growth_and_wraparound(void **state)
{
    size_t capacities[] = {0, 1, 5, 16, 20, 100};
    for (size_t i = 0; i < WEFT_ARRAY_SIZE(capacities); i++) {
        weft_queue_t *q = weft_queue_new(capacities[i]);
        check_fifo(q, 40);
        weft_queue_free(q);
    }
}

static void bounded_queue_fills_to_exactly_its_capacity(void **state)
{
    weft_queue_t *q = weft_queue_new(37);
    for (uintptr_t i = 0; i < 37; i++)
        assert_int_equal(weft_queue_try_push(q, ITEM(i)), 0);
    assert_int_equal(weft_queue_try_push(q, ITEM(99)), -EAGAIN);
    assert_int_equal(weft_queue_len(q), 37);
    void *items[64];
    assert_int_equal(weft_queue_pop_batch(q, items, 64, 0), 37);
    for (uintptr_t i = 0; i < 37; i++)
        assert_ptr_equal(items[i], ITEM(i));
    weft_queue_free(q);
}

static void huge_capacity_is_not_allocated_up_front(void **state)
{
    struct mallinfo2 before = mallinfo2();
    weft_queue_t *q = weft_queue_new(1000000);
    struct mallinfo2 after = mallinfo2();
    assert_non_null(q);
    size_t used = (after.uordblks + after.hblkhd) - (before.uordblks + before.hblkhd);
    assert_true(used < 64 * 1024);
    for (uintptr_t i = 0; i < 1000; i++)
        assert_int_equal(weft_queue_try_push(q, ITEM(i)), 0);
    assert_int_equal(weft_queue_len(q), 1000);
    weft_queue_free(q);
}

static void null_items_are_items(void **state)
{
    weft_queue_t *q = weft_queue_new(0);
    assert_int_equal(weft_queue_push(q, NULL, 0), 0);
    assert_int_equal(weft_queue_push(q, NULL, 0), 0);
    assert_int_equal(weft_queue_len(q), 2);
    void *item = ITEM(1);
    assert_int_equal(weft_queue_pop(q, &item, 0), 0);
    assert_null(item);
    void *items[2] = {ITEM(1), ITEM(1)};
    assert_int_equal(weft_queue_pop_batch(q, items, 2, 0), 1);
    assert_null(items[0]);
    assert_ptr_equal(items[1], ITEM(1));
    weft_queue_free(q);
}

static void close_wakes_blocked_pushers_and_poppers(void **state)
{
    weft_queue_t *full = weft_queue_new(1);
    weft_queue_t *empty = weft_queue_new(1);
    assert_int_equal(weft_queue_push(full, ITEM(1), 0), 0);
    struct call pusher, popper;
    start(&pusher, push_main, full, ITEM(2));
    start(&popper, pop_main, empty, ITEM(3));
    weft_test_sleep_ms(50);
    assert_false(atomic_load(&pusher.done));
    assert_false(atomic_load(&popper.done));

    int64_t t0 = weft_test_now_ms();
    weft_queue_close(full);
    weft_queue_close(empty);
    join(&pusher);
    join(&popper);
    assert_true(weft_test_now_ms() - t0 < weft_test_ms(1000));
    assert_int_equal(pusher.result, -EPIPE);
    assert_int_equal(popper.result, -EPIPE);
    assert_ptr_equal(popper.item, ITEM(3));

    void *item;
    assert_int_equal(weft_queue_pop(full, &item, -1), 0); /* drains the one inside */
    assert_ptr_equal(item, ITEM(1));
    weft_queue_free(full);
    weft_queue_free(empty);
}

static void close_stops_intake_and_lets_consumers_drain(void **state)
{
    weft_queue_t *q = weft_queue_new(0);
    for (uintptr_t i = 0; i < 3; i++)
        assert_int_equal(weft_queue_push(q, ITEM(i), -1), 0);
    weft_queue_close(q);
    weft_queue_close(q); /* idempotent */
    assert_true(weft_queue_is_closed(q));
    assert_int_equal(weft_queue_push(q, ITEM(9), -1), -EPIPE);
    assert_int_equal(weft_queue_try_push(q, ITEM(9)), -EPIPE);
    assert_int_equal(weft_queue_len(q), 3);

    void *item, *items[4];
    assert_int_equal(weft_queue_pop(q, &item, -1), 0);
    assert_ptr_equal(item, ITEM(0));
    assert_int_equal(weft_queue_pop_batch(q, items, 4, -1), 2);
    assert_ptr_equal(items[0], ITEM(1));
    assert_ptr_equal(items[1], ITEM(2));
    assert_int_equal(weft_queue_pop(q, &item, -1), -EPIPE);
    assert_int_equal(weft_queue_pop(q, &item, 0), -EPIPE);
    assert_int_equal(weft_queue_pop_batch(q, items, 4, -1), -EPIPE);
    weft_queue_free(q);
}

static void pop_batch_takes_what_is_there_up_to_max(void **state)
{
    weft_queue_t *q = weft_queue_new(0);
    for (uintptr_t i = 0; i < 5; i++)
        assert_int_equal(weft_queue_push(q, ITEM(i), 0), 0);
    void *items[10];
    assert_int_equal(weft_queue_pop_batch(q, items, 3, 0), 3);
    for (uintptr_t i = 0; i < 3; i++)
        assert_ptr_equal(items[i], ITEM(i));
    assert_int_equal(weft_queue_pop_batch(q, items, 10, 0), 2);
    assert_ptr_equal(items[0], ITEM(3));
    assert_ptr_equal(items[1], ITEM(4));
    assert_int_equal(weft_queue_pop_batch(q, items, 10, 0), -ETIMEDOUT);
    assert_int_equal(weft_queue_pop_batch(q, items, 10, 30), -ETIMEDOUT);
    assert_int_equal(weft_queue_pop_batch(q, items, 0, 0), -EINVAL);
    assert_int_equal(weft_queue_pop_batch(q, NULL, 1, 0), -EINVAL);
    weft_queue_free(q);
}

static void *push_later_main(void *arg)
{
    struct call *c = arg;
    weft_test_sleep_ms(50);
    c->result = weft_queue_push(c->q, c->item, c->timeout_ms);
    return NULL;
}

static void pop_batch_waits_for_the_first_item_only(void **state)
{
    weft_queue_t *q = weft_queue_new(8);
    struct call c;
    start(&c, push_later_main, q, ITEM(42));
    void *items[8];
    int64_t t0 = weft_test_now_ms();
    assert_int_equal(weft_queue_pop_batch(q, items, 8, weft_test_ms(5000)), 1);
    int64_t elapsed = weft_test_now_ms() - t0;
    assert_ptr_equal(items[0], ITEM(42));
    assert_true(elapsed >= 40);
    assert_true(elapsed < weft_test_ms(1000));
    join(&c);
    assert_int_equal(c.result, 0);
    weft_queue_free(q);
}

static void loop_thread_gets_edeadlk_for_timeouts_other_than_0(void **state)
{
    weft_queue_t *bounded = weft_queue_new(4);
    weft_queue_t *unbounded = weft_queue_new(0);
    void *item, *items[2];
    weft__thread_mark_loop(true);

    assert_int_equal(weft_queue_push(bounded, ITEM(1), -1), -EDEADLK);
    assert_int_equal(weft_queue_push(bounded, ITEM(1), 10), -EDEADLK);
    assert_int_equal(weft_queue_len(bounded), 0);
    assert_int_equal(weft_queue_push(bounded, ITEM(1), 0), 0);
    assert_int_equal(weft_queue_try_push(bounded, ITEM(2)), 0);
    assert_int_equal(weft_queue_push(unbounded, ITEM(3), -1), 0); /* never waits */
    assert_int_equal(weft_queue_push(unbounded, ITEM(4), 10), 0);

    /* Whether or not an item is there: the mistake shows on the first run. */
    assert_int_equal(weft_queue_pop(bounded, &item, -1), -EDEADLK);
    assert_int_equal(weft_queue_pop(bounded, &item, 10), -EDEADLK);
    assert_int_equal(weft_queue_pop_batch(bounded, items, 2, -1), -EDEADLK);
    assert_int_equal(weft_queue_pop_batch(bounded, items, 2, 5), -EDEADLK);
    assert_int_equal(weft_queue_pop(bounded, &item, 0), 0);
    assert_ptr_equal(item, ITEM(1));
    assert_int_equal(weft_queue_pop_batch(bounded, items, 2, 0), 1);
    assert_int_equal(weft_queue_pop(bounded, &item, 0), -ETIMEDOUT);

    weft__thread_mark_loop(false);
    weft_queue_close(bounded);
    weft_queue_free(bounded);
    weft_queue_free(unbounded);
}

static void *construct_queue(void *arg)
{
    return weft_queue_new(*(size_t *)arg);
}

static void destroy_queue(void *q)
{
    weft_queue_free(q);
}

static void queue_new_survives_every_allocation_failure(void **state)
{
    size_t capacities[] = {0, 1, 1000000};
    for (size_t i = 0; i < WEFT_ARRAY_SIZE(capacities); i++)
        assert_true(weft_test_oom_sweep("weft_queue_new", construct_queue, destroy_queue,
                                        &capacities[i]) >= 1);
}

static void failed_growth_leaves_the_queue_intact(void **state)
{
    size_t capacities[] = {0, 1000000};
    for (size_t c = 0; c < WEFT_ARRAY_SIZE(capacities); c++) {
        weft_queue_t *q = weft_queue_new(capacities[c]);
        uintptr_t n = 0;
        void *item;
        /* Wrap the ring first, so growth would have to unwrap it. */
        for (; n < 10; n++)
            assert_int_equal(weft_queue_push(q, ITEM(n), 0), 0);
        for (uintptr_t i = 0; i < 10; i++)
            assert_int_equal(weft_queue_pop(q, &item, 0), 0);
        uintptr_t first = n;
        int r;
        weft__alloc_fail_after(0);
        while ((r = weft_queue_push(q, ITEM(n), 0)) == 0)
            n++;
        long live = weft__alloc_live();
        weft__alloc_fail_after(-1);
        assert_int_equal(r, -ENOMEM);
        assert_int_equal(live, 0);
        assert_true(n - first >= 1);
        assert_int_equal(weft_queue_len(q), n - first);
        assert_int_equal(weft_queue_try_push(q, ITEM(n)), 0); /* grows now */
        n++;
        for (uintptr_t i = first; i < n; i++) {
            assert_int_equal(weft_queue_pop(q, &item, 0), 0);
            assert_ptr_equal(item, ITEM(i));
        }
        weft_queue_free(q);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accessors_of_a_new_queue),
        cmocka_unit_test(full_queue_refuses_and_times_out),
        cmocka_unit_test(empty_queue_times_out),
        cmocka_unit_test(push_waits_until_a_pop_frees_room),
        cmocka_unit_test(batch_pop_wakes_every_pusher_it_made_room_for),
        cmocka_unit_test(fifo_order_across_growth_and_wraparound),
        cmocka_unit_test(bounded_queue_fills_to_exactly_its_capacity),
        cmocka_unit_test(huge_capacity_is_not_allocated_up_front),
        cmocka_unit_test(null_items_are_items),
        cmocka_unit_test(close_wakes_blocked_pushers_and_poppers),
        cmocka_unit_test(close_stops_intake_and_lets_consumers_drain),
        cmocka_unit_test(pop_batch_takes_what_is_there_up_to_max),
        cmocka_unit_test(pop_batch_waits_for_the_first_item_only),
        cmocka_unit_test_teardown(loop_thread_gets_edeadlk_for_timeouts_other_than_0, unmark_loop),
        cmocka_unit_test(queue_new_survives_every_allocation_failure),
        cmocka_unit_test(failed_growth_leaves_the_queue_intact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
