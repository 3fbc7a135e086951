/* Unit tests for weft_sem_t (src/sync/sem.c). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include "weft/sync.h"
#include "error/base.h"
#include "sync/thread.h"
#include "test-support.h"

#define WAITERS 4

struct waiter {
    weft_sem_t *s;
    int result;
    atomic_bool done;
    pthread_t thread;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    w->result = weft_sem_wait(w->s, weft_test_ms(5000));
    atomic_store(&w->done, true);
    return NULL;
}

static void start(struct waiter *w, weft_sem_t *s)
{
    w->s = s;
    w->result = 1;
    atomic_init(&w->done, false);
    assert_int_equal(pthread_create(&w->thread, NULL, waiter_main, w), 0);
}

static int count_done(struct waiter *w, int n)
{
    int done = 0;
    for (int i = 0; i < n; i++)
        done += atomic_load(&w[i].done);
    return done;
}

static int unmark_loop(void **state)
{
    weft__thread_mark_loop(false);
    return 0;
}

static void post_adds_and_wait_takes(void **state)
{
    weft_sem_t *s = weft_sem_new(2);
    assert_non_null(s);
    assert_int_equal(weft_sem_value(s), 2);
    assert_int_equal(weft_sem_wait(s, 0), 0);
    assert_int_equal(weft_sem_wait(s, -1), 0);
    assert_int_equal(weft_sem_value(s), 0);
    assert_int_equal(weft_sem_wait(s, 0), -ETIMEDOUT);
    assert_int_equal(weft_sem_post(s), 0);
    assert_int_equal(weft_sem_post(s), 0);
    assert_int_equal(weft_sem_value(s), 2);
    weft_sem_free(s);
    weft_sem_free(NULL);
}

static void wait_times_out_when_empty(void **state)
{
    weft_sem_t *s = weft_sem_new(0);
    int64_t t0 = weft_test_now_ms();
    assert_int_equal(weft_sem_wait(s, 50), -ETIMEDOUT);
    int64_t elapsed = weft_test_now_ms() - t0;
    assert_true(elapsed >= 49);
    assert_true(elapsed < weft_test_ms(250));
    assert_int_equal(weft_sem_value(s), 0);
    weft_sem_free(s);
}

static void each_post_releases_one_waiter(void **state)
{
    weft_sem_t *s = weft_sem_new(0);
    struct waiter w[WAITERS];
    for (int i = 0; i < WAITERS; i++)
        start(&w[i], s);
    weft_test_sleep_ms(50);
    assert_int_equal(count_done(w, WAITERS), 0);

    for (int n = 1; n <= WAITERS; n++) {
        assert_int_equal(weft_sem_post(s), 0);
        int64_t until = weft_test_now_ms() + weft_test_ms(5000);
        while (count_done(w, WAITERS) < n && weft_test_now_ms() < until)
            weft_test_sleep_ms(1);
        weft_test_sleep_ms(20);
        assert_int_equal(count_done(w, WAITERS), n);
    }
    for (int i = 0; i < WAITERS; i++) {
        assert_int_equal(pthread_join(w[i].thread, NULL), 0);
        assert_int_equal(w[i].result, 0);
    }
    assert_int_equal(weft_sem_value(s), 0);
    weft_sem_free(s);
}

static void posts_in_a_row_release_as_many_waiters(void **state)
{
    weft_sem_t *s = weft_sem_new(0);
    struct waiter w[WAITERS];
    for (int i = 0; i < WAITERS; i++)
        start(&w[i], s);
    weft_test_sleep_ms(20);
    for (int i = 0; i < WAITERS + 1; i++)
        assert_int_equal(weft_sem_post(s), 0);
    for (int i = 0; i < WAITERS; i++) {
        assert_int_equal(pthread_join(w[i].thread, NULL), 0);
        assert_int_equal(w[i].result, 0);
    }
    assert_int_equal(weft_sem_value(s), 1);
    weft_sem_free(s);
}

static void post_refuses_to_overflow(void **state)
{
    weft_sem_t *s = weft_sem_new(UINT_MAX - 1);
    assert_int_equal(weft_sem_post(s), 0);
    assert_int_equal(weft_sem_post(s), -EOVERFLOW);
    assert_int_equal(weft_sem_value(s), UINT_MAX);
    assert_int_equal(weft_sem_wait(s, 0), 0);
    assert_int_equal(weft_sem_value(s), UINT_MAX - 1);
    weft_sem_free(s);
}

static void loop_thread_gets_edeadlk_for_timeouts_other_than_0(void **state)
{
    weft_sem_t *s = weft_sem_new(1);
    weft__thread_mark_loop(true);
    assert_int_equal(weft_sem_wait(s, -1), -EDEADLK); /* even with a unit there */
    assert_int_equal(weft_sem_wait(s, 10), -EDEADLK);
    assert_int_equal(weft_sem_value(s), 1);
    assert_int_equal(weft_sem_wait(s, 0), 0);
    assert_int_equal(weft_sem_wait(s, 0), -ETIMEDOUT);
    assert_int_equal(weft_sem_post(s), 0);
    weft__thread_mark_loop(false);
    weft_sem_free(s);
}

static void *construct_sem(void *arg)
{
    return weft_sem_new(3);
}

static void destroy_sem(void *s)
{
    weft_sem_free(s);
}

static void sem_new_survives_every_allocation_failure(void **state)
{
    assert_true(weft_test_oom_sweep("weft_sem_new", construct_sem, destroy_sem, NULL) >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(post_adds_and_wait_takes),
        cmocka_unit_test(wait_times_out_when_empty),
        cmocka_unit_test(each_post_releases_one_waiter),
        cmocka_unit_test(posts_in_a_row_release_as_many_waiters),
        cmocka_unit_test(post_refuses_to_overflow),
        cmocka_unit_test_teardown(loop_thread_gets_edeadlk_for_timeouts_other_than_0, unmark_loop),
        cmocka_unit_test(sem_new_survives_every_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
