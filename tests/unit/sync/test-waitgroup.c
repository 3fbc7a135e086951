/* Unit tests for weft_waitgroup_t (src/sync/waitgroup.c). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include "weft/sync.h"
#include "error/base.h"
#include "sync/thread.h"
#include "test-support.h"

#define TASKS 4

struct task {
    weft_waitgroup_t *wg;
    int64_t delay_ms;
    int result;
    atomic_bool arrived; /* about to wait */
    pthread_t thread;
};

static void *task_main(void *arg)
{
    struct task *t = arg;
    weft_test_sleep_ms(t->delay_ms);
    t->result = weft_waitgroup_done(t->wg);
    return NULL;
}

static void *waiter_main(void *arg)
{
    struct task *t = arg;
    atomic_store(&t->arrived, true);
    t->result = weft_waitgroup_wait(t->wg, weft_test_ms(5000));
    return NULL;
}

static int unmark_loop(void **state)
{
    weft__thread_mark_loop(false);
    return 0;
}

static void add_done_and_count(void **state)
{
    weft_waitgroup_t *wg = weft_waitgroup_new();
    assert_non_null(wg);
    assert_int_equal(weft_waitgroup_count(wg), 0);
    assert_int_equal(weft_waitgroup_wait(wg, 0), 0);
    assert_int_equal(weft_waitgroup_wait(wg, -1), 0);
    assert_int_equal(weft_waitgroup_add(wg, 2), 0);
    assert_int_equal(weft_waitgroup_count(wg), 2);
    assert_int_equal(weft_waitgroup_wait(wg, 0), -ETIMEDOUT);
    assert_int_equal(weft_waitgroup_done(wg), 0);
    assert_int_equal(weft_waitgroup_add(wg, 0), 0);
    assert_int_equal(weft_waitgroup_count(wg), 1);
    assert_int_equal(weft_waitgroup_done(wg), 0);
    assert_int_equal(weft_waitgroup_wait(wg, 0), 0);
    weft_waitgroup_free(wg);
    weft_waitgroup_free(NULL);
}

static void negative_or_overflowing_count_is_einval(void **state)
{
    weft_waitgroup_t *wg = weft_waitgroup_new();
    assert_int_equal(weft_waitgroup_done(wg), -EINVAL);
    assert_int_equal(weft_waitgroup_count(wg), 0);
    assert_int_equal(weft_waitgroup_add(wg, 2), 0);
    assert_int_equal(weft_waitgroup_add(wg, -3), -EINVAL);
    assert_int_equal(weft_waitgroup_add(wg, INT_MIN), -EINVAL);
    assert_int_equal(weft_waitgroup_count(wg), 2);

    assert_int_equal(weft_waitgroup_add(wg, INT_MAX), 0);
    assert_int_equal(weft_waitgroup_add(wg, INT_MAX - 2), 0);
    assert_int_equal(weft_waitgroup_count(wg), UINT_MAX - 1);
    assert_int_equal(weft_waitgroup_add(wg, 1), 0);
    assert_int_equal(weft_waitgroup_count(wg), UINT_MAX);
    assert_int_equal(weft_waitgroup_add(wg, 1), -EINVAL);
    assert_int_equal(weft_waitgroup_count(wg), UINT_MAX);
    assert_int_equal(weft_waitgroup_add(wg, -INT_MAX), 0);
    assert_int_equal(weft_waitgroup_add(wg, -INT_MAX), 0);
    assert_int_equal(weft_waitgroup_add(wg, -1), 0);
    assert_int_equal(weft_waitgroup_count(wg), 0);
    weft_waitgroup_free(wg);
}

static void wait_times_out_while_tasks_are_outstanding(void **state)
{
    weft_waitgroup_t *wg = weft_waitgroup_new();
    assert_int_equal(weft_waitgroup_add(wg, 1), 0);
    int64_t t0 = weft_test_now_ms();
    assert_int_equal(weft_waitgroup_wait(wg, 50), -ETIMEDOUT);
    int64_t elapsed = weft_test_now_ms() - t0;
    assert_true(elapsed >= 49);
    assert_true(elapsed < weft_test_ms(250));
    assert_int_equal(weft_waitgroup_done(wg), 0);
    weft_waitgroup_free(wg);
}

static void reaching_zero_releases_every_waiter(void **state)
{
    weft_waitgroup_t *wg = weft_waitgroup_new();
    struct task tasks[TASKS], waiters[2];
    assert_int_equal(weft_waitgroup_add(wg, TASKS), 0);
    for (int i = 0; i < 2; i++) {
        waiters[i] = (struct task){.wg = wg, .result = 1};
        assert_int_equal(pthread_create(&waiters[i].thread, NULL, waiter_main, &waiters[i]), 0);
    }
    for (int i = 0; i < TASKS; i++) {
        tasks[i] = (struct task){.wg = wg, .delay_ms = 10 * (i + 1), .result = 1};
        assert_int_equal(pthread_create(&tasks[i].thread, NULL, task_main, &tasks[i]), 0);
    }
    assert_int_equal(weft_waitgroup_wait(wg, weft_test_ms(5000)), 0);
    assert_int_equal(weft_waitgroup_count(wg), 0);
    for (int i = 0; i < TASKS; i++) {
        assert_int_equal(pthread_join(tasks[i].thread, NULL), 0);
        assert_int_equal(tasks[i].result, 0);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(waiters[i].thread, NULL), 0);
        assert_int_equal(waiters[i].result, 0);
    }
    weft_waitgroup_free(wg);
}

static void zero_releases_waiters_even_if_the_count_rises_again(void **state)
{
    weft_waitgroup_t *wg = weft_waitgroup_new();
    assert_int_equal(weft_waitgroup_add(wg, 1), 0);
    struct task waiter = {.wg = wg, .result = 1};
    assert_int_equal(pthread_create(&waiter.thread, NULL, waiter_main, &waiter), 0);
    while (!atomic_load(&waiter.arrived))
        weft_test_sleep_ms(1);
    weft_test_sleep_ms(weft_test_ms(50));
    assert_int_equal(weft_waitgroup_done(wg), 0);
    assert_int_equal(weft_waitgroup_add(wg, 1), 0);
    assert_int_equal(pthread_join(waiter.thread, NULL), 0);
    assert_int_equal(waiter.result, 0);
    assert_int_equal(weft_waitgroup_done(wg), 0);
    weft_waitgroup_free(wg);
}

static void loop_thread_gets_edeadlk_for_timeouts_other_than_0(void **state)
{
    weft_waitgroup_t *wg = weft_waitgroup_new();
    weft__thread_mark_loop(true);
    assert_int_equal(weft_waitgroup_wait(wg, -1), -EDEADLK); /* even at zero */
    assert_int_equal(weft_waitgroup_wait(wg, 10), -EDEADLK);
    assert_int_equal(weft_waitgroup_wait(wg, 0), 0);
    assert_int_equal(weft_waitgroup_add(wg, 1), 0);
    assert_int_equal(weft_waitgroup_wait(wg, 0), -ETIMEDOUT);
    assert_int_equal(weft_waitgroup_done(wg), 0);
    weft__thread_mark_loop(false);
    weft_waitgroup_free(wg);
}

static void *construct_waitgroup(void *arg)
{
    return weft_waitgroup_new();
}

static void destroy_waitgroup(void *wg)
{
    weft_waitgroup_free(wg);
}

static void waitgroup_new_survives_every_allocation_failure(void **state)
{
    assert_true(weft_test_oom_sweep("weft_waitgroup_new", construct_waitgroup, destroy_waitgroup,
                                    NULL) >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(add_done_and_count),
        cmocka_unit_test(negative_or_overflowing_count_is_einval),
        cmocka_unit_test(wait_times_out_while_tasks_are_outstanding),
        cmocka_unit_test(reaching_zero_releases_every_waiter),
        cmocka_unit_test(zero_releases_waiters_even_if_the_count_rises_again),
        cmocka_unit_test_teardown(loop_thread_gets_edeadlk_for_timeouts_other_than_0, unmark_loop),
        cmocka_unit_test(waitgroup_new_survives_every_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
