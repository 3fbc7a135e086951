/* Unit tests for pool supervision: deadlines, abandoned and kept stuck
   workers, weft_job_exit, restart intensity, late results. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "test-support.h"
#include "weft/weft.h"

static _Atomic bool release;
static _Atomic int stuck_inside, stuck_done;
static _Atomic int dtors;

static void count_dtor(void *p)
{
    dtors++;
    free(p);
}

/* Stuck until the test releases it, whatever the pool says. */
static void stuck(weft_job_t *job, void *arg)
{
    stuck_inside++;
    while (!release)
        weft_test_sleep_ms(1);
    weft_job_return_ptr(job, strdup("late"), count_dtor);
    stuck_done++;
}

static void quick(weft_job_t *job, void *arg)
{
    weft_job_return_int(job, 7);
}

static void reset(void)
{
    release = false;
    stuck_inside = stuck_done = dtors = 0;
}

/* Waits for the stuck jobs the test released to unwind, so their threads
   drop the pool before the process exits. */
static void drain_stuck(int n)
{
    release = true;
    int64_t until = weft_test_now_ms() + weft_test_ms(5000);
    while (stuck_done < n && weft_test_now_ms() < until)
        weft_test_sleep_ms(1);
    weft_test_sleep_ms(20);
}

static void wait_for(weft_pool_t *p, bool (*cond)(const weft_pool_stats_t *), int64_t ms)
{
    int64_t until = weft_test_now_ms() + weft_test_ms(ms);
    weft_pool_stats_t st;
    for (;;) {
        weft_pool_stats(p, &st);
        if (cond(&st))
            return;
        if (weft_test_now_ms() > until)
            fail_msg("condition not reached: threads %u degraded %d replaced %lu", st.threads,
                     st.degraded, (unsigned long)st.replaced);
        weft_test_sleep_ms(2);
    }
}

static bool four_threads(const weft_pool_stats_t *st)
{
    return st->threads == 4;
}

static void stuck_jobs_time_out_and_capacity_stays(void **state)
{
    reset();
    weft_pool_options_t o = {.threads = 4, .job_deadline_ms = 200, .name = "dl"};
    weft_pool_t *p = weft_pool_new(&o);
    weft_future_t *fs[4];
    for (int i = 0; i < 4; i++)
        fs[i] = weft_pool_submit(p, stuck, NULL);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(weft_future_wait(fs[i], weft_test_ms(2000)), 0);
        assert_int_equal(weft_future_error(fs[i]), -ETIMEDOUT);
    }
    wait_for(p, four_threads, 1000);
    /* New jobs complete promptly: expected well under 50 ms. */
    for (int i = 0; i < 8; i++) {
        int64_t start = weft_test_now_ms();
        weft_future_t *f = weft_pool_submit(p, quick, NULL);
        assert_int_equal(weft_future_wait(f, weft_test_ms(250)), 0);
        assert_int_equal(weft_future_int(f), 7);
        assert_true(weft_test_now_ms() - start < weft_test_ms(250));
        weft_future_unref(f);
    }
    weft_pool_stats_t st;
    weft_pool_stats(p, &st);
    assert_int_equal(st.timed_out, 4);
    assert_int_equal(st.abandoned, 4);
    assert_int_equal(st.replaced, 4);
    assert_int_equal(st.submitted, st.completed + st.failed + st.cancelled + st.timed_out +
                                       st.queued + st.running);
    assert_false(st.degraded);
    weft_pool_free(p);
    drain_stuck(4);
    assert_int_equal(dtors, 4); /* every late result destroyed */
    for (int i = 0; i < 4; i++)
        weft_future_unref(fs[i]);
}

static void per_job_deadlines(void **state)
{
    reset();
    weft_pool_options_t o = {.threads = 2, .job_deadline_ms = 100};
    weft_pool_t *p = weft_pool_new(&o);
    /* No deadline for this one, although the pool has one. */
    weft_job_options_t none = {.deadline_ms = -1};
    weft_future_t *f;
    assert_int_equal(weft_pool_submit_ex(p, stuck, NULL, &none, &f), 0);
    assert_int_equal(weft_future_wait(f, 300), -ETIMEDOUT);
    release = true;
    assert_int_equal(weft_future_wait(f, weft_test_ms(2000)), 0);
    assert_string_equal(weft_future_ptr(f), "late");
    weft_future_unref(f);
    weft_pool_free(p);

    /* A deadline of its own on a pool that has none. */
    reset();
    weft_pool_t *q = weft_pool_new(&(weft_pool_options_t){.threads = 1});
    weft_job_options_t short_one = {.deadline_ms = 50};
    assert_int_equal(weft_pool_submit_ex(q, stuck, NULL, &short_one, &f), 0);
    int64_t start = weft_test_now_ms();
    assert_int_equal(weft_future_wait(f, weft_test_ms(2000)), 0);
    assert_int_equal(weft_future_error(f), -ETIMEDOUT);
    assert_true(weft_test_now_ms() - start >= 45);
    weft_future_unref(f);
    weft_pool_free(q);
    drain_stuck(1);
}

static _Atomic int expired_ran;
static void must_not_run(weft_job_t *job, void *arg)
{
    expired_ran++;
}

static void job_expired_while_queued_never_runs(void **state)
{
    reset();
    expired_ran = 0;
    weft_pool_t *p = weft_pool_new(&(weft_pool_options_t){.threads = 1});
    weft_future_t *b = weft_pool_submit(p, stuck, NULL);
    while (!stuck_inside)
        weft_test_sleep_ms(1);
    weft_job_options_t o = {.deadline_ms = 50};
    weft_future_t *f;
    assert_int_equal(weft_pool_submit_ex(p, must_not_run, NULL, &o, &f), 0);
    /* Rejected at its deadline, while the only worker is still busy. */
    assert_int_equal(weft_future_wait(f, weft_test_ms(1000)), 0);
    assert_int_equal(weft_future_error(f), -ETIMEDOUT);
    assert_int_equal(stuck_done, 0);
    weft_pool_stats_t st;
    weft_pool_stats(p, &st);
    assert_int_equal(st.timed_out, 1);
    assert_int_equal(st.queued, 0);
    release = true;
    assert_int_equal(weft_pool_close(p, -1), 0);
    assert_int_equal(expired_ran, 0);
    weft_pool_free(p);
    weft_future_unref(b);
    weft_future_unref(f);
}

static bool degraded(const weft_pool_stats_t *st)
{
    return st->degraded;
}

static bool recovered(const weft_pool_stats_t *st)
{
    return !st->degraded && st->threads == 2;
}

static void stuck_past_max_abandoned_are_kept(void **state)
{
    reset();
    weft_pool_options_t o = {.threads = 2, .job_deadline_ms = 100, .max_abandoned = 1};
    weft_pool_t *p = weft_pool_new(&o);
    weft_future_t *a = weft_pool_submit(p, stuck, NULL);
    weft_future_t *b = weft_pool_submit(p, stuck, NULL);
    assert_int_equal(weft_future_wait(a, weft_test_ms(2000)), 0);
    assert_int_equal(weft_future_wait(b, weft_test_ms(2000)), 0);
    assert_int_equal(weft_future_error(a), -ETIMEDOUT);
    assert_int_equal(weft_future_error(b), -ETIMEDOUT);
    wait_for(p, degraded, 1000);
    weft_pool_stats_t st;
    weft_pool_stats(p, &st);
    assert_int_equal(st.abandoned, 1);
    assert_int_equal(st.timed_out, 2);
    /* The kept one comes back when its job returns. */
    release = true;
    wait_for(p, recovered, 2000);
    weft_future_t *f = weft_pool_submit(p, quick, NULL);
    assert_int_equal(weft_future_wait(f, weft_test_ms(1000)), 0);
    weft_future_unref(f);
    weft_pool_free(p);
    drain_stuck(2);
    assert_int_equal(dtors, 2);
    weft_future_unref(a);
    weft_future_unref(b);
}

/* ---- weft_job_exit ---- */

static void exiting(weft_job_t *job, void *arg)
{
    weft_job_return_int(job, 1); /* lost with the thread */
    weft_job_exit(job);
}

static bool hundred_replaced(const weft_pool_stats_t *st)
{
    return st->replaced >= 100 && st->threads == 4;
}

static void exiting_workers_are_replaced(void **state)
{
    weft_pool_t *p = weft_pool_new(&(weft_pool_options_t){.threads = 4});
    weft_future_t *fs[100];
    for (int i = 0; i < 100; i++)
        fs[i] = weft_pool_submit(p, exiting, NULL);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(weft_future_wait(fs[i], weft_test_ms(10000)), 0);
        assert_int_equal(weft_future_error(fs[i]), -EOWNERDEAD);
        weft_future_unref(fs[i]);
    }
    wait_for(p, hundred_replaced, 10000);
    weft_future_t *f = weft_pool_submit(p, quick, NULL);
    assert_int_equal(weft_future_wait(f, weft_test_ms(1000)), 0);
    assert_int_equal(weft_future_int(f), 7);
    weft_future_unref(f);
    weft_pool_stats_t st;
    weft_pool_stats(p, &st);
    assert_int_equal(st.failed, 100);
    weft_pool_free(p);
}

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;

static void exit_holding_a_scoped_lock(weft_job_t *job, void *arg)
{
    WEFT_SCOPED_LOCK(&held);
    weft_job_exit(job);
}

static void scoped_locks_release_when_a_worker_exits(void **state)
{
    weft_pool_t *p = weft_pool_new(&(weft_pool_options_t){.threads = 1});
    weft_future_t *f = weft_pool_submit(p, exit_holding_a_scoped_lock, NULL);
    assert_int_equal(weft_future_wait(f, weft_test_ms(5000)), 0);
    assert_int_equal(weft_future_error(f), -EOWNERDEAD);
    assert_int_equal(pthread_mutex_trylock(&held), 0);
    pthread_mutex_unlock(&held);
    weft_future_unref(f);
    weft_pool_free(p);
}

/* A job that exits while nested in another job's wait ends both. */
struct nest {
    weft_pool_t *pool;
    weft_future_t *inner;
};

static void outer_waits_on_exiting(weft_job_t *job, void *arg)
{
    struct nest *n = arg;
    n->inner = weft_pool_submit(n->pool, exiting, NULL);
    weft_future_wait(n->inner, -1); /* runs the inner job on this thread */
    weft_job_return_int(job, 1);
}

static void exit_nested_in_a_wait_ends_every_job_on_the_thread(void **state)
{
    weft_pool_t *p = weft_pool_new(&(weft_pool_options_t){.threads = 1});
    struct nest n = {p, NULL};
    weft_future_t *f = weft_pool_submit(p, outer_waits_on_exiting, &n);
    assert_int_equal(weft_future_wait(f, weft_test_ms(5000)), 0);
    assert_int_equal(weft_future_error(f), -EOWNERDEAD);
    assert_int_equal(weft_future_wait(n.inner, weft_test_ms(5000)), 0);
    assert_int_equal(weft_future_error(n.inner), -EOWNERDEAD);
    weft_future_t *g = weft_pool_submit(p, quick, NULL);
    assert_int_equal(weft_future_wait(g, weft_test_ms(5000)), 0);
    weft_future_unref(g);
    weft_future_unref(n.inner);
    weft_future_unref(f);
    weft_pool_free(p);
}

/* ---- restart intensity ---- */

static bool one_thread_calm(const weft_pool_stats_t *st)
{
    return !st->degraded && st->threads == 1;
}

static void crash_loop_degrades_then_recovers(void **state)
{
    weft_pool_options_t o = {
        .threads = 1, .restart_max = 5, .restart_period_ms = 1000, .restart_backoff_max_ms = 80};
    weft_pool_t *p = weft_pool_new(&o);
    weft_future_t *fs[20];
    for (int i = 0; i < 20; i++)
        fs[i] = weft_pool_submit(p, exiting, NULL);
    bool saw_degraded = false;
    int64_t start = weft_test_now_ms();
    for (int i = 0; i < 20; i++) {
        while (weft_future_wait(fs[i], 1) == -ETIMEDOUT) {
            weft_pool_stats_t st;
            weft_pool_stats(p, &st);
            saw_degraded |= st.degraded;
        }
        assert_int_equal(weft_future_error(fs[i]), -EOWNERDEAD);
        weft_future_unref(fs[i]);
    }
    /* 20 restarts, 5 a second allowed, then backoff of 10, 20, 40, 80,
       80... ms: the loop was slowed down, not spinning. */
    assert_true(saw_degraded);
    assert_true(weft_test_now_ms() - start >= 10 + 20 + 40 + 80 * 10);
    wait_for(p, one_thread_calm, 3000);
    weft_future_t *f = weft_pool_submit(p, quick, NULL);
    assert_int_equal(weft_future_wait(f, weft_test_ms(1000)), 0);
    assert_int_equal(weft_future_int(f), 7);
    weft_future_unref(f);
    weft_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stuck_jobs_time_out_and_capacity_stays),
        cmocka_unit_test(per_job_deadlines),
        cmocka_unit_test(job_expired_while_queued_never_runs),
        cmocka_unit_test(stuck_past_max_abandoned_are_kept),
        cmocka_unit_test(exiting_workers_are_replaced),
        cmocka_unit_test(scoped_locks_release_when_a_worker_exits),
        cmocka_unit_test(exit_nested_in_a_wait_ends_every_job_on_the_thread),
        cmocka_unit_test(crash_loop_degrades_then_recovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
