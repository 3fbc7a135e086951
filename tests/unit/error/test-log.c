/* Unit tests for the log sink: handler, levels, the default, episodes. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "test-support.h"
#include "weft/error.h"

struct captured {
    int count;
    weft_log_level_t level;
    char last[2048];
};

static void capture(weft_log_level_t level, const char *msg, void *arg)
{
    struct captured *c = arg;
    c->count++;
    c->level = level;
    snprintf(c->last, sizeof(c->last), "%s", msg);
}

static int restore_default(void **state)
{
    weft_log_set_handler(NULL, NULL, WEFT_LOG_WARN);
    return 0;
}

static void handler_gets_messages_up_to_max(void **state)
{
    struct captured c = {0};
    weft_log_set_handler(capture, &c, WEFT_LOG_WARN);
    weft_log(WEFT_LOG_ERROR, "disk %s", "gone");
    assert_int_equal(c.count, 1);
    assert_int_equal(c.level, WEFT_LOG_ERROR);
    assert_string_equal(c.last, "disk gone");
    weft_log(WEFT_LOG_WARN, "w");
    weft_log(WEFT_LOG_INFO, "not delivered");
    weft_log(WEFT_LOG_DEBUG, "not delivered");
    assert_int_equal(c.count, 2);
    assert_true(weft_log_enabled(WEFT_LOG_WARN));
    assert_false(weft_log_enabled(WEFT_LOG_INFO));
}

static void long_messages_are_truncated_not_overflowed(void **state)
{
    struct captured c = {0};
    char big[4096];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    weft_log_set_handler(capture, &c, WEFT_LOG_DEBUG);
    weft_log(WEFT_LOG_INFO, "%s", big);
    assert_int_equal(c.count, 1);
    assert_int_equal(strlen(c.last), 1023);
}

/* The default handler writes "weft: <level>: <msg>\n" to stderr. */
static void default_handler_writes_one_line_to_stderr(void **state)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    weft_log_set_handler(NULL, NULL, WEFT_LOG_INFO);
    weft_log(WEFT_LOG_INFO, "hello %d", 7);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    char buf[128] = {0};
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    assert_true(n > 0);
    assert_string_equal(buf, "weft: info: hello 7\n");
}

static void episodes_log_once_at_begin_and_once_at_end(void **state)
{
    struct captured c = {0};
    weft_log_episode_t ep = WEFT_LOG_EPISODE_INIT;
    weft_log_set_handler(capture, &c, WEFT_LOG_DEBUG);

    assert_false(weft_log_episode_end(&ep, WEFT_LOG_INFO, "no episode open"));
    assert_int_equal(c.count, 0);
    assert_true(weft_log_episode_begin(&ep, WEFT_LOG_WARN, "queue full"));
    for (int i = 0; i < 10; i++)
        assert_false(weft_log_episode_begin(&ep, WEFT_LOG_WARN, "queue full"));
    assert_int_equal(c.count, 1);
    assert_int_equal(weft_log_episode_count(&ep), 11);
    assert_true(weft_log_episode_end(&ep, WEFT_LOG_INFO, "queue drained"));
    assert_int_equal(c.count, 2);
    assert_string_equal(c.last, "queue drained");
    assert_int_equal(weft_log_episode_count(&ep), 0);
    /* A new episode logs again. */
    assert_true(weft_log_episode_begin(&ep, WEFT_LOG_WARN, "queue full again"));
    assert_int_equal(c.count, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(handler_gets_messages_up_to_max, restore_default),
        cmocka_unit_test_teardown(long_messages_are_truncated_not_overflowed, restore_default),
        cmocka_unit_test_teardown(default_handler_writes_one_line_to_stderr, restore_default),
        cmocka_unit_test_teardown(episodes_log_once_at_begin_and_once_at_end, restore_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
