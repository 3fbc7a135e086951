/* Unit tests for submitting to the pool: results, failures, load shedding,
   blocking while full, -EDEADLK, detached jobs, fairness, stats. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "sync/thread.h"
#include "test-support.h"
#include "weft/weft.h"

static void return_int(weft_job_t *job, void *arg)
{
    weft_job_return_int(job, (int64_t)(intptr_t)arg);
}

static void return_exp(weft_job_t *job, void *arg)
{
    weft_job_return_double(job, exp(*(double *)arg));
}

static int freed;
static void count_free(void *p)
{
    freed++;
    free(p);
}

static void return_string(weft_job_t *job, void *arg)
{
    weft_job_return_ptr(job, strdup(arg), count_free);
    weft_job_return_ptr(job, strdup("second"), count_free); /* ignored, destroyed */
    weft_job_return_int(job, 5);                            /* ignored */
}

static void return_nothing(weft_job_t *job, void *arg)
{
}

static void fail_io(weft_job_t *job, void *arg)
{
    weft_job_fail(job, -EIO, "the disk said no");
    weft_job_return_int(job, 1); /* ignored after a fail */
}

static weft_pool_t *pool_of(unsigned threads, size_t capacity)
{
    weft_pool_options_t o = {.threads = threads, .queue_capacity = capacity, .name = "test"};
    weft_pool_t *p = weft_pool_new(&o);
    assert_non_null(p);
    return p;
}

static void results_of_every_kind(void **state)
{
    weft_pool_t *p = pool_of(4, 0);
    double ten = 10;
    weft_future_t *fi = weft_pool_submit(p, return_int, (void *)(intptr_t)42);
    weft_future_t *fd = weft_pool_submit(p, return_exp, &ten);
    weft_future_t *fp = weft_pool_submit(p, return_string, "hello");
    weft_future_t *fn = weft_pool_submit(p, return_nothing, NULL);
    weft_future_t *ff = weft_pool_submit(p, fail_io, NULL);
    assert_int_equal(weft_future_wait(fi, weft_test_ms(5000)), 0);
    assert_int_equal(weft_future_int(fi), 42);
    assert_int_equal(weft_future_wait(fd, weft_test_ms(5000)), 0);
    assert_true(fabs(weft_future_double(fd) - 22026.465794806718) < 1e-9);
    assert_int_equal(weft_future_wait(fp, weft_test_ms(5000)), 0);
    assert_string_equal(weft_future_ptr(fp), "hello");
    assert_int_equal(weft_future_wait(fn, weft_test_ms(5000)), 0);
    assert_int_equal(weft_future_state(fn), WEFT_FUTURE_FULFILLED);
    assert_int_equal(weft_future_int(fn), 0);
    assert_int_equal(weft_future_wait(ff, weft_test_ms(5000)), 0);
    assert_int_equal(weft_future_error(ff), -EIO);
    assert_string_equal(weft_future_message(ff), "the disk said no");
    assert_int_equal(weft_pool_close(p, -1), 0);
    weft_pool_stats_t st;
    weft_pool_stats(p, &st);
    assert_int_equal(st.submitted, 5);
    assert_int_equal(st.completed, 4);
    assert_int_equal(st.failed, 1);
    weft_pool_free(p);
    assert_int_equal(freed, 1); /* the ignored second pointer */
    weft_future_t *all[] = {fi, fd, fp, fn, ff};
    for (int i = 0; i < 5; i++)
        weft_future_unref(all[i]);
    assert_int_equal(freed, 2);
}

/* ---- a gate jobs block on, opened by the test ---- */

struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool open;
    int inside;
};
static struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0};

static void gate_reset(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.open = false;
    gate.inside = 0;
    pthread_mutex_unlock(&gate.mu);
}

static void gate_open(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.open = true;
    pthread_cond_broadcast(&gate.cond);
    pthread_mutex_unlock(&gate.mu);
}

static void wait_inside(int n)
{
    int64_t until = weft_test_now_ms() + weft_test_ms(5000);
    for (;;) {
        pthread_mutex_lock(&gate.mu);
        int inside = gate.inside;
        pthread_mutex_unlock(&gate.mu);
        if (inside >= n)
            return;
        assert_true(weft_test_now_ms() < until);
        weft_test_sleep_ms(1);
    }
}

static void gated(weft_job_t *job, void *arg)
{
    pthread_mutex_lock(&gate.mu);
    gate.inside++;
    pthread_cond_broadcast(&gate.cond);
    while (!gate.open)
        pthread_cond_wait(&gate.cond, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
    weft_job_return_int(job, 1);
}

static void try_submit_sheds_load_when_full(void **state)
{
    gate_reset();
    weft_pool_t *p = pool_of(1, 2);
    weft_future_t *running = weft_pool_submit(p, gated, NULL);
    wait_inside(1);
    weft_future_t *q1, *q2, *q3 = (weft_future_t *)1;
    assert_int_equal(weft_pool_try_submit(p, gated, NULL, &q1), 0);
    assert_int_equal(weft_pool_try_submit(p, gated, NULL, &q2), 0);
    assert_int_equal(weft_pool_try_submit(p, gated, NULL, &q3), -EAGAIN);
    assert_null(q3);
    assert_int_equal(weft_pool_try_submit(p, gated, NULL, NULL), -EAGAIN);
    weft_job_options_t nb = {.nonblocking = true};
    assert_int_equal(weft_pool_submit_ex(p, gated, NULL, &nb, &q3), -EAGAIN);
    weft_pool_stats_t st;
    weft_pool_stats(p, &st);
    assert_int_equal(st.rejected, 3);
    assert_int_equal(st.queued, 2);
    assert_int_equal(st.running, 1);
    assert_int_equal(st.submitted, 3);
    gate_open();
    assert_int_equal(weft_pool_close(p, -1), 0);
    weft_pool_free(p);
    weft_future_unref(running);
    weft_future_unref(q1);
    weft_future_unref(q2);
}

struct blocked_submit {
    weft_pool_t *pool;
    weft_future_t *f;
    int64_t returned_at;
};

static void *submit_blocking(void *arg)
{
    struct blocked_submit *b = arg;
    b->f = weft_pool_submit(b->pool, return_int, (void *)7);
    b->returned_at = weft_test_now_ms();
    return NULL;
}

static void submit_waits_while_full(void **state)
{
    gate_reset();
    weft_pool_t *p = pool_of(1, 1);
    weft_future_t *running = weft_pool_submit(p, gated, NULL);
    wait_inside(1);
    weft_future_t *queued = weft_pool_submit(p, return_int, (void *)1);
    struct blocked_submit b = {.pool = p};
    pthread_t t;
    pthread_create(&t, NULL, submit_blocking, &b);
    weft_test_sleep_ms(50);
    int64_t opened_at = weft_test_now_ms();
    assert_null(b.f); /* still blocked */
    gate_open();
    pthread_join(t, NULL);
    assert_true(b.returned_at >= opened_at);
    assert_int_equal(weft_future_wait(b.f, weft_test_ms(5000)), 0);
    assert_int_equal(weft_future_int(b.f), 7);
    weft_pool_free(p);
    weft_future_unref(running);
    weft_future_unref(queued);
    weft_future_unref(b.f);
}

/* A worker submitting to its own full pool would wait for itself. */
static _Atomic bool go;
static void submit_child_to_full_pool(weft_job_t *job, void *arg)
{
    weft_pool_t *p = arg;
    while (!go)
        weft_test_sleep_ms(1);
    weft_future_t *f = weft_pool_submit(p, return_int, NULL);
    weft_job_return_int(job, weft_future_error(f));
    weft_future_unref(f);
    weft_future_t *g = (weft_future_t *)1;
    int r = weft_pool_submit_ex(p, return_int, NULL, NULL, &g);
    if (r != -EDEADLK || g != NULL)
        weft_job_fail(job, -EPROTO, "submit_ex should be -EDEADLK");
}

static void own_worker_gets_edeadlk_when_full(void **state)
{
    gate_reset();
    go = false;
    weft_pool_t *p = pool_of(2, 1);
    weft_future_t *blocker = weft_pool_submit(p, gated, NULL);
    wait_inside(1);
    weft_future_t *f = weft_pool_submit(p, submit_child_to_full_pool, p);
    /* Wait until f runs on the second worker, then fill the queue. */
    weft_pool_stats_t st;
    int64_t until = weft_test_now_ms() + weft_test_ms(5000);
    do {
        weft_test_sleep_ms(1);
        weft_pool_stats(p, &st);
    } while (st.running < 2 && weft_test_now_ms() < until);
    assert_int_equal(st.running, 2);
    weft_future_t *filler;
    assert_int_equal(weft_pool_try_submit(p, gated, NULL, &filler), 0);
    go = true;
    assert_int_equal(weft_future_wait(f, weft_test_ms(5000)), 0);
    assert_int_equal(weft_future_error(f), 0);
    assert_int_equal(weft_future_int(f), -EDEADLK);
    gate_open();
    weft_pool_free(p);
    weft_future_unref(blocker);
    weft_future_unref(filler);
    weft_future_unref(f);
}

static void loop_thread_gets_edeadlk_when_full(void **state)
{
    gate_reset();
    weft_pool_t *p = pool_of(1, 1);
    weft_future_t *running = weft_pool_submit(p, gated, NULL);
    wait_inside(1);
    weft_future_t *queued = weft_pool_submit(p, return_int, NULL);
    weft__thread_mark_loop(true);
    weft_future_t *f = weft_pool_submit(p, return_int, NULL);
    assert_int_equal(weft_future_state(f), WEFT_FUTURE_REJECTED);
    assert_int_equal(weft_future_error(f), -EDEADLK);
    weft_future_t *g = (weft_future_t *)1;
    assert_int_equal(weft_pool_submit_ex(p, return_int, NULL, NULL, &g), -EDEADLK);
    assert_null(g);
    assert_int_equal(weft_pool_close(p, -1), -EDEADLK);
    weft__thread_mark_loop(false);
    weft_pool_stats_t st;
    weft_pool_stats(p, &st);
    assert_int_equal(st.submitted, 2); /* refused jobs are not counted */
    gate_open();
    weft_pool_free(p);
    weft_future_unref(running);
    weft_future_unref(queued);
    weft_future_unref(f);
}

static _Atomic int detached_ran;
static void detached_job(weft_job_t *job, void *arg)
{
    detached_ran++;
}

static void detached_jobs_run_and_drain_on_close(void **state)
{
    weft_pool_t *p = pool_of(2, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(weft_pool_try_submit(p, detached_job, NULL, NULL), 0);
    weft_job_options_t d = {.detached = true};
    weft_future_t *out = (weft_future_t *)1;
    assert_int_equal(weft_pool_submit_ex(p, detached_job, NULL, &d, &out), 0);
    assert_null(out);
    assert_int_equal(weft_pool_close(p, -1), 0);
    assert_int_equal(detached_ran, 1001);
    weft_pool_stats_t st;
    weft_pool_stats(p, &st);
    assert_int_equal(st.completed, 1001);
    assert_int_equal(st.queued + st.running, 0);
    weft_pool_free(p);
}

/* ---- fairness: no worker hogs the queue ---- */

#define FAIR_THREADS 4
#define FAIR_JOBS    200
static pthread_t fair_seen[FAIR_JOBS];
static _Atomic int fair_next;

static void fair_job(weft_job_t *job, void *arg)
{
    fair_seen[fair_next++] = pthread_self();
    weft_test_sleep_ms(1);
}

static void jobs_spread_over_workers(void **state)
{
    fair_next = 0;
    weft_pool_t *p = pool_of(FAIR_THREADS, 0);
    for (int i = 0; i < FAIR_JOBS; i++)
        assert_int_equal(weft_pool_try_submit(p, fair_job, NULL, NULL), 0);
    assert_int_equal(weft_pool_close(p, -1), 0);
    weft_pool_free(p);
    pthread_t ids[FAIR_THREADS];
    int counts[FAIR_THREADS] = {0}, n = 0;
    for (int i = 0; i < FAIR_JOBS; i++) {
        int k = 0;
        while (k < n && !pthread_equal(ids[k], fair_seen[i]))
            k++;
        if (k == n)
            ids[n++] = fair_seen[i];
        counts[k]++;
    }
    assert_int_equal(n, FAIR_THREADS);
    /* Each of 4 workers runs about a quarter; none less than a tenth. */
    for (int k = 0; k < n; k++)
        assert_true(counts[k] >= FAIR_JOBS / 10);
}

/* A burst wakes enough workers to run it all at once. */
static void burst_runs_in_parallel(void **state)
{
    gate_reset();
    weft_pool_t *p = pool_of(4, 0);
    weft_test_sleep_ms(20); /* let the workers fall asleep */
    weft_future_t *fs[4];
    for (int i = 0; i < 4; i++)
        fs[i] = weft_pool_submit(p, gated, NULL);
    wait_inside(4); /* all four inside at once, or this times out */
    gate_open();
    for (int i = 0; i < 4; i++) {
        assert_int_equal(weft_future_wait(fs[i], weft_test_ms(5000)), 0);
        weft_future_unref(fs[i]);
    }
    weft_pool_stats_t st;
    weft_pool_stats(p, &st);
    assert_true(st.wakes >= 3);
    weft_pool_free(p);
}

/* A stream of jobs to a lingering worker needs no wake-ups. */
static void stream_to_lingering_worker_needs_no_wakes(void **state)
{
    weft_pool_t *p = pool_of(1, 0);
    weft_future_t *f = weft_pool_submit(p, return_int, NULL);
    weft_future_wait(f, -1);
    weft_future_unref(f);
    weft_test_sleep_ms(20); /* asleep now */
    weft_pool_stats_t before, after;
    weft_pool_stats(p, &before);
    for (int i = 0; i < 100; i++) {
        f = weft_pool_submit(p, return_int, NULL);
        assert_int_equal(weft_future_wait(f, -1), 0);
        weft_future_unref(f);
    }
    weft_pool_stats(p, &after);
    /* The first job wakes it; most of the rest find it lingering (each
       round trip is far shorter than the linger), whatever the machine
       load, so allow a margin. */
    print_message("wakes %lu of 100 round trips\n", (unsigned long)(after.wakes - before.wakes));
    assert_true(after.wakes - before.wakes < 50);
    assert_true(after.futile_wakes <= after.wakes);
    weft_pool_free(p);
}

static void *make_pool(void *arg)
{
    weft_pool_options_t o = {.threads = 2, .queue_capacity = 4};
    return weft_pool_new(&o);
}

static void free_pool(void *p)
{
    weft_pool_free(p);
}

static void pool_new_survives_oom(void **state)
{
    weft_test_oom_sweep("weft_pool_new", make_pool, free_pool, NULL);
}

static void bad_options_are_einval(void **state)
{
    weft_pool_options_t o = {.restart_period_ms = -1};
    errno = 0;
    assert_null(weft_pool_new(&o));
    assert_int_equal(errno, EINVAL);
}

static void defaults_use_every_cpu(void **state)
{
    weft_pool_t *p = weft_pool_new(NULL);
    weft_pool_stats_t st;
    weft_pool_stats(p, &st);
    cpu_set_t set;
    sched_getaffinity(0, sizeof(set), &set);
    assert_int_equal(st.threads, CPU_COUNT(&set));
    assert_false(st.degraded);
    weft_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(results_of_every_kind),
        cmocka_unit_test(try_submit_sheds_load_when_full),
        cmocka_unit_test(submit_waits_while_full),
        cmocka_unit_test(own_worker_gets_edeadlk_when_full),
        cmocka_unit_test(loop_thread_gets_edeadlk_when_full),
        cmocka_unit_test(detached_jobs_run_and_drain_on_close),
        cmocka_unit_test(jobs_spread_over_workers),
        cmocka_unit_test(burst_runs_in_parallel),
        cmocka_unit_test(stream_to_lingering_worker_needs_no_wakes),
        cmocka_unit_test(pool_new_survives_oom),
        cmocka_unit_test(bad_options_are_einval),
        cmocka_unit_test(defaults_use_every_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
