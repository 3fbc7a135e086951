/*
 * stress-pool.c - 4 producers submit 100,000 jobs each to a small bounded
 * pool while random cancels fly and the pool is closed in the middle, round
 * after round. Checked: every future ends settled with a consistent
 * outcome, the stats identity holds in every snapshot a monitor takes
 * while the race runs, and at the end submitted equals completed + failed
 * + cancelled + timed_out. Run under TSan by `make check` and under ASan by
 * `make asan` (which also proves nothing leaks).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "test-support.h"
#include "weft/weft.h"

#define PER_PRODUCER 100000
#define PRODUCERS    4
#if defined(WEFT_UNDER_TSAN) || defined(__SANITIZE_THREAD__)
#define ROUNDS 2 /* each round is 400,000 submissions either way */
#else
#define ROUNDS 4
#endif
#define KEEP 64 /* futures a producer holds before checking the oldest */

struct round {
    weft_pool_t *pool;
    atomic_bool stop_monitor;
    atomic_long accepted, refused, fulfilled, rejected, cancelled, bad;
};

/* Jobs: most return their number, some fail, some take a while. */
static void job(weft_job_t *job, void *arg)
{
    uintptr_t n = (uintptr_t)arg;
    if (n % 97 == 0) {
        weft_job_fail(job, -EIO, "every 97th job fails");
        return;
    }
    if (n % 1013 == 0) {
        for (int i = 0; i < 100 && !weft_job_cancelled(job); i++)
            sched_yield();
    }
    weft_job_return_int(job, (int64_t)n);
}

static void check(struct round *rd, weft_future_t *f, uintptr_t n)
{
    if (weft_future_wait(f, weft_test_ms(30000)) != 0) {
        rd->bad++; /* left pending */
        weft_future_unref(f);
        return;
    }
    switch (weft_future_state(f)) {
    case WEFT_FUTURE_FULFILLED:
        rd->fulfilled++;
        if (weft_future_int(f) != (int64_t)n)
            rd->bad++;
        break;
    case WEFT_FUTURE_REJECTED:
        rd->rejected++;
        if (weft_future_error(f) != -EIO && weft_future_error(f) != -EPIPE)
            rd->bad++;
        break;
    case WEFT_FUTURE_CANCELLED:
        rd->cancelled++;
        break;
    default:
        rd->bad++;
    }
    weft_future_unref(f);
}

struct producer {
    struct round *rd;
    unsigned id;
    pthread_t thread;
};

static void *produce(void *arg)
{
    struct producer *pr = arg;
    struct round *rd = pr->rd;
    weft_future_t *held[KEEP] = {0};
    uintptr_t nums[KEEP];
    unsigned seed = pr->id * 7919 + 1;
    for (uintptr_t i = 0; i < PER_PRODUCER; i++) {
        uintptr_t n = pr->id * PER_PRODUCER + i + 1;
        unsigned slot = i % KEEP;
        if (held[slot])
            check(rd, held[slot], nums[slot]);
        weft_future_t *f = weft_pool_submit(rd->pool, job, (void *)n);
        if (weft_future_error(f) == -EPIPE)
            rd->refused++;
        else
            rd->accepted++;
        held[slot] = f;
        nums[slot] = n;
        if (rand_r(&seed) % 16 == 0) { /* a random cancel, maybe of a queued job */
            weft_future_t *victim = held[rand_r(&seed) % KEEP];
            weft_future_cancel(victim ? victim : f);
        }
    }
    for (unsigned k = 0; k < KEEP; k++)
        if (held[k])
            check(rd, held[k], nums[k]);
    return NULL;
}

static void *monitor(void *arg)
{
    struct round *rd = arg;
    while (!rd->stop_monitor) {
        weft_pool_stats_t st;
        weft_pool_stats(rd->pool, &st);
        if (st.submitted !=
            st.completed + st.failed + st.cancelled + st.timed_out + st.queued + st.running)
            rd->bad++;
        sched_yield();
    }
    return NULL;
}

static void one_round(void **state, int round)
{
    struct round rd = {0};
    weft_pool_options_t o = {.threads = 4, .queue_capacity = 256, .name = "stress"};
    rd.pool = weft_pool_new(&o);
    assert_non_null(rd.pool);
    pthread_t mon;
    pthread_create(&mon, NULL, monitor, &rd);
    struct producer pr[PRODUCERS];
    for (unsigned i = 0; i < PRODUCERS; i++) {
        pr[i] = (struct producer){&rd, i, 0};
        pthread_create(&pr[i].thread, NULL, produce, &pr[i]);
    }
    /* Close in the middle: wait until about half is in, then close with a
       short drain, so queued, running and arriving jobs all race it. */
    weft_pool_stats_t st;
    do {
        weft_test_sleep_ms(1);
        weft_pool_stats(rd.pool, &st);
    } while (st.submitted < PRODUCERS * PER_PRODUCER / 2);
    int r = weft_pool_close(rd.pool, round % 2 ? 0 : 5);
    assert_true(r == 0 || r == -ETIMEDOUT);
    for (unsigned i = 0; i < PRODUCERS; i++)
        pthread_join(pr[i].thread, NULL);
    rd.stop_monitor = true;
    pthread_join(mon, NULL);

    weft_pool_stats(rd.pool, &st);
    print_message("round %d: accepted %ld refused %ld fulfilled %ld rejected %ld "
                  "cancelled %ld; wakes %lu futile %lu\n",
                  round, rd.accepted, rd.refused, rd.fulfilled, rd.rejected, rd.cancelled,
                  (unsigned long)st.wakes, (unsigned long)st.futile_wakes);
    assert_int_equal(rd.bad, 0);
    assert_int_equal(rd.accepted + rd.refused, PRODUCERS * PER_PRODUCER);
    assert_int_equal(rd.fulfilled + rd.rejected + rd.cancelled, PRODUCERS * PER_PRODUCER);
    assert_int_equal(st.submitted, rd.accepted);
    assert_int_equal(st.queued + st.running, 0);
    assert_int_equal(st.submitted, st.completed + st.failed + st.cancelled + st.timed_out);
    assert_int_equal(st.completed, rd.fulfilled);
    weft_pool_free(rd.pool);
}

static void submit_cancel_close_race(void **state)
{
    for (int round = 0; round < ROUNDS; round++)
        one_round(state, round);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(submit_cancel_close_race),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
