/* Unit tests for what worker processes are built on: listener groups
   opened without a server and served by one (weft_listener_group_open,
   weft_server_listen_group), and figures kept in shared slots that
   outlive a server and are summed over every slot laid out alike
   (weft_server_share_figures). Servers in one process stand in for the
   processes: the slots do not know the difference. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http-test.h"
#include "test-support.h"
#include "weft/weft.h"

#define SLOT  (64 * 1024)
#define SLOTS 4

static void hello(weft_request_t *req, weft_response_t *res, void *arg)
{
    weft_response_send(res, "hi", 2);
}

static weft_app_t *app_with(unsigned extra_routes)
{
    weft_app_t *app = weft_app_new();
    assert_non_null(app);
    assert_int_equal(weft_app_route(app, "GET", "/hi", hello, NULL), 0);
    for (unsigned i = 0; i < extra_routes; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/extra/%u", i);
        assert_int_equal(weft_app_route(app, "GET", path, hello, NULL), 0);
    }
    return app;
}

struct served {
    weft_server_t *srv;
    weft_app_t *app;
    uint16_t port;
};

/* A two-loop server of app_with(extra) on a fresh group, counting in
   slot `slot` of area (NULL: privately). */
static int serve(struct served *s, void *area, unsigned slot, unsigned extra)
{
    weft_server_options_t o = {.threads = 2, .drain_timeout_ms = 2000};
    int fds[2];
    s->app = app_with(extra);
    s->srv = weft_server_new(&o);
    assert_non_null(s->srv);
    assert_int_equal(weft_listener_group_open("127.0.0.1", 0, 2, fds, &s->port), 0);
    assert_int_equal(weft_server_listen_group(s->srv, fds, 2, s->app), 0);
    assert_int_equal(weft_server_port(s->srv, 0), s->port);
    if (area)
        assert_int_equal(weft_server_share_figures(s->srv, area, SLOT, SLOTS, slot), 0);
    return weft_server_start(s->srv);
}

static void unserve(struct served *s)
{
    weft_server_stop(s->srv);
    weft_server_wait(s->srv);
    weft_server_free(s->srv);
    weft_app_free(s->app);
}

/* n requests on fresh connections: every one answered 200. */
static void hit(const struct served *s, unsigned n)
{
    char body[512];
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(
            http_test_get(s->port, "/hi", NULL, body, sizeof(body), weft_test_ms(5000)), 200);
}

static uint64_t hi_count;
static void count_hi(const char *method, const char *pattern, const uint64_t by_class[6], void *arg)
{
    if (pattern && !strcmp(pattern, "/hi"))
        hi_count = by_class[2];
}

static uint64_t route_hi(const struct served *s)
{
    hi_count = ~0ull;
    weft_app_route_stats(s->app, count_hi, NULL);
    return hi_count;
}

static uint64_t requests(const struct served *s)
{
    weft_server_stats_t st;
    weft_server_stats(s->srv, &st);
    return st.requests;
}

static void a_group_serves_on_every_loop(void **state)
{
    struct served s;
    assert_int_equal(serve(&s, NULL, 0, 0), 0);
    hit(&s, 20);
    assert_int_equal(requests(&s), 20);
    assert_int_equal(route_hi(&s), 20);
    weft_latency_t lat;
    weft_server_latency(s.srv, &lat);
    assert_int_equal(lat.count, 20);
    unserve(&s);
}

static void group_errors(void **state)
{
    int fds[3];
    uint16_t port;
    assert_int_equal(weft_listener_group_open("127.0.0.1", 0, 3, fds, &port), 0);
    int again[2];
    assert_int_equal(weft_listener_group_open("127.0.0.1", port, 2, again, NULL), -EADDRINUSE);
    assert_int_equal(weft_listener_group_open("not-a-host", 0, 2, again, NULL), -EINVAL);
    assert_int_equal(weft_listener_group_open("127.0.0.1", 0, 0, again, NULL), -EINVAL);
    weft_server_options_t o = {.threads = 2};
    weft_server_t *srv = weft_server_new(&o);
    weft_app_t *app = app_with(0);
    assert_int_equal(weft_server_threads(srv), 2);
    /* three sockets for two loops: refused, and the fds are closed */
    assert_int_equal(weft_server_listen_group(srv, fds, 3, app), -EINVAL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(fcntl(fds[i], F_GETFD), -1);
    /* not listening sockets */
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    assert_int_equal(weft_server_listen_group(srv, pipefd, 2, app), -ENOTSOCK);
    assert_int_equal(weft_server_share_figures(srv, NULL, SLOT, SLOTS, 0), -EINVAL);
    char area[8192];
    assert_int_equal(weft_server_share_figures(srv, area, 8192, 1, 1), -EINVAL);
    assert_int_equal(weft_server_share_figures(srv, area, 100, 1, 0), -EINVAL);
    weft_server_free(srv);
    weft_app_free(app);
}

static void shared_figures_sum_slots_and_survive_a_restart(void **state)
{
    int fd;
    void *area = weft_shm_create("test-figures", (size_t)SLOT * SLOTS, &fd);
    assert_non_null(area);
    struct served a, b;
    assert_int_equal(serve(&a, area, 0, 0), 0);
    assert_int_equal(serve(&b, area, 1, 0), 0);
    hit(&a, 3);
    hit(&b, 2);
    /* each reports both */
    assert_int_equal(requests(&a), 5);
    assert_int_equal(requests(&b), 5);
    assert_int_equal(route_hi(&a), 5);
    assert_int_equal(route_hi(&b), 5);
    /* a is replaced: its successor in slot 0 continues from its counts */
    unserve(&a);
    assert_int_equal(requests(&b), 5);
    assert_int_equal(serve(&a, area, 0, 0), 0);
    assert_int_equal(requests(&a), 5);
    hit(&a, 1);
    assert_int_equal(requests(&b), 6);
    assert_int_equal(route_hi(&a), 6);
    weft_server_stats_t st;
    int64_t deadline = weft_test_now_ms() + weft_test_ms(5000);
    do { /* the last connection's close may still be on its way */
        weft_server_stats(a.srv, &st);
    } while (st.connections_open && weft_test_now_ms() < deadline && !usleep(1000));
    assert_int_equal(st.connections_open, 0);
    assert_int_equal(st.responses_2xx, 6);
    /* laid out otherwise (another route): its own figures only, and a slot
       it takes over from such a server starts from zero */
    struct served c;
    assert_int_equal(serve(&c, area, 2, 1), 0);
    hit(&c, 1);
    assert_int_equal(requests(&c), 1);
    assert_int_equal(requests(&a), 6);
    unserve(&c);
    assert_int_equal(serve(&c, area, 2, 0), 0); /* now like a and b */
    assert_int_equal(requests(&c), 6);
    unserve(&c);
    unserve(&a);
    unserve(&b);
    weft_shm_unmap(area, (size_t)SLOT * SLOTS);
    close(fd);
}

static void figures_that_do_not_fit(void **state)
{
    void *area = aligned_alloc(4096, 4096 * 2);
    memset(area, 0, 4096 * 2);
    weft_server_options_t o = {.threads = 2};
    weft_server_t *srv = weft_server_new(&o);
    weft_app_t *app = app_with(100); /* 101 routes x 2 loops x 64 bytes */
    assert_int_equal(weft_server_listen(srv, "127.0.0.1", 0, app), 0);
    assert_int_equal(weft_server_share_figures(srv, area, 4096, 2, 0), 0);
    assert_int_equal(weft_server_start(srv), -ENOSPC);
    weft_server_free(srv);
    weft_app_free(app);
    free(area);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_group_serves_on_every_loop),
        cmocka_unit_test(group_errors),
        cmocka_unit_test(shared_figures_sum_slots_and_survive_a_restart),
        cmocka_unit_test(figures_that_do_not_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
