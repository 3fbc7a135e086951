/* Unit tests for weft_future_all and weft_future_any. */
#include <errno.h>
#include <pthread.h>

#include "error/base.h"
#include "test-support.h"
#include "weft/future.h"

#define N 4

static void make(weft_future_t **fs, int n)
{
    for (int i = 0; i < n; i++)
        fs[i] = weft_promise_new();
}

static void drop(weft_future_t **fs, int n)
{
    for (int i = 0; i < n; i++)
        weft_future_unref(fs[i]);
}

static void all_of_nothing_is_fulfilled_with_zero(void **state)
{
    weft_future_t *a = weft_future_all(NULL, 0);
    assert_int_equal(weft_future_state(a), WEFT_FUTURE_FULFILLED);
    assert_int_equal(weft_future_int(a), 0);
    weft_future_unref(a);
}

static void any_of_nothing_is_einval(void **state)
{
    weft_future_t *a = weft_future_any(NULL, 0);
    assert_int_equal(weft_future_state(a), WEFT_FUTURE_REJECTED);
    assert_int_equal(weft_future_error(a), -EINVAL);
    weft_future_unref(a);
}

static void null_array_with_inputs_is_einval(void **state)
{
    errno = 0;
    assert_null(weft_future_all(NULL, 3));
    assert_int_equal(errno, EINVAL);
}

static void all_fulfils_with_n_when_every_input_has(void **state)
{
    weft_future_t *fs[N];
    make(fs, N);
    weft_future_fulfill_int(fs[2], 1); /* some settled before */
    weft_future_t *a = weft_future_all(fs, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(weft_future_state(a), WEFT_FUTURE_PENDING);
        if (i != 2)
            weft_future_fulfill_int(fs[i], i);
    }
    assert_int_equal(weft_future_state(a), WEFT_FUTURE_FULFILLED);
    assert_int_equal(weft_future_int(a), N);
    weft_future_unref(a);
    drop(fs, N);
}

static void all_rejects_as_soon_as_one_input_fails(void **state)
{
    weft_future_t *fs[N];
    make(fs, N);
    weft_future_t *a = weft_future_all(fs, N);
    weft_future_fulfill_int(fs[0], 0);
    weft_future_reject(fs[3], -EIO, "input three");
    assert_int_equal(weft_future_state(a), WEFT_FUTURE_REJECTED);
    assert_int_equal(weft_future_error(a), -EIO);
    assert_string_equal(weft_future_message(a), "input three");
    /* Later failures do not change it, and the others are not cancelled. */
    weft_future_reject(fs[1], -EPIPE, NULL);
    assert_int_equal(weft_future_error(a), -EIO);
    assert_int_equal(weft_future_state(fs[2]), WEFT_FUTURE_PENDING);
    weft_future_unref(a);
    drop(fs, N);
}

static void all_with_a_cancelled_input_is_ecanceled(void **state)
{
    weft_future_t *fs[N];
    make(fs, N);
    weft_future_cancel(fs[1]);
    weft_future_t *a = weft_future_all(fs, N);
    assert_int_equal(weft_future_error(a), -ECANCELED);
    weft_future_unref(a);
    drop(fs, N);
}

static void any_fulfils_with_the_first_index(void **state)
{
    weft_future_t *fs[N];
    make(fs, N);
    weft_future_t *a = weft_future_any(fs, N);
    weft_future_reject(fs[0], -EIO, NULL);
    assert_int_equal(weft_future_state(a), WEFT_FUTURE_PENDING);
    weft_future_fulfill_int(fs[2], 5);
    weft_future_fulfill_int(fs[1], 5);
    assert_int_equal(weft_future_state(a), WEFT_FUTURE_FULFILLED);
    assert_int_equal(weft_future_int(a), 2);
    weft_future_unref(a);
    drop(fs, N);
}

static void any_of_all_failed_reports_input_zero(void **state)
{
    weft_future_t *fs[N];
    make(fs, N);
    weft_future_t *a = weft_future_any(fs, N);
    weft_future_reject(fs[3], -EPIPE, "three");
    weft_future_cancel(fs[1]);
    weft_future_reject(fs[0], -EIO, "zero");
    assert_int_equal(weft_future_state(a), WEFT_FUTURE_PENDING);
    weft_future_reject(fs[2], -ENOENT, "two");
    assert_int_equal(weft_future_state(a), WEFT_FUTURE_REJECTED);
    assert_int_equal(weft_future_error(a), -EIO);
    assert_string_equal(weft_future_message(a), "zero");
    weft_future_unref(a);
    drop(fs, N);
}

static void cancelling_the_result_cancels_pending_inputs(void **state)
{
    weft_future_t *fs[N];
    make(fs, N);
    weft_future_fulfill_int(fs[0], 1);
    weft_future_t *a = weft_future_all(fs, N);
    assert_int_equal(weft_future_cancel(a), 0);
    assert_int_equal(weft_future_state(fs[0]), WEFT_FUTURE_FULFILLED);
    for (int i = 1; i < N; i++)
        assert_int_equal(weft_future_state(fs[i]), WEFT_FUTURE_CANCELLED);
    weft_future_unref(a);
    drop(fs, N);
}

static void dropping_the_result_cancels_pending_inputs(void **state)
{
    weft_future_t *fs[N];
    make(fs, N);
    weft_future_t *a = weft_future_any(fs, N);
    weft_future_unref(a);
    for (int i = 0; i < N; i++)
        assert_int_equal(weft_future_state(fs[i]), WEFT_FUTURE_CANCELLED);
    drop(fs, N);
}

static void result_outlives_dropped_inputs(void **state)
{
    weft_future_t *fs[N];
    make(fs, N);
    weft_future_t *a = weft_future_all(fs, N);
    weft_future_t *keep[N];
    for (int i = 0; i < N; i++)
        keep[i] = weft_future_ref(fs[i]);
    drop(fs, N); /* the combinator holds its own references */
    for (int i = 0; i < N; i++)
        weft_future_fulfill_int(keep[i], i);
    assert_int_equal(weft_future_int(a), N);
    drop(keep, N);
    weft_future_unref(a);
}

/* Inputs settled by many threads at once: the result settles once. */
static void *fulfil_one(void *arg)
{
    weft_future_fulfill_int(arg, 1);
    return NULL;
}

static void concurrent_settles_settle_the_result_once(void **state)
{
    enum { M = 16 };
    for (int round = 0; round < 200; round++) {
        weft_future_t *fs[M];
        make(fs, M);
        weft_future_t *a = weft_future_all(fs, M);
        weft_future_t *b = weft_future_any(fs, M);
        pthread_t t[M];
        for (int i = 0; i < M; i++)
            pthread_create(&t[i], NULL, fulfil_one, fs[i]);
        for (int i = 0; i < M; i++)
            pthread_join(t[i], NULL);
        assert_int_equal(weft_future_int(a), M);
        assert_int_equal(weft_future_state(b), WEFT_FUTURE_FULFILLED);
        weft_future_unref(b);
        weft_future_unref(a);
        drop(fs, M);
    }
}

/* Dropping the result while inputs settle on other threads. */
static void dropping_races_with_settling(void **state)
{
    enum { M = 8 };
    for (int round = 0; round < 300; round++) {
        weft_future_t *fs[M];
        make(fs, M);
        weft_future_t *a = weft_future_all(fs, M);
        pthread_t t[M];
        for (int i = 0; i < M; i++)
            pthread_create(&t[i], NULL, fulfil_one, fs[i]);
        weft_future_unref(a);
        for (int i = 0; i < M; i++)
            pthread_join(t[i], NULL);
        drop(fs, M);
    }
}

static weft_future_t *oom_inputs[N];
static void *make_all(void *arg)
{
    return arg ? weft_future_any(oom_inputs, N) : weft_future_all(oom_inputs, N);
}
static void drop_one(void *f)
{
    weft_future_unref(f);
}

static void all_and_any_survive_oom(void **state)
{
    make(oom_inputs, N);
    weft_test_oom_sweep("weft_future_all", make_all, drop_one, NULL);
    weft_test_oom_sweep("weft_future_any", make_all, drop_one, (void *)1);
    for (int i = 0; i < N; i++)
        assert_int_equal(weft_future_state(oom_inputs[i]), WEFT_FUTURE_CANCELLED);
    drop(oom_inputs, N);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(all_of_nothing_is_fulfilled_with_zero),
        cmocka_unit_test(any_of_nothing_is_einval),
        cmocka_unit_test(null_array_with_inputs_is_einval),
        cmocka_unit_test(all_fulfils_with_n_when_every_input_has),
        cmocka_unit_test(all_rejects_as_soon_as_one_input_fails),
        cmocka_unit_test(all_with_a_cancelled_input_is_ecanceled),
        cmocka_unit_test(any_fulfils_with_the_first_index),
        cmocka_unit_test(any_of_all_failed_reports_input_zero),
        cmocka_unit_test(cancelling_the_result_cancels_pending_inputs),
        cmocka_unit_test(dropping_the_result_cancels_pending_inputs),
        cmocka_unit_test(result_outlives_dropped_inputs),
        cmocka_unit_test(concurrent_settles_settle_the_result_once),
        cmocka_unit_test(dropping_races_with_settling),
        cmocka_unit_test(all_and_any_survive_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
