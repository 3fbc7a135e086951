/* The process pool behind an app (weft_offload_future), through a real
   in-process server: a text result answered by the default answer, a
   crash answered 500 by the error path while the server goes on, the
   route's deadline answering 504 and killing the job's worker, and a
   client that resets its connection cancelling its job (its worker
   killed, then replaced). This binary is also the pool's worker. */
#include <netinet/in.h>
#include <sys/socket.h>

#include "http-test.h"
#include "procpool-test-jobs.h"

static char buf[1 << 16];
static weft_procpool_t *pp;
static weft_app_t *app;
static weft_server_t *srv;
static uint16_t port;

static int connect_port(void)
{
    struct http_test_server ts = {.port = port};
    int fd = http_test_connect(&ts);
    assert_true(fd >= 0);
    return fd;
}

/* One GET: its status; the body (NUL-terminated) in buf. */
static int get(const char *path)
{
    int status = http_test_get(port, path, NULL, buf, sizeof(buf), weft_test_ms(10000));
    assert_true(status > 0);
    return status;
}

/* /echo/:x -> job "echo" with x; /crash -> "segv"; /slow -> a minute's
   sleep (the /deadline route: the same with a 200 ms deadline). */
static void route(weft_request_t *req, weft_response_t *res, void *arg)
{
    const char *what = arg;
    weft_future_t *f = NULL;
    weft_slice_t x = {"", 0};
    int64_t ms = 60000;
    weft_procjob_options_t jo = {.nonblocking = true};
    int r;
    if (!strcmp(what, "echo")) {
        weft_request_param(req, "x", &x);
        r = weft_procpool_submit_ex(pp, "echo", x.ptr, x.len, &jo, &f);
    } else if (!strcmp(what, "segv")) {
        r = weft_procpool_submit_ex(pp, "segv", NULL, 0, &jo, &f);
    } else {
        r = weft_procpool_submit_ex(pp, "sleep", &ms, sizeof(ms), &jo, &f);
    }
    if (r < 0) {
        weft_response_send_error(res, 503, NULL);
        return;
    }
    assert_int_equal(weft_offload_future(req, res, f, NULL, NULL), 0);
}

static int setup(void **state)
{
    weft_procpool_options_t o = {.workers = 2, .name = "test-pp-app"};
    pp = weft_procpool_new(&o);
    app = weft_app_new();
    weft_route_options_t quick = {.deadline_ms = 200};
    int r = 0;
    r |= weft_app_route(app, "GET", "/echo/:x", route, "echo");
    r |= weft_app_route(app, "GET", "/crash", route, "segv");
    r |= weft_app_route(app, "GET", "/slow", route, "sleep");
    r |= weft_app_route_ex(app, "GET", "/deadline", route, "sleep", &quick);
    srv = weft_server_new(&(weft_server_options_t){.threads = 2});
    r |= weft_server_listen(srv, "127.0.0.1", 0, app);
    r |= weft_server_start(srv);
    port = weft_server_port(srv, 0);
    return !pp || r ? -1 : 0;
}

static int teardown(void **state)
{
    weft_server_stop(srv);
    weft_server_wait(srv);
    weft_server_free(srv);
    pid_t pids[4];
    unsigned n = weft_procpool_pids(pp, pids, 4);
    check_invariant(pp);
    weft_procpool_free(pp);
    weft_app_free(app);
    assert_reaped(pids, n);
    assert_false(pool_memory_left());
    return 0;
}

static void wait_stat(size_t off, uint64_t at_least)
{
    int64_t until = weft_test_now_ms() + weft_test_ms(5000);
    weft_procpool_stats_t s;
    for (;;) {
        weft_procpool_stats(pp, &s);
        if (*(uint64_t *)((char *)&s + off) >= at_least)
            return;
        assert_true(weft_test_now_ms() < until);
        weft_test_sleep_ms(5);
    }
}

static void results_and_crashes(void **state)
{
    assert_int_equal(get("/echo/hello"), 200);
    assert_string_equal(buf, "hello"); /* the default answer: the bytes as text */
    assert_int_equal(get("/crash"), 500);
    assert_int_equal(get("/echo/again"), 200);
    assert_string_equal(buf, "again");
    wait_ready(pp, 2, 2000);
    weft_procpool_stats_t s;
    weft_procpool_stats(pp, &s);
    assert_int_equal(s.crashed, 1);
}

static void deadline_is_504_and_kills_the_worker(void **state)
{
    int64_t t0 = weft_test_now_ms();
    assert_int_equal(get("/deadline"), 504);
    assert_true(weft_test_now_ms() - t0 < weft_test_ms(5000));
    wait_stat(offsetof(weft_procpool_stats_t, cancelled), 1); /* the future was cancelled */
    wait_stat(offsetof(weft_procpool_stats_t, replaced), 1);  /* its worker killed, replaced */
    wait_ready(pp, 2, 2000);
}

static void client_gone_kills_its_job(void **state)
{
    wait_ready(pp, 2, 5000);
    int fd = connect_port();
    const char *req = "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n";
    http_test_write(fd, req, strlen(req));
    weft_procpool_stats_t s;
    int64_t until = weft_test_now_ms() + weft_test_ms(5000);
    do {
        weft_test_sleep_ms(5);
        weft_procpool_stats(pp, &s);
    } while (s.running == 0 && weft_test_now_ms() < until);
    assert_int_equal(s.running, 1);
    struct linger reset = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    close(fd);
    wait_stat(offsetof(weft_procpool_stats_t, cancelled), 1);
    wait_stat(offsetof(weft_procpool_stats_t, replaced), 1);
    wait_ready(pp, 2, 2000);
    weft_procpool_stats(pp, &s);
    assert_int_equal(s.running, 0);
    assert_int_equal(s.crashed, 0);
}

int main(int argc, char **argv)
{
    register_test_jobs(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(results_and_crashes, setup, teardown),
        cmocka_unit_test_setup_teardown(deadline_is_504_and_kills_the_worker, setup, teardown),
        cmocka_unit_test_setup_teardown(client_gone_kills_its_job, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
