/* Unit tests for loop groups (src/loop/group.c): size, start/stop/join,
   hooks on each loop's own thread, per-loop data, errors, OOM sweep. */
#include <errno.h>
#include <sched.h>

#include "loop-test.h"
#include "sync/thread.h"

#define LOOPS 3

struct per_loop {
    pthread_t start_thread, stop_thread, post_thread;
    weft_loop_t *start_loop;
    bool start_on_loop, stop_on_loop, signals_blocked;
    int posts;
};

struct world {
    struct per_loop l[LOOPS];
    atomic_int started;
};

static void on_start(weft_loop_t *loop, unsigned i, void *arg)
{
    struct world *w = arg;
    w->l[i].start_thread = pthread_self();
    w->l[i].start_loop = loop;
    w->l[i].start_on_loop = weft_loop_on_thread(loop);
    weft_loop_set_data(loop, &w->l[i]);
    sigset_t set;
    pthread_sigmask(SIG_BLOCK, NULL, &set);
    w->l[i].signals_blocked = sigismember(&set, SIGINT) && sigismember(&set, SIGTERM);
    atomic_fetch_add(&w->started, 1);
}

static void on_stop(weft_loop_t *loop, unsigned i, void *arg)
{
    struct world *w = arg;
    w->l[i].stop_thread = pthread_self();
    w->l[i].stop_on_loop = weft_loop_on_thread(loop);
}

static void count_on_loop(void *arg)
{
    struct per_loop *p = weft_loop_data(weft_loop_current());
    p->post_thread = pthread_self();
    p->posts++;
}

static void a_group_runs_each_loop_on_its_own_thread(void **state)
{
    struct world w = {0};
    weft_loop_group_options_t o = {
        .loops = LOOPS, .name = "grp", .on_start = on_start, .on_stop = on_stop, .arg = &w};
    weft_loop_group_t *g = weft_loop_group_new(&o);
    assert_non_null(g);
    assert_int_equal(weft_loop_group_size(g), LOOPS);
    assert_null(weft_loop_group_loop(g, LOOPS));
    assert_string_equal(weft_loop_name(weft_loop_group_loop(g, 1)), "grp-1");
    assert_int_equal(weft_loop_group_start(g), 0);
    assert_int_equal(weft_loop_group_start(g), -EBUSY);
    while (atomic_load(&w.started) < LOOPS)
        weft_test_sleep_ms(1);
    for (unsigned i = 0; i < LOOPS; i++)
        assert_int_equal(weft_loop_post(weft_loop_group_loop(g, i), count_on_loop, NULL), 0);
    weft_test_sleep_ms(20);
    assert_int_equal(weft_loop_group_stop(g), 0);
    assert_int_equal(weft_loop_group_join(g), 0);
    assert_int_equal(weft_loop_group_join(g), 0);
    for (unsigned i = 0; i < LOOPS; i++) {
        struct per_loop *p = &w.l[i];
        assert_ptr_equal(p->start_loop, weft_loop_group_loop(g, i));
        assert_true(p->start_on_loop);
        assert_true(p->stop_on_loop);
        assert_true(p->signals_blocked);
        assert_true(pthread_equal(p->start_thread, p->stop_thread));
        assert_true(pthread_equal(p->start_thread, p->post_thread));
        assert_int_equal(p->posts, 1);
        for (unsigned j = 0; j < i; j++)
            assert_false(pthread_equal(p->start_thread, w.l[j].start_thread));
        assert_true(weft_loop_is_stopped(weft_loop_group_loop(g, i)));
    }
    weft_loop_group_free(g);
}

static void the_default_size_is_the_cpus_we_may_use(void **state)
{
    cpu_set_t set;
    assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
    weft_loop_group_t *g = weft_loop_group_new(NULL);
    assert_non_null(g);
    assert_int_equal(weft_loop_group_size(g), (unsigned)CPU_COUNT(&set));
    weft_loop_group_free(g); /* never started: fine */
    weft_loop_group_free(NULL);
}

static void join_on_a_loop_thread_is_edeadlk(void **state)
{
    weft_loop_group_options_t o = {.loops = 1};
    weft_loop_group_t *g = weft_loop_group_new(&o);
    weft__thread_mark_loop(true);
    assert_int_equal(weft_loop_group_join(g), -EDEADLK);
    weft__thread_mark_loop(false);
    assert_int_equal(weft_loop_group_start(g), 0);
    weft_loop_group_free(g); /* stops and joins */
}

static void too_many_loops_is_einval(void **state)
{
    weft_loop_group_options_t o = {.loops = 100000};
    assert_null(weft_loop_group_new(&o));
    assert_int_equal(errno, EINVAL);
}

static void nop_stop(weft_loop_t *loop, unsigned i, void *arg)
{
}

static void *make_group(void *arg)
{
    weft_loop_group_options_t o = {.loops = 3, .on_stop = nop_stop};
    return weft_loop_group_new(&o);
}

static void free_group(void *g)
{
    weft_loop_group_free(g);
}

static void group_new_survives_every_allocation_failure(void **state)
{
    /* 1 group + 3 x (loop, inbox, hook) */
    assert_int_equal(weft_test_oom_sweep("weft_loop_group_new", make_group, free_group, NULL), 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_group_runs_each_loop_on_its_own_thread),
        cmocka_unit_test(the_default_size_is_the_cpus_we_may_use),
        cmocka_unit_test(join_on_a_loop_thread_is_edeadlk),
        cmocka_unit_test(too_many_loops_is_einval),
        cmocka_unit_test(group_new_survives_every_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
