/* Unit tests for the process pool: results of every size, job failures,
   crashes, deadlines, cancels, the bounded queue, close, memory limits,
   and nothing left behind (no zombie, no shared memory). This binary is
   also the pool's worker program (see procpool-test-jobs.h). */
#include "procpool-test-jobs.h"

static weft_procpool_t *pool(unsigned workers, size_t shm_size)
{
    weft_procpool_options_t o = {.workers = workers, .shm_size = shm_size, .name = "test-pp"};
    weft_procpool_t *pp = weft_procpool_new(&o);
    assert_non_null(pp);
    return pp;
}

/* Closes and frees pp, then checks nothing of it is left. */
static void finish(weft_procpool_t *pp)
{
    pid_t pids[16];
    unsigned n = weft_procpool_pids(pp, pids, 16);
    check_invariant(pp);
    assert_int_equal(weft_procpool_close(pp, -1), 0);
    check_invariant(pp);
    weft_procpool_free(pp);
    assert_reaped(pids, n);
    assert_false(pool_memory_left());
}

static void check_generated(weft_future_t *f, size_t n)
{
    wait_settled(f);
    assert_int_equal(weft_future_state(f), WEFT_FUTURE_FULFILLED);
    size_t len;
    const unsigned char *p = weft_procpool_result(f, &len);
    assert_non_null(p);
    assert_int_equal(len, n);
    for (size_t i = 0; i < n; i++)
        if (p[i] != pattern_at(i))
            fail_msg("byte %zu of %zu differs", i, n);
    assert_int_equal(p[n], 0);
}

/* Sizes across the inline limit (64 KiB here) up to 16 MiB, both ways. */
static void results_of_every_size(void **state)
{
    weft_procpool_t *pp = pool(2, 64 * 1024);
    static const size_t sizes[] = {0,     1,        4096,           65535,    65536,
                                   65537, 1u << 20, (1u << 20) + 3, 16u << 20};
    for (size_t i = 0; i < (sizeof(sizes) / sizeof(sizes[0])); i++) {
        size_t n = sizes[i];
        weft_future_t *f = weft_procpool_submit(pp, "gen", &n, sizeof(n));
        check_generated(f, n);
        weft_future_unref(f);
        /* the same bytes as an argument, echoed back */
        unsigned char *arg = malloc(n + 1);
        for (size_t k = 0; k < n; k++)
            arg[k] = pattern_at(k);
        f = weft_procpool_submit(pp, "echo", arg, n);
        free(arg);
        check_generated(f, n);
        weft_future_unref(f);
    }
    /* taking the bytes out of the future */
    weft_future_t *f = weft_procpool_submit(pp, "echo", "taken", 5);
    wait_settled(f);
    char *taken = weft_future_take_ptr(f);
    assert_string_equal(taken, "taken");
    assert_int_equal(weft_procpool_result_len(taken), 5);
    assert_null(weft_procpool_result(f, NULL));
    weft_future_unref(f);
    weft_procpool_result_free(taken);
    weft_procpool_stats_t s;
    weft_procpool_stats(pp, &s);
    assert_int_equal(s.completed, 2 * (sizeof(sizes) / sizeof(sizes[0])) + 1);
    assert_int_equal(s.crashed, 0);
    finish(pp);
}

static void a_job_fails(void **state)
{
    weft_procpool_t *pp = pool(1, 0);
    weft_future_t *f = weft_procpool_submit(pp, "fail", NULL, 0);
    wait_settled(f);
    assert_int_equal(weft_future_error(f), -EDOM);
    assert_string_equal(weft_future_message(f), "the input was out of range");
    assert_null(weft_procpool_result(f, NULL));
    weft_future_unref(f);
    weft_future_t *g = NULL;
    assert_int_equal(weft_procpool_submit_ex(pp, "no-such-job", NULL, 0, NULL, &g), -ENOENT);
    assert_null(g);
    assert_int_equal(weft_procpool_submit_ex(pp, "echo", NULL, 5, NULL, &g), -EINVAL);
    weft_procpool_stats_t s;
    weft_procpool_stats(pp, &s);
    assert_int_equal(s.failed, 1);
    assert_int_equal(s.submitted, 1);
    finish(pp);
}

static void a_crash_rejects_and_replaces(void **state)
{
    weft_procpool_t *pp = pool(2, 0);
    wait_ready(pp, 2, 5000);
    pid_t before[2];
    weft_procpool_pids(pp, before, 2);
    weft_future_t *f = weft_procpool_submit(pp, "segv", NULL, 0);
    wait_settled(f);
    assert_int_equal(weft_future_error(f), WEFT_PROCPOOL_ECRASH);
    assert_string_equal(weft_future_message(f), "worker killed by SIGSEGV");
    weft_future_unref(f);
    f = weft_procpool_submit(pp, "exit", NULL, 0);
    wait_settled(f);
    assert_int_equal(weft_future_error(f), WEFT_PROCPOOL_ECRASH);
    assert_string_equal(weft_future_message(f), "worker exited with status 3");
    weft_future_unref(f);
    int64_t t0 = weft_test_now_ms();
    wait_ready(pp, 2, 1000);
    assert_true(weft_test_now_ms() - t0 < weft_test_ms(1000));
    weft_procpool_stats_t s;
    weft_procpool_stats(pp, &s);
    assert_int_equal(s.crashed, 2);
    assert_int_equal(s.replaced, 2);
    assert_int_equal(s.failed, 2);
    /* still serving */
    f = weft_procpool_submit(pp, "echo", "ok", 2);
    wait_settled(f);
    assert_string_equal(weft_procpool_result(f, NULL), "ok");
    weft_future_unref(f);
    assert_reaped(before, 1); /* at least one of the first two is gone */
    finish(pp);
}

static void a_deadline_kills_the_worker(void **state)
{
    weft_procpool_options_t o = {.workers = 1, .job_deadline_ms = 200};
    weft_procpool_t *pp = weft_procpool_new(&o);
    assert_non_null(pp);
    int64_t t0 = weft_test_now_ms();
    weft_future_t *f = submit_ms(pp, "sleep", 60000);
    wait_settled(f);
    assert_int_equal(weft_future_error(f), -ETIMEDOUT);
    assert_true(weft_test_now_ms() - t0 < weft_test_ms(5000));
    weft_future_unref(f);
    /* a job of its own deadline (none) outlasts the pool's */
    weft_procjob_options_t jo = {.deadline_ms = -1};
    int64_t ms = 400;
    assert_int_equal(weft_procpool_submit_ex(pp, "sleep", &ms, sizeof(ms), &jo, &f), 0);
    wait_settled(f);
    assert_string_equal(weft_procpool_result(f, NULL), "slept");
    weft_future_unref(f);
    weft_procpool_stats_t s;
    weft_procpool_stats(pp, &s);
    assert_int_equal(s.timed_out, 1);
    assert_int_equal(s.crashed, 0);
    assert_int_equal(s.replaced, 1);
    finish(pp);
}

static void cancel_running_and_queued(void **state)
{
    weft_procpool_t *pp = pool(1, 0);
    wait_ready(pp, 1, 5000);
    pid_t first;
    weft_procpool_pids(pp, &first, 1);
    weft_future_t *running = submit_ms(pp, "sleep", 60000);
    weft_future_t *queued = submit_ms(pp, "sleep", 60000);
    weft_procpool_stats_t s;
    weft_procpool_stats(pp, &s);
    assert_int_equal(s.running, 1);
    assert_int_equal(s.queued, 1);
    assert_int_equal(weft_future_cancel(queued), 0);
    weft_procpool_stats(pp, &s);
    assert_int_equal(s.queued, 0);
    assert_int_equal(s.cancelled, 1);
    assert_int_equal(weft_future_cancel(running), 0);
    weft_procpool_stats(pp, &s);
    assert_int_equal(s.running, 0);
    assert_int_equal(s.cancelled, 2);
    wait_ready(pp, 1, 5000);
    pid_t now;
    weft_procpool_pids(pp, &now, 1);
    assert_int_not_equal(now, first);
    assert_reaped(&first, 1);
    weft_future_unref(running);
    weft_future_unref(queued);
    weft_future_t *f = weft_procpool_submit(pp, "echo", "x", 1);
    wait_settled(f);
    assert_int_equal(weft_future_state(f), WEFT_FUTURE_FULFILLED);
    weft_future_unref(f);
    finish(pp);
}

static void a_full_queue_says_eagain(void **state)
{
    weft_procpool_options_t o = {.workers = 1, .queue_capacity = 1};
    weft_procpool_t *pp = weft_procpool_new(&o);
    wait_ready(pp, 1, 5000);
    weft_future_t *a = submit_ms(pp, "sleep", 300), *b = submit_ms(pp, "sleep", 0), *c;
    weft_procjob_options_t nb = {.nonblocking = true};
    int64_t ms = 0;
    assert_int_equal(weft_procpool_submit_ex(pp, "sleep", &ms, sizeof(ms), &nb, &c), -EAGAIN);
    assert_null(c);
    /* blocking: waits for room */
    c = submit_ms(pp, "sleep", 0);
    weft_future_t *all[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        wait_settled(all[i]);
        assert_int_equal(weft_future_state(all[i]), WEFT_FUTURE_FULFILLED);
        weft_future_unref(all[i]);
    }
    weft_procpool_stats_t s;
    weft_procpool_stats(pp, &s);
    assert_int_equal(s.rejected, 1);
    assert_int_equal(s.completed, 3);
    finish(pp);
}

static void close_drains_then_cancels(void **state)
{
    weft_procpool_t *pp = pool(1, 0);
    weft_future_t *quick = submit_ms(pp, "sleep", 10);
    assert_int_equal(weft_procpool_close(pp, weft_test_ms(10000)), 0); /* drained */
    assert_int_equal(weft_future_state(quick), WEFT_FUTURE_FULFILLED);
    weft_future_t *late = weft_procpool_submit(pp, "echo", "x", 1);
    assert_int_equal(weft_future_error(late), -EPIPE);
    weft_future_unref(late);
    weft_future_unref(quick);
    assert_false(pool_memory_left());
    weft_procpool_free(pp);

    pp = pool(2, 0);
    wait_ready(pp, 2, 5000);
    pid_t pids[2];
    weft_procpool_pids(pp, pids, 2);
    weft_future_t *fs[4];
    for (int i = 0; i < 4; i++)
        fs[i] = submit_ms(pp, "sleep", 60000);
    int64_t t0 = weft_test_now_ms();
    assert_int_equal(weft_procpool_close(pp, 100), -ETIMEDOUT);
    assert_true(weft_test_now_ms() - t0 < weft_test_ms(5000));
    for (int i = 0; i < 4; i++) {
        assert_int_equal(weft_future_state(fs[i]), WEFT_FUTURE_CANCELLED);
        weft_future_unref(fs[i]);
    }
    assert_reaped(pids, 2);
    assert_false(pool_memory_left());
    weft_procpool_stats_t s;
    weft_procpool_stats(pp, &s);
    assert_int_equal(s.cancelled, 4);
    assert_int_equal(s.workers, 0);
    check_invariant(pp);
    assert_int_equal(weft_procpool_close(pp, 0), 0); /* repeatable */
    weft_procpool_free(pp);
    weft_procpool_free(NULL);
}

static void a_memory_limit_holds(void **state)
{
#if defined(WEFT_UNDER_ASAN) || defined(WEFT_UNDER_TSAN)
    printf("skipped: RLIMIT_AS cannot hold a sanitizer's shadow memory\n");
    skip();
#endif
    weft_procpool_options_t o = {.workers = 1, .memory_limit = 256u << 20};
    weft_procpool_t *pp = weft_procpool_new(&o);
    weft_future_t *f = weft_procpool_submit(pp, "hog", NULL, 0);
    wait_settled(f);
    int err = weft_future_error(f);
    assert_true(err == -ENOMEM || err == WEFT_PROCPOOL_ECRASH);
    weft_future_unref(f);
    /* a result past the limit cannot be stored either */
    size_t n = 512u << 20;
    f = weft_procpool_submit(pp, "gen", &n, sizeof(n));
    wait_settled(f);
    assert_int_equal(weft_future_error(f), -ENOMEM);
    weft_future_unref(f);
    f = weft_procpool_submit(pp, "echo", "ok", 2);
    wait_settled(f);
    assert_string_equal(weft_procpool_result(f, NULL), "ok");
    weft_future_unref(f);
    finish(pp);
}

static void registration_rules(void **state)
{
    assert_int_equal(weft_procpool_register("late", echo_job), -EBUSY);
    assert_int_equal(weft_procpool_register(NULL, echo_job), -EINVAL);
    assert_int_equal(weft_procpool_register("", echo_job), -EINVAL);
    weft_procpool_options_t o = {.workers = 100000};
    errno = 0;
    assert_null(weft_procpool_new(&o));
    assert_int_equal(errno, EINVAL);
}

int main(int argc, char **argv)
{
    register_test_jobs(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(results_of_every_size),
        cmocka_unit_test(a_job_fails),
        cmocka_unit_test(a_crash_rejects_and_replaces),
        cmocka_unit_test(a_deadline_kills_the_worker),
        cmocka_unit_test(cancel_running_and_queued),
        cmocka_unit_test(a_full_queue_says_eagain),
        cmocka_unit_test(close_drains_then_cancels),
        cmocka_unit_test(a_memory_limit_holds),
        cmocka_unit_test(registration_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
