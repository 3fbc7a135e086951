/* Unit tests for file bodies (weft_response_send_file): a 16 MiB file of a
   known pattern sent intact to a client that reads slowly, subranges, a
   file answer pipelined between ordinary ones, HEAD, bad arguments, a
   client gone mid-file and a file truncated under the engine. Every test
   also checks that the engine closed each fd it was given: no descriptor
   of the test files stays open (scanned in /proc/self/fd). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http-test.h"
#include "test-support.h"

#define FILE_SIZE (16u << 20) /* past what socket buffers take: the queue must wait */
#define TRUNC_AT  (1u << 20)
#define BUF       (24u << 20)

static char data[FILE_SIZE]; /* what the file holds */
static char buf[BUF];
static char path[64], trunc_path[64];

static struct http_test_server ts;

struct seen {
    _Atomic int send_rc, bad_fd_rc, bad_range_rc, again_rc, truncate_rc;
    _Atomic uint64_t bytes; /* weft_response_bytes in the after hook */
    _Atomic unsigned done;
};
static struct seen seen;

/* ---- the files ---- */

static uint8_t pattern(uint64_t i)
{
    return (uint8_t)(i ^ (i >> 8) ^ (i >> 17)); /* a chunk out of place shows */
}

static void write_file(const char *p)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, FILE_SIZE), (ssize_t)FILE_SIZE);
    close(fd);
}

/* Descriptors of this process open on p. */
static unsigned open_on(const char *p)
{
    unsigned n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        char link[300], target[256];
        snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(link, target, sizeof(target) - 1);
        if (len > 0) {
            target[len] = '\0';
            size_t plen = strlen(p); /* also "<p> (deleted)" */
            n += strncmp(target, p, plen) == 0 && (target[plen] == '\0' || target[plen] == ' ');
        }
    }
    closedir(d);
    return n;
}

/* Waits (up to 5 s) until the engine closed every fd on the test files. */
static void assert_files_closed(void)
{
    int64_t until = weft_test_now_ms() + weft_test_ms(5000);
    while ((open_on(path) || open_on(trunc_path)) && weft_test_now_ms() < until)
        weft_test_sleep_ms(2);
    assert_int_equal(open_on(path), 0);
    assert_int_equal(open_on(trunc_path), 0);
}

/* ---- the handler ---- */

static int open_file(const char *p)
{
    return open(p, O_RDONLY | O_CLOEXEC);
}

static void send_range(weft_request_t *req, weft_response_t *res)
{
    char q[64];
    weft_slice_t query = weft_request_query(req);
    snprintf(q, sizeof(q), "%.*s", (int)query.len, query.ptr);
    unsigned long long off = 0, len = 0;
    sscanf(q, "off=%llu&len=%llu", &off, &len);
    seen.send_rc = weft_response_send_file(res, open_file(path), off, len);
}

static void send_bad(weft_response_t *res)
{
    seen.bad_fd_rc = weft_response_send_file(res, -1, 0, 1);
    seen.bad_range_rc = weft_response_send_file(res, open_file(path), UINT64_MAX - 4, 10);
    seen.send_rc = weft_response_send_file(res, open_file(path), 0, 10);
    seen.again_rc = weft_response_send_file(res, open_file(path), 0, 10);
}

/* Answered from a continuation: outside the batch, straight to the queue. */
static void send_later(void *arg)
{
    seen.send_rc = weft_response_send_file(arg, open_file(path), 3, FILE_SIZE - 3);
}

static void handler(weft_request_t *req, weft_response_t *res, void *arg)
{
    weft_slice_t p = weft_request_path(req);
    if (weft_slice_eq(p, "/file")) {
        seen.send_rc = weft_response_send_file(res, open_file(path), 0, FILE_SIZE);
    } else if (weft_slice_eq(p, "/later")) {
        weft_loop_post(weft_request_loop(req), send_later, res);
    } else if (weft_slice_eq(p, "/range")) {
        send_range(req, res);
    } else if (weft_slice_eq(p, "/trunc")) {
        seen.send_rc = weft_response_send_file(res, open_file(trunc_path), 0, FILE_SIZE);
        /* Before the engine sent a byte of it: it must notice the end. */
        seen.truncate_rc = truncate(trunc_path, TRUNC_AT) < 0 ? -errno : 0;
    } else if (weft_slice_eq(p, "/bad")) {
        send_bad(res);
    } else {
        weft_response_send(res, "hello", 5);
    }
}

static void after(weft_request_t *req, weft_response_t *res, void *arg)
{
    seen.bytes = weft_response_bytes(res);
    seen.done++;
}

/* http_test_start, with an after hook for weft_response_bytes. */
static int setup(void **state)
{
    memset(&seen, 0, sizeof(seen));
    write_file(path);
    write_file(trunc_path);
    weft_server_options_t o = {.threads = 1};
    ts.app = weft_app_new();
    ts.srv = weft_server_new(&o);
    if (!ts.app || !ts.srv)
        return -1;
    weft_app_set_handler(ts.app, handler, NULL);
    weft_app_after(ts.app, after, NULL);
    if (weft_server_listen(ts.srv, "127.0.0.1", 0, ts.app) < 0 || weft_server_start(ts.srv) < 0)
        return -1;
    ts.port = weft_server_port(ts.srv, 0);
    return 0;
}

static int teardown(void **state)
{
    http_test_stop(&ts);
    return 0;
}

/* ---- the client ---- */

/* A connection whose receive buffer is small, so the server's output
   queues and waits for writable events. */
static int connect_small(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int rcvbuf = 16 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(ts.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* The server's end of our connection, found among this process's fds
   (the server runs in it): its peer address is our local one. */
static int server_end(int client)
{
    struct sockaddr_in mine, peer;
    socklen_t len = sizeof(mine);
    assert_int_equal(getsockname(client, (struct sockaddr *)&mine, &len), 0);
    for (int tries = 0; tries < 1000; tries++, weft_test_sleep_ms(2)) {
        for (int fd = 3; fd < 1024; fd++) {
            len = sizeof(peer);
            if (fd != client && getpeername(fd, (struct sockaddr *)&peer, &len) == 0 &&
                peer.sin_port == mine.sin_port && peer.sin_addr.s_addr == mine.sin_addr.s_addr)
                return fd;
        }
    }
    fail_msg("the server never accepted");
    return -1;
}

/* A small send buffer on the server's end (autotuning off): a sendfile
   of the engine's whole budget no longer fits, so partial sends and
   EAGAIN happen, not only the budget's own pauses. */
static void shrink_server_sndbuf(int client)
{
    int size = 32 * 1024;
    assert_int_equal(setsockopt(server_end(client), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
}

static void send_req(int fd, const char *req)
{
    assert_int_equal(http_test_write(fd, req, strlen(req)), 0);
}

struct resp {
    int status;
    const char *head, *body;
    size_t head_len, body_len;
    bool has_length;
};

/* The response at buf + *pos (complete, by Content-Length); advances *pos. */
static struct resp next_response(const char *b, size_t n, size_t *pos)
{
    struct resp r = {0};
    const char *start = b + *pos, *end = memmem(start, n - *pos, "\r\n\r\n", 4);
    assert_non_null(end);
    r.head = start;
    r.head_len = (size_t)(end - start) + 4;
    assert_int_equal(sscanf(start, "HTTP/1.1 %d", &r.status), 1);
    const char *cl = memmem(start, r.head_len, "Content-Length: ", 16);
    r.has_length = cl != NULL;
    r.body_len = cl ? strtoull(cl + 16, NULL, 10) : 0;
    r.body = start + r.head_len;
    assert_true(*pos + r.head_len + r.body_len <= n);
    *pos += r.head_len + r.body_len;
    return r;
}

static void assert_range(const struct resp *r, size_t off, size_t len)
{
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body_len, len);
    if (memcmp(r->body, data + off, len) != 0)
        fail_msg("body of [%zu, +%zu) differs from the file", off, len);
}

/* Reads one response with a Content-Length body, slowly: small reads
   with pauses, so the server meets a full socket again and again. */
static size_t read_slowly(int fd)
{
    size_t got = 0, want = 0;
    for (unsigned i = 0; !want || got < want; i++) {
        size_t room = BUF - got < 8192 ? BUF - got : 8192;
        ssize_t n = recv(fd, buf + got, room, 0);
        assert_true(n > 0);
        got += (size_t)n;
        size_t pos = 0;
        if (!want && memmem(buf, got, "\r\n\r\n", 4)) {
            struct resp r = next_response(buf, BUF, &pos);
            want = r.head_len + r.body_len;
        }
        if (i % 16 == 0)
            weft_test_sleep_ms(1);
    }
    return got;
}

/* ---- tests ---- */

static void a_file_reaches_a_slow_reader_intact(void **state)
{
    int fd = connect_small();
    shrink_server_sndbuf(fd);
    send_req(fd, "GET /file HTTP/1.1\r\nHost: a\r\n\r\n");
    size_t n = read_slowly(fd), pos = 0;
    struct resp r = next_response(buf, n, &pos);
    assert_int_equal(pos, n);
    assert_range(&r, 0, FILE_SIZE);
    assert_int_equal(seen.send_rc, 0);
    assert_int_equal(seen.bytes, FILE_SIZE);
    /* The connection stays usable (keep-alive) after the file. */
    send_req(fd, "GET /small HTTP/1.1\r\nHost: a\r\n\r\n");
    ssize_t m = http_test_read_responses(fd, buf, BUF, 1, weft_test_ms(5000));
    close(fd);
    assert_true(m > 0);
    assert_non_null(memmem(buf, (size_t)m, "hello", 5));
    assert_files_closed();
}

static void subranges_are_exact(void **state)
{
    static const size_t ranges[][2] = {
        {0, 1},
        {4095, 4097},
        {(1u << 20) + 3, (1u << 20) + 5}, /* past one flush's budget */
        {FILE_SIZE - 10, 10},
        {FILE_SIZE / 2, 0}, /* empty: Content-Length: 0 */
    };
    int fd = http_test_connect(&ts);
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        char req[128];
        snprintf(req, sizeof(req), "GET /range?off=%zu&len=%zu HTTP/1.1\r\nHost: a\r\n\r\n",
                 ranges[i][0], ranges[i][1]);
        send_req(fd, req);
        ssize_t n = http_test_read_responses(fd, buf, BUF, 1, weft_test_ms(5000));
        assert_true(n > 0);
        size_t pos = 0;
        struct resp r = next_response(buf, (size_t)n, &pos);
        assert_true(r.has_length);
        assert_range(&r, ranges[i][0], ranges[i][1]);
        assert_int_equal(seen.bytes, ranges[i][1]);
    }
    close(fd);
    assert_files_closed();
}

static void pipelined_answers_keep_their_order(void **state)
{
    int fd = connect_small();
    /* One read: the first answer is in the batch when the file comes, the
       ones after it must queue behind the file. */
    send_req(fd, "GET /small HTTP/1.1\r\nHost: a\r\n\r\n"
                 "GET /file HTTP/1.1\r\nHost: a\r\n\r\n"
                 "GET /range?off=7&len=300000 HTTP/1.1\r\nHost: a\r\n\r\n"
                 "GET /small HTTP/1.1\r\nHost: a\r\n\r\n");
    ssize_t n = http_test_read_responses(fd, buf, BUF, 4, weft_test_ms(10000));
    close(fd);
    assert_true(n > 0);
    size_t pos = 0;
    struct resp r = next_response(buf, (size_t)n, &pos);
    assert_int_equal(r.body_len, 5);
    assert_memory_equal(r.body, "hello", 5);
    r = next_response(buf, (size_t)n, &pos);
    assert_range(&r, 0, FILE_SIZE);
    r = next_response(buf, (size_t)n, &pos);
    assert_range(&r, 7, 300000);
    r = next_response(buf, (size_t)n, &pos);
    assert_memory_equal(r.body, "hello", 5);
    assert_int_equal(pos, (size_t)n);
    assert_files_closed();
}

static void a_file_answered_later_keeps_its_place(void **state)
{
    int fd = http_test_connect(&ts);
    send_req(fd, "GET /later HTTP/1.1\r\nHost: a\r\n\r\n"
                 "GET /small HTTP/1.1\r\nHost: a\r\n\r\n");
    ssize_t n = http_test_read_responses(fd, buf, BUF, 2, weft_test_ms(10000));
    close(fd);
    assert_true(n > 0);
    size_t pos = 0;
    struct resp r = next_response(buf, (size_t)n, &pos);
    assert_range(&r, 3, FILE_SIZE - 3);
    r = next_response(buf, (size_t)n, &pos);
    assert_memory_equal(r.body, "hello", 5);
    assert_int_equal(pos, (size_t)n);
    assert_files_closed();
}

static void head_sends_the_length_and_no_body(void **state)
{
    int fd = http_test_connect(&ts);
    send_req(fd, "HEAD /file HTTP/1.1\r\nHost: a\r\n\r\n"
                 "GET /small HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    ssize_t n = http_test_read_all(fd, buf, BUF, weft_test_ms(5000));
    close(fd);
    assert_true(n > 0);
    const char *end = memmem(buf, (size_t)n, "\r\n\r\n", 4);
    assert_non_null(end);
    char cl[64];
    snprintf(cl, sizeof(cl), "Content-Length: %u\r\n", FILE_SIZE);
    assert_non_null(memmem(buf, (size_t)(end - buf) + 2, cl, strlen(cl)));
    /* The next answer follows the head at once: not one body byte. */
    size_t pos = (size_t)(end - buf) + 4;
    struct resp r = next_response(buf, (size_t)n, &pos);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.body, "hello", 5);
    assert_int_equal(pos, (size_t)n);
    assert_files_closed();
}

static void bad_arguments_close_the_fd(void **state)
{
    int fd = http_test_connect(&ts);
    send_req(fd, "GET /bad HTTP/1.1\r\nHost: a\r\n\r\n");
    ssize_t n = http_test_read_responses(fd, buf, BUF, 1, weft_test_ms(5000));
    close(fd);
    assert_true(n > 0);
    assert_int_equal(seen.bad_fd_rc, -EINVAL);
    assert_int_equal(seen.bad_range_rc, -EINVAL); /* the response still open */
    assert_int_equal(seen.send_rc, 0);
    assert_int_equal(seen.again_rc, -EALREADY);
    size_t pos = 0;
    struct resp r = next_response(buf, (size_t)n, &pos);
    assert_range(&r, 0, 10);
    assert_files_closed();
}

static void a_client_gone_mid_file_closes_it(void **state)
{
    int fd = connect_small();
    shrink_server_sndbuf(fd);
    send_req(fd, "GET /file HTTP/1.1\r\nHost: a\r\n\r\n");
    size_t got = 0;
    while (got < 64 * 1024) {
        ssize_t n = recv(fd, buf + got, BUF - got, 0);
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_int_equal(open_on(path), 1); /* under way: the engine holds it */
    struct linger reset = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    close(fd);
    assert_files_closed();
    fd = http_test_connect(&ts); /* still serving */
    send_req(fd, "GET /small HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_true(http_test_read_responses(fd, buf, BUF, 1, weft_test_ms(5000)) > 0);
    close(fd);
}

static void a_truncated_file_closes_the_connection(void **state)
{
    int fd = http_test_connect(&ts);
    send_req(fd, "GET /trunc HTTP/1.1\r\nHost: a\r\n\r\nGET /small HTTP/1.1\r\nHost: a\r\n\r\n");
    int64_t start = weft_test_now_ms();
    ssize_t n = http_test_read_all(fd, buf, BUF, weft_test_ms(5000)); /* until closed */
    close(fd);
    assert_true(n > 0);
    assert_int_equal(seen.truncate_rc, 0);
    assert_true(weft_test_now_ms() - start < weft_test_ms(4000));
    const char *end = memmem(buf, (size_t)n, "\r\n\r\n", 4);
    assert_non_null(end);
    size_t head = (size_t)(end - buf) + 4;
    /* What there was, then the close; the pipelined request not answered. */
    assert_int_equal((size_t)n - head, TRUNC_AT);
    assert_memory_equal(buf + head, data, TRUNC_AT);
    assert_files_closed();
}

int main(void)
{
    for (uint64_t i = 0; i < FILE_SIZE; i++)
        data[i] = (char)pattern(i);
    snprintf(path, sizeof(path), "/tmp/weft-sendfile-%d", (int)getpid());
    snprintf(trunc_path, sizeof(trunc_path), "/tmp/weft-sendfile-trunc-%d", (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_file_reaches_a_slow_reader_intact, setup, teardown),
        cmocka_unit_test_setup_teardown(subranges_are_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(pipelined_answers_keep_their_order, setup, teardown),
        cmocka_unit_test_setup_teardown(a_file_answered_later_keeps_its_place, setup, teardown),
        cmocka_unit_test_setup_teardown(head_sends_the_length_and_no_body, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_arguments_close_the_fd, setup, teardown),
        cmocka_unit_test_setup_teardown(a_client_gone_mid_file_closes_it, setup, teardown),
        cmocka_unit_test_setup_teardown(a_truncated_file_closes_the_connection, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(path);
    unlink(trunc_path);
    return failed;
}
