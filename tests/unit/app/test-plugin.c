/* Unit tests for plugins (weft/plugin.h): a .so built by the test
   (plugin-counter.c) loaded into two apps served by a real server, each
   with its own state; loaded once per app; refusals (ABI, missing file,
   not a plugin, frozen app); fini in reverse order; two threads loading
   the same .so into two apps at once; the request-id plugin and the
   plugin-hello example. An argument filters the tests by name. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http-test.h"
#include "test-support.h"

static char buf[1 << 16];

/* ---- a small client ---- */

static int connect_port(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* One request, one response: its status; the whole response
   (NUL-terminated) in buf. */
static int get(uint16_t port, const char *path, const char *extra_headers)
{
    int fd = connect_port(port);
    char req[1024];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n%s\r\n", path,
             extra_headers ? extra_headers : "");
    http_test_write(fd, req, strlen(req));
    ssize_t n = http_test_read_all(fd, buf, sizeof(buf) - 1, weft_test_ms(5000));
    close(fd);
    assert_true(n > 0);
    buf[n] = '\0';
    int status = 0;
    http_test_statuses(buf, (size_t)n, &status, 1);
    return status;
}

static const char *body(void)
{
    char *b = strstr(buf, "\r\n\r\n");
    return b ? b + 4 : "";
}

/* The value of header name in buf ("" when absent), in a static buffer. */
static const char *header(const char *name)
{
    static char value[256];
    char pat[64];
    snprintf(pat, sizeof(pat), "\r\n%s: ", name);
    const char *h = strcasestr(buf, pat);
    value[0] = '\0';
    if (h) {
        h += strlen(pat);
        size_t len = strcspn(h, "\r");
        snprintf(value, sizeof(value), "%.*s", (int)len, h);
    }
    return value;
}

/* A server on two ports, serving a and b. */
struct two {
    weft_server_t *srv;
    uint16_t pa, pb;
};

static void serve_two(struct two *t, weft_app_t *a, weft_app_t *b)
{
    t->srv = weft_server_new(&(weft_server_options_t){.threads = 2});
    assert_non_null(t->srv);
    assert_int_equal(weft_server_listen(t->srv, "127.0.0.1", 0, a), 0);
    if (b)
        assert_int_equal(weft_server_listen(t->srv, "127.0.0.1", 0, b), 0);
    assert_int_equal(weft_server_start(t->srv), 0);
    t->pa = weft_server_port(t->srv, 0);
    t->pb = b ? weft_server_port(t->srv, 1) : 0;
}

static void stop(struct two *t)
{
    weft_server_stop(t->srv);
    weft_server_wait(t->srv);
    weft_server_free(t->srv);
}

/* What the log sink said last. */
static char last_log[1024];

static void capture_log(weft_log_level_t level, const char *msg, void *arg)
{
    snprintf(last_log, sizeof(last_log), "%s", msg);
}

/* ---- a .so in two apps ---- */

static void one_so_in_two_apps_has_two_states(void **state)
{
    weft_app_t *a = weft_app_new(), *b = weft_app_new();
    assert_int_equal(weft_app_load_plugin(a, PLUGIN_COUNTER, "a"), 0);
    assert_int_equal(weft_app_load_plugin(b, PLUGIN_COUNTER, "b"), 0);
    void *sa = weft_app_plugin_state(a, "counter"), *sb = weft_app_plugin_state(b, "counter");
    assert_non_null(sa);
    assert_non_null(sb);
    assert_ptr_not_equal(sa, sb);
    assert_null(weft_app_plugin_state(a, "nope"));

    struct two t;
    serve_two(&t, a, b);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(get(t.pa, "/count", NULL), 200);
        char want[16];
        snprintf(want, sizeof(want), "a:%d", i);
        assert_string_equal(body(), want);
    }
    assert_int_equal(get(t.pb, "/count", NULL), 200);
    assert_string_equal(body(), "b:1"); /* b's counter never saw a's requests */
    stop(&t);
    weft_app_free(a);
    weft_app_free(b);
}

static void loaded_once_per_app(void **state)
{
    weft_app_t *app = weft_app_new();
    assert_int_equal(weft_app_load_plugin(app, PLUGIN_COUNTER, "x"), 0);
    void *first = weft_app_plugin_state(app, "counter");
    assert_int_equal(weft_app_load_plugin(app, PLUGIN_COUNTER, "y"), -EEXIST);
    assert_ptr_equal(weft_app_plugin_state(app, "counter"), first);
    weft_app_free(app);
}

static void failed_init_keeps_the_so_mapped(void **state)
{
    weft_app_t *app = weft_app_new();
    assert_int_equal(weft_app_load_plugin(app, PLUGIN_COUNTER, "fail"), -ENOTSUP);
    assert_null(weft_app_plugin_state(app, "counter"));
    weft_app_free(app); /* the route it left points into the .so: no crash */
}

/* ---- refusals ---- */

static void missing_or_bad_files_are_errors(void **state)
{
    weft_app_t *app = weft_app_new();
    weft_log_set_handler(capture_log, NULL, WEFT_LOG_ERROR);
    assert_int_equal(weft_app_load_plugin(app, "/nonexistent/x.so", NULL), -ENOENT);
    assert_non_null(strstr(last_log, "/nonexistent/x.so"));

    char path[] = "/tmp/weft-not-a-plugin-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not ELF", 7), 7);
    close(fd);
    assert_int_equal(weft_app_load_plugin(app, path, NULL), -ELIBBAD);
    assert_non_null(strstr(last_log, path));
    unlink(path);

    /* A real shared object, but no entry: not a plugin. */
    assert_int_equal(weft_app_load_plugin(app, "libm.so.6", NULL), -ENOEXEC);
    assert_non_null(strstr(last_log, "weft_plugin_entry"));
    weft_log_set_handler(NULL, NULL, WEFT_LOG_WARN);
    weft_app_free(app);
}

static int noop_init(weft_app_t *app, const char *config, void **state)
{
    return 0;
}

static void abi_mismatch_and_bad_structs_are_refused(void **state)
{
    static const weft_plugin_t future = {999, "future", "9", noop_init, NULL};
    static const weft_plugin_t nameless = {WEFT_PLUGIN_ABI, NULL, NULL, noop_init, NULL};
    weft_app_t *app = weft_app_new();
    assert_int_equal(weft_app_use(app, &future, NULL), -EPROTO);
    assert_int_equal(weft_app_use(app, &nameless, NULL), -EINVAL);
    assert_int_equal(weft_app_use(app, NULL, NULL), -EINVAL);
    assert_null(weft_app_plugin_state(app, "future"));
    weft_app_free(app);
}

static void frozen_app_refuses_plugins(void **state)
{
    static const weft_plugin_t late = {WEFT_PLUGIN_ABI, "late", "1", noop_init, NULL};
    weft_app_t *app = weft_app_new();
    weft_app_freeze(app);
    assert_int_equal(weft_app_use(app, &late, NULL), -EBUSY);
    assert_int_equal(weft_app_load_plugin(app, PLUGIN_COUNTER, NULL), -EBUSY);
    weft_app_free(app);
}

/* ---- fini order ---- */

static char order[64];

static int record_init(weft_app_t *app, const char *config, void **state)
{
    *state = (void *)config; /* the letter to record at fini */
    return strcmp(config, "F") == 0 ? -EIO : 0;
}

static void record_fini(weft_app_t *app, void *state)
{
    strcat(order, state);
}

static void fini_runs_in_reverse_order_at_free(void **state)
{
    static const weft_plugin_t a = {WEFT_PLUGIN_ABI, "a", "1", record_init, record_fini};
    static const weft_plugin_t b = {WEFT_PLUGIN_ABI, "b", "1", record_init, record_fini};
    static const weft_plugin_t f = {WEFT_PLUGIN_ABI, "f", "1", record_init, record_fini};
    static const weft_plugin_t c = {WEFT_PLUGIN_ABI, "c", "1", record_init, record_fini};
    weft_app_t *app = weft_app_new();
    order[0] = '\0';
    assert_int_equal(weft_app_use(app, &a, "A"), 0);
    assert_int_equal(weft_app_use(app, &b, "B"), 0);
    assert_int_equal(weft_app_use(app, &f, "F"), -EIO); /* failed: no fini */
    assert_int_equal(weft_app_use(app, &c, "C"), 0);
    assert_int_equal(weft_app_use(app, &b, "B"), -EEXIST);
    assert_string_equal((const char *)weft_app_plugin_state(app, "b"), "B");
    assert_string_equal(order, "");
    weft_app_free(app);
    assert_string_equal(order, "CBA");
}

/* A plugin whose init loads another (the lock is recursive); the one it
   loaded finished init first, so it is finied last. */
static int loader_init(weft_app_t *app, const char *config, void **state)
{
    return weft_app_load_plugin(app, PLUGIN_COUNTER, "inner");
}

static void loader_fini(weft_app_t *app, void *state)
{
    assert_non_null(weft_app_plugin_state(app, "counter")); /* not finied yet */
    strcat(order, "L");
}

static void a_plugin_may_load_a_plugin(void **state)
{
    static const weft_plugin_t loader = {WEFT_PLUGIN_ABI, "loader", "1", loader_init, loader_fini};
    weft_app_t *app = weft_app_new();
    order[0] = '\0';
    assert_int_equal(weft_app_use(app, &loader, NULL), 0);
    assert_non_null(weft_app_plugin_state(app, "counter"));
    weft_app_free(app);
    assert_string_equal(order, "L");
}

/* ---- two threads, two apps, one .so ---- */

static void *load_repeatedly(void *arg)
{
    for (int i = 0; i < 50; i++) {
        weft_app_t *app = weft_app_new();
        int r = weft_app_load_plugin(app, PLUGIN_COUNTER, arg);
        void *st = weft_app_plugin_state(app, "counter");
        weft_app_free(app);
        if (r != 0 || !st)
            return (void *)1;
    }
    return NULL;
}

static void two_threads_load_into_two_apps_at_once(void **state)
{
    pthread_t t1, t2;
    void *r1, *r2;
    assert_int_equal(pthread_create(&t1, NULL, load_repeatedly, "one"), 0);
    assert_int_equal(pthread_create(&t2, NULL, load_repeatedly, "two"), 0);
    pthread_join(t1, &r1);
    pthread_join(t2, &r2);
    assert_null(r1);
    assert_null(r2);
}

/* ---- the request-id plugin ---- */

static void hello(weft_request_t *req, weft_response_t *res, void *arg)
{
    weft_response_send(res, "hi", 2);
}

static void request_id_takes_sane_ids_and_makes_the_rest(void **state)
{
    weft_app_t *app = weft_app_new();
    weft_app_route(app, "GET", "/x", hello, NULL);
    weft_log_set_handler(capture_log, NULL, WEFT_LOG_ERROR);
    assert_int_equal(weft_app_load_plugin(app, PLUGIN_REQUEST_ID, "color=red"), -EINVAL);
    weft_log_set_handler(NULL, NULL, WEFT_LOG_WARN);
    assert_int_equal(weft_app_load_plugin(app, PLUGIN_REQUEST_ID, "prefix=web1"), 0);
    struct two t;
    serve_two(&t, app, NULL);

    char first[256];
    assert_int_equal(get(t.pa, "/x", NULL), 200);
    snprintf(first, sizeof(first), "%s", header("X-Request-Id"));
    assert_int_equal(strlen(first), strlen("web1-0123456789abcdef-1"));
    assert_int_equal(strncmp(first, "web1-", 5), 0);
    assert_string_equal(first + strlen(first) - 2, "-1");
    assert_int_equal(get(t.pa, "/nowhere", NULL), 404); /* on any answer */
    assert_int_equal(strncmp(header("X-Request-Id"), first, strlen(first) - 1), 0);
    assert_string_equal(header("X-Request-Id") + strlen(first) - 2, "-2");

    assert_int_equal(get(t.pa, "/x", "X-Request-Id: abc-123.X_y\r\n"), 200);
    assert_string_equal(header("X-Request-Id"), "abc-123.X_y"); /* taken as is */
    assert_int_equal(get(t.pa, "/x", "X-Request-Id: a b\r\n"), 200);
    assert_int_equal(strncmp(header("X-Request-Id"), "web1-", 5), 0); /* made anew */
    char longid[80];
    memset(longid, 'z', 65);
    snprintf(longid + 65, sizeof(longid) - 65, "\r\n");
    char hdr[128];
    snprintf(hdr, sizeof(hdr), "X-Request-Id: %s", longid);
    assert_int_equal(get(t.pa, "/x", hdr), 200);
    assert_int_equal(strncmp(header("X-Request-Id"), "web1-", 5), 0);
    stop(&t);
    weft_app_free(app);
}

/* ---- the example (examples/plugin-hello.c) ---- */

static void example_plugin_hello_serves_its_route(void **state)
{
#ifdef PLUGIN_HELLO
    weft_app_t *a = weft_app_new(), *b = weft_app_new();
    assert_int_equal(weft_app_load_plugin(a, PLUGIN_HELLO, NULL), 0);
    assert_int_equal(weft_app_load_plugin(b, PLUGIN_HELLO, NULL), 0);
    struct two t;
    serve_two(&t, a, b);
    assert_int_equal(get(t.pa, "/hello/plugin", NULL), 200);
    assert_int_equal(get(t.pa, "/hello/plugin", NULL), 200);
    assert_string_equal(body(), "hello from plugin-hello (2)\n");
    assert_int_equal(get(t.pb, "/hello/plugin", NULL), 200);
    assert_string_equal(body(), "hello from plugin-hello (1)\n");
    stop(&t);
    weft_app_free(a);
    weft_app_free(b);
#else
    skip(); /* examples not built */
#endif
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_so_in_two_apps_has_two_states),
        cmocka_unit_test(loaded_once_per_app),
        cmocka_unit_test(failed_init_keeps_the_so_mapped),
        cmocka_unit_test(missing_or_bad_files_are_errors),
        cmocka_unit_test(abi_mismatch_and_bad_structs_are_refused),
        cmocka_unit_test(frozen_app_refuses_plugins),
        cmocka_unit_test(fini_runs_in_reverse_order_at_free),
        cmocka_unit_test(a_plugin_may_load_a_plugin),
        cmocka_unit_test(two_threads_load_into_two_apps_at_once),
        cmocka_unit_test(request_id_takes_sane_ids_and_makes_the_rest),
        cmocka_unit_test(example_plugin_hello_serves_its_route),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
