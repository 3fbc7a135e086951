/* Unit tests for the future's states, values, ownership, callbacks, refs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "test-support.h"
#include "error/base.h"
#include "weft/future.h"

static int dtor_calls;
static void count_dtor(void *p)
{
    dtor_calls++;
    free(p);
}

static void new_future_is_pending(void **state)
{
    weft_future_t *f = weft_promise_new();
    assert_non_null(f);
    assert_int_equal(weft_future_state(f), WEFT_FUTURE_PENDING);
    assert_false(weft_future_is_done(f));
    assert_int_equal(weft_future_error(f), 0);
    assert_int_equal(weft_future_int(f), 0);
    assert_null(weft_future_ptr(f));
    assert_null(weft_future_message(f));
    assert_int_equal(weft_future_wait(f, 0), -ETIMEDOUT);
    weft_future_unref(f);
}

static void fulfil_int_then_everything_else_is_already(void **state)
{
    weft_future_t *f = weft_promise_new();
    assert_int_equal(weft_future_fulfill_int(f, -42), 0);
    assert_int_equal(weft_future_state(f), WEFT_FUTURE_FULFILLED);
    assert_true(weft_future_is_done(f));
    assert_int_equal(weft_future_int(f), -42);
    assert_true(weft_future_double(f) == 0.0);
    assert_null(weft_future_ptr(f));
    assert_int_equal(weft_future_error(f), 0);
    assert_int_equal(weft_future_fulfill_int(f, 1), -EALREADY);
    assert_int_equal(weft_future_fulfill_double(f, 1.0), -EALREADY);
    assert_int_equal(weft_future_reject(f, -EIO, "x"), -EALREADY);
    assert_int_equal(weft_future_cancel(f), -EALREADY);
    assert_int_equal(weft_future_int(f), -42);
    assert_int_equal(weft_future_wait(f, 0), 0);
    weft_future_unref(f);
}

static void fulfil_double(void **state)
{
    weft_future_t *f = weft_promise_new();
    assert_int_equal(weft_future_fulfill_double(f, 22026.465794806718), 0);
    assert_true(weft_future_double(f) == 22026.465794806718);
    assert_int_equal(weft_future_int(f), 0);
    weft_future_unref(f);
}

static void pointer_value_is_owned_and_destroyed_once(void **state)
{
    dtor_calls = 0;
    weft_future_t *f = weft_promise_new();
    char *s = strdup("payload");
    assert_int_equal(weft_future_fulfill_ptr(f, s, count_dtor), 0);
    assert_ptr_equal(weft_future_ptr(f), s);
    assert_int_equal(dtor_calls, 0);
    weft_future_unref(f);
    assert_int_equal(dtor_calls, 1);
}

static void failed_fulfil_ptr_destroys_the_pointer_before_returning(void **state)
{
    dtor_calls = 0;
    weft_future_t *f = weft_promise_new();
    weft_future_fulfill_int(f, 1);
    assert_int_equal(weft_future_fulfill_ptr(f, strdup("late"), count_dtor), -EALREADY);
    assert_int_equal(dtor_calls, 1);
    weft_future_unref(f);
    assert_int_equal(dtor_calls, 1);
}

static void take_ptr_moves_ownership_out(void **state)
{
    dtor_calls = 0;
    weft_future_t *f = weft_promise_new();
    char *s = strdup("mine");
    weft_future_fulfill_ptr(f, s, count_dtor);
    assert_ptr_equal(weft_future_take_ptr(f), s);
    assert_null(weft_future_take_ptr(f));
    assert_null(weft_future_ptr(f));
    weft_future_unref(f);
    assert_int_equal(dtor_calls, 0);
    free(s);
}

static void reject_copies_the_message_and_fixes_bad_errors(void **state)
{
    weft_future_t *f = weft_promise_new();
    char msg[] = "disk on fire";
    assert_int_equal(weft_future_reject(f, -EIO, msg), 0);
    msg[0] = 'X';
    assert_int_equal(weft_future_state(f), WEFT_FUTURE_REJECTED);
    assert_int_equal(weft_future_error(f), -EIO);
    assert_string_equal(weft_future_message(f), "disk on fire");
    weft_future_unref(f);

    f = weft_promise_new();
    assert_int_equal(weft_future_reject(f, 5, NULL), 0);
    assert_int_equal(weft_future_error(f), -EINVAL);
    assert_null(weft_future_message(f));
    weft_future_unref(f);

    f = weft_promise_new();
    weft_future_reject(f, 0, "zero");
    assert_int_equal(weft_future_error(f), -EINVAL);
    weft_future_unref(f);
}

static void cancel_sets_ecanceled(void **state)
{
    weft_future_t *f = weft_promise_new();
    assert_int_equal(weft_future_cancel(f), 0);
    assert_int_equal(weft_future_state(f), WEFT_FUTURE_CANCELLED);
    assert_int_equal(weft_future_error(f), -ECANCELED);
    assert_int_equal(weft_future_cancel(f), -EALREADY);
    assert_int_equal(weft_future_fulfill_int(f, 1), -EALREADY);
    weft_future_unref(f);
}

/* ---- callbacks ---- */

struct log {
    int n;
    int order[8];
    weft_state_t seen[8];
};

static void record(weft_future_t *f, void *arg)
{
    struct log *l = arg;
    l->seen[l->n] = weft_future_state(f);
    l->order[l->n] = l->n;
    l->n++;
}

static void on_settle_runs_in_order_on_settle(void **state)
{
    struct log l = {0};
    weft_future_t *f = weft_promise_new();
    for (int i = 0; i < 3; i++)
        assert_int_equal(weft_future_on_settle(f, record, &l), 0);
    assert_int_equal(l.n, 0);
    weft_future_fulfill_int(f, 3);
    assert_int_equal(l.n, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(l.seen[i], WEFT_FUTURE_FULFILLED);
    /* Registered after settling: runs at once in the caller. */
    assert_int_equal(weft_future_on_settle(f, record, &l), 0);
    assert_int_equal(l.n, 4);
    weft_future_unref(f);
    assert_int_equal(l.n, 4);
}

static int cancel_calls;
static void count_cancel(void *arg)
{
    cancel_calls++;
    *(int *)arg += 1;
}

static void on_cancel_runs_only_when_cancelled(void **state)
{
    int hits = 0;
    cancel_calls = 0;
    weft_future_t *f = weft_promise_new();
    assert_int_equal(weft_future_on_cancel(f, count_cancel, &hits), 0);
    weft_future_fulfill_int(f, 1);
    assert_int_equal(hits, 0);
    assert_int_equal(weft_future_on_cancel(f, count_cancel, &hits), -EALREADY);
    assert_int_equal(hits, 0);
    weft_future_unref(f);

    f = weft_promise_new();
    assert_int_equal(weft_future_on_cancel(f, count_cancel, &hits), 0);
    weft_future_cancel(f);
    assert_int_equal(hits, 1);
    /* Already cancelled: runs at once. */
    assert_int_equal(weft_future_on_cancel(f, count_cancel, &hits), 0);
    assert_int_equal(hits, 2);
    weft_future_unref(f);
}

struct cancel_then_settle {
    int step;
    int cancel_step, settle_step;
};
static void note_cancel(void *arg)
{
    struct cancel_then_settle *c = arg;
    c->cancel_step = ++c->step;
}
static void note_settle(weft_future_t *f, void *arg)
{
    struct cancel_then_settle *c = arg;
    c->settle_step = ++c->step;
}

static void cancel_callbacks_run_before_settle_callbacks(void **state)
{
    struct cancel_then_settle c = {0};
    weft_future_t *f = weft_promise_new();
    weft_future_on_settle(f, note_settle, &c);
    weft_future_on_cancel(f, note_cancel, &c);
    weft_future_cancel(f);
    assert_int_equal(c.cancel_step, 1);
    assert_int_equal(c.settle_step, 2);
    weft_future_unref(f);
}

static void dropping_the_last_reference_cancels_a_pending_future(void **state)
{
    int hits = 0;
    struct log l = {0};
    weft_future_t *f = weft_promise_new();
    weft_future_on_cancel(f, count_cancel, &hits);
    weft_future_on_settle(f, record, &l);
    weft_future_ref(f);
    weft_future_unref(f);
    assert_int_equal(hits, 0);
    weft_future_unref(f);
    assert_int_equal(hits, 1);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.seen[0], WEFT_FUTURE_CANCELLED);
    weft_future_unref(NULL);
}

/* A settle callback may take a reference and keep the future alive past
   the unref that cancelled it. */
static weft_future_t *kept;
static void keep(weft_future_t *f, void *arg)
{
    kept = weft_future_ref(f);
}

static void callback_can_keep_a_future_alive(void **state)
{
    weft_future_t *f = weft_promise_new();
    weft_future_on_settle(f, keep, NULL);
    weft_future_unref(f);
    assert_ptr_equal(kept, f);
    assert_int_equal(weft_future_state(kept), WEFT_FUTURE_CANCELLED);
    weft_future_unref(kept);
}

/* ---- out of memory ---- */

static void *make_promise(void *arg)
{
    return weft_promise_new();
}
static void drop(void *f)
{
    weft_future_unref(f);
}

static void promise_new_survives_oom(void **state)
{
    weft_test_oom_sweep("weft_promise_new", make_promise, drop, NULL);
}

static void *settle_with_everything(void *arg)
{
    weft_future_t *f = weft_promise_new();
    if (!f)
        return NULL;
    struct log *l = arg;
    if (weft_future_on_settle(f, record, l) < 0) {
        weft_future_unref(f);
        errno = ENOMEM;
        return NULL;
    }
    weft_future_reject(f, -EIO, "a message that must be copied");
    return f;
}

static void callbacks_and_messages_survive_oom(void **state)
{
    struct log l = {0};
    weft_test_oom_sweep("on_settle + reject", settle_with_everything, drop, &l);
}

static void reject_without_memory_keeps_the_error(void **state)
{
    weft_future_t *f = weft_promise_new();
    weft__alloc_fail_after(0);
    assert_int_equal(weft_future_reject(f, -EIO, "lost"), 0);
    weft__alloc_fail_after(-1);
    assert_int_equal(weft_future_error(f), -EIO);
    assert_null(weft_future_message(f));
    weft_future_unref(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_future_is_pending),
        cmocka_unit_test(fulfil_int_then_everything_else_is_already),
        cmocka_unit_test(fulfil_double),
        cmocka_unit_test(pointer_value_is_owned_and_destroyed_once),
        cmocka_unit_test(failed_fulfil_ptr_destroys_the_pointer_before_returning),
        cmocka_unit_test(take_ptr_moves_ownership_out),
        cmocka_unit_test(reject_copies_the_message_and_fixes_bad_errors),
        cmocka_unit_test(cancel_sets_ecanceled),
        cmocka_unit_test(on_settle_runs_in_order_on_settle),
        cmocka_unit_test(on_cancel_runs_only_when_cancelled),
        cmocka_unit_test(cancel_callbacks_run_before_settle_callbacks),
        cmocka_unit_test(dropping_the_last_reference_cancels_a_pending_future),
        cmocka_unit_test(callback_can_keep_a_future_alive),
        cmocka_unit_test(promise_new_survives_oom),
        cmocka_unit_test(callbacks_and_messages_survive_oom),
        cmocka_unit_test(reject_without_memory_keeps_the_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
