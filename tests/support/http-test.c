/* http-test.c - see http-test.h. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http-test.h"
#include "server/server-int.h"

int http_test_start(struct http_test_server *ts, const weft_server_options_t *opts,
                    weft_handler_fn handler, void *arg)
{
    weft_server_options_t o = opts ? *opts : (weft_server_options_t){0};
    if (!o.threads)
        o.threads = 1;
    memset(ts, 0, sizeof(*ts));
    ts->app = weft_app_new();
    ts->srv = weft_server_new(&o);
    if (!ts->app || !ts->srv)
        return -ENOMEM;
    weft_app_set_handler(ts->app, handler, arg);
    int r = weft_server_listen(ts->srv, "127.0.0.1", 0, ts->app);
    if (r == 0)
        r = weft_server_start(ts->srv);
    ts->port = weft_server_port(ts->srv, 0);
    return r;
}

void http_test_stop(struct http_test_server *ts)
{
    weft_server_stop(ts->srv);
    weft_server_wait(ts->srv);
    weft_server_free(ts->srv);
    weft_app_free(ts->app);
    memset(ts, 0, sizeof(*ts));
}

int http_test_connect(const struct http_test_server *ts)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(ts->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int http_test_get(uint16_t port, const char *path, const char *extra_headers, char *buf, size_t cap,
                  int timeout_ms)
{
    struct http_test_server ts = {.port = port};
    int fd = http_test_connect(&ts);
    if (fd < 0 || cap == 0)
        return 0;
    char req[1024];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n%s\r\n", path,
             extra_headers ? extra_headers : "");
    ssize_t n = http_test_write(fd, req, strlen(req)) == 0
                    ? http_test_read_all(fd, buf, cap - 1, timeout_ms)
                    : -1;
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    int status = 0;
    if (n > 0)
        http_test_statuses(buf, (size_t)n, &status, 1);
    char *body = strstr(buf, "\r\n\r\n");
    if (body)
        memmove(buf, body + 4, strlen(body + 4) + 1);
    return status;
}

int http_test_pair(struct http_test_server *ts)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
    int r = weft__server_adopt(ts->srv, 0, sv[1]);
    if (r < 0) {
        close(sv[0]);
        close(sv[1]);
        return r;
    }
    return sv[0];
}

int http_test_write(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static ssize_t read_some(int fd, char *buf, size_t cap, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, timeout_ms);
    if (r == 0)
        return -ETIMEDOUT;
    if (r < 0)
        return -errno;
    ssize_t n = recv(fd, buf, cap, 0);
    return n < 0 ? (errno == ECONNRESET ? 0 : -errno) : n;
}

ssize_t http_test_read_all(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t n = read_some(fd, buf + got, cap - got, timeout_ms);
        if (n < 0)
            return n;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* Length of the complete response at buf, or 0 if incomplete. */
static size_t response_len(const char *buf, size_t len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - buf) + 4;
    const char *cl = memmem(buf, head, "Content-Length: ", 16);
    if (cl) {
        size_t body = strtoul(cl + 16, NULL, 10);
        return len >= head + body ? head + body : 0;
    }
    if (memmem(buf, head, "Transfer-Encoding: chunked", 26)) {
        const char *last = memmem(buf + head, len - head, "\r\n0\r\n\r\n", 7);
        if (!last && len - head >= 5 && !memcmp(buf + head, "0\r\n\r\n", 5))
            return head + 5;
        return last ? (size_t)(last - buf) + 7 : 0;
    }
    return head; /* no body */
}

ssize_t http_test_read_responses(int fd, char *buf, size_t cap, unsigned n, int timeout_ms)
{
    size_t got = 0, done = 0;
    unsigned seen = 0;
    while (seen < n) {
        size_t r;
        while (seen < n && (r = response_len(buf + done, got - done)) > 0) {
            done += r;
            seen++;
        }
        if (seen == n)
            break;
        ssize_t k = read_some(fd, buf + got, cap - got, timeout_ms);
        if (k < 0)
            return k;
        if (k == 0)
            return -ECONNRESET;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

unsigned http_test_statuses(const char *buf, size_t len, int *statuses, unsigned max)
{
    unsigned n = 0;
    const char *p = buf, *end = buf + len;
    while ((p = memmem(p, (size_t)(end - p), "HTTP/1.1 ", 9))) {
        if (n < max && end - p >= 12)
            statuses[n] = atoi(p + 9);
        n++;
        p += 9;
    }
    return n;
}
