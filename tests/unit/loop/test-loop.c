/* Unit tests for the loop's life and posts (src/loop/loop.c, post.c,
   inbox.c): run/stop/close/free, posting from any thread, thread identity,
   -EPIPE after stop, -EDEADLK on a loop thread, the out-of-memory sweep. */
#include <errno.h>
#include <string.h>

#include "loop-test.h"
#include "sync/thread.h"
#include "weft/sync.h"

/* ---- posts ---------------------------------------------------------------- */

struct seen {
    weft_loop_t *loop;
    pthread_t loop_thread;
    int runs;
    int wrong_thread;
    int order[64];
};

static void note(void *arg)
{
    struct seen *s = arg;
    if (!pthread_equal(pthread_self(), s->loop_thread) || weft_loop_current() != s->loop ||
        !weft_loop_on_thread(s->loop) || !weft__on_loop_thread())
        s->wrong_thread++;
    s->runs++;
}

static void posts_before_run_run_first_on_the_loop_thread(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    assert_non_null(loop);
    struct seen s = {.loop = loop, .loop_thread = pthread_self()};
    for (int i = 0; i < 10; i++)
        assert_int_equal(weft_loop_post(loop, note, &s), 0);
    assert_int_equal(s.runs, 0); /* never inline */
    assert_int_equal(weft_loop_post(loop, stop_current, loop), 0);
    assert_null(weft_loop_current());
    assert_int_equal(weft_loop_run(loop), 0);
    assert_null(weft_loop_current());
    assert_false(weft__on_loop_thread());
    assert_int_equal(s.runs, 10);
    assert_int_equal(s.wrong_thread, 0);
    assert_int_equal(weft_loop_close(loop), 0);
    weft_loop_free(loop);
}

/* A post made on the loop thread runs in a later batch, not inside the
   call and not in the batch that made it. */
struct self {
    weft_loop_t *loop;
    int step;
    int inline_run;
};

static void self_second(void *arg)
{
    struct self *s = arg;
    s->step = 2;
    weft_loop_stop(s->loop);
}

static void self_first(void *arg)
{
    struct self *s = arg;
    s->step = 1;
    assert_int_equal(weft_loop_post(s->loop, self_second, s), 0);
    if (s->step != 1)
        s->inline_run++;
}

static void post_on_the_loop_thread_is_never_inline(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct self s = {.loop = loop};
    assert_int_equal(weft_loop_post(loop, self_first, &s), 0);
    assert_int_equal(weft_loop_run(loop), 0);
    assert_int_equal(s.step, 2);
    assert_int_equal(s.inline_run, 0);
    weft_loop_free(loop);
}

/* A callback that reposts itself does not starve the loop: a timer still
   fires while it keeps going. */
struct spin {
    weft_loop_t *loop;
    uv_timer_t timer;
    long reposts;
    bool fired;
};

static void spin_again(void *arg)
{
    struct spin *s = arg;
    s->reposts++;
    if (!s->fired)
        assert_int_equal(weft_loop_post(s->loop, spin_again, s), 0);
}

static void spin_timer(uv_timer_t *t)
{
    struct spin *s = t->data;
    s->fired = true;
    uv_close((uv_handle_t *)t, NULL);
    weft_loop_stop(s->loop);
}

static void self_reposting_post_does_not_starve_io(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct spin s = {.loop = loop};
    uv_timer_init(weft_loop_uv(loop), &s.timer);
    s.timer.data = &s;
    uv_timer_start(&s.timer, spin_timer, 20, 0);
    assert_int_equal(weft_loop_post(loop, spin_again, &s), 0);
    assert_int_equal(weft_loop_run(loop), 0);
    assert_true(s.fired);
    assert_true(s.reposts > 1);
    assert_int_equal(weft_loop_close(loop), 0);
    weft_loop_free(loop);
}

/* Producers on other threads: each one's posts arrive exactly once and in
   order; everything runs on the loop thread. */
#define PRODUCERS    4
#define PER_PRODUCER 20000

struct order {
    weft_loop_t *loop;
    pthread_t loop_thread;
    long next[PRODUCERS];
    long bad_order, wrong_thread, total;
};

struct producer {
    struct order *o;
    int id;
    pthread_t thread;
};

static struct order *the_order;

static void order_note(void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    struct order *o = the_order;
    int id = (int)(v % PRODUCERS);
    long seq = (long)(v / PRODUCERS);
    if (seq != o->next[id])
        o->bad_order++;
    o->next[id] = seq + 1;
    if (!pthread_equal(pthread_self(), o->loop_thread))
        o->wrong_thread++;
    if (++o->total == (long)PRODUCERS * PER_PRODUCER)
        weft_loop_stop(o->loop);
}

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (long i = 0; i < PER_PRODUCER; i++) {
        uintptr_t v = (uintptr_t)(i * PRODUCERS + p->id);
        while (weft_loop_post(p->o->loop, order_note, (void *)v) == -ENOMEM)
            ;
    }
    weft__inbox_release_thread_cache();
    return NULL;
}

static void posts_from_threads_arrive_once_in_order(void **state)
{
    struct order o = {.loop = weft_loop_new(), .loop_thread = pthread_self()};
    struct producer p[PRODUCERS];
    the_order = &o;
    for (int i = 0; i < PRODUCERS; i++) {
        p[i] = (struct producer){.o = &o, .id = i};
        assert_int_equal(pthread_create(&p[i].thread, NULL, produce, &p[i]), 0);
    }
    assert_int_equal(weft_loop_run(o.loop), 0);
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(p[i].thread, NULL);
        assert_int_equal(o.next[i], PER_PRODUCER);
    }
    assert_int_equal(o.bad_order, 0);
    assert_int_equal(o.wrong_thread, 0);
    weft_loop_stats_t st;
    weft_loop_stats(o.loop, &st);
    assert_int_equal(st.posts, (uint64_t)PRODUCERS * PER_PRODUCER);
    weft_loop_free(o.loop);
}

/* ---- stopping ---------------------------------------------------------- */

static int counted;
static void count_post(void *arg)
{
    counted++;
}

static void post_after_stop_is_epipe_and_accepted_posts_still_run(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    counted = 0;
    assert_false(weft_loop_is_stopped(loop));
    assert_int_equal(weft_loop_post(loop, count_post, NULL), 0);
    assert_int_equal(weft_loop_stop(loop), 0);
    assert_true(weft_loop_is_stopped(loop));
    assert_int_equal(weft_loop_stop(loop), 0); /* repeatable */
    assert_int_equal(weft_loop_post(loop, count_post, NULL), -EPIPE);
    assert_int_equal(weft_loop_run(loop), 0); /* runs the accepted one, returns */
    assert_int_equal(counted, 1);
    assert_int_equal(weft_loop_run(loop), 0);
    assert_int_equal(weft_loop_close(loop), 0);
    assert_int_equal(weft_loop_close(loop), 0);
    assert_int_equal(weft_loop_run(loop), -EPIPE);
    weft_loop_free(loop);
}

static void stop_from_another_thread_ends_run(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct stopper s;
    int64_t t0 = weft_test_now_ms();
    stopper_start(&s, loop, 50);
    assert_int_equal(weft_loop_run(loop), 0);
    stopper_join(&s);
    assert_true(weft_test_now_ms() - t0 < weft_test_ms(2000));
    assert_int_equal(weft_loop_close(loop), 0);
    weft_loop_free(loop);
}

static void close_runs_accepted_posts_that_never_ran(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    counted = 0;
    for (int i = 0; i < 100; i++)
        assert_int_equal(weft_loop_post(loop, count_post, NULL), 0);
    assert_int_equal(weft_loop_close(loop), -EBUSY); /* not stopped */
    weft_loop_stop(loop);
    assert_int_equal(counted, 0);
    assert_int_equal(weft_loop_close(loop), 0);
    assert_int_equal(counted, 100);
    weft_loop_free(loop);
}

static void free_stops_and_closes_a_fresh_loop(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    counted = 0;
    assert_int_equal(weft_loop_post(loop, count_post, NULL), 0);
    weft_loop_free(loop);
    assert_int_equal(counted, 1);
    weft_loop_free(NULL);
}

/* ---- handles, hooks, close ---------------------------------------------- */

struct user_handle {
    uv_timer_t timer;
    bool closed;
    pthread_t hook_thread;
};

static void timer_closed(uv_handle_t *h)
{
    ((struct user_handle *)h->data)->closed = true;
}

static void close_timer_hook(weft_loop_t *loop, void *arg)
{
    struct user_handle *u = arg;
    u->hook_thread = pthread_self();
    assert_true(weft_loop_on_thread(loop));
    uv_close((uv_handle_t *)&u->timer, timer_closed);
}

static void close_is_ebusy_while_user_handles_are_open(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct user_handle u = {0};
    uv_timer_init(weft_loop_uv(loop), &u.timer);
    u.timer.data = &u;
    weft_loop_stop(loop);
    assert_int_equal(weft_loop_run(loop), 0);
    assert_int_equal(weft_loop_close(loop), -EBUSY);
    uv_close((uv_handle_t *)&u.timer, timer_closed);
    assert_int_equal(weft_loop_close(loop), 0);
    assert_true(u.closed);
    weft_loop_free(loop);
}

static void on_stop_hook_closes_handles_before_run_returns(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct user_handle u = {0};
    uv_timer_init(weft_loop_uv(loop), &u.timer);
    u.timer.data = &u;
    assert_int_equal(weft_loop_on_stop(loop, close_timer_hook, &u), 0);
    assert_int_equal(weft_loop_on_stop(NULL, close_timer_hook, &u), -EINVAL);
    struct stopper s;
    stopper_start(&s, loop, 20);
    assert_int_equal(weft_loop_run(loop), 0);
    stopper_join(&s);
    assert_true(u.closed); /* its close callback ran before run returned */
    assert_true(pthread_equal(u.hook_thread, pthread_self()));
    assert_int_equal(weft_loop_on_stop(loop, close_timer_hook, &u), -EPIPE);
    assert_int_equal(weft_loop_close(loop), 0);
    weft_loop_free(loop);
}

static void hooks_run_in_close_when_the_loop_never_ran(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct user_handle u = {0};
    uv_timer_init(weft_loop_uv(loop), &u.timer);
    u.timer.data = &u;
    assert_int_equal(weft_loop_on_stop(loop, close_timer_hook, &u), 0);
    weft_loop_stop(loop);
    assert_int_equal(weft_loop_close(loop), 0);
    assert_true(u.closed);
    weft_loop_free(loop);
}

static void run_from_two_threads_is_ebusy(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    struct runner r;
    runner_start(&r, loop);
    while (!atomic_load(&loop->running))
        weft_test_sleep_ms(1);
    assert_int_equal(weft_loop_run(loop), -EBUSY);
    assert_int_equal(weft_loop_close(loop), -EBUSY);
    weft_loop_stop(loop);
    assert_int_equal(runner_join(&r), 0);
    weft_loop_free(loop);
}

/* ---- the loop thread: -EDEADLK ----------------------------------------- */

struct deadlk {
    weft_loop_t *loop, *other;
    int wait, run_other, queue_push, zero_wait;
};

static void try_blocking(void *arg)
{
    struct deadlk *d = arg;
    weft_future_t *f = weft_promise_new();
    d->wait = weft_future_wait(f, 10);
    d->zero_wait = weft_future_wait(f, 0);
    weft_future_unref(f);
    d->run_other = weft_loop_run(d->other);
    weft_queue_t *q = weft_queue_new(1);
    weft_queue_try_push(q, NULL);
    d->queue_push = weft_queue_push(q, NULL, -1);
    weft_queue_close(q);
    weft_queue_free(q);
    weft_loop_stop(d->loop);
}

static void blocking_calls_on_a_loop_thread_are_edeadlk(void **state)
{
    struct deadlk d = {.loop = weft_loop_new(), .other = weft_loop_new()};
    assert_int_equal(weft_loop_post(d.loop, try_blocking, &d), 0);
    assert_int_equal(weft_loop_run(d.loop), 0);
    assert_int_equal(d.wait, -EDEADLK);
    assert_int_equal(d.zero_wait, -ETIMEDOUT);
    assert_int_equal(d.run_other, -EDEADLK);
    assert_int_equal(d.queue_push, -EDEADLK);
    assert_false(weft__on_loop_thread()); /* unmarked after run */
    weft_loop_free(d.loop);
    weft_loop_free(d.other);
}

/* ---- options, stats, data ------------------------------------------------ */

static void block_briefly(void *arg)
{
    weft_test_sleep_ms(60);
}

static void stats_count_iterations_posts_busy_time_and_lag(void **state)
{
    weft_loop_options_t o = {.name = "stats", .lag_interval_ms = 5, .blocked_threshold_ms = -1};
    weft_loop_t *loop = weft_loop_new_ex(&o);
    assert_string_equal(weft_loop_name(loop), "stats");
    int x;
    weft_loop_set_data(loop, &x);
    assert_ptr_equal(weft_loop_data(loop), &x);
    weft_loop_stats_t st;
    weft_loop_stats(loop, &st);
    assert_false(st.running);
    assert_int_equal(st.posts, 0);
    struct stopper s;
    stopper_start(&s, loop, 200);
    weft_loop_post(loop, block_briefly, NULL);
    assert_int_equal(weft_loop_run(loop), 0);
    stopper_join(&s);
    weft_loop_stats(loop, &st);
    assert_false(st.running);
    assert_int_equal(st.posts, 1);
    assert_true(st.iterations > 0);
    assert_true(st.run_ns >= 150 * 1000000LL);
    assert_true(st.busy_ns >= 50 * 1000000LL); /* the 60 ms block */
    assert_true(st.busy_ns < st.run_ns);       /* and idle time besides */
    assert_int_equal(st.blocked, 0);           /* detector off */
    assert_int_equal(weft_loop_close(loop), 0);
    weft_loop_stats(loop, &st); /* after close: no libuv call */
    assert_true(st.run_ns > 0);
    weft_loop_free(loop);
}

struct lag {
    weft_loop_t *loop;
    uv_timer_t t;
    int ticks;
};

static void lag_block(uv_timer_t *t)
{
    struct lag *l = t->data;
    weft_test_sleep_ms(50);
    if (++l->ticks == 3) {
        uv_close((uv_handle_t *)t, NULL);
        weft_loop_stop(l->loop);
    }
}

static void lag_shows_a_loop_held_by_callbacks(void **state)
{
    weft_loop_options_t o = {.lag_interval_ms = 5, .blocked_threshold_ms = -1};
    struct lag l = {.loop = weft_loop_new_ex(&o)};
    uv_timer_init(weft_loop_uv(l.loop), &l.t);
    l.t.data = &l;
    uv_timer_start(&l.t, lag_block, 1, 20);
    assert_int_equal(weft_loop_run(l.loop), 0);
    weft_loop_stats_t st;
    weft_loop_stats(l.loop, &st);
    assert_true(st.lag_max_ns >= 20 * 1000000LL);
    weft_loop_free(l.loop);
}

static void bad_arguments_are_einval(void **state)
{
    weft_loop_t *loop = weft_loop_new();
    assert_int_equal(weft_loop_post(NULL, count_post, NULL), -EINVAL);
    assert_int_equal(weft_loop_post(loop, NULL, NULL), -EINVAL);
    assert_int_equal(weft_loop_run(NULL), -EINVAL);
    assert_int_equal(weft_loop_stop(NULL), -EINVAL);
    assert_int_equal(weft_loop_close(NULL), -EINVAL);
    assert_false(weft_loop_on_thread(NULL));
    assert_non_null(weft_loop_uv(loop));
    weft_loop_free(loop);
}

/* ---- out of memory ------------------------------------------------------- */

static void *make_loop(void *arg)
{
    return weft_loop_new();
}

static void *make_loop_and_post(void *arg)
{
    weft_loop_t *loop = weft_loop_new();
    if (!loop)
        return NULL;
    int r = weft_loop_post(loop, count_post, NULL);
    if (r < 0) {
        weft_loop_free(loop);
        errno = -r;
        return NULL;
    }
    return loop;
}

static void free_loop(void *loop)
{
    weft_loop_free(loop);
    weft__inbox_release_thread_cache(); /* the post block, if any */
}

static void constructors_survive_every_allocation_failure(void **state)
{
    weft__inbox_release_thread_cache();
    assert_true(weft_test_oom_sweep("weft_loop_new", make_loop, free_loop, NULL) >= 2);
    assert_true(weft_test_oom_sweep("weft_loop_post", make_loop_and_post, free_loop, NULL) >= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(posts_before_run_run_first_on_the_loop_thread),
        cmocka_unit_test(post_on_the_loop_thread_is_never_inline),
        cmocka_unit_test(self_reposting_post_does_not_starve_io),
        cmocka_unit_test(posts_from_threads_arrive_once_in_order),
        cmocka_unit_test(post_after_stop_is_epipe_and_accepted_posts_still_run),
        cmocka_unit_test(stop_from_another_thread_ends_run),
        cmocka_unit_test(close_runs_accepted_posts_that_never_ran),
        cmocka_unit_test(free_stops_and_closes_a_fresh_loop),
        cmocka_unit_test(close_is_ebusy_while_user_handles_are_open),
        cmocka_unit_test(on_stop_hook_closes_handles_before_run_returns),
        cmocka_unit_test(hooks_run_in_close_when_the_loop_never_ran),
        cmocka_unit_test(run_from_two_threads_is_ebusy),
        cmocka_unit_test(blocking_calls_on_a_loop_thread_are_edeadlk),
        cmocka_unit_test(stats_count_iterations_posts_busy_time_and_lag),
        cmocka_unit_test(lag_shows_a_loop_held_by_callbacks),
        cmocka_unit_test(bad_arguments_are_einval),
        cmocka_unit_test(constructors_survive_every_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
