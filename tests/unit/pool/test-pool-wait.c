/* Unit tests for workers that wait: a worker waiting on a future runs its
   pool's queued jobs meanwhile, so waiting never starves the pool. */
#include <errno.h>
#include <pthread.h>

#include "test-support.h"
#include "weft/weft.h"

static weft_pool_t *pool_of(unsigned threads)
{
    weft_pool_options_t o = {.threads = threads, .name = "wait"};
    weft_pool_t *p = weft_pool_new(&o);
    assert_non_null(p);
    return p;
}

struct fib {
    weft_pool_t *pool;
    int n;
};

/* Naive recursive fibonacci, every call a job that waits on its children. */
static void fib_job(weft_job_t *job, void *arg)
{
    struct fib *in = arg;
    if (in->n < 2) {
        weft_job_return_int(job, in->n);
        return;
    }
    struct fib a = {in->pool, in->n - 1}, b = {in->pool, in->n - 2};
    weft_future_t *fa = weft_pool_submit(in->pool, fib_job, &a);
    weft_future_t *fb = weft_pool_submit(in->pool, fib_job, &b);
    weft_future_wait(fa, -1);
    weft_future_wait(fb, -1);
    weft_job_return_int(job, weft_future_int(fa) + weft_future_int(fb));
    weft_future_unref(fa);
    weft_future_unref(fb);
}

static void nested_waits_finish_with_one_thread(void **state)
{
    weft_pool_t *p = pool_of(1);
    struct fib in = {p, 15};
    weft_future_t *f = weft_pool_submit(p, fib_job, &in);
    assert_int_equal(weft_future_wait(f, weft_test_ms(10000)), 0);
    assert_int_equal(weft_future_int(f), 610);
    weft_future_unref(f);
    weft_pool_free(p);
}

static void nested_waits_finish_with_every_worker_waiting(void **state)
{
    weft_pool_t *p = pool_of(4);
    weft_future_t *fs[8];
    struct fib in[8];
    for (int i = 0; i < 8; i++) {
        in[i] = (struct fib){p, 12 + i % 3};
        fs[i] = weft_pool_submit(p, fib_job, &in[i]);
    }
    weft_future_t *all = weft_future_all(fs, 8);
    assert_int_equal(weft_future_wait(all, weft_test_ms(10000)), 0);
    assert_int_equal(weft_future_state(all), WEFT_FUTURE_FULFILLED);
    static const int expect[] = {144, 233, 377};
    for (int i = 0; i < 8; i++) {
        assert_int_equal(weft_future_int(fs[i]), expect[i % 3]);
        weft_future_unref(fs[i]);
    }
    weft_future_unref(all);
    assert_int_equal(weft_pool_close(p, -1), 0);
    weft_pool_stats_t st;
    weft_pool_stats(p, &st);
    assert_int_equal(st.queued + st.running, 0);
    assert_int_equal(st.completed, st.submitted);
    weft_pool_free(p);
}

/* A worker waiting on an outside promise is woken when it settles. */
struct outside {
    weft_future_t *promise;
    int64_t woke_after_ms;
};

static void wait_outside(weft_job_t *job, void *arg)
{
    struct outside *o = arg;
    int64_t start = weft_test_now_ms();
    int r = weft_future_wait(o->promise, weft_test_ms(10000));
    o->woke_after_ms = weft_test_now_ms() - start;
    weft_job_return_int(job, r);
}

static void waiting_worker_wakes_when_an_outside_promise_settles(void **state)
{
    weft_pool_t *p = pool_of(1);
    struct outside o = {weft_promise_new(), 0};
    weft_future_t *f = weft_pool_submit(p, wait_outside, &o);
    weft_test_sleep_ms(100); /* long enough to be parked */
    weft_future_fulfill_int(o.promise, 1);
    assert_int_equal(weft_future_wait(f, weft_test_ms(5000)), 0);
    assert_int_equal(weft_future_int(f), 0);
    assert_true(o.woke_after_ms < weft_test_ms(1000));
    weft_future_unref(f);
    weft_future_unref(o.promise);
    weft_pool_free(p);
}

static _Atomic int side_jobs;
static void side_job(weft_job_t *job, void *arg)
{
    side_jobs++;
}

struct timed {
    weft_pool_t *pool;
    int64_t took_ms;
    int result;
};

/* While it waits for a promise nobody settles, it still runs the pool's
   work, and its wait ends at the timeout. */
static void wait_with_timeout(weft_job_t *job, void *arg)
{
    struct timed *t = arg;
    weft_future_t *never = weft_promise_new();
    for (int i = 0; i < 20; i++)
        weft_pool_try_submit(t->pool, side_job, NULL, NULL);
    int64_t start = weft_test_now_ms();
    t->result = weft_future_wait(never, 100);
    t->took_ms = weft_test_now_ms() - start;
    weft_future_unref(never);
}

static void waiting_worker_times_out_and_keeps_working(void **state)
{
    side_jobs = 0;
    weft_pool_t *p = pool_of(1);
    struct timed t = {p, 0, 0};
    weft_future_t *f = weft_pool_submit(p, wait_with_timeout, &t);
    assert_int_equal(weft_future_wait(f, weft_test_ms(5000)), 0);
    assert_int_equal(t.result, -ETIMEDOUT);
    assert_true(t.took_ms >= 100);
    assert_true(t.took_ms < weft_test_ms(1000));
    assert_int_equal(side_jobs, 20); /* run by the waiting worker itself */
    weft_future_unref(f);
    weft_pool_free(p);
}

/* A job submitted while every worker waits is run by one of them. */
struct pingpong {
    weft_pool_t *pool;
    weft_future_t *gate;
};

static void open_gate(weft_job_t *job, void *arg)
{
    weft_future_fulfill_int(arg, 1);
}

static void wait_gate(weft_job_t *job, void *arg)
{
    struct pingpong *pp = arg;
    weft_future_wait(pp->gate, -1);
}

static void job_arriving_while_all_wait_is_run(void **state)
{
    weft_pool_t *p = pool_of(2);
    struct pingpong pp = {p, weft_promise_new()};
    weft_future_t *a = weft_pool_submit(p, wait_gate, &pp);
    weft_future_t *b = weft_pool_submit(p, wait_gate, &pp);
    weft_test_sleep_ms(50); /* both parked in their waits */
    weft_future_t *c = weft_pool_submit(p, open_gate, pp.gate);
    weft_future_t *fs[] = {a, b, c};
    weft_future_t *all = weft_future_all(fs, 3);
    assert_int_equal(weft_future_wait(all, weft_test_ms(5000)), 0);
    weft_future_unref(all);
    for (int i = 0; i < 3; i++)
        weft_future_unref(fs[i]);
    weft_future_unref(pp.gate);
    weft_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nested_waits_finish_with_one_thread),
        cmocka_unit_test(nested_waits_finish_with_every_worker_waiting),
        cmocka_unit_test(waiting_worker_wakes_when_an_outside_promise_settles),
        cmocka_unit_test(waiting_worker_times_out_and_keeps_working),
        cmocka_unit_test(job_arriving_while_all_wait_is_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
