/* Unit tests for the app pipeline through a real in-process server: hooks
   (answering, gating on a future, after, error), offloading (answer, 503,
   504 with the late result dropped, cancel on disconnect, detached side
   effects), parameters, freezing, and Wookie's two setups. */
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
    struct http_test_server ts = {.port = port};
    int fd = http_test_connect(&ts);
    assert_true(fd >= 0);
    return fd;
}

/* One request, one response: its status; the body (NUL-terminated) in buf. */
static int get(uint16_t port, const char *path, const char *extra_headers)
{
    int status = http_test_get(port, path, extra_headers, buf, sizeof(buf), weft_test_ms(5000));
    assert_true(status > 0);
    return status;
}

/* ---- the app under test ---- */

struct fixture {
    weft_pool_t *pool;
    weft_app_t *app;
    weft_server_t *srv;
    uint16_t port;
};
static struct fixture fx;

static _Atomic int after_status, after_count, job_saw_cancel, late_destroyed, side_effects;

static void hello(weft_request_t *req, weft_response_t *res, void *arg)
{
    weft_slice_t name = {"?", 1}, x = {"?", 1};
    weft_request_param(req, "name", &name);
    weft_request_query_param(req, "x", &x);
    char text[128];
    int n = snprintf(text, sizeof(text), "%.*s|%.*s", (int)name.len, name.ptr, (int)x.len, x.ptr);
    weft_response_send(res, text, (size_t)n);
}

static void answer_job(weft_job_t *job, void *arg)
{
    weft_job_return_int(job, 42);
}

static void counted_free(void *p)
{
    late_destroyed++;
    free(p);
}

/* Sleeps up to 3 s in small steps, noting a cancel; returns a pointer the
   pool destroys if nobody can take it any more. */
static void slow_job(weft_job_t *job, void *arg)
{
    /* Long enough (scaled for sanitizers) that the test's cancel always
       comes first, however loaded the machine. */
    for (int64_t i = 0; i < weft_test_ms(3000) / 10 && !weft_job_cancelled(job); i++)
        weft_test_sleep_ms(10);
    if (weft_job_cancelled(job))
        job_saw_cancel++;
    weft_job_return_ptr(job, strdup("late"), counted_free);
}

static void side_effect_job(weft_job_t *job, void *arg)
{
    weft_test_sleep_ms(50);
    side_effects++;
}

static void offload_route(weft_request_t *req, weft_response_t *res, void *arg)
{
    weft_offload(req, res, arg ? slow_job : answer_job, NULL, NULL, NULL);
}

static void side_effect_route(weft_request_t *req, weft_response_t *res, void *arg)
{
    weft_offload_detached(weft_request_app(req), side_effect_job, NULL);
    weft_response_send(res, "sent", 4);
}

/* Before hooks: /private needs a token; /gated waits for a future that a
   pool job settles (an async check), fulfilled for "ok", rejected else. */
static void check_token_job(weft_job_t *job, void *arg)
{
    weft_test_sleep_ms(50);
    weft_job_return_int(job, 1);
}

static void deny_job(weft_job_t *job, void *arg)
{
    weft_test_sleep_ms(50);
    weft_job_fail(job, -EACCES, "no");
}

static weft_future_t *auth(weft_request_t *req, weft_response_t *res, void *arg)
{
    weft_slice_t path = weft_request_path(req), token;
    if (weft_slice_eq(path, "/private") && !weft_request_header(req, "X-Token", &token)) {
        weft_response_send_error(res, 401, NULL);
        return NULL;
    }
    if (weft_slice_eq(path, "/gated")) {
        bool ok = weft_request_header(req, "X-Token", &token) && weft_slice_eq(token, "ok");
        return weft_pool_submit(fx.pool, ok ? check_token_job : deny_job, NULL);
    }
    return NULL;
}

static void after(weft_request_t *req, weft_response_t *res, void *arg)
{
    after_status = weft_response_code(res);
    after_count++;
}

static void on_error(weft_request_t *req, weft_response_t *res, int err, const char *msg, void *arg)
{
    if (err == -EACCES)
        weft_response_send_error(res, 418, "denied by the error hook");
}

static int setup(void **state)
{
    after_status = after_count = job_saw_cancel = late_destroyed = side_effects = 0;
    fx.pool = weft_pool_new(&(weft_pool_options_t){.threads = 2, .queue_capacity = 1});
    fx.app = weft_app_new();
    weft_route_options_t quick = {.deadline_ms = 200};
    int r = 0;
    r |= weft_app_route(fx.app, "GET", "/hello/:name", hello, NULL);
    r |= weft_app_route(fx.app, "GET", "/private", hello, NULL);
    r |= weft_app_route(fx.app, "GET", "/gated", hello, NULL);
    r |= weft_app_route(fx.app, "GET", "/job", offload_route, NULL);
    r |= weft_app_route(fx.app, "GET", "/slow", offload_route, (void *)1);
    r |= weft_app_route_ex(fx.app, "GET", "/deadline", offload_route, (void *)1, &quick);
    r |= weft_app_route(fx.app, "GET", "/side", side_effect_route, NULL);
    r |= weft_app_before(fx.app, auth, NULL);
    r |= weft_app_after(fx.app, after, NULL);
    r |= weft_app_on_error(fx.app, on_error, NULL);
    r |= weft_app_set_pool(fx.app, fx.pool);
    fx.srv = weft_server_new(&(weft_server_options_t){.threads = 2});
    r |= weft_server_listen(fx.srv, "127.0.0.1", 0, fx.app);
    r |= weft_server_start(fx.srv);
    fx.port = weft_server_port(fx.srv, 0);
    return r ? -1 : 0;
}

static int teardown(void **state)
{
    weft_server_stop(fx.srv);
    weft_server_wait(fx.srv);
    weft_server_free(fx.srv);
    weft_pool_close(fx.pool, -1);
    weft_pool_free(fx.pool);
    weft_app_free(fx.app);
    return 0;
}

static void wait_for(_Atomic int *v, int at_least)
{
    int64_t until = weft_test_now_ms() + weft_test_ms(5000);
    while (*v < at_least && weft_test_now_ms() < until)
        weft_test_sleep_ms(5);
    assert_true(*v >= at_least);
}

/* ---- tests ---- */

static void params_and_query_are_decoded(void **state)
{
    assert_int_equal(get(fx.port, "/hello/J%C3%B6rg?x=a%20b+c&y=1", NULL), 200);
    assert_string_equal(buf, "J\xc3\xb6rg|a b c");
    wait_for(&after_count, 1);
    assert_int_equal(after_status, 200);
}

static void hooks_answer_gate_and_hand_errors_over(void **state)
{
    assert_int_equal(get(fx.port, "/private", NULL), 401); /* answered by the hook */
    assert_int_equal(get(fx.port, "/private", "X-Token: x\r\n"), 200);
    int64_t start = weft_test_now_ms();
    assert_int_equal(get(fx.port, "/gated", "X-Token: ok\r\n"), 200); /* held, then on */
    assert_true(weft_test_now_ms() - start >= 45);
    assert_int_equal(get(fx.port, "/gated", "X-Token: bad\r\n"), 418); /* error hook */
    wait_for(&after_count, 4);
}

static void offload_answers_on_the_loop(void **state)
{
    assert_int_equal(get(fx.port, "/job", NULL), 200);
    assert_string_equal(buf, "42\n");
}

static void full_pool_is_503_at_once(void **state)
{
    /* 2 threads busy, 1 queued: the next is refused at once. */
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = connect_port(fx.port);
        const char *req = "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n";
        http_test_write(fds[i], req, strlen(req));
    }
    weft_pool_stats_t st;
    int64_t until = weft_test_now_ms() + weft_test_ms(5000);
    do {
        weft_test_sleep_ms(5);
        weft_pool_stats(fx.pool, &st);
    } while (st.running + st.queued < 3 && weft_test_now_ms() < until);
    int64_t start = weft_test_now_ms();
    assert_int_equal(get(fx.port, "/slow", NULL), 503);
    assert_true(weft_test_now_ms() - start < weft_test_ms(250));
    for (int i = 0; i < 3; i++) { /* resets: the jobs are cancelled */
        struct linger reset = {1, 0};
        setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
        close(fds[i]);
    }
    wait_for(&job_saw_cancel, 2); /* the two running saw it */
    until = weft_test_now_ms() + weft_test_ms(5000);
    do { /* and the queued one never ran */
        weft_test_sleep_ms(5);
        weft_pool_stats(fx.pool, &st);
    } while (st.cancelled < 3 && weft_test_now_ms() < until);
    assert_int_equal(st.cancelled, 3);
    assert_int_equal(st.rejected, 1);
}

static void deadline_answers_504_and_drops_the_late_result(void **state)
{
    int64_t start = weft_test_now_ms();
    assert_int_equal(get(fx.port, "/deadline", NULL), 504);
    int64_t took = weft_test_now_ms() - start;
    assert_true(took >= 190);
    assert_true(took < weft_test_ms(1500));
    wait_for(&job_saw_cancel, 1); /* the job was told */
    wait_for(&late_destroyed, 1); /* and its result destroyed, never sent */
}

static void client_gone_cancels_the_job(void **state)
{
    int fd = connect_port(fx.port);
    const char *req = "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n";
    http_test_write(fd, req, strlen(req));
    weft_pool_stats_t st;
    do {
        weft_test_sleep_ms(5);
        weft_pool_stats(fx.pool, &st);
    } while (st.running == 0);
    struct linger reset = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    close(fd);
    int64_t start = weft_test_now_ms();
    wait_for(&job_saw_cancel, 1);
    assert_true(weft_test_now_ms() - start < weft_test_ms(1000)); /* not the 3 s */
}

static void detached_side_effect_outlives_the_request(void **state)
{
    assert_int_equal(get(fx.port, "/side", NULL), 200);
    assert_int_equal(side_effects, 0); /* answered before the side effect ran */
    wait_for(&side_effects, 1);
}

struct route_seen {
    uint64_t hello_2xx, job_2xx, none_4xx;
    int calls;
};

static void see_route(const char *method, const char *pattern, const uint64_t by_class[6],
                      void *arg)
{
    struct route_seen *s = arg;
    s->calls++;
    if (!pattern)
        s->none_4xx += by_class[4];
    else if (!strcmp(pattern, "/hello/:name") && !strcmp(method, "GET"))
        s->hello_2xx += by_class[2];
    else if (!strcmp(pattern, "/job"))
        s->job_2xx += by_class[2];
}

static void responses_are_counted_by_route(void **state)
{
    for (int i = 0; i < 3; i++)
        assert_int_equal(get(fx.port, "/hello/a", NULL), 200);
    assert_int_equal(get(fx.port, "/job", NULL), 200);
    assert_int_equal(get(fx.port, "/no/such/route", NULL), 404);
    wait_for(&after_count, 5); /* counted once each response finished */
    struct route_seen s = {0};
    weft_app_route_stats(fx.app, see_route, &s);
    assert_int_equal(s.hello_2xx, 3);
    assert_int_equal(s.job_2xx, 1);
    assert_int_equal(s.none_4xx, 1);
    assert_int_equal(s.calls, 8); /* 7 routes and the unrouted row */
    weft_latency_t l;
    weft_server_latency(fx.srv, &l);
    assert_true(l.count >= 5);
    uint64_t sum = 0;
    for (int b = 0; b <= WEFT_LATENCY_BUCKETS; b++)
        sum += l.counts[b];
    assert_int_equal(sum, l.count);
    assert_true(l.bounds[0] > 0 && l.bounds[WEFT_LATENCY_BUCKETS - 1] >= 1.0);
}

static void frozen_apps_refuse_changes(void **state)
{
    assert_true(weft_app_frozen(fx.app));
    assert_int_equal(weft_app_route(fx.app, "GET", "/late", hello, NULL), -EBUSY);
    assert_int_equal(weft_app_before(fx.app, auth, NULL), -EBUSY);
    assert_int_equal(weft_app_after(fx.app, after, NULL), -EBUSY);
    assert_int_equal(weft_app_on_error(fx.app, on_error, NULL), -EBUSY);
    assert_int_equal(weft_app_set_state(fx.app, NULL), -EBUSY);
    assert_int_equal(weft_app_set_pool(fx.app, NULL), -EBUSY);
    assert_int_equal(weft_app_set_handler(fx.app, hello, NULL), -EBUSY);
}

/* ---- Wookie's setups ---- */

static void state_route(weft_request_t *req, weft_response_t *res, void *arg)
{
    const char *state = weft_app_state(weft_request_app(req));
    weft_response_send(res, state, strlen(state));
}

static void one_app_on_four_loops_and_ports(void **state)
{
    weft_app_t *app = weft_app_new();
    weft_app_route(app, "GET", "/state", state_route, NULL);
    weft_app_set_state(app, "shared");
    weft_server_t *srv = weft_server_new(&(weft_server_options_t){.threads = 4});
    uint16_t base = 0;
    for (int i = 0; i < 4; i++) {
        /* P..P+3: take a free port, then the next three */
        int r = weft_server_listen(srv, "127.0.0.1", base ? (uint16_t)(base + i) : 0, app);
        if (r == -EADDRINUSE) { /* a neighbour is taken: retry the lot elsewhere */
            weft_server_free(srv);
            weft_app_free(app);
            one_app_on_four_loops_and_ports(state);
            return;
        }
        assert_int_equal(r, 0);
        if (!base)
            base = weft_server_port(srv, 0);
    }
    assert_int_equal(weft_server_start(srv), 0);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 8; k++) {
            assert_int_equal(get((uint16_t)(base + i), "/state", NULL), 200);
            assert_string_equal(buf, "shared");
        }
    weft_server_stop(srv);
    weft_server_wait(srv);
    weft_server_free(srv);
    weft_app_free(app);
}

static void two_apps_on_two_ports_share_nothing(void **state)
{
    weft_app_t *a = weft_app_new(), *b = weft_app_new();
    weft_app_route(a, "GET", "/a", state_route, NULL);
    weft_app_set_state(a, "state of a");
    weft_app_route(b, "GET", "/b", state_route, NULL);
    weft_app_set_state(b, "state of b");
    weft_server_t *srv = weft_server_new(&(weft_server_options_t){.threads = 2});
    assert_int_equal(weft_server_listen(srv, "127.0.0.1", 0, a), 0);
    assert_int_equal(weft_server_listen(srv, "127.0.0.1", 0, b), 0);
    assert_int_equal(weft_server_start(srv), 0);
    uint16_t pa = weft_server_port(srv, 0), pb = weft_server_port(srv, 1);
    assert_int_equal(get(pa, "/a", NULL), 200);
    assert_string_equal(buf, "state of a");
    assert_int_equal(get(pb, "/b", NULL), 200);
    assert_string_equal(buf, "state of b");
    assert_int_equal(get(pa, "/b", NULL), 404); /* neither sees the other's routes */
    assert_int_equal(get(pb, "/a", NULL), 404);
    weft_server_stop(srv);
    weft_server_wait(srv);
    weft_server_free(srv);
    weft_app_free(a);
    weft_app_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(params_and_query_are_decoded, setup, teardown),
        cmocka_unit_test_setup_teardown(hooks_answer_gate_and_hand_errors_over, setup, teardown),
        cmocka_unit_test_setup_teardown(offload_answers_on_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(full_pool_is_503_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(deadline_answers_504_and_drops_the_late_result, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(client_gone_cancels_the_job, setup, teardown),
        cmocka_unit_test_setup_teardown(detached_side_effect_outlives_the_request, setup, teardown),
        cmocka_unit_test_setup_teardown(frozen_apps_refuse_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(responses_are_counted_by_route, setup, teardown),
        cmocka_unit_test(one_app_on_four_loops_and_ports),
        cmocka_unit_test(two_apps_on_two_ports_share_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
