/* Unit tests for continuations on a loop (src/loop/then.c, work.c and the
   continuation half of inbox.c): exactly once, on the loop thread, never
   inside the registering call, -ECANCELED when the loop stopped first,
   references, weft_loop_work with a pool. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "loop-test.h"
#include "weft/pool.h"

struct cont {
    weft_loop_t *loop;
    pthread_t expect_thread;
    atomic_int calls;
    int status;
    int64_t value;
    int wrong_thread;
    bool stop_after;
    char message[64];
};

static void on_then(weft_future_t *f, int status, void *arg)
{
    struct cont *c = arg;
    if (!pthread_equal(pthread_self(), c->expect_thread))
        c->wrong_thread++;
    if (status == 0 && !weft_loop_on_thread(c->loop))
        c->wrong_thread++;
    c->status = status;
    c->value = weft_future_int(f);
    const char *msg = weft_future_message(f); /* borrowed: copy it */
    snprintf(c->message, sizeof(c->message), "%s", msg ? msg : "");
    atomic_fetch_add(&c->calls, 1);
    if (c->stop_after)
        weft_loop_stop(c->loop);
}

static void then_on_a_settled_future_runs_later_on_the_loop(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct cont c = {.loop = loop, .expect_thread = pthread_self(), .stop_after = true};
    weft_future_t *f = weft_promise_new();
    weft_future_fulfill_int(f, 42);
    assert_int_equal(weft_future_then(f, loop, on_then, &c), 0);
    assert_int_equal(atomic_load(&c.calls), 0); /* never inside the call */
    weft_future_unref(f);                       /* then holds its own */
    assert_int_equal(weft_loop_run(loop), 0);
    assert_int_equal(atomic_load(&c.calls), 1);
    assert_int_equal(c.status, 0);
    assert_int_equal(c.value, 42);
    assert_int_equal(c.wrong_thread, 0);
    weft_loop_stats_t st;
    weft_loop_stats(loop, &st);
    assert_int_equal(st.continuations, 1);
    weft_loop_free(loop);
}

/* Called on the loop thread: then from inside a batch still waits for a
   later one. */
struct nested {
    weft_loop_t *loop;
    struct cont c;
    int calls_after_then;
};

static void register_on_loop(void *arg)
{
    struct nested *n = arg;
    weft_future_t *f = weft_promise_new();
    weft_future_fulfill_int(f, 7);
    assert_int_equal(weft_future_then(f, n->loop, on_then, &n->c), 0);
    n->calls_after_then = atomic_load(&n->c.calls);
    weft_future_unref(f);
}

static void then_registered_on_the_loop_thread_is_not_inline(void **state)
{
    struct nested n = {.loop = weft_loop_new()};
    n.c = (struct cont){.loop = n.loop, .expect_thread = pthread_self(), .stop_after = true};
    weft_loop_post(n.loop, register_on_loop, &n);
    assert_int_equal(weft_loop_run(n.loop), 0);
    assert_int_equal(n.calls_after_then, 0);
    assert_int_equal(atomic_load(&n.c.calls), 1);
    assert_int_equal(n.c.value, 7);
    weft_loop_free(n.loop);
}

/* Settled by another thread: the continuation still runs on the loop. */
struct settler {
    weft_future_t *f;
    int64_t ms;
    int err;
    pthread_t thread;
};

static void *settle_main(void *arg)
{
    struct settler *s = arg;
    weft_test_sleep_ms(s->ms);
    if (s->err)
        weft_future_reject(s->f, s->err, "it broke");
    else
        weft_future_fulfill_int(s->f, 99);
    return NULL;
}

static void then_on_a_future_settled_elsewhere_runs_on_the_loop(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct cont c[2] = {{.loop = loop, .expect_thread = pthread_self()},
                        {.loop = loop, .expect_thread = pthread_self(), .stop_after = true}};
    struct settler s = {.f = weft_promise_new(), .ms = 20, .err = -EIO};
    assert_int_equal(weft_future_then(s.f, loop, on_then, &c[0]), 0);
    assert_int_equal(weft_future_then(s.f, loop, on_then, &c[1]), 0);
    assert_int_equal(pthread_create(&s.thread, NULL, settle_main, &s), 0);
    assert_int_equal(weft_loop_run(loop), 0);
    pthread_join(s.thread, NULL);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(atomic_load(&c[i].calls), 1);
        assert_int_equal(c[i].status, 0);
        assert_int_equal(c[i].wrong_thread, 0);
        assert_string_equal(c[i].message, "it broke");
    }
    assert_int_equal(weft_future_error(s.f), -EIO);
    weft_future_unref(s.f);
    weft_loop_free(loop);
}

static void then_after_stop_is_epipe_and_never_called(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct cont c = {.loop = loop};
    weft_future_t *f = weft_promise_new();
    weft_loop_stop(loop);
    assert_int_equal(weft_future_then(f, loop, on_then, &c), -EPIPE);
    weft_future_fulfill_int(f, 1);
    weft_loop_free(loop);
    weft_future_unref(f);
    assert_int_equal(atomic_load(&c.calls), 0);
}

/* The loop stops while f is pending: the continuation gets -ECANCELED on
   the stopping thread, inside weft_loop_stop, and f is still valid there
   although its only other holder dropped it. */
static void stop_cancels_waiting_continuations_on_the_stopping_thread(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct runner r;
    runner_start(&r, loop);
    struct cont c = {.loop = loop, .expect_thread = pthread_self()};
    weft_future_t *f = weft_promise_new();
    assert_int_equal(weft_future_then(f, loop, on_then, &c), 0);
    weft_future_t *g = weft_promise_new();
    struct cont d = {.loop = loop, .expect_thread = pthread_self()};
    assert_int_equal(weft_future_then(g, loop, on_then, &d), 0);
    weft_future_unref(g); /* then's reference keeps g alive */
    weft_test_sleep_ms(10);
    assert_int_equal(atomic_load(&c.calls), 0);
    assert_int_equal(weft_loop_stop(loop), 0);
    assert_int_equal(atomic_load(&c.calls), 1); /* inside the stop */
    assert_int_equal(c.status, -ECANCELED);
    assert_int_equal(c.wrong_thread, 0);
    assert_int_equal(atomic_load(&d.calls), 1);
    assert_int_equal(d.status, -ECANCELED);
    assert_int_equal(runner_join(&r), 0);
    /* Settling later calls nothing more. */
    assert_int_equal(weft_future_fulfill_int(f, 5), 0);
    assert_int_equal(atomic_load(&c.calls), 1);
    weft_future_unref(f);
    weft_loop_free(loop);
}

/* Queued before the stop of a loop that never runs again: close calls it
   with -ECANCELED on the closing thread. */
static void close_cancels_queued_continuations(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct cont c = {.loop = loop, .expect_thread = pthread_self()};
    weft_future_t *f = weft_promise_new();
    weft_future_fulfill_int(f, 3);
    assert_int_equal(weft_future_then(f, loop, on_then, &c), 0);
    weft_future_unref(f);
    weft_loop_stop(loop);
    assert_int_equal(atomic_load(&c.calls), 0);
    assert_int_equal(weft_loop_close(loop), 0);
    assert_int_equal(atomic_load(&c.calls), 1);
    assert_int_equal(c.status, -ECANCELED);
    assert_int_equal(c.value, 3);
    weft_loop_free(loop);
}

/* Queued before the stop of a running loop: it still runs, status 0. */
static void continuations_queued_before_stop_run_with_status_0(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct cont c = {.loop = loop, .expect_thread = pthread_self()};
    weft_future_t *f = weft_promise_new();
    weft_future_fulfill_int(f, 11);
    assert_int_equal(weft_future_then(f, loop, on_then, &c), 0);
    weft_loop_stop(loop);
    assert_int_equal(weft_loop_run(loop), 0);
    assert_int_equal(atomic_load(&c.calls), 1);
    assert_int_equal(c.status, 0);
    weft_future_unref(f);
    weft_loop_free(loop);
}

/* The loop is freed while f is still pending and referenced: f settles
   later and finds the inbox closed, not freed memory. */
static void a_future_outliving_its_loop_is_safe(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct cont c = {.loop = loop, .expect_thread = pthread_self()};
    weft_future_t *f = weft_promise_new();
    assert_int_equal(weft_future_then(f, loop, on_then, &c), 0);
    weft_loop_free(loop); /* stop: c gets -ECANCELED here */
    assert_int_equal(atomic_load(&c.calls), 1);
    assert_int_equal(c.status, -ECANCELED);
    weft_future_fulfill_int(f, 1);
    weft_future_unref(f);
    assert_int_equal(atomic_load(&c.calls), 1);
}

static void then_bad_arguments_and_out_of_memory(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    weft_future_t *f = weft_promise_new();
    struct cont c = {.loop = loop};
    assert_int_equal(weft_future_then(NULL, loop, on_then, &c), -EINVAL);
    assert_int_equal(weft_future_then(f, NULL, on_then, &c), -EINVAL);
    assert_int_equal(weft_future_then(f, loop, NULL, &c), -EINVAL);
    weft__alloc_fail_after(0);
    int r = weft_future_then(f, loop, on_then, &c);
    weft__alloc_fail_after(-1);
    assert_int_equal(r, -ENOMEM);
    weft_future_unref(f);
    weft_loop_free(loop);
    assert_int_equal(atomic_load(&c.calls), 0);
}

/* ---- weft_loop_work ------------------------------------------------------ */

static void add_job(weft_job_t *job, void *arg)
{
    int *xy = arg;
    weft_job_return_int(job, xy[0] + xy[1]);
}

static void failing_job(weft_job_t *job, void *arg)
{
    weft_job_fail(job, -EIO, "disk on fire");
}

static void work_runs_the_job_and_continues_on_the_loop(void **state)
{
    weft_pool_options_t po = {.threads = 2};
    weft_pool_t *pool = weft_pool_new(&po);
    assert_non_null(pool);
    weft_loop_t *loop = weft_loop_new();
    int xy[2] = {4, 5};
    struct cont ok = {.loop = loop, .expect_thread = pthread_self()};
    struct cont bad = {.loop = loop, .expect_thread = pthread_self()};
    assert_int_equal(weft_loop_work(loop, pool, add_job, xy, on_then, &ok), 0);
    assert_int_equal(weft_loop_work(loop, pool, failing_job, NULL, on_then, &bad), 0);
    struct stopper s;
    stopper_start(&s, loop, 100);
    assert_int_equal(weft_loop_run(loop), 0);
    stopper_join(&s);
    assert_int_equal(atomic_load(&ok.calls), 1);
    assert_int_equal(ok.status, 0);
    assert_int_equal(ok.value, 9);
    assert_int_equal(ok.wrong_thread, 0);
    assert_int_equal(atomic_load(&bad.calls), 1);
    assert_int_equal(bad.status, 0);
    assert_string_equal(bad.message, "disk on fire");
    weft_loop_free(loop);
    weft_pool_free(pool);
}

/* A job that holds its worker until released. */
struct gate {
    atomic_bool open;
    atomic_int entered;
};

static void gated_job(weft_job_t *job, void *arg)
{
    struct gate *g = arg;
    atomic_fetch_add(&g->entered, 1);
    while (!atomic_load(&g->open))
        weft_test_sleep_ms(1);
    weft_job_return_int(job, 1);
}

static void work_never_blocks_eagain_when_full_epipe_when_closed(void **state)
{
    weft_pool_options_t po = {.threads = 1, .queue_capacity = 1};
    weft_pool_t *pool = weft_pool_new(&po);
    weft_loop_t *loop = weft_loop_new();
    struct gate g = {0};
    struct cont c[2] = {{.loop = loop, .expect_thread = pthread_self()},
                        {.loop = loop, .expect_thread = pthread_self()}};
    assert_int_equal(weft_loop_work(loop, pool, gated_job, &g, on_then, &c[0]), 0);
    while (atomic_load(&g.entered) == 0)
        weft_test_sleep_ms(1);
    assert_int_equal(weft_loop_work(loop, pool, gated_job, &g, on_then, &c[1]), 0); /* queued */
    assert_int_equal(weft_loop_work(loop, pool, gated_job, &g, NULL, NULL), -EINVAL);
    struct cont never = {.loop = loop};
    assert_int_equal(weft_loop_work(loop, pool, gated_job, &g, on_then, &never), -EAGAIN);
    atomic_store(&g.open, true);
    assert_int_equal(weft_pool_close(pool, -1), 0);
    assert_int_equal(weft_loop_work(loop, pool, gated_job, &g, on_then, &never), -EPIPE);
    weft_loop_post(loop, stop_current, loop);
    assert_int_equal(weft_loop_run(loop), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(atomic_load(&c[i].calls), 1);
        assert_int_equal(c[i].status, 0);
    }
    assert_int_equal(atomic_load(&never.calls), 0);
    weft_loop_free(loop);
    weft_pool_free(pool);
}

/* The loop stops while the job runs: done is not called at the stop (the
   job still uses its argument) but with -ECANCELED once the job is done,
   on the thread that settled its future (the worker). */
static void stop_during_work_waits_for_the_job(void **state)
{
    weft_pool_options_t po = {.threads = 1};
    weft_pool_t *pool = weft_pool_new(&po);
    weft_loop_t *loop = weft_loop_new();
    struct gate g = {0};
    struct cont c = {.loop = loop};
    c.expect_thread = pthread_self(); /* wrong on purpose: counts the worker */
    assert_int_equal(weft_loop_work(loop, pool, gated_job, &g, on_then, &c), 0);
    while (atomic_load(&g.entered) == 0)
        weft_test_sleep_ms(1);
    weft_loop_stop(loop);
    assert_int_equal(weft_loop_work(loop, pool, gated_job, &g, on_then, &c), -EPIPE);
    assert_int_equal(weft_loop_run(loop), 0);
    assert_int_equal(weft_loop_close(loop), 0);
    assert_int_equal(atomic_load(&c.calls), 0);
    atomic_store(&g.open, true);
    assert_int_equal(weft_pool_close(pool, -1), 0);
    assert_int_equal(atomic_load(&c.calls), 1);
    assert_int_equal(c.status, -ECANCELED);
    assert_int_equal(c.wrong_thread, 1); /* ran on the worker */
    weft_loop_free(loop);
    weft_pool_free(pool);
}

/* Blocking pool calls on a loop thread fail with -EDEADLK. */
struct pool_on_loop {
    weft_loop_t *loop;
    weft_pool_t *pool;
    int close, work;
    struct cont c;
};

static void pool_calls_from_loop(void *arg)
{
    struct pool_on_loop *p = arg;
    p->close = weft_pool_close(p->pool, -1);
    static int xy[2] = {1, 2}; /* borrowed by the job until it ran */
    p->work = weft_loop_work(p->loop, p->pool, add_job, xy, on_then, &p->c);
}

static void blocking_pool_calls_on_a_loop_thread_are_edeadlk(void **state)
{
    struct pool_on_loop p = {.loop = weft_loop_new(), .pool = weft_pool_new(NULL)};
    p.c = (struct cont){.loop = p.loop, .expect_thread = pthread_self(), .stop_after = true};
    weft_loop_post(p.loop, pool_calls_from_loop, &p);
    assert_int_equal(weft_loop_run(p.loop), 0);
    assert_int_equal(p.close, -EDEADLK);
    assert_int_equal(p.work, 0); /* work never blocks: fine on a loop */
    assert_int_equal(p.c.value, 3);
    weft_loop_free(p.loop);
    weft_pool_free(p.pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(then_on_a_settled_future_runs_later_on_the_loop),
        cmocka_unit_test(then_registered_on_the_loop_thread_is_not_inline),
        cmocka_unit_test(then_on_a_future_settled_elsewhere_runs_on_the_loop),
        cmocka_unit_test(then_after_stop_is_epipe_and_never_called),
        cmocka_unit_test(stop_cancels_waiting_continuations_on_the_stopping_thread),
        cmocka_unit_test(close_cancels_queued_continuations),
        cmocka_unit_test(continuations_queued_before_stop_run_with_status_0),
        cmocka_unit_test(a_future_outliving_its_loop_is_safe),
        cmocka_unit_test(then_bad_arguments_and_out_of_memory),
        cmocka_unit_test(work_runs_the_job_and_continues_on_the_loop),
        cmocka_unit_test(work_never_blocks_eagain_when_full_epipe_when_closed),
        cmocka_unit_test(stop_during_work_waits_for_the_job),
        cmocka_unit_test(blocking_pool_calls_on_a_loop_thread_are_edeadlk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
