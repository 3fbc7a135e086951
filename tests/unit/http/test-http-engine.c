/* Unit tests for the connection engine through its API: requests, answers
   now and later, streaming with backpressure, a client that goes away,
   trailers, header validation, limits and timeouts. An in-process server
   (tests/support/http-test.h) on 127.0.0.1:0. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http-test.h"
#include "test-support.h"

#define BUF (4 << 20)
static char buf[BUF];

static struct http_test_server ts;

/* ---- handlers ---- */

struct seen {
    int header_rc, splitting_rc, reserved_rc;
    bool trailer_found, trailer_as_header;
    char body[64];
    _Atomic int gone_rc;
    _Atomic bool gone_checked, gone_started;
};
static struct seen seen;

static void answer_later(void *arg)
{
    weft_response_t *res = arg;
    weft_response_send(res, "later", 5);
}

static void drained(weft_response_t *res, void *arg);

struct stream_state {
    _Atomic int chunks_left;
    _Atomic int saw_high_water;
};
static struct stream_state stream;

static void stream_some(weft_response_t *res)
{
    static char chunk[64 * 1024];
    memset(chunk, 'x', sizeof(chunk));
    while (stream.chunks_left > 0) {
        int r = weft_response_write(res, chunk, sizeof(chunk));
        stream.chunks_left--;
        if (r == 1) {
            stream.saw_high_water++;
            weft_response_on_drain(res, drained, NULL);
            return;
        }
        if (r < 0) {
            weft_response_abort(res);
            return;
        }
    }
    weft_response_end(res);
}

static void drained(weft_response_t *res, void *arg)
{
    stream_some(res);
}

/* Polls every 5 ms (up to 5 s) until the engine notices the reset, then
   tries to answer. */
static void gone_poll(weft_loop_t *loop, int status, void *arg)
{
    weft_response_t *res = arg;
    static int tries;
    if (status == 0 && !weft_response_client_gone(res) && ++tries < 1000) {
        weft_loop_delay(loop, 5, gone_poll, res, NULL);
        return;
    }
    tries = 0;
    seen.gone_rc = weft_response_client_gone(res) ? weft_response_send(res, "x", 1) : 1;
    if (seen.gone_rc == 1)
        weft_response_send(res, "x", 1);
    seen.gone_checked = true;
}

static void answer_slow(weft_loop_t *loop, int status, void *arg)
{
    weft_response_send(arg, "slow", 4);
}

static void handler(weft_request_t *req, weft_response_t *res, void *arg)
{
    weft_slice_t path = weft_request_path(req);
    if (weft_slice_eq(path, "/slow")) {
        weft_loop_delay(weft_request_loop(req), 300, answer_slow, res, NULL);
    } else if (weft_slice_eq(path, "/later")) {
        weft_loop_post(weft_request_loop(req), answer_later, res);
    } else if (weft_slice_eq(path, "/stream")) {
        stream.chunks_left = 1024; /* 64 MiB: more than any socket buffers */
        weft_response_begin(res, -1);
        stream_some(res);
    } else if (weft_slice_eq(path, "/gone")) {
        seen.gone_started = true;
        weft_loop_delay(weft_request_loop(req), 5, gone_poll, res, NULL);
    } else if (weft_slice_eq(path, "/headers")) {
        seen.splitting_rc = weft_response_header(res, "X-Bad", "a\r\nSet-Cookie: x=1");
        seen.reserved_rc = weft_response_header(res, "Content-Length", "5");
        seen.header_rc = weft_response_header(res, "X-Good", "yes");
        weft_response_send(res, "ok", 2);
    } else if (weft_slice_eq(path, "/trailers")) {
        weft_slice_t v, body = weft_request_body(req);
        seen.trailer_found = weft_request_trailer(req, "X-Checksum", &v);
        seen.trailer_as_header = weft_request_header(req, "X-Checksum", NULL);
        snprintf(seen.body, sizeof(seen.body), "%.*s", (int)body.len, body.ptr);
        weft_response_send(res, "ok", 2);
    } else {
        weft_response_send(res, "hello", 5);
    }
}

static int setup_with(const weft_server_options_t *o)
{
    memset(&seen, 0, sizeof(seen));
    return http_test_start(&ts, o, handler, NULL) == 0 ? 0 : -1;
}

static int setup(void **state)
{
    return setup_with(NULL);
}

static int teardown(void **state)
{
    http_test_stop(&ts);
    return 0;
}

static ssize_t exchange(const char *req, unsigned responses)
{
    int fd = http_test_connect(&ts);
    assert_true(fd >= 0);
    assert_int_equal(http_test_write(fd, req, strlen(req)), 0);
    ssize_t n = http_test_read_responses(fd, buf, BUF, responses, weft_test_ms(5000));
    close(fd);
    return n;
}

/* ---- tests ---- */

static void answers_later_from_a_post(void **state)
{
    ssize_t n = exchange("GET /later HTTP/1.1\r\nHost: a\r\n\r\n"
                         "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
                         2);
    assert_true(n > 0);
    /* In request order, though the first was answered later. */
    char *first = memmem(buf, (size_t)n, "later", 5), *second = memmem(buf, (size_t)n, "hello", 5);
    assert_non_null(first);
    assert_non_null(second);
    assert_true(first < second);
}

static void streams_with_backpressure(void **state)
{
    int fd = http_test_connect(&ts);
    const char *req = "GET /stream HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(http_test_write(fd, req, strlen(req)), 0);
    weft_test_sleep_ms(300); /* not reading: the server must stop at high water */
    assert_true(stream.saw_high_water > 0);
    assert_true(stream.chunks_left > 0);
    /* Read it all (64 MiB and change), counting rather than keeping. */
    size_t total = 0;
    ssize_t n;
    char tail[5] = {0};
    while (memcmp(tail, "0\r\n\r\n", 5) && (n = recv(fd, buf, BUF, 0)) > 0) {
        total += (size_t)n; /* the last chunk ends the body: stop there */
        if (n >= 5) {
            memcpy(tail, buf + n - 5, 5);
        } else {
            memmove(tail, tail + n, 5 - (size_t)n);
            memcpy(tail + 5 - n, buf, (size_t)n);
        }
    }
    close(fd);
    assert_true(total > (size_t)1024 * 64 * 1024);
    assert_int_equal(stream.chunks_left, 0);
}

static void a_gone_client_is_reported_and_nothing_breaks(void **state)
{
    int fd = http_test_connect(&ts);
    const char *req = "GET /gone HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(http_test_write(fd, req, strlen(req)), 0);
    while (!seen.gone_started) /* a reset would discard the request unread */
        weft_test_sleep_ms(1);
    struct linger reset = {1, 0}; /* close with a reset: the client is gone */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    close(fd);
    int64_t until = weft_test_now_ms() + weft_test_ms(10000);
    while (!seen.gone_checked && weft_test_now_ms() < until)
        weft_test_sleep_ms(5);
    assert_true(seen.gone_checked);
    assert_int_equal(seen.gone_rc, -ECONNRESET);
    assert_true(exchange("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1) > 0); /* still serving */
}

static void response_headers_are_checked(void **state)
{
    ssize_t n = exchange("GET /headers HTTP/1.1\r\nHost: a\r\n\r\n", 1);
    assert_true(n > 0);
    assert_int_equal(seen.splitting_rc, -EINVAL);
    assert_int_equal(seen.reserved_rc, -EINVAL);
    assert_int_equal(seen.header_rc, 0);
    assert_non_null(memmem(buf, (size_t)n, "X-Good: yes\r\n", 13));
    assert_null(memmem(buf, (size_t)n, "Set-Cookie", 10));
}

static void trailers_stay_apart_from_headers(void **state)
{
    ssize_t n = exchange("POST /trailers HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "3\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Checksum: 42\r\n\r\n",
                         1);
    assert_true(n > 0);
    assert_true(seen.trailer_found);
    assert_false(seen.trailer_as_header);
    assert_string_equal(seen.body, "abcdefg"); /* de-chunked in place */
}

static void status_of(const char *req, int want)
{
    int fd = http_test_connect(&ts);
    http_test_write(fd, req, strlen(req));
    ssize_t n = http_test_read_all(fd, buf, BUF, weft_test_ms(5000));
    close(fd);
    int st[4] = {0};
    assert_true(n > 0);
    http_test_statuses(buf, (size_t)n, st, 4);
    if (st[0] != want)
        fail_msg("wanted %d, got %d for %.40s", want, st[0], req);
}

static void limits_answer_with_their_status(void **state)
{
    char req[4096];
    char big[3000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    snprintf(req, sizeof(req), "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n", big);
    status_of(req, 414); /* max_uri_size 1024 */
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: a\r\nX-Big: %s\r\n\r\n", big);
    status_of(req, 431); /* max_header_size 2048 */
    status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n", 413);
}

static int setup_small_limits(void **state)
{
    weft_server_options_t o = {.max_uri_size = 1024,
                               .max_header_size = 2048,
                               .max_body_size = 4096,
                               .header_timeout_ms = 300,
                               .idle_timeout_ms = 300,
                               .max_header_count = 8};
    return setup_with(&o);
}

static void chunked_body_over_the_limit_is_413(void **state)
{
    int fd = http_test_connect(&ts);
    const char *head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    http_test_write(fd, head, strlen(head));
    char chunk[1200];
    snprintf(chunk, sizeof(chunk), "400\r\n");
    for (int i = 0; i < 6; i++) {
        http_test_write(fd, chunk, strlen(chunk));
        char data[1024 + 2];
        memset(data, 'b', 1024);
        memcpy(data + 1024, "\r\n", 2);
        if (http_test_write(fd, data, sizeof(data)) < 0)
            break;
    }
    ssize_t n = http_test_read_all(fd, buf, BUF, weft_test_ms(5000));
    close(fd);
    int st[2] = {0};
    http_test_statuses(buf, (size_t)n, st, 2);
    assert_int_equal(st[0], 413);
}

static void too_many_headers_is_431(void **state)
{
    status_of("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n"
              "F: 1\r\nG: 1\r\nH: 1\r\n\r\n",
              431);
}

static void head_timeout_408_after_a_byte_silent_before(void **state)
{
    int fd = http_test_connect(&ts);
    http_test_write(fd, "GET / HT", 8);
    int64_t start = weft_test_now_ms();
    ssize_t n = http_test_read_all(fd, buf, BUF, weft_test_ms(5000));
    close(fd);
    int st[2] = {0};
    http_test_statuses(buf, (size_t)n, st, 2);
    assert_int_equal(st[0], 408);
    assert_true(weft_test_now_ms() - start >= 250);

    fd = http_test_connect(&ts); /* never says anything: closed, no answer */
    n = http_test_read_all(fd, buf, BUF, weft_test_ms(5000));
    close(fd);
    assert_int_equal(n, 0);
}

static void idle_keep_alive_connection_is_closed(void **state)
{
    int fd = http_test_connect(&ts);
    const char *req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    http_test_write(fd, req, strlen(req));
    ssize_t n = http_test_read_responses(fd, buf, BUF, 1, weft_test_ms(5000));
    assert_true(n > 0);
    int64_t start = weft_test_now_ms();
    n = http_test_read_all(fd, buf, BUF, weft_test_ms(5000)); /* until closed */
    close(fd);
    assert_int_equal(n, 0);
    assert_true(weft_test_now_ms() - start >= 250);
}

static void http10_keeps_alive_only_when_asked(void **state)
{
    ssize_t n = exchange("GET / HTTP/1.0\r\n\r\n", 1);
    assert_non_null(memmem(buf, (size_t)n, "Connection: close", 17));
    n = exchange("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1);
    assert_non_null(memmem(buf, (size_t)n, "Connection: keep-alive", 22));
}

static void stats_count_requests_and_classes(void **state)
{
    exchange("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1);
    status_of("GET / HTTP/1.1\r\n\r\n", 400); /* no Host */
    weft_server_stats_t st;
    weft_server_stats(ts.srv, &st);
    assert_true(st.requests >= 1);
    assert_true(st.responses_2xx >= 1);
    assert_true(st.responses_4xx >= 1);
    assert_true(st.rejected_requests >= 1);
    assert_true(st.connections_accepted >= 2);
}

struct stopper {
    weft_server_t *srv;
    int64_t stopped_after_ms;
};

static void *stop_and_wait(void *arg)
{
    struct stopper *st = arg;
    int64_t start = weft_test_now_ms();
    weft_server_stop(st->srv);
    weft_server_wait(st->srv);
    st->stopped_after_ms = weft_test_now_ms() - start;
    return NULL;
}

static void graceful_stop_finishes_requests_under_way(void **state)
{
    struct http_test_server g;
    assert_int_equal(http_test_start(&g, NULL, handler, NULL), 0);
    int idle = http_test_connect(&g), busy = http_test_connect(&g);
    const char *get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    http_test_write(idle, get, strlen(get));
    assert_true(http_test_read_responses(idle, buf, BUF, 1, weft_test_ms(5000)) > 0);
    const char *slow = "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n";
    http_test_write(busy, slow, strlen(slow));
    weft_test_sleep_ms(50); /* under way */
    struct stopper st = {g.srv, 0};
    pthread_t t;
    pthread_create(&t, NULL, stop_and_wait, &st);
    /* The idle keep-alive connection is closed at once. */
    assert_int_equal(http_test_read_all(idle, buf, BUF, weft_test_ms(2000)), 0);
    /* The request under way is answered, with Connection: close, then closed. */
    ssize_t n = http_test_read_all(busy, buf, BUF, weft_test_ms(5000));
    assert_true(n > 0);
    assert_non_null(memmem(buf, (size_t)n, "slow", 4));
    assert_non_null(memmem(buf, (size_t)n, "Connection: close", 17));
    pthread_join(t, NULL);
    assert_true(st.stopped_after_ms >= 200); /* it waited for the request */
    assert_true(st.stopped_after_ms < weft_test_ms(3000));
    close(idle);
    close(busy);
    weft_server_free(g.srv);
    weft_app_free(g.app);
}

static void *make_server(void *arg)
{
    weft_server_t *srv = weft_server_new(NULL);
    return srv;
}

static void free_server(void *srv)
{
    weft_server_free(srv);
}

static void server_new_survives_oom(void **state)
{
    weft_test_oom_sweep("weft_server_new", make_server, free_server, NULL);
}

static void listen_reports_port_in_use_and_bad_hosts(void **state)
{
    weft_server_t *srv = weft_server_new(NULL);
    weft_app_t *app = weft_app_new();
    assert_int_equal(weft_server_listen(srv, "127.0.0.1", ts.port, app), -EADDRINUSE);
    assert_int_equal(weft_server_listen(srv, "not-an-address", 0, app), -EINVAL);
    assert_int_equal(weft_server_listen(srv, "::1", 0, app), 0);
    assert_true(weft_server_port(srv, 0) > 0);
    weft_server_free(srv);
    weft_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(answers_later_from_a_post, setup, teardown),
        cmocka_unit_test_setup_teardown(streams_with_backpressure, setup, teardown),
        cmocka_unit_test_setup_teardown(a_gone_client_is_reported_and_nothing_breaks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(response_headers_are_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(trailers_stay_apart_from_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(limits_answer_with_their_status, setup_small_limits,
                                        teardown),
        cmocka_unit_test_setup_teardown(chunked_body_over_the_limit_is_413, setup_small_limits,
                                        teardown),
        cmocka_unit_test_setup_teardown(too_many_headers_is_431, setup_small_limits, teardown),
        cmocka_unit_test_setup_teardown(head_timeout_408_after_a_byte_silent_before,
                                        setup_small_limits, teardown),
        cmocka_unit_test_setup_teardown(idle_keep_alive_connection_is_closed, setup_small_limits,
                                        teardown),
        cmocka_unit_test_setup_teardown(http10_keeps_alive_only_when_asked, setup, teardown),
        cmocka_unit_test_setup_teardown(stats_count_requests_and_classes, setup, teardown),
        cmocka_unit_test_setup_teardown(listen_reports_port_in_use_and_bad_hosts, setup, teardown),
        cmocka_unit_test(server_new_survives_oom),
        cmocka_unit_test(graceful_stop_finishes_requests_under_way),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
