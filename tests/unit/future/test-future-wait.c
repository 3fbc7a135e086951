/* Unit tests for weft_future_wait: timeouts, wake-ups, loop threads. */
#include <errno.h>
#include <pthread.h>

#include "sync/thread.h"
#include "test-support.h"
#include "weft/future.h"

struct delayed {
    weft_future_t *f;
    int64_t delay_ms;
};

static void *settle_later(void *arg)
{
    struct delayed *d = arg;
    weft_test_sleep_ms(d->delay_ms);
    weft_future_fulfill_int(d->f, 7);
    return NULL;
}

static void wait_returns_when_another_thread_settles(void **state)
{
    weft_future_t *f = weft_promise_new();
    struct delayed d = {f, 50};
    pthread_t t;
    pthread_create(&t, NULL, settle_later, &d);
    int64_t start = weft_test_now_ms();
    assert_int_equal(weft_future_wait(f, -1), 0);
    int64_t took = weft_test_now_ms() - start;
    assert_int_equal(weft_future_int(f), 7);
    assert_true(took >= 40);
    assert_true(took < weft_test_ms(1000));
    pthread_join(t, NULL);
    weft_future_unref(f);
}

static void wait_times_out_on_time(void **state)
{
    weft_future_t *f = weft_promise_new();
    int64_t start = weft_test_now_ms();
    assert_int_equal(weft_future_wait(f, 30), -ETIMEDOUT);
    int64_t took = weft_test_now_ms() - start;
    assert_true(took >= 30);
    assert_true(took < weft_test_ms(500));
    assert_int_equal(weft_future_state(f), WEFT_FUTURE_PENDING);
    weft_future_unref(f);
}

#define WAITERS 8

static void *wait_forever(void *arg)
{
    return (void *)(intptr_t)weft_future_wait(arg, -1);
}

static void one_settle_wakes_every_waiter(void **state)
{
    for (int round = 0; round < 50; round++) {
        weft_future_t *f = weft_promise_new();
        pthread_t t[WAITERS];
        for (int i = 0; i < WAITERS; i++)
            pthread_create(&t[i], NULL, wait_forever, f);
        if (round % 2)
            weft_test_sleep_ms(1); /* some rounds settle after they sleep */
        weft_future_cancel(f);
        for (int i = 0; i < WAITERS; i++) {
            void *r;
            pthread_join(t[i], &r);
            assert_int_equal((intptr_t)r, 0);
        }
        weft_future_unref(f);
    }
}

static void loop_threads_get_edeadlk(void **state)
{
    weft_future_t *f = weft_promise_new();
    weft__thread_mark_loop(true);
    assert_int_equal(weft_future_wait(f, -1), -EDEADLK);
    assert_int_equal(weft_future_wait(f, 10), -EDEADLK);
    assert_int_equal(weft_future_wait(f, 0), -ETIMEDOUT);
    weft_future_fulfill_int(f, 1);
    assert_int_equal(weft_future_wait(f, 0), 0);
    /* Deterministic: even settled, a blocking wait is refused. */
    assert_int_equal(weft_future_wait(f, -1), -EDEADLK);
    weft__thread_mark_loop(false);
    assert_int_equal(weft_future_wait(f, -1), 0);
    weft_future_unref(f);
}

static int hook_calls;
static int fake_hook(void *ctx, weft_future_t *f, int64_t deadline_ns)
{
    hook_calls++;
    assert_ptr_equal(ctx, &hook_calls);
    return weft_future_fulfill_int(f, 99) == 0 ? 0 : -EIO;
}

static void pool_wait_hook_replaces_sleeping(void **state)
{
    weft_future_t *f = weft_promise_new();
    weft__self.wait_hook = fake_hook;
    weft__self.wait_ctx = &hook_calls;
    assert_int_equal(weft_future_wait(f, 1000), 0);
    assert_int_equal(hook_calls, 1);
    assert_int_equal(weft_future_int(f), 99);
    /* Settled futures never reach the hook. */
    assert_int_equal(weft_future_wait(f, 1000), 0);
    assert_int_equal(hook_calls, 1);
    weft__self.wait_hook = NULL;
    weft__self.wait_ctx = NULL;
    weft_future_unref(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wait_returns_when_another_thread_settles),
        cmocka_unit_test(wait_times_out_on_time),
        cmocka_unit_test(one_settle_wakes_every_waiter),
        cmocka_unit_test(loop_threads_get_edeadlk),
        cmocka_unit_test(pool_wait_hook_replaces_sleeping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
