/*
 * Unit tests for the scoped locks of sync.h (src/sync/scoped.c): the lock
 * is released on every way out of the scope. Built with -fexceptions (from
 * weft_internal), so pthread_exit and cancellation unwind through it.
 */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "weft/sync.h"
#include "test-support.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* Whether mu is free now (and leaves it free). */
static bool mutex_is_free(void)
{
    if (pthread_mutex_trylock(&mu) != 0)
        return false;
    pthread_mutex_unlock(&mu);
    return true;
}

/* Whether another thread could take rl now: the caller's own levels
   would let it re-enter, so ask from a fresh thread. */
static void *probe_main(void *arg)
{
    weft_rlock_t *rl = arg;
    int r = weft_rlock_timedlock(rl, 0);
    if (r == 0)
        weft_rlock_unlock(rl);
    return (void *)(intptr_t)r;
}

static bool rlock_is_free(weft_rlock_t *rl)
{
    pthread_t t;
    void *r;
    assert_int_equal(pthread_create(&t, NULL, probe_main, rl), 0);
    assert_int_equal(pthread_join(t, &r), 0);
    return r == 0;
}

static int return_from_the_middle(bool early)
{
    WEFT_SCOPED_LOCK(&mu);
    if (pthread_mutex_trylock(&mu) != EBUSY)
        return -1;
    if (early)
        return 1;
    return 2;
}

static void scoped_lock_is_released_on_return(void **state)
{
    assert_int_equal(return_from_the_middle(true), 1);
    assert_true(mutex_is_free());
    assert_int_equal(return_from_the_middle(false), 2);
    assert_true(mutex_is_free());
}

static void scoped_lock_is_released_at_the_end_of_its_block(void **state)
{
    {
        WEFT_SCOPED_LOCK(&mu);
        assert_false(mutex_is_free());
    }
    assert_true(mutex_is_free());
}

static void with_lock_is_released_on_break_and_continue(void **state)
{
    int bodies = 0;
    WEFT_WITH_LOCK (&mu) {
        bodies++;
        assert_int_equal(pthread_mutex_trylock(&mu), EBUSY);
        break;
    }
    assert_true(mutex_is_free());
    WEFT_WITH_LOCK (&mu) {
        bodies++;
        continue;
    }
    assert_true(mutex_is_free());
    WEFT_WITH_LOCK (&mu) {
        bodies++; /* runs once */
    }
    assert_true(mutex_is_free());
    assert_int_equal(bodies, 3);
}

static void scoped_locks_are_released_on_goto(void **state)
{
    {
        WEFT_SCOPED_LOCK(&mu);
        goto out_of_scope;
    }
out_of_scope:
    assert_true(mutex_is_free());
    WEFT_WITH_LOCK (&mu) {
        goto out_of_with;
    }
out_of_with:
    assert_true(mutex_is_free());
}

static void *exit_inside_scope_main(void *arg)
{
    WEFT_SCOPED_LOCK(&mu);
    pthread_exit(NULL);
}

static void *exit_inside_with_main(void *arg)
{
    WEFT_WITH_LOCK (&mu) {
        pthread_exit(NULL);
    }
    return NULL;
}

static void *exit_inside_rlock_main(void *arg)
{
    WEFT_SCOPED_RLOCK((weft_rlock_t *)arg);
    WEFT_WITH_RLOCK ((weft_rlock_t *)arg) {
        pthread_exit(NULL);
    }
    return NULL;
}

static void *cancelled_inside_scope_main(void *arg)
{
    WEFT_SCOPED_LOCK(&mu);
    for (;;)
        pause(); /* a cancellation point */
    return NULL;
}

static void scoped_locks_are_released_by_pthread_exit(void **state)
{
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, exit_inside_scope_main, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(mutex_is_free());

    assert_int_equal(pthread_create(&t, NULL, exit_inside_with_main, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(mutex_is_free());

    weft_rlock_t *rl = weft_rlock_new();
    assert_int_equal(pthread_create(&t, NULL, exit_inside_rlock_main, rl), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(rlock_is_free(rl));
    weft_rlock_free(rl);
}

static void scoped_lock_is_released_by_cancellation(void **state)
{
#if defined(WEFT_UNDER_TSAN) || defined(__SANITIZE_THREAD__)
    /* TSan misses the unlock done while a cancelled thread unwinds out of
       an intercepted blocking call (pause), then reports a double lock. */
    skip();
#endif
    pthread_t t;
    void *result;
    assert_int_equal(pthread_create(&t, NULL, cancelled_inside_scope_main, NULL), 0);
    weft_test_sleep_ms(20);
    assert_int_equal(pthread_cancel(t), 0);
    assert_int_equal(pthread_join(t, &result), 0);
    assert_ptr_equal(result, PTHREAD_CANCELED);
    assert_true(mutex_is_free());
}

static int nested_rlock_scopes(weft_rlock_t *rl, bool early)
{
    WEFT_SCOPED_RLOCK(rl);
    {
        WEFT_SCOPED_RLOCK(rl);
        if (early)
            return 1;
    }
    WEFT_WITH_RLOCK (rl) {
        if (!weft_rlock_held(rl))
            return -1;
    }
    return weft_rlock_held(rl) ? 2 : -1;
}

static void scoped_rlocks_nest_and_release_every_level(void **state)
{
    weft_rlock_t *rl = weft_rlock_new();
    assert_int_equal(nested_rlock_scopes(rl, true), 1);
    assert_false(weft_rlock_held(rl));
    assert_int_equal(nested_rlock_scopes(rl, false), 2);
    assert_false(weft_rlock_held(rl));
    assert_int_equal(weft_rlock_unlock(rl), -EPERM);
    WEFT_WITH_RLOCK (rl) {
        assert_true(weft_rlock_held(rl));
        assert_false(rlock_is_free(rl));
        break;
    }
    assert_true(rlock_is_free(rl));
    weft_rlock_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scoped_lock_is_released_on_return),
        cmocka_unit_test(scoped_lock_is_released_at_the_end_of_its_block),
        cmocka_unit_test(with_lock_is_released_on_break_and_continue),
        cmocka_unit_test(scoped_locks_are_released_on_goto),
        cmocka_unit_test(scoped_locks_are_released_by_pthread_exit),
        cmocka_unit_test(scoped_lock_is_released_by_cancellation),
        cmocka_unit_test(scoped_rlocks_nest_and_release_every_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
