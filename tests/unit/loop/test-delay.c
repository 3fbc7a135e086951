/* Unit tests for delays (src/loop/delay.c): order, thread, cancel, stale
   ids, -ECANCELED at stop and at close, slot reuse, -EPERM off the loop. */
#include <errno.h>

#include "loop-test.h"

struct fired {
    weft_loop_t *loop;
    int order[8];
    int n;
    int status[8];
    int wrong_thread;
    pthread_t loop_thread;
};

struct tag {
    struct fired *f;
    int id;
};

static void on_delay(weft_loop_t *loop, int status, void *arg)
{
    struct tag *t = arg;
    struct fired *f = t->f;
    if (!pthread_equal(pthread_self(), f->loop_thread))
        f->wrong_thread++;
    f->status[f->n] = status;
    f->order[f->n++] = t->id;
}

static void stop_delay(weft_loop_t *loop, int status, void *arg)
{
    weft_loop_stop(loop);
}

static void delays_fire_in_time_order_on_the_loop_thread(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct fired f = {.loop = loop, .loop_thread = pthread_self()};
    struct tag t[3] = {{&f, 0}, {&f, 1}, {&f, 2}};
    assert_int_equal(weft_loop_delay(loop, 30, on_delay, &t[0], NULL), 0);
    assert_int_equal(weft_loop_delay(loop, 10, on_delay, &t[1], NULL), 0);
    assert_int_equal(weft_loop_delay(loop, 0, on_delay, &t[2], NULL), 0);
    assert_int_equal(f.n, 0); /* never inside the call */
    assert_int_equal(weft_loop_delay(loop, 60, stop_delay, NULL, NULL), 0);
    int64_t t0 = weft_test_now_ms();
    assert_int_equal(weft_loop_run(loop), 0);
    assert_true(weft_test_now_ms() - t0 >= 55);
    assert_int_equal(f.n, 3);
    assert_int_equal(f.order[0], 2);
    assert_int_equal(f.order[1], 1);
    assert_int_equal(f.order[2], 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(f.status[i], 0);
    assert_int_equal(f.wrong_thread, 0);
    weft_loop_free(loop);
}

static void cancelled_delays_never_run_and_stale_ids_never_match(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct fired f = {.loop = loop, .loop_thread = pthread_self()};
    struct tag t[2] = {{&f, 0}, {&f, 1}};
    weft_delay_id_t a, b;
    assert_int_equal(weft_loop_delay(loop, 10, on_delay, &t[0], &a), 0);
    assert_true(a != 0);
    assert_int_equal(weft_loop_delay_cancel(loop, a), 0);
    assert_int_equal(weft_loop_delay_cancel(loop, a), -ENOENT);
    /* The slot is reused with a new generation: the old id misses it. */
    assert_int_equal(weft_loop_delay(loop, 10, on_delay, &t[1], &b), 0);
    assert_true(b != a);
    assert_int_equal(weft_loop_delay_cancel(loop, a), -ENOENT);
    assert_int_equal(weft_loop_delay_cancel(loop, 0), -ENOENT);
    assert_int_equal(weft_loop_delay_cancel(loop, 12345), -ENOENT);
    assert_int_equal(weft_loop_delay(loop, 40, stop_delay, NULL, NULL), 0);
    assert_int_equal(weft_loop_run(loop), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.order[0], 1);
    assert_int_equal(weft_loop_delay_cancel(loop, b), -ENOENT); /* it ran */
    weft_loop_free(loop);
}

static void stop_cancels_pending_delays_before_run_returns(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct fired f = {.loop = loop, .loop_thread = pthread_self()};
    struct tag t = {&f, 7};
    assert_int_equal(weft_loop_delay(loop, 60000, on_delay, &t, NULL), 0);
    struct stopper s;
    stopper_start(&s, loop, 20);
    assert_int_equal(weft_loop_run(loop), 0);
    stopper_join(&s);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.status[0], -ECANCELED);
    assert_int_equal(f.wrong_thread, 0); /* on the loop thread */
    assert_int_equal(weft_loop_delay(loop, 1, on_delay, &t, NULL), -EPIPE);
    weft_loop_free(loop);
}

static void close_cancels_delays_of_a_loop_that_never_ran(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct fired f = {.loop = loop, .loop_thread = pthread_self()};
    struct tag t = {&f, 1};
    assert_int_equal(weft_loop_delay(loop, 10, on_delay, &t, NULL), 0);
    weft_loop_free(loop);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.status[0], -ECANCELED);
}

/* A steady stream of delays reuses its slots. */
struct chain {
    weft_loop_t *loop;
    int left;
};

static void chain_next(weft_loop_t *loop, int status, void *arg)
{
    struct chain *c = arg;
    if (status == 0 && --c->left > 0)
        assert_int_equal(weft_loop_delay(loop, 0, chain_next, c, NULL), 0);
    else
        weft_loop_stop(loop);
}

static void delay_slots_are_reused(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct chain c = {loop, 1000};
    assert_int_equal(weft_loop_delay(loop, 0, chain_next, &c, NULL), 0);
    assert_int_equal(weft_loop_run(loop), 0);
    assert_int_equal(c.left, 0);
    assert_true(loop->delays.n <= 2);
    weft_loop_free(loop);
}

static void delays_from_another_thread_are_eperm(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct runner r;
    runner_start(&r, loop);
    while (!atomic_load(&loop->running))
        weft_test_sleep_ms(1);
    assert_int_equal(weft_loop_delay(loop, 1, stop_delay, NULL, NULL), -EPERM);
    assert_int_equal(weft_loop_delay_cancel(loop, 1), -EPERM);
    assert_int_equal(weft_loop_delay(NULL, 1, stop_delay, NULL, NULL), -EINVAL);
    weft_loop_stop(loop);
    assert_int_equal(runner_join(&r), 0);
    weft_loop_free(loop);
}

static void delay_out_of_memory_is_enomem(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    for (int n = 0; n < 2; n++) {
        weft__alloc_fail_after(n);
        int r = weft_loop_delay(loop, 1, stop_delay, NULL, NULL);
        weft__alloc_fail_after(-1);
        assert_int_equal(r, -ENOMEM);
    }
    assert_int_equal(weft_loop_delay(loop, 1, stop_delay, NULL, NULL), 0);
    assert_int_equal(weft_loop_run(loop), 0);
    weft_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(delays_fire_in_time_order_on_the_loop_thread),
        cmocka_unit_test(cancelled_delays_never_run_and_stale_ids_never_match),
        cmocka_unit_test(stop_cancels_pending_delays_before_run_returns),
        cmocka_unit_test(close_cancels_delays_of_a_loop_that_never_ran),
        cmocka_unit_test(delay_slots_are_reused),
        cmocka_unit_test(delays_from_another_thread_are_eperm),
        cmocka_unit_test(delay_out_of_memory_is_enomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
