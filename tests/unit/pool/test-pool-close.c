/* Unit tests for closing the pool: drain, cancel, abandon, repeat, -EPIPE,
   and cancelling single jobs. Every future ends settled. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sync/thread.h"
#include "test-support.h"
#include "weft/weft.h"

static weft_pool_t *pool_of(unsigned threads, size_t capacity)
{
    weft_pool_options_t o = {.threads = threads, .queue_capacity = capacity, .name = "close"};
    weft_pool_t *p = weft_pool_new(&o);
    assert_non_null(p);
    return p;
}

static void check_identity(weft_pool_t *p, weft_pool_stats_t *st)
{
    weft_pool_stats(p, st);
    assert_int_equal(st->submitted, st->completed + st->failed + st->cancelled + st->timed_out +
                                        st->queued + st->running);
}

static _Atomic int ran;
static void short_job(weft_job_t *job, void *arg)
{
    weft_test_sleep_ms(1);
    ran++;
    weft_job_return_int(job, 1);
}

static void close_drains_the_queue(void **state)
{
    ran = 0;
    weft_pool_t *p = pool_of(2, 0);
    weft_future_t *fs[100];
    for (int i = 0; i < 100; i++)
        fs[i] = weft_pool_submit(p, short_job, NULL);
    assert_int_equal(weft_pool_close(p, -1), 0);
    assert_int_equal(ran, 100);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(weft_future_state(fs[i]), WEFT_FUTURE_FULFILLED);
        weft_future_unref(fs[i]);
    }
    weft_pool_stats_t st;
    check_identity(p, &st);
    assert_int_equal(st.completed, 100);
    assert_int_equal(st.threads, 0);
    /* Repeatable, and closed for good. */
    assert_int_equal(weft_pool_close(p, -1), 0);
    weft_future_t *f = weft_pool_submit(p, short_job, NULL);
    assert_int_equal(weft_future_error(f), -EPIPE);
    weft_future_unref(f);
    assert_int_equal(weft_pool_try_submit(p, short_job, NULL, NULL), -EPIPE);
    weft_future_t *g = (weft_future_t *)1;
    assert_int_equal(weft_pool_submit_ex(p, short_job, NULL, NULL, &g), -EPIPE);
    assert_null(g);
    weft_pool_free(p);
}

/* A cooperative long job: runs until cancelled. */
static _Atomic int saw_cancel;
static _Atomic int started_long;
static int dtor_calls;
static void count_dtor(void *ptr)
{
    __atomic_fetch_add(&dtor_calls, 1, __ATOMIC_SEQ_CST);
    free(ptr);
}

static void until_cancelled(weft_job_t *job, void *arg)
{
    started_long++;
    while (!weft_job_cancelled(job))
        weft_test_sleep_ms(1);
    saw_cancel++;
    weft_job_return_ptr(job, strdup("late"), count_dtor); /* can't be delivered */
}

static void close_zero_cancels_queued_and_running(void **state)
{
    saw_cancel = 0;
    dtor_calls = 0;
    ran = 0;
    weft_pool_t *p = pool_of(2, 0);
    weft_future_t *running[2], *queued[10];
    started_long = 0;
    for (int i = 0; i < 2; i++)
        running[i] = weft_pool_submit(p, until_cancelled, NULL);
    for (int i = 0; i < 10; i++)
        queued[i] = weft_pool_submit(p, short_job, NULL);
    weft_pool_stats_t st;
    int64_t until = weft_test_now_ms() + weft_test_ms(5000);
    while (started_long < 2 && weft_test_now_ms() < until)
        weft_test_sleep_ms(1);
    assert_int_equal(started_long, 2);
    /* Jobs are not started in strict submission order (a worker may
       steal queued short jobs before the second long one starts), so some
       short ones may have run by now: none may run from close on. */
    int ran_before = ran;
    int64_t start = weft_test_now_ms();
    assert_int_equal(weft_pool_close(p, 0), -ETIMEDOUT);
    assert_true(weft_test_now_ms() - start < weft_test_ms(1000));
    assert_int_equal(saw_cancel, 2);
    assert_int_equal(ran, ran_before);
    assert_int_equal(__atomic_load_n(&dtor_calls, __ATOMIC_SEQ_CST), 2);
    for (int i = 0; i < 2; i++)
        assert_int_equal(weft_future_state(running[i]), WEFT_FUTURE_CANCELLED);
    int cancelled = 0;
    for (int i = 0; i < 10; i++) {
        assert_true(weft_future_is_done(queued[i]));
        if (weft_future_error(queued[i]) == -ECANCELED)
            cancelled++;
        else
            assert_int_equal(weft_future_int(queued[i]), 1); /* it ran before close */
    }
    assert_int_equal(cancelled, 10 - ran_before);
    check_identity(p, &st);
    assert_int_equal(st.cancelled, 2 + (uint64_t)cancelled);
    assert_int_equal(st.queued + st.running, 0);
    assert_int_equal(st.abandoned, 0);
    weft_pool_free(p);
    for (int i = 0; i < 2; i++)
        weft_future_unref(running[i]);
    for (int i = 0; i < 10; i++)
        weft_future_unref(queued[i]);
}

/* A job that ignores cancellation until the test lets it go. */
static _Atomic bool release_stuck;
static _Atomic bool stuck_returned;
static void stuck_job(weft_job_t *job, void *arg)
{
    while (!release_stuck)
        weft_test_sleep_ms(1);
    weft_job_return_ptr(job, strdup("too late"), count_dtor);
    stuck_returned = true;
}

static void close_abandons_a_stuck_thread(void **state)
{
    release_stuck = false;
    stuck_returned = false;
    dtor_calls = 0;
    weft_pool_t *p = pool_of(2, 0);
    weft_future_t *f = weft_pool_submit(p, stuck_job, NULL);
    weft_future_t *g = weft_pool_submit(p, short_job, NULL);
    assert_int_equal(weft_future_wait(g, weft_test_ms(5000)), 0);
    int64_t start = weft_test_now_ms();
    assert_int_equal(weft_pool_close(p, 50), -ETIMEDOUT);
    int64_t took = weft_test_now_ms() - start;
    assert_true(took >= 50 + 100); /* drain, then the grace */
    assert_true(took < weft_test_ms(2000));
    assert_int_equal(weft_future_state(f), WEFT_FUTURE_CANCELLED);
    weft_pool_stats_t st;
    check_identity(p, &st);
    assert_int_equal(st.abandoned, 1);
    assert_int_equal(st.running, 0);
    weft_pool_free(p); /* the stuck thread keeps the pool's core alive */
    release_stuck = true;
    while (!stuck_returned)
        weft_test_sleep_ms(1);
    weft_test_sleep_ms(weft_test_ms(50)); /* let it unwind and exit */
    assert_int_equal(__atomic_load_n(&dtor_calls, __ATOMIC_SEQ_CST),
                     1); /* its late result was destroyed */
    weft_future_unref(f);
    weft_future_unref(g);
}

struct submitter {
    weft_pool_t *p;
    weft_future_t *f;
};

static void *submit_into_full(void *arg)
{
    struct submitter *s = arg;
    s->f = weft_pool_submit(s->p, short_job, NULL);
    return NULL;
}

static void close_wakes_blocked_submitters_with_epipe(void **state)
{
    release_stuck = false;
    weft_pool_t *p = pool_of(1, 1);
    weft_future_t *f = weft_pool_submit(p, stuck_job, NULL);
    weft_future_t *q = weft_pool_submit(p, short_job, NULL);
    struct submitter s = {p, NULL};
    pthread_t t;
    pthread_create(&t, NULL, submit_into_full, &s);
    weft_test_sleep_ms(30);
    release_stuck = true;
    assert_int_equal(weft_pool_close(p, -1), 0);
    pthread_join(t, NULL);
    /* Either it got in before close began, or close refused it. */
    assert_non_null(s.f);
    assert_true(weft_future_is_done(s.f));
    if (weft_future_state(s.f) == WEFT_FUTURE_REJECTED)
        assert_int_equal(weft_future_error(s.f), -EPIPE);
    weft_pool_free(p);
    weft_future_unref(f);
    weft_future_unref(q);
    weft_future_unref(s.f);
}

static void close_blocks_new_submit_racing_close(void **state)
{
    /* A submitter blocked on a full queue when close starts gets -EPIPE. */
    release_stuck = false;
    weft_pool_t *p = pool_of(1, 1);
    weft_future_t *f = weft_pool_submit(p, stuck_job, NULL);
    weft_future_t *q = weft_pool_submit(p, short_job, NULL);
    struct submitter s = {p, NULL};
    pthread_t t;
    pthread_create(&t, NULL, submit_into_full, &s);
    weft_test_sleep_ms(30);
    assert_null(s.f);
    assert_int_equal(weft_pool_close(p, 0), -ETIMEDOUT); /* abandons the stuck one */
    pthread_join(t, NULL);
    assert_int_equal(weft_future_error(s.f), -EPIPE);
    release_stuck = true;
    weft_pool_free(p);
    weft_future_unref(f);
    weft_future_unref(q);
    weft_future_unref(s.f);
    while (!stuck_returned)
        weft_test_sleep_ms(1);
    weft_test_sleep_ms(weft_test_ms(50));
}

static void close_from_a_worker_is_edeadlk(weft_job_t *job, void *arg)
{
    weft_job_return_int(job, weft_pool_close(arg, 0));
}

static void close_on_own_worker_refused(void **state)
{
    weft_pool_t *p = pool_of(1, 0);
    weft_future_t *f = weft_pool_submit(p, close_from_a_worker_is_edeadlk, p);
    assert_int_equal(weft_future_wait(f, weft_test_ms(5000)), 0);
    assert_int_equal(weft_future_int(f), -EDEADLK);
    weft_pool_free(p);
    weft_future_unref(f);
}

static void cancelled_queued_job_never_runs(void **state)
{
    release_stuck = false;
    ran = 0;
    weft_pool_t *p = pool_of(1, 2);
    weft_future_t *blocker = weft_pool_submit(p, stuck_job, NULL);
    weft_pool_stats_t st;
    for (weft_pool_stats(p, &st); st.running < 1; weft_pool_stats(p, &st))
        weft_test_sleep_ms(1); /* the worker is busy: from here on, jobs wait */
    weft_future_t *a = weft_pool_submit(p, short_job, NULL);
    weft_future_t *b = weft_pool_submit(p, short_job, NULL);
    assert_int_equal(weft_pool_try_submit(p, short_job, NULL, NULL), -EAGAIN);
    assert_int_equal(weft_future_cancel(a), 0);
    /* The slot it held is free again. */
    weft_future_t *c;
    assert_int_equal(weft_pool_try_submit(p, short_job, NULL, &c), 0);
    check_identity(p, &st);
    assert_int_equal(st.cancelled, 1);
    assert_int_equal(st.queued, 2);
    release_stuck = true;
    assert_int_equal(weft_pool_close(p, -1), 0);
    assert_int_equal(ran, 2);
    assert_int_equal(weft_future_state(a), WEFT_FUTURE_CANCELLED);
    check_identity(p, &st);
    assert_int_equal(st.completed, 3);
    weft_pool_free(p);
    weft_future_unref(blocker);
    weft_future_unref(a);
    weft_future_unref(b);
    weft_future_unref(c);
}

/* A graceful stop's shedding: what waits is cancelled, what runs goes on,
   the pool stays open. Repeated, since workers pop while we drain. */
static void cancel_queued_spares_running_jobs(void **state)
{
    for (int round = 0; round < 50; round++) {
        release_stuck = false;
        ran = 0;
        weft_pool_t *p = pool_of(2, 64);
        weft_future_t *stuck[2], *queued[20];
        for (int i = 0; i < 2; i++)
            stuck[i] = weft_pool_submit(p, stuck_job, NULL);
        weft_pool_stats_t st;
        for (weft_pool_stats(p, &st); st.running < 2; weft_pool_stats(p, &st))
            weft_test_sleep_ms(1);
        for (int i = 0; i < 20; i++)
            queued[i] = weft_pool_submit(p, short_job, NULL);
        assert_int_equal(weft_pool_cancel_queued(p), 20);
        for (int i = 0; i < 20; i++)
            assert_int_equal(weft_future_state(queued[i]), WEFT_FUTURE_CANCELLED);
        check_identity(p, &st);
        assert_int_equal(st.cancelled, 20);
        assert_int_equal(st.queued, 0);
        weft_future_t *after = weft_pool_submit(p, short_job, NULL); /* still open */
        release_stuck = true;
        assert_int_equal(weft_future_wait(after, weft_test_ms(5000)), 0);
        for (int i = 0; i < 2; i++)
            assert_int_equal(weft_future_wait(stuck[i], weft_test_ms(5000)), 0);
        assert_int_equal(ran, 1);
        assert_int_equal(weft_pool_cancel_queued(p), 0);
        assert_int_equal(weft_pool_close(p, -1), 0);
        check_identity(p, &st);
        assert_int_equal(st.completed, 3);
        weft_pool_free(p);
        for (int i = 0; i < 20; i++)
            weft_future_unref(queued[i]);
        weft_future_unref(stuck[0]);
        weft_future_unref(stuck[1]);
        weft_future_unref(after);
    }
    assert_int_equal(weft_pool_cancel_queued(NULL), 0);
}

static void cancelling_a_running_job_destroys_its_result(void **state)
{
    saw_cancel = 0;
    dtor_calls = 0;
    started_long = 0;
    weft_pool_t *p = pool_of(1, 0);
    weft_future_t *f = weft_pool_submit(p, until_cancelled, NULL);
    weft_pool_stats_t st;
    while (!started_long) /* inside the job, not just popped */
        weft_test_sleep_ms(1);
    assert_int_equal(weft_future_cancel(f), 0);
    assert_int_equal(weft_pool_close(p, -1), 0);
    assert_int_equal(saw_cancel, 1);
    assert_int_equal(__atomic_load_n(&dtor_calls, __ATOMIC_SEQ_CST), 1);
    check_identity(p, &st);
    assert_int_equal(st.cancelled, 1);
    assert_int_equal(st.completed, 0);
    weft_pool_free(p);
    weft_future_unref(f);
}

static void dropping_a_future_does_not_cancel_the_job(void **state)
{
    ran = 0;
    weft_pool_t *p = pool_of(1, 0);
    for (int i = 0; i < 10; i++)
        weft_future_unref(weft_pool_submit(p, short_job, NULL));
    assert_int_equal(weft_pool_close(p, -1), 0);
    assert_int_equal(ran, 10);
    weft_pool_free(p);
}

static void free_without_close_settles_everything(void **state)
{
    saw_cancel = 0;
    weft_pool_t *p = pool_of(2, 0);
    weft_future_t *fs[50];
    for (int i = 0; i < 50; i++)
        fs[i] = weft_pool_submit(p, i % 10 ? short_job : until_cancelled, NULL);
    weft_pool_free(p);
    for (int i = 0; i < 50; i++) {
        assert_true(weft_future_is_done(fs[i]));
        weft_future_unref(fs[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(close_drains_the_queue),
        cmocka_unit_test(close_zero_cancels_queued_and_running),
        cmocka_unit_test(close_abandons_a_stuck_thread),
        cmocka_unit_test(close_wakes_blocked_submitters_with_epipe),
        cmocka_unit_test(close_blocks_new_submit_racing_close),
        cmocka_unit_test(close_on_own_worker_refused),
        cmocka_unit_test(cancelled_queued_job_never_runs),
        cmocka_unit_test(cancel_queued_spares_running_jobs),
        cmocka_unit_test(cancelling_a_running_job_destroys_its_result),
        cmocka_unit_test(dropping_a_future_does_not_cancel_the_job),
        cmocka_unit_test(free_without_close_settles_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
