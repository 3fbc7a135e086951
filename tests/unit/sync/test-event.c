/* Unit tests for weft_event_t (src/sync/event.c). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "weft/sync.h"
#include "error/base.h"
#include "sync/thread.h"
#include "test-support.h"

#define WAITERS 3

/* Threads that each wait once on one event and count their releases. */
struct waiters {
    weft_event_t *ev;
    int64_t timeout_ms;
    atomic_int arrived;  /* about to wait */
    atomic_int released; /* returned 0 */
    atomic_int timed_out;
    pthread_t threads[WAITERS];
};

static void *waiter_main(void *arg)
{
    struct waiters *w = arg;
    atomic_fetch_add(&w->arrived, 1);
    int r = weft_event_wait(w->ev, w->timeout_ms);
    atomic_fetch_add(r == 0 ? &w->released : &w->timed_out, 1);
    return NULL;
}

/* Starts the waiters and returns once they are (almost surely) blocked. */
static void start_waiters(struct waiters *w, weft_event_t *ev, int64_t timeout_ms)
{
    w->ev = ev;
    w->timeout_ms = timeout_ms;
    atomic_init(&w->arrived, 0);
    atomic_init(&w->released, 0);
    atomic_init(&w->timed_out, 0);
    for (int i = 0; i < WAITERS; i++)
        assert_int_equal(pthread_create(&w->threads[i], NULL, waiter_main, w), 0);
    while (atomic_load(&w->arrived) < WAITERS)
        weft_test_sleep_ms(1);
    weft_test_sleep_ms(weft_test_ms(50));
}

static void join_waiters(struct waiters *w)
{
    for (int i = 0; i < WAITERS; i++)
        assert_int_equal(pthread_join(w->threads[i], NULL), 0);
}

/* Waits (boundedly) until `released` reaches n. */
static void await_released(struct waiters *w, int n)
{
    int64_t until = weft_test_now_ms() + weft_test_ms(5000);
    while (atomic_load(&w->released) < n && weft_test_now_ms() < until)
        weft_test_sleep_ms(1);
    assert_int_equal(atomic_load(&w->released), n);
}

static int unmark_loop(void **state)
{
    weft__thread_mark_loop(false);
    return 0;
}

static void manual_event_stays_set_until_reset(void **state)
{
    weft_event_t *ev = weft_event_new(true, false);
    assert_non_null(ev);
    assert_false(weft_event_is_set(ev));
    assert_int_equal(weft_event_wait(ev, 0), -ETIMEDOUT);
    weft_event_set(ev);
    assert_true(weft_event_is_set(ev));
    assert_int_equal(weft_event_wait(ev, 0), 0);
    assert_int_equal(weft_event_wait(ev, -1), 0);
    assert_true(weft_event_is_set(ev));
    weft_event_reset(ev);
    assert_false(weft_event_is_set(ev));
    assert_int_equal(weft_event_wait(ev, 0), -ETIMEDOUT);
    weft_event_free(ev);
    weft_event_free(NULL);

    ev = weft_event_new(true, true);
    assert_int_equal(weft_event_wait(ev, 0), 0);
    weft_event_free(ev);
}

static void manual_set_releases_every_waiter(void **state)
{
    weft_event_t *ev = weft_event_new(true, false);
    struct waiters w;
    start_waiters(&w, ev, weft_test_ms(5000));
    assert_int_equal(atomic_load(&w.released), 0);
    weft_event_set(ev);
    join_waiters(&w);
    assert_int_equal(atomic_load(&w.released), WAITERS);
    weft_event_free(ev);
}

static void manual_set_then_reset_still_releases_blocked_waiters(void **state)
{
    weft_event_t *ev = weft_event_new(true, false);
    struct waiters w;
    start_waiters(&w, ev, weft_test_ms(5000));
    weft_event_set(ev);
    weft_event_reset(ev);
    join_waiters(&w);
    assert_int_equal(atomic_load(&w.released), WAITERS);
    assert_false(weft_event_is_set(ev));
    weft_event_free(ev);
}

static void auto_event_is_consumed_by_one_wait(void **state)
{
    weft_event_t *ev = weft_event_new(false, true);
    assert_true(weft_event_is_set(ev));
    assert_int_equal(weft_event_wait(ev, 0), 0);
    assert_false(weft_event_is_set(ev));
    assert_int_equal(weft_event_wait(ev, 0), -ETIMEDOUT);

    /* Sets with no waiter stay pending for the next one, but do not add up. */
    weft_event_set(ev);
    weft_event_set(ev);
    assert_int_equal(weft_event_wait(ev, -1), 0);
    assert_int_equal(weft_event_wait(ev, 0), -ETIMEDOUT);

    weft_event_set(ev);
    weft_event_reset(ev);
    assert_int_equal(weft_event_wait(ev, 0), -ETIMEDOUT);
    weft_event_free(ev);
}

static void auto_set_releases_one_waiter_each(void **state)
{
    weft_event_t *ev = weft_event_new(false, false);
    struct waiters w;
    start_waiters(&w, ev, weft_test_ms(5000));
    for (int n = 1; n <= WAITERS; n++) {
        weft_event_set(ev);
        await_released(&w, n);
        weft_test_sleep_ms(20); /* no second waiter slips through */
        assert_int_equal(atomic_load(&w.released), n);
    }
    join_waiters(&w);
    assert_int_equal(atomic_load(&w.timed_out), 0);
    assert_false(weft_event_is_set(ev));
    weft_event_free(ev);
}

static void auto_sets_in_a_row_release_as_many_waiters(void **state)
{
    weft_event_t *ev = weft_event_new(false, false);
    struct waiters w;
    start_waiters(&w, ev, weft_test_ms(5000));
    for (int n = 0; n < WAITERS; n++)
        weft_event_set(ev);
    join_waiters(&w);
    assert_int_equal(atomic_load(&w.released), WAITERS);
    assert_false(weft_event_is_set(ev)); /* nothing left pending */
    weft_event_free(ev);
}

static void wait_times_out(void **state)
{
    bool manual[] = {true, false};
    for (int i = 0; i < 2; i++) {
        weft_event_t *ev = weft_event_new(manual[i], false);
        int64_t t0 = weft_test_now_ms();
        assert_int_equal(weft_event_wait(ev, 50), -ETIMEDOUT);
        int64_t elapsed = weft_test_now_ms() - t0;
        assert_true(elapsed >= 49);
        assert_true(elapsed < weft_test_ms(250));
        weft_event_free(ev);
    }
}

static void loop_thread_gets_edeadlk_for_timeouts_other_than_0(void **state)
{
    weft_event_t *ev = weft_event_new(true, true);
    weft__thread_mark_loop(true);
    assert_int_equal(weft_event_wait(ev, -1), -EDEADLK); /* even though set */
    assert_int_equal(weft_event_wait(ev, 10), -EDEADLK);
    assert_int_equal(weft_event_wait(ev, 0), 0);
    weft_event_set(ev); /* setting never blocks */
    weft_event_reset(ev);
    assert_int_equal(weft_event_wait(ev, 0), -ETIMEDOUT);
    weft__thread_mark_loop(false);
    weft_event_free(ev);
}

static void *construct_event(void *arg)
{
    return weft_event_new(*(bool *)arg, false);
}

static void destroy_event(void *ev)
{
    weft_event_free(ev);
}

static void event_new_survives_every_allocation_failure(void **state)
{
    bool manual[] = {true, false};
    for (int i = 0; i < 2; i++)
        assert_true(
            weft_test_oom_sweep("weft_event_new", construct_event, destroy_event, &manual[i]) >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(manual_event_stays_set_until_reset),
        cmocka_unit_test(manual_set_releases_every_waiter),
        cmocka_unit_test(manual_set_then_reset_still_releases_blocked_waiters),
        cmocka_unit_test(auto_event_is_consumed_by_one_wait),
        cmocka_unit_test(auto_set_releases_one_waiter_each),
        cmocka_unit_test(auto_sets_in_a_row_release_as_many_waiters),
        cmocka_unit_test(wait_times_out),
        cmocka_unit_test_teardown(loop_thread_gets_edeadlk_for_timeouts_other_than_0, unmark_loop),
        cmocka_unit_test(event_new_survives_every_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
