/*
 * stress-procpool.c - 1,000 jobs through a process pool, one in ten of
 * which crashes its worker (SIGSEGV), submitted by two threads at once
 * while a third cancels some and a monitor checks the stats identity in
 * every snapshot. Checked: every future settles with the outcome its job
 * calls for (its echo, "worker killed by SIGSEGV", or cancelled), the
 * worker count returns to N, and after close no worker and no segment is
 * left. Run under TSan by `make check`; this binary is also the worker.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "../unit/procpool/procpool-test-jobs.h"

#define JOBS      1000
#define SUBMITTER 2
#define WORKERS   3

struct run {
    weft_procpool_t *pp;
    weft_future_t *f[JOBS];
    atomic_bool done;
    atomic_long bad_snapshots;
};

static bool crashes(unsigned i)
{
    return i % 10 == 7;
}

struct part {
    struct run *r;
    unsigned first;
};

static void *submit_part(void *arg)
{
    struct part *p = arg;
    for (unsigned i = p->first; i < JOBS; i += SUBMITTER) {
        uint32_t v = i;
        p->r->f[i] = crashes(i) ? weft_procpool_submit(p->r->pp, "segv", NULL, 0)
                                : weft_procpool_submit(p->r->pp, "echo", &v, sizeof(v));
        assert_non_null(p->r->f[i]);
    }
    return NULL;
}

static void *monitor(void *arg)
{
    struct run *r = arg;
    while (!atomic_load(&r->done)) {
        weft_procpool_stats_t s;
        weft_procpool_stats(r->pp, &s);
        if (s.submitted !=
            s.completed + s.failed + s.cancelled + s.timed_out + s.queued + s.running)
            atomic_fetch_add(&r->bad_snapshots, 1);
        weft_test_sleep_ms(1);
    }
    return NULL;
}

static unsigned check_outcome(weft_future_t *f, unsigned i)
{
    wait_settled(f);
    if (weft_future_state(f) == WEFT_FUTURE_CANCELLED)
        return 1;
    if (crashes(i)) {
        assert_int_equal(weft_future_error(f), WEFT_PROCPOOL_ECRASH);
        assert_string_equal(weft_future_message(f), "worker killed by SIGSEGV");
        return 0;
    }
    size_t len;
    const uint32_t *v = weft_procpool_result(f, &len);
    assert_non_null(v);
    assert_int_equal(len, sizeof(*v));
    assert_int_equal(*v, i);
    return 0;
}

static void thousand_jobs_one_in_ten_crashes(void **state)
{
    static struct run r;
    weft_procpool_options_t o = {
        .workers = WORKERS,
        .name = "stress-pp",
        .restart = {.intensity = 32, .period_ms = 50, .backoff_ms = 5, .max_backoff_ms = 20}};
    r.pp = weft_procpool_new(&o);
    assert_non_null(r.pp);
    pthread_t sub[SUBMITTER], mon;
    struct part parts[SUBMITTER];
    pthread_create(&mon, NULL, monitor, &r);
    for (unsigned k = 0; k < SUBMITTER; k++) {
        parts[k] = (struct part){&r, k};
        pthread_create(&sub[k], NULL, submit_part, &parts[k]);
    }
    for (unsigned k = 0; k < SUBMITTER; k++)
        pthread_join(sub[k], NULL);
    /* a few cancels race with the crashes and the results */
    for (unsigned i = 3; i < JOBS; i += 50)
        weft_future_cancel(r.f[i]);
    unsigned cancelled = 0;
    for (unsigned i = 0; i < JOBS; i++)
        cancelled += check_outcome(r.f[i], i);
    atomic_store(&r.done, true);
    pthread_join(mon, NULL);
    assert_int_equal(atomic_load(&r.bad_snapshots), 0);
    weft_procpool_stats_t s;
    weft_procpool_stats(r.pp, &s);
    assert_int_equal(s.submitted, JOBS);
    assert_int_equal(s.cancelled, cancelled);
    assert_int_equal(s.completed + s.failed + s.cancelled, JOBS);
    assert_true(s.crashed <= JOBS / 10 && s.crashed > 0);
    wait_ready(r.pp, WORKERS, 10000);
    pid_t pids[WORKERS];
    unsigned n = weft_procpool_pids(r.pp, pids, WORKERS);
    assert_int_equal(n, WORKERS);
    for (unsigned i = 0; i < JOBS; i++)
        weft_future_unref(r.f[i]);
    assert_int_equal(weft_procpool_close(r.pp, -1), 0);
    weft_procpool_free(r.pp);
    assert_reaped(pids, n);
    assert_false(pool_memory_left());
    printf("%u jobs: %llu completed, %llu failed (%llu crashes), %u cancelled, %llu replaced\n",
           JOBS, (unsigned long long)s.completed, (unsigned long long)s.failed,
           (unsigned long long)s.crashed, cancelled, (unsigned long long)s.replaced);
}

int main(int argc, char **argv)
{
    register_test_jobs(argc, argv);
    const struct CMUnitTest tests[] = {cmocka_unit_test(thousand_jobs_one_in_ten_crashes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
