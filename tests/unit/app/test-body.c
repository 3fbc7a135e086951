/* Unit tests for request bodies read as a stream (weft_request_read_body,
   weft_request_pause_body, route stream_body) through a real in-process
   server and raw sockets: pieces before the body is complete, chunked
   bodies and trailers, flat memory, backpressure, 100-continue on demand,
   every error a reader can get, early answers, keep-alive after a streamed
   body, and a whole body read the same way. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http-test.h"
#include "test-support.h"

/* ---- what the handlers saw, for the test thread ---- */

static _Atomic int head_seen;    /* a streamed handler ran */
static _Atomic int reader_err;   /* the last error a reader got */
static _Atomic int piece_paused; /* a piece came while paused: a bug */
static _Atomic int ends;         /* end calls */
static _Atomic int again_result; /* a second read_body's result */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const unsigned char *)p)[i]) * 0x100000001b3ull;
    return h;
}
#define FNV_START 0xcbf29ce484222325ull

/* ---- the handlers ---- */

enum mode { SINK, PAUSE, LATE_READ, EARLY_ANSWER, DENY, SILENT };

struct reading {
    weft_response_t *res;
    enum mode mode;
    uint64_t bytes, hash;
    unsigned pieces;
    bool paused;
};

static void resume(weft_loop_t *loop, int status, void *arg)
{
    struct reading *rd = arg;
    rd->paused = false;
    weft_request_pause_body(weft_response_request(rd->res), false);
}

static void piece(weft_request_t *req, weft_slice_t data, int err, void *arg)
{
    struct reading *rd = arg;
    if (err < 0) {
        reader_err = err; /* SILENT: the engine answers */
        return;
    }
    if (rd->paused)
        piece_paused = 1;
    if (data.len) {
        rd->pieces++;
        rd->bytes += data.len;
        rd->hash = fnv(rd->hash, data.ptr, data.len);
        if (rd->mode == PAUSE && rd->pieces == 1) {
            rd->paused = true;
            weft_request_pause_body(req, true);
            weft_loop_delay(weft_request_loop(req), 500, resume, rd, NULL);
        }
        return;
    }
    ends++;
    weft_slice_t sum = {"-", 1};
    weft_request_trailer(req, "X-Sum", &sum);
    char text[160];
    int n = snprintf(text, sizeof(text), "pieces=%u bytes=%llu hash=%016llx trailer=%.*s",
                     rd->pieces, (unsigned long long)rd->bytes, (unsigned long long)rd->hash,
                     (int)sum.len, sum.ptr);
    weft_response_send(rd->res, text, (size_t)n);
}

static void late_read(weft_loop_t *loop, int status, void *arg)
{
    struct reading *rd = arg;
    weft_request_read_body(weft_response_request(rd->res), piece, rd);
}

static void streamed(weft_request_t *req, weft_response_t *res, void *arg)
{
    head_seen = 1;
    struct reading *rd = weft_request_alloc(req, sizeof(*rd));
    *rd = (struct reading){res, (enum mode)(intptr_t)arg, 0, FNV_START, 0, false};
    switch (rd->mode) {
    case EARLY_ANSWER:
        weft_response_send(res, "early", 5);
        return;
    case DENY:
        weft_response_send_error(res, 401, NULL);
        return;
    case LATE_READ:
        weft_loop_delay(weft_request_loop(req), 300, late_read, rd, NULL);
        return;
    default:
        assert_int_equal(weft_request_read_body(req, piece, rd), 0);
    }
}

/* A route that does not stream: the whole body comes as one piece. */
static void whole(weft_request_t *req, weft_response_t *res, void *arg)
{
    struct reading *rd = weft_request_alloc(req, sizeof(*rd));
    *rd = (struct reading){res, SINK, 0, FNV_START, 0, false};
    assert_int_equal(weft_request_read_body(req, piece, rd), 0);
    again_result = weft_request_read_body(req, piece, rd);
}

/* ---- the server ---- */

static struct http_test_server ts;

static int start(const weft_server_options_t *opts)
{
    head_seen = reader_err = piece_paused = ends = again_result = 0;
    weft_server_options_t o = opts ? *opts : (weft_server_options_t){.threads = 1};
    ts.app = weft_app_new();
    ts.srv = weft_server_new(&o);
    assert_non_null(ts.app);
    assert_non_null(ts.srv);
    weft_route_options_t s = {.stream_body = true, .max_body_size = 64u << 20};
    weft_route_options_t small = {.stream_body = true, .max_body_size = 1000};
    static const struct {
        const char *path;
        enum mode mode;
    } routes[] = {{"/sink", SINK},          {"/pause", PAUSE}, {"/late", LATE_READ},
                  {"/early", EARLY_ANSWER}, {"/deny", DENY},   {"/silent", SILENT}};
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        assert_int_equal(weft_app_route_ex(ts.app, "POST", routes[i].path, streamed,
                                           (void *)(intptr_t)routes[i].mode, &s),
                         0);
    assert_int_equal(
        weft_app_route_ex(ts.app, "POST", "/small", streamed, (void *)(intptr_t)SILENT, &small), 0);
    assert_int_equal(weft_app_route(ts.app, "POST", "/whole", whole, NULL), 0);
    assert_int_equal(weft_server_listen(ts.srv, "127.0.0.1", 0, ts.app), 0);
    assert_int_equal(weft_server_start(ts.srv), 0);
    ts.port = weft_server_port(ts.srv, 0);
    return 0;
}

static int setup(void **state)
{
    return start(NULL);
}

static int teardown(void **state)
{
    http_test_stop(&ts);
    return 0;
}

/* ---- client helpers ---- */

static char buf[1 << 16];

static int open_conn(void)
{
    int fd = http_test_connect(&ts);
    assert_true(fd >= 0);
    return fd;
}

static void send_str(int fd, const char *s)
{
    assert_int_equal(http_test_write(fd, s, strlen(s)), 0);
}

/* Everything until the server closes; NUL-terminated in buf. */
static size_t read_to_close(int fd)
{
    ssize_t n = http_test_read_all(fd, buf, sizeof(buf) - 1, weft_test_ms(5000));
    assert_true(n >= 0);
    buf[n] = '\0';
    return (size_t)n;
}

static int first_status(void)
{
    int status = 0;
    http_test_statuses(buf, strlen(buf), &status, 1);
    return status;
}

static void wait_until(_Atomic int *v, int64_t ms)
{
    int64_t until = weft_test_now_ms() + weft_test_ms(ms);
    while (!*v && weft_test_now_ms() < until)
        weft_test_sleep_ms(2);
    assert_true(*v);
}

static void fill(char *p, size_t n, size_t from)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + (from + i) % 23);
}

/* ---- tests ---- */

static void handler_runs_before_the_body_arrives(void **state)
{
    enum { LEN = 1 << 20 };
    char *body = malloc(LEN);
    fill(body, LEN, 0);
    int fd = open_conn();
    char head[160];
    snprintf(head, sizeof(head), "POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n",
             LEN);
    send_str(fd, head);
    wait_until(&head_seen, 2000); /* not a byte of the body sent yet */
    for (size_t at = 0; at < LEN; at += LEN / 8) {
        assert_int_equal(http_test_write(fd, body + at, LEN / 8), 0);
        weft_test_sleep_ms(20);
    }
    ssize_t n = http_test_read_responses(fd, buf, sizeof(buf) - 1, 1, weft_test_ms(5000));
    assert_true(n > 0);
    buf[n] = '\0';
    char want[96];
    snprintf(want, sizeof(want), "bytes=%d hash=%016llx", LEN,
             (unsigned long long)fnv(FNV_START, body, LEN));
    assert_non_null(strstr(buf, want));
    unsigned pieces = 0;
    assert_non_null(strstr(buf, "pieces="));
    sscanf(strstr(buf, "pieces="), "pieces=%u", &pieces);
    assert_true(pieces > 1);
    assert_int_equal(ends, 1);
    close(fd);
    free(body);
}

static void chunked_pieces_and_trailers(void **state)
{
    int fd = open_conn();
    send_str(fd, "POST /sink HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                 "Connection: close\r\n\r\n5\r\nhello\r\n");
    weft_test_sleep_ms(50);
    send_str(fd, "6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n");
    read_to_close(fd);
    assert_int_equal(first_status(), 200);
    char want[96];
    snprintf(want, sizeof(want), "bytes=11 hash=%016llx trailer=42",
             (unsigned long long)fnv(FNV_START, "hello world", 11));
    assert_non_null(strstr(buf, want));
    close(fd);
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[128];
    long kib = -1;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

static void a_large_body_flows_in_flat_memory(void **state)
{
    enum { LEN = 32 << 20, STEP = 64 << 10 };
    static char chunk[STEP];
    long before = rss_kib();
    int fd = open_conn();
    char head[160];
    snprintf(head, sizeof(head),
             "POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
             LEN);
    send_str(fd, head);
    uint64_t h = FNV_START;
    for (size_t at = 0; at < LEN; at += STEP) {
        fill(chunk, STEP, at);
        h = fnv(h, chunk, STEP);
        assert_int_equal(http_test_write(fd, chunk, STEP), 0);
    }
    read_to_close(fd);
    char want[96];
    snprintf(want, sizeof(want), "bytes=%d hash=%016llx", LEN, (unsigned long long)h);
    assert_non_null(strstr(buf, want));
    long grew = rss_kib() - before;
    print_message("RSS grew by %ld KiB for a %d MiB body\n", grew, LEN >> 20);
    assert_true(grew < 8 * 1024); /* a quarter of the body, at most */
    close(fd);
}

/* Writes len bytes without blocking; true if the socket took nothing for
   a stretch of stall_ms at least once. */
static bool write_noticing_stalls(int fd, size_t len, int stall_ms)
{
    static char chunk[64 << 10];
    fill(chunk, sizeof(chunk), 0);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    bool stalled = false;
    for (size_t sent = 0; sent < len;) {
        size_t n = len - sent < sizeof(chunk) ? len - sent : sizeof(chunk);
        ssize_t w = send(fd, chunk, n, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        assert_true(w < 0 && errno == EAGAIN);
        struct pollfd p = {fd, POLLOUT, 0};
        if (poll(&p, 1, stall_ms) == 0)
            stalled = true;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return stalled;
}

static void pausing_stops_the_client(void **state)
{
    enum { LEN = 24 << 20 };
    int fd = open_conn();
    char head[160];
    snprintf(head, sizeof(head),
             "POST /pause HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
             LEN);
    send_str(fd, head);
    int64_t t0 = weft_test_now_ms();
    assert_true(write_noticing_stalls(fd, LEN, 150)); /* the server stopped reading */
    assert_true(weft_test_now_ms() - t0 >= 450);      /* for the pause, at least */
    read_to_close(fd);
    char want[64];
    snprintf(want, sizeof(want), "bytes=%d ", LEN);
    assert_non_null(strstr(buf, want));
    assert_int_equal(piece_paused, 0);
    close(fd);
}

static void continue_is_sent_when_the_handler_reads(void **state)
{
    int fd = open_conn();
    send_str(fd, "POST /late HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                 "Content-Length: 5\r\nConnection: close\r\n\r\n");
    struct pollfd p = {fd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 150), 0); /* the handler has not asked yet */
    assert_int_equal(poll(&p, 1, (int)weft_test_ms(3000)), 1);
    ssize_t n = recv(fd, buf, 25, MSG_WAITALL);
    assert_int_equal(n, 25);
    assert_memory_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    send_str(fd, "hello");
    read_to_close(fd);
    assert_int_equal(first_status(), 200);
    assert_non_null(strstr(buf, "bytes=5 "));
    close(fd);
}

static void an_answer_without_reading_gets_no_continue_and_closes(void **state)
{
    int fd = open_conn();
    send_str(fd, "POST /deny HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                 "Content-Length: 100000\r\n\r\n");
    read_to_close(fd); /* the server closes: the body was never read */
    assert_null(strstr(buf, "100 Continue"));
    assert_int_equal(first_status(), 401);
    assert_non_null(strstr(buf, "Connection: close"));
    close(fd);
}

static void an_early_answer_closes_after_it(void **state)
{
    int fd = open_conn();
    send_str(fd, "POST /early HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n");
    static char part[100000];
    fill(part, sizeof(part), 0);
    assert_int_equal(http_test_write(fd, part, sizeof(part)), 0); /* a tenth: no more comes */
    shutdown(fd, SHUT_WR);
    read_to_close(fd);
    assert_int_equal(first_status(), 200);
    assert_non_null(strstr(buf, "Connection: close"));
    assert_non_null(strstr(buf, "\r\n\r\nearly"));
    close(fd);
}

static void too_large_is_emsgsize_and_413(void **state)
{
    int fd = open_conn();
    char body[2100];
    memset(body, 'x', sizeof(body));
    send_str(fd, "POST /small HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n");
    assert_int_equal(http_test_write(fd, body, 0x800), 0);
    send_str(fd, "\r\n0\r\n\r\n");
    read_to_close(fd);
    assert_int_equal(first_status(), 413);
    assert_int_equal(reader_err, -EMSGSIZE);
    close(fd);
}

static void bad_framing_is_eproto_and_400(void **state)
{
    int fd = open_conn();
    send_str(fd, "POST /silent HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n");
    weft_test_sleep_ms(50);
    send_str(fd, "zz\r\n");
    read_to_close(fd);
    assert_int_equal(first_status(), 400);
    assert_int_equal(reader_err, -EPROTO);
    close(fd);
}

static void a_reset_is_econnreset(void **state)
{
    int fd = open_conn();
    send_str(fd, "POST /silent HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc");
    wait_until(&head_seen, 2000);
    weft_test_sleep_ms(50);
    struct linger reset = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    close(fd);
    int64_t until = weft_test_now_ms() + weft_test_ms(3000);
    while (reader_err != -ECONNRESET && weft_test_now_ms() < until)
        weft_test_sleep_ms(5);
    assert_int_equal(reader_err, -ECONNRESET);
}

static void a_half_close_mid_body_is_econnreset(void **state)
{
    int fd = open_conn();
    send_str(fd, "POST /silent HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc");
    wait_until(&head_seen, 2000);
    shutdown(fd, SHUT_WR);
    read_to_close(fd);
    assert_int_equal(reader_err, -ECONNRESET);
    assert_int_equal(first_status(), 400);
    close(fd);
}

static void a_slow_body_is_etimedout_and_408(void **state)
{
    http_test_stop(&ts);
    start(&(weft_server_options_t){.threads = 1, .body_min_rate = 1 << 20});
    int fd = open_conn();
    send_str(fd, "POST /silent HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n");
    int64_t until = weft_test_now_ms() + weft_test_ms(6000);
    while (!reader_err && weft_test_now_ms() < until) {
        (void)send(fd, "x", 1, MSG_NOSIGNAL); /* far below 1 MiB/s */
        weft_test_sleep_ms(300);
    }
    assert_int_equal(reader_err, -ETIMEDOUT);
    read_to_close(fd);
    assert_int_equal(first_status(), 408);
    close(fd);
}

static void a_whole_body_reads_as_one_piece(void **state)
{
    int fd = open_conn();
    send_str(fd, "POST /whole HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                 "Connection: close\r\n\r\nhello");
    read_to_close(fd);
    assert_int_equal(first_status(), 200);
    assert_non_null(strstr(buf, "pieces=1 bytes=5 "));
    assert_int_equal(again_result, -EALREADY);
    close(fd);
}

static void keep_alive_after_a_streamed_body(void **state)
{
    int fd = open_conn();
    send_str(fd, "POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                 "POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nwxyz");
    ssize_t n = http_test_read_responses(fd, buf, sizeof(buf) - 1, 2, weft_test_ms(5000));
    assert_true(n > 0);
    buf[n] = '\0';
    int statuses[2] = {0, 0};
    assert_int_equal(http_test_statuses(buf, (size_t)n, statuses, 2), 2);
    assert_int_equal(statuses[0], 200);
    assert_int_equal(statuses[1], 200);
    assert_non_null(strstr(buf, "bytes=3 "));
    assert_non_null(strstr(buf, "bytes=4 "));
    close(fd);
}

int main(int argc, char **argv)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(handler_runs_before_the_body_arrives),
        T(chunked_pieces_and_trailers),
        T(a_large_body_flows_in_flat_memory),
        T(pausing_stops_the_client),
        T(continue_is_sent_when_the_handler_reads),
        T(an_answer_without_reading_gets_no_continue_and_closes),
        T(an_early_answer_closes_after_it),
        T(too_large_is_emsgsize_and_413),
        T(bad_framing_is_eproto_and_400),
        T(a_reset_is_econnreset),
        T(a_half_close_mid_body_is_econnreset),
        T(a_slow_body_is_etimedout_and_408),
        T(a_whole_body_reads_as_one_piece),
        T(keep_alive_after_a_streamed_body),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]); /* one test by name */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
