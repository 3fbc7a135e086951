/* Unit tests for weft_rlock_t (src/sync/rlock.c). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "weft/sync.h"
#include "error/base.h"
#include "sync/thread.h"
#include "test-support.h"

/* What another thread saw of a lock the main thread holds. */
struct other {
    weft_rlock_t *rl;
    bool held;
    int unlock_result;
    int try_result;
    int timed_result;
    int64_t timed_ms;
};

static void *other_main(void *arg)
{
    struct other *o = arg;
    o->held = weft_rlock_held(o->rl);
    o->unlock_result = weft_rlock_unlock(o->rl);
    o->try_result = weft_rlock_timedlock(o->rl, 0);
    int64_t t0 = weft_test_now_ms();
    o->timed_result = weft_rlock_timedlock(o->rl, 50);
    o->timed_ms = weft_test_now_ms() - t0;
    return NULL;
}

/* A thread that takes the lock, holds it until told, then releases it. */
struct holder {
    weft_rlock_t *rl;
    atomic_bool locked;
    atomic_bool release;
    int result;
    pthread_t thread;
};

static void *holder_main(void *arg)
{
    struct holder *h = arg;
    h->result = weft_rlock_lock(h->rl);
    atomic_store(&h->locked, true);
    while (!atomic_load(&h->release))
        weft_test_sleep_ms(1);
    if (h->result == 0)
        h->result = weft_rlock_unlock(h->rl);
    return NULL;
}

static void start_holder(struct holder *h, weft_rlock_t *rl)
{
    h->rl = rl;
    h->result = 1;
    atomic_init(&h->locked, false);
    atomic_init(&h->release, false);
    assert_int_equal(pthread_create(&h->thread, NULL, holder_main, h), 0);
    while (!atomic_load(&h->locked))
        weft_test_sleep_ms(1);
}

static void stop_holder(struct holder *h)
{
    atomic_store(&h->release, true);
    assert_int_equal(pthread_join(h->thread, NULL), 0);
    assert_int_equal(h->result, 0);
}

static int unmark_loop(void **state)
{
    weft__thread_mark_loop(false);
    return 0;
}

static void holder_may_lock_again(void **state)
{
    weft_rlock_t *rl = weft_rlock_new();
    assert_non_null(rl);
    assert_false(weft_rlock_held(rl));
    assert_int_equal(weft_rlock_lock(rl), 0);
    assert_int_equal(weft_rlock_lock(rl), 0);
    assert_int_equal(weft_rlock_timedlock(rl, 0), 0);
    assert_int_equal(weft_rlock_timedlock(rl, 10), 0);
    assert_true(weft_rlock_held(rl));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(weft_rlock_unlock(rl), 0);
        assert_true(weft_rlock_held(rl));
    }
    assert_int_equal(weft_rlock_unlock(rl), 0);
    assert_false(weft_rlock_held(rl));
    assert_int_equal(weft_rlock_unlock(rl), -EPERM);
    weft_rlock_free(rl);
    weft_rlock_free(NULL);
}

static void unlock_of_a_free_lock_is_eperm(void **state)
{
    weft_rlock_t *rl = weft_rlock_new();
    assert_int_equal(weft_rlock_unlock(rl), -EPERM);
    assert_int_equal(weft_rlock_timedlock(rl, 0), 0); /* nothing changed */
    assert_int_equal(weft_rlock_unlock(rl), 0);
    weft_rlock_free(rl);
}

static void other_threads_cannot_unlock_or_enter(void **state)
{
    weft_rlock_t *rl = weft_rlock_new();
    assert_int_equal(weft_rlock_lock(rl), 0);
    struct other o = {.rl = rl};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_main, &o), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_false(o.held);
    assert_int_equal(o.unlock_result, -EPERM);
    assert_int_equal(o.try_result, -ETIMEDOUT);
    assert_int_equal(o.timed_result, -ETIMEDOUT);
    assert_true(o.timed_ms >= 49);
    assert_true(o.timed_ms < weft_test_ms(250));
    assert_true(weft_rlock_held(rl)); /* the failed unlock changed nothing */
    assert_int_equal(weft_rlock_unlock(rl), 0);
    weft_rlock_free(rl);
}

static void a_waiter_gets_the_lock_when_it_is_released(void **state)
{
    weft_rlock_t *rl = weft_rlock_new();
    struct holder h;
    start_holder(&h, rl);
    assert_int_equal(weft_rlock_timedlock(rl, 0), -ETIMEDOUT);
    atomic_store(&h.release, true);
    int64_t t0 = weft_test_now_ms();
    assert_int_equal(weft_rlock_timedlock(rl, weft_test_ms(5000)), 0);
    assert_true(weft_test_now_ms() - t0 < weft_test_ms(1000));
    assert_true(weft_rlock_held(rl));
    stop_holder(&h);
    assert_int_equal(weft_rlock_unlock(rl), 0);
    weft_rlock_free(rl);
}

static void loop_thread_gets_edeadlk_only_when_it_would_wait(void **state)
{
    weft_rlock_t *rl = weft_rlock_new();
    weft__thread_mark_loop(true);
    /* Free or held by the caller: short critical sections are fine. */
    assert_int_equal(weft_rlock_lock(rl), 0);
    assert_int_equal(weft_rlock_timedlock(rl, -1), 0);
    assert_int_equal(weft_rlock_unlock(rl), 0);
    assert_int_equal(weft_rlock_unlock(rl), 0);
    assert_int_equal(weft_rlock_timedlock(rl, 10), 0);
    assert_int_equal(weft_rlock_unlock(rl), 0);

    struct holder h;
    start_holder(&h, rl);
    assert_int_equal(weft_rlock_timedlock(rl, -1), -EDEADLK);
    assert_int_equal(weft_rlock_timedlock(rl, 10), -EDEADLK);
    assert_int_equal(weft_rlock_timedlock(rl, 0), -ETIMEDOUT);
    assert_false(weft_rlock_held(rl));
    weft__thread_mark_loop(false);
    stop_holder(&h);
    weft_rlock_free(rl);
}

static void *construct_rlock(void *arg)
{
    return weft_rlock_new();
}

static void destroy_rlock(void *rl)
{
    weft_rlock_free(rl);
}

static void rlock_new_survives_every_allocation_failure(void **state)
{
    assert_true(weft_test_oom_sweep("weft_rlock_new", construct_rlock, destroy_rlock, NULL) >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(holder_may_lock_again),
        cmocka_unit_test(unlock_of_a_free_lock_is_eperm),
        cmocka_unit_test(other_threads_cannot_unlock_or_enter),
        cmocka_unit_test(a_waiter_gets_the_lock_when_it_is_released),
        cmocka_unit_test_teardown(loop_thread_gets_edeadlk_only_when_it_would_wait, unmark_loop),
        cmocka_unit_test(rlock_new_survives_every_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
