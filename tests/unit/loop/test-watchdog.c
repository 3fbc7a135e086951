/* Unit tests for the blocked-loop detector (src/loop/watchdog.c, stats.c):
   one episode per block, logged once when it starts and once with its
   duration when it ends; an idle loop is never blocked. */
#include <errno.h>
#include <string.h>

#include "loop-test.h"

static struct {
    pthread_mutex_t mu;
    int blocked, unblocked;
    char last[256];
} logs = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void capture(weft_log_level_t level, const char *msg, void *arg)
{
    pthread_mutex_lock(&logs.mu);
    if (strstr(msg, " blocked:"))
        logs.blocked++;
    if (strstr(msg, " unblocked:"))
        logs.unblocked++;
    snprintf(logs.last, sizeof(logs.last), "%s", msg);
    pthread_mutex_unlock(&logs.mu);
}

static int setup(void **state)
{
    pthread_mutex_lock(&logs.mu);
    logs.blocked = logs.unblocked = 0;
    pthread_mutex_unlock(&logs.mu);
    weft_log_set_handler(capture, NULL, WEFT_LOG_DEBUG);
    return 0;
}

static int teardown(void **state)
{
    weft_log_set_handler(NULL, NULL, WEFT_LOG_WARN);
    return 0;
}

struct blocker {
    weft_loop_t *loop;
    int64_t block_ms;
    int blocks, done;
    uv_timer_t timer;
};

/* Holds the loop for block_ms, `blocks` times with idle gaps, then stops. */
static void hold(uv_timer_t *t)
{
    struct blocker *b = t->data;
    if (b->done++ == b->blocks) {
        uv_close((uv_handle_t *)t, NULL);
        weft_loop_stop(b->loop);
        return;
    }
    weft_test_sleep_ms(b->block_ms);
}

static void run_blocker(struct blocker *b, int64_t threshold_ms)
{
    weft_loop_options_t o = {.blocked_threshold_ms = threshold_ms, .name = "held"};
    b->loop = weft_loop_new_ex(&o);
    uv_timer_init(weft_loop_uv(b->loop), &b->timer);
    b->timer.data = b;
    /* Gaps of 4 thresholds between blocks: the watchdog sees each end. */
    uv_timer_start(&b->timer, hold, 1, (uint64_t)(b->block_ms + 4 * threshold_ms));
    assert_int_equal(weft_loop_run(b->loop), 0);
}

static void a_blocked_iteration_is_one_episode_logged_once(void **state)
{
    int64_t threshold = weft_test_ms(40);
    struct blocker b = {.block_ms = threshold * 6, .blocks = 1};
    run_blocker(&b, threshold);
    weft_loop_stats_t st;
    weft_loop_stats(b.loop, &st);
    assert_int_equal(st.blocked, 1);
    assert_true(st.blocked_max_ns >= threshold * 1000000LL);
    pthread_mutex_lock(&logs.mu);
    assert_int_equal(logs.blocked, 1);
    assert_int_equal(logs.unblocked, 1);
    assert_non_null(strstr(logs.last, "loop held unblocked"));
    pthread_mutex_unlock(&logs.mu);
    weft_loop_free(b.loop);
}

static void each_block_is_its_own_episode(void **state)
{
    int64_t threshold = weft_test_ms(40);
    struct blocker b = {.block_ms = threshold * 5, .blocks = 2};
    run_blocker(&b, threshold);
    weft_loop_stats_t st;
    weft_loop_stats(b.loop, &st);
    assert_int_equal(st.blocked, 2);
    pthread_mutex_lock(&logs.mu);
    assert_int_equal(logs.blocked, 2);
    assert_int_equal(logs.unblocked, 2);
    pthread_mutex_unlock(&logs.mu);
    weft_loop_free(b.loop);
}

static void an_idle_loop_is_not_blocked(void **state)
{
    int64_t threshold = weft_test_ms(40);
    weft_loop_options_t o = {.blocked_threshold_ms = threshold, .lag_interval_ms = -1};
    weft_loop_t *loop = weft_loop_new_ex(&o);
    struct stopper s;
    stopper_start(&s, loop, threshold * 8); /* sleeps in epoll all along */
    assert_int_equal(weft_loop_run(loop), 0);
    stopper_join(&s);
    weft_loop_stats_t st;
    weft_loop_stats(loop, &st);
    assert_int_equal(st.blocked, 0);
    assert_true(st.busy_ns < st.run_ns / 2);
    pthread_mutex_lock(&logs.mu);
    assert_int_equal(logs.blocked, 0);
    pthread_mutex_unlock(&logs.mu);
    weft_loop_free(loop);
}

static void a_detector_turned_off_sees_nothing(void **state)
{
    struct blocker b = {.block_ms = 150, .blocks = 1};
    run_blocker(&b, -1);
    weft_loop_stats_t st;
    weft_loop_stats(b.loop, &st);
    assert_int_equal(st.blocked, 0);
    weft_loop_free(b.loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_blocked_iteration_is_one_episode_logged_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(each_block_is_its_own_episode, setup, teardown),
        cmocka_unit_test_setup_teardown(an_idle_loop_is_not_blocked, setup, teardown),
        cmocka_unit_test_setup_teardown(a_detector_turned_off_sees_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
