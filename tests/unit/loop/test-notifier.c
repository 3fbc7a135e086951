/* Unit tests for notifiers (src/loop/notifier.c): callbacks on the loop
   thread, coalescing (at least one callback after each trigger), -EPIPE
   after stop, close -EBUSY while one is open, the out-of-memory sweep. */
#include <errno.h>

#include "loop-test.h"

struct note {
    weft_loop_t *loop;
    weft_notifier_t *n;
    pthread_t loop_thread;
    int calls, wrong_thread;
    long payload; /* written once, plainly, before one trigger */
    long payload_seen;
    atomic_long result; /* written by the triggering thread, again and again */
    long seen;          /* what the last callback saw */
    long last;          /* the value that means "done" */
};

static void on_notify(void *arg)
{
    struct note *s = arg;
    if (!pthread_equal(pthread_self(), s->loop_thread) || !weft_loop_on_thread(s->loop))
        s->wrong_thread++;
    s->calls++;
    s->payload_seen = s->payload; /* plain read: ordered by the trigger */
    s->seen = atomic_load_explicit(&s->result, memory_order_relaxed);
    if (s->seen == s->last)
        weft_loop_stop(s->loop); /* the notifier is freed after the join */
}

struct trigger_thread {
    struct note *s;
    long count;
    pthread_t thread;
    int bad;
};

static void *trigger_main(void *arg)
{
    struct trigger_thread *t = arg;
    t->s->payload = 42;
    for (long i = 1; i <= t->count; i++) {
        atomic_store_explicit(&t->s->result, i, memory_order_relaxed);
        if (weft_notifier_trigger(t->s->n) != 0)
            t->bad++;
        if (i % 64 == 0)
            weft_test_sleep_ms(0);
    }
    return NULL;
}

/* cl-async's background job: a worker sets a result and triggers. */
static void a_trigger_from_a_worker_runs_the_callback_on_the_loop(void **state)
{
    struct note s = {.loop = weft_loop_new(), .loop_thread = pthread_self(), .last = 42};
    s.n = weft_notifier_new(s.loop, on_notify, &s);
    assert_non_null(s.n);
    struct trigger_thread t = {.s = &s, .count = 1};
    s.last = 1;
    assert_int_equal(pthread_create(&t.thread, NULL, trigger_main, &t), 0);
    assert_int_equal(weft_loop_run(s.loop), 0);
    pthread_join(t.thread, NULL);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.seen, 1);
    assert_int_equal(s.payload_seen, 42);
    assert_int_equal(s.wrong_thread, 0);
    assert_int_equal(weft_loop_close(s.loop), -EBUSY); /* still open */
    weft_notifier_free(s.n);
    assert_int_equal(weft_loop_close(s.loop), 0);
    weft_loop_free(s.loop);
}

/* Many triggers: merged into fewer calls, and the last call comes after
   the last trigger (it sees the final value). */
static void triggers_coalesce_but_the_last_one_is_never_lost(void **state)
{
    enum { TRIGGERS = 100000 };
    struct note s = {.loop = weft_loop_new(), .loop_thread = pthread_self(), .last = TRIGGERS};
    s.n = weft_notifier_new(s.loop, on_notify, &s);
    struct trigger_thread t = {.s = &s, .count = TRIGGERS};
    assert_int_equal(pthread_create(&t.thread, NULL, trigger_main, &t), 0);
    assert_int_equal(weft_loop_run(s.loop), 0);
    pthread_join(t.thread, NULL);
    assert_int_equal(t.bad, 0);
    assert_int_equal(s.seen, TRIGGERS);
    assert_true(s.calls >= 1);
    assert_true(s.calls <= TRIGGERS);
    assert_int_equal(s.wrong_thread, 0);
    print_message("%d triggers -> %d callbacks\n", TRIGGERS, s.calls);
    weft_notifier_free(s.n);
    weft_loop_free(s.loop);
}

static void never(void *arg)
{
    fail_msg("notifier callback after stop");
}

static void notifier_rules_epipe_ebusy_einval(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    assert_null(weft_notifier_new(NULL, never, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(weft_notifier_new(loop, NULL, NULL));
    weft_notifier_t *n = weft_notifier_new(loop, never, NULL);
    assert_non_null(n);
    weft_loop_stop(loop);
    assert_int_equal(weft_notifier_trigger(n), -EPIPE);
    assert_int_equal(weft_notifier_trigger(NULL), -EINVAL);
    assert_null(weft_notifier_new(loop, never, NULL));
    assert_int_equal(errno, EPIPE);
    assert_int_equal(weft_loop_run(loop), 0);
    assert_int_equal(weft_loop_close(loop), -EBUSY); /* the notifier is open */
    weft_notifier_free(n);                           /* no thread runs it: fine */
    weft_notifier_free(NULL);
    assert_int_equal(weft_loop_close(loop), 0);
    weft_loop_free(loop);
}

static weft_loop_t *sweep_loop;

static void *make_notifier(void *arg)
{
    return weft_notifier_new(sweep_loop, never, NULL);
}

static void free_notifier(void *n)
{
    weft_notifier_free(n);
    uv_run(weft_loop_uv(sweep_loop), UV_RUN_NOWAIT); /* its close callback frees it */
}

static void notifier_new_survives_every_allocation_failure(void **state)
{
    sweep_loop = weft_loop_new();
    assert_int_equal(weft_test_oom_sweep("weft_notifier_new", make_notifier, free_notifier, NULL),
                     1);
    weft_loop_free(sweep_loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_trigger_from_a_worker_runs_the_callback_on_the_loop),
        cmocka_unit_test(triggers_coalesce_but_the_last_one_is_never_lost),
        cmocka_unit_test(notifier_rules_epipe_ebusy_einval),
        cmocka_unit_test(notifier_new_survives_every_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
