/* Unit tests for weft_pool_for, weft_pool_for_async, weft_pool_for_range. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sync/thread.h"
#include "test-support.h"
#include "weft/weft.h"

static weft_pool_t *pool_of(unsigned threads)
{
    weft_pool_options_t o = {.threads = threads, .name = "par"};
    weft_pool_t *p = weft_pool_new(&o);
    assert_non_null(p);
    return p;
}

/* Pike's map: exp over 0..4 into an array. */
static int exp_into(size_t i, void *arg)
{
    ((double *)arg)[i] = exp((double)i);
    return 0;
}

static void map_exp_over_five(void **state)
{
    weft_pool_t *p = pool_of(4);
    double out[5] = {0};
    assert_int_equal(weft_pool_for(p, 5, exp_into, out), 0);
    static const double expect[] = {1, 2.718281828459045, 7.38905609893065, 20.085536923187668,
                                    54.598150033144236};
    for (int i = 0; i < 5; i++)
        assert_true(fabs(out[i] - expect[i]) < 1e-9);
    weft_pool_free(p);
}

/* Pike's iter: 0..99 added into a shared total under the scoped lock. */
struct total {
    pthread_mutex_t mu;
    long sum;
};

static int add_locked(size_t i, void *arg)
{
    struct total *t = arg;
    WEFT_SCOPED_LOCK(&t->mu);
    t->sum += (long)i;
    return 0;
}

static void iterate_into_shared_total(void **state)
{
    weft_pool_t *p = pool_of(4);
    struct total t = {PTHREAD_MUTEX_INITIALIZER, 0};
    assert_int_equal(weft_pool_for(p, 100, add_locked, &t), 0);
    assert_int_equal(t.sum, 4950);
    weft_pool_free(p);
}

/* Every index runs exactly once, over a large range. */
static int mark(size_t i, void *arg)
{
    __atomic_fetch_add(&((unsigned char *)arg)[i], 1, __ATOMIC_RELAXED);
    return 0;
}

static void every_index_exactly_once(void **state)
{
    weft_pool_t *p = pool_of(3);
    size_t n = 1000003;
    unsigned char *seen = calloc(n, 1);
    assert_int_equal(weft_pool_for(p, n, mark, seen), 0);
    for (size_t i = 0; i < n; i++)
        if (seen[i] != 1)
            fail_msg("index %zu ran %d times", i, seen[i]);
    free(seen);
    weft_pool_free(p);
}

static int range_mark(size_t b, size_t e, void *arg)
{
    for (size_t i = b; i < e; i++)
        mark(i, arg);
    return 0;
}

static void ranges_cover_everything_once(void **state)
{
    weft_pool_t *p = pool_of(2);
    size_t n = 100000;
    for (size_t grain = 0; grain < 5000; grain = grain * 7 + 1) {
        unsigned char *seen = calloc(n, 1);
        assert_int_equal(weft_pool_for_range(p, n, grain, range_mark, seen), 0);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(seen[i], 1);
        free(seen);
    }
    assert_int_equal(weft_pool_for_range(p, 0, 0, range_mark, NULL), 0);
    weft_pool_free(p);
}

/* The lowest failing index's error; chunks below a failure still run. */
struct failing {
    size_t *fail_at;
    size_t n_fail;
    unsigned char *ran;
};

static int fail_some(size_t i, void *arg)
{
    struct failing *f = arg;
    __atomic_store_n(&f->ran[i], 1, __ATOMIC_RELAXED);
    for (size_t k = 0; k < f->n_fail; k++)
        if (i == f->fail_at[k])
            return -(int)(100 + k);
    return 0;
}

static void lowest_failure_wins_and_lower_chunks_finish(void **state)
{
    weft_pool_t *p = pool_of(4);
    size_t n = 200000;
    size_t at[] = {150000, 70000, 190000};
    for (int round = 0; round < 20; round++) {
        struct failing f = {at, 3, calloc(n, 1)};
        assert_int_equal(weft_pool_for(p, n, fail_some, &f), -101);
        for (size_t i = 0; i <= 70000; i++)
            if (!f.ran[i])
                fail_msg("index %zu below the failure did not run", i);
        free(f.ran);
    }
    weft_pool_free(p);
}

static int positive_error(size_t i, void *arg)
{
    return i == 3 ? 1 : 0;
}

static void positive_errors_become_einval(void **state)
{
    weft_pool_t *p = pool_of(2);
    assert_int_equal(weft_pool_for(p, 10, positive_error, NULL), -EINVAL);
    weft_pool_free(p);
}

static void async_form_settles_a_future(void **state)
{
    weft_pool_t *p = pool_of(2);
    size_t n = 50000;
    unsigned char *seen = calloc(n, 1);
    weft_future_t *f = weft_pool_for_async(p, n, mark, seen);
    assert_non_null(f);
    assert_int_equal(weft_future_wait(f, weft_test_ms(10000)), 0);
    assert_int_equal(weft_future_state(f), WEFT_FUTURE_FULFILLED);
    assert_int_equal(weft_future_int(f), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seen[i], 1);
    weft_future_unref(f);
    free(seen);

    f = weft_pool_for_async(p, 0, mark, NULL);
    assert_int_equal(weft_future_state(f), WEFT_FUTURE_FULFILLED);
    weft_future_unref(f);

    struct failing fl = {(size_t[]){5}, 1, calloc(10, 1)};
    f = weft_pool_for_async(p, 10, fail_some, &fl);
    assert_int_equal(weft_future_wait(f, weft_test_ms(10000)), 0);
    assert_int_equal(weft_future_error(f), -100);
    weft_future_unref(f);
    free(fl.ran);
    weft_pool_free(p);
}

static void loop_threads_and_closed_pools(void **state)
{
    weft_pool_t *p = pool_of(2);
    weft__thread_mark_loop(true);
    assert_int_equal(weft_pool_for(p, 10, exp_into, NULL), -EDEADLK);
    assert_int_equal(weft_pool_for_range(p, 10, 0, range_mark, NULL), -EDEADLK);
    /* The async form is fine on a loop thread. */
    unsigned char seen[10] = {0};
    weft_future_t *f = weft_pool_for_async(p, 10, mark, seen);
    weft__thread_mark_loop(false);
    assert_int_equal(weft_future_wait(f, weft_test_ms(5000)), 0);
    assert_int_equal(weft_future_int(f), 0);
    weft_future_unref(f);
    weft_pool_close(p, -1);
    double out[3];
    assert_int_equal(weft_pool_for(p, 3, exp_into, out), -EPIPE);
    f = weft_pool_for_async(p, 3, exp_into, out);
    assert_int_equal(weft_future_error(f), -EPIPE);
    weft_future_unref(f);
    weft_pool_free(p);
}

/* Nested: a for inside every index of a for, on the same pool. */
struct nested {
    weft_pool_t *pool;
    long cells[16][64];
};

static int inner_cell(size_t j, void *arg)
{
    long *row = arg;
    row[j] = (long)j + 1;
    return 0;
}

static int outer_row(size_t i, void *arg)
{
    struct nested *nt = arg;
    return weft_pool_for(nt->pool, 64, inner_cell, nt->cells[i]);
}

static void nested_for_finishes(void **state)
{
    for (unsigned threads = 1; threads <= 4; threads *= 2) {
        weft_pool_t *p = pool_of(threads);
        struct nested *nt = calloc(1, sizeof(*nt));
        nt->pool = p;
        assert_int_equal(weft_pool_for(p, 16, outer_row, nt), 0);
        long sum = 0;
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 64; j++)
                sum += nt->cells[i][j];
        assert_int_equal(sum, 16 * (64 * 65 / 2));
        free(nt);
        weft_pool_free(p);
    }
}

/* Called from inside a job, the worker takes part instead of waiting. */
struct from_job {
    weft_pool_t *pool;
    unsigned char seen[1000];
};

static void job_running_a_for(weft_job_t *job, void *arg)
{
    struct from_job *fj = arg;
    weft_job_return_int(job, weft_pool_for(fj->pool, 1000, mark, fj->seen));
}

static void for_from_a_worker_of_a_busy_pool(void **state)
{
    weft_pool_t *p = pool_of(1); /* the only worker is the caller */
    struct from_job *fj = calloc(1, sizeof(*fj));
    fj->pool = p;
    weft_future_t *f = weft_pool_submit(p, job_running_a_for, fj);
    assert_int_equal(weft_future_wait(f, weft_test_ms(5000)), 0);
    assert_int_equal(weft_future_int(f), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(fj->seen[i], 1);
    weft_future_unref(f);
    weft_pool_stats_t st;
    weft_pool_stats(p, &st);
    assert_int_equal(st.submitted, 1); /* chunks are not jobs */
    free(fj);
    weft_pool_free(p);
}

/* A pool closing under an async loop still settles it. */
static _Atomic bool release;
static void blocker(weft_job_t *job, void *arg)
{
    while (!release && !weft_job_cancelled(job))
        weft_test_sleep_ms(1);
}

static void close_settles_a_pending_async_loop(void **state)
{
    release = false;
    weft_pool_t *p = pool_of(1);
    weft_future_t *b = weft_pool_submit(p, blocker, NULL);
    weft_test_sleep_ms(10);
    unsigned char seen[100] = {0};
    weft_future_t *f = weft_pool_for_async(p, 100, mark, seen);
    assert_int_equal(weft_pool_close(p, 0), -ETIMEDOUT);
    assert_true(weft_future_is_done(f));
    assert_int_equal(weft_future_error(f), -ECANCELED);
    weft_future_unref(f);
    weft_future_unref(b);
    weft_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(map_exp_over_five),
        cmocka_unit_test(iterate_into_shared_total),
        cmocka_unit_test(every_index_exactly_once),
        cmocka_unit_test(ranges_cover_everything_once),
        cmocka_unit_test(lowest_failure_wins_and_lower_chunks_finish),
        cmocka_unit_test(positive_errors_become_einval),
        cmocka_unit_test(async_form_settles_a_future),
        cmocka_unit_test(loop_threads_and_closed_pools),
        cmocka_unit_test(nested_for_finishes),
        cmocka_unit_test(for_from_a_worker_of_a_busy_pool),
        cmocka_unit_test(close_settles_a_pending_async_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
