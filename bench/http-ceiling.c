/*
 * http-ceiling.c - the least an HTTP/1.1 server built on libuv can do per
 * request: the ceiling bench/http/run.py measures weft against.
 *
 * One loop, one uv_tcp_t listener. The read callback counts request
 * terminators ("\r\n\r\n", also when one straddles two reads) in the bytes
 * received and answers each with one canned response; all the answers to
 * one read go out together in a single uv_try_write, whatever it could not
 * write in a single uv_write. No parsing, no headers looked at, no date, no
 * timers: anything real costs more.
 *
 *   http-ceiling [--host H] [--port P]    (127.0.0.1, 8080; 0 picks a port)
 *
 * Prints "listening on http://H:P/" on the first line of stdout, serves
 * until SIGTERM or SIGINT, then exits 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";
#define RESPONSE_LEN (sizeof(response) - 1)
#define READ_BUF     65536

typedef struct {
    uv_tcp_t tcp;
    unsigned matched; /* bytes of "\r\n\r\n" matched at the end of the last read */
} conn_t;

typedef struct {
    uv_write_t req;
    char data[];
} pending_write_t;

static uv_loop_t *loop;
static uv_tcp_t listener;
static uv_signal_t sigterm, sigint;
static char read_buf[READ_BUF]; /* one loop thread: every read lands here */
static char *answers;           /* n canned responses back to back */
static size_t answers_cap;      /* how many fit */

static void die(const char *what, int err)
{
    fprintf(stderr, "http-ceiling: %s: %s\n", what, uv_strerror(err));
    exit(1);
}

/* Counts "\r\n\r\n" in buf, carrying a partial match across calls. */
static size_t count_terminators(conn_t *c, const char *buf, size_t len)
{
    static const char term[4] = {'\r', '\n', '\r', '\n'};
    size_t n = 0;
    unsigned m = c->matched;
    for (size_t i = 0; i < len; i++) {
        char ch = buf[i];
        if (ch == term[m]) {
            if (++m == 4) {
                n++;
                m = 0;
            }
        } else {
            /* the only useful restart: a '\r' begins a new match */
            m = ch == '\r' ? 1 : 0;
        }
    }
    c->matched = m;
    return n;
}

static const char *canned(size_t n)
{
    if (n > answers_cap) {
        size_t cap = answers_cap ? answers_cap : 64;
        while (cap < n)
            cap *= 2;
        char *p = realloc(answers, cap * RESPONSE_LEN);
        if (!p) {
            fprintf(stderr, "http-ceiling: out of memory\n");
            exit(1);
        }
        for (size_t i = answers_cap; i < cap; i++)
            memcpy(p + i * RESPONSE_LEN, response, RESPONSE_LEN);
        answers = p;
        answers_cap = cap;
    }
    return answers;
}

static void on_close(uv_handle_t *h)
{
    free(h);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_write(uv_write_t *req, int status)
{
    pending_write_t *w = (pending_write_t *)req;
    if (status < 0 && !uv_is_closing((uv_handle_t *)req->handle))
        uv_close((uv_handle_t *)req->handle, on_close);
    free(w);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = (conn_t *)s;
    if (nread < 0) {
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, on_close);
        return;
    }
    size_t n = count_terminators(c, buf->base, (size_t)nread);
    if (n == 0)
        return;
    size_t len = n * RESPONSE_LEN;
    const char *out = canned(n);
    uv_buf_t b = uv_buf_init((char *)out, (unsigned)len);
    int done = uv_try_write(s, &b, 1);
    if (done == UV_EAGAIN || done == UV_ENOSYS)
        done = 0;
    if (done < 0) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if ((size_t)done == len)
        return;
    size_t rest = len - (size_t)done;
    pending_write_t *w = malloc(sizeof *w + rest);
    if (!w) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    memcpy(w->data, out + done, rest);
    b = uv_buf_init(w->data, (unsigned)rest);
    int err = uv_write(&w->req, s, &b, 1, on_write);
    if (err < 0) {
        free(w);
        uv_close((uv_handle_t *)s, on_close);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return;
    uv_tcp_init(loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    uv_stop(loop);
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 8080;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--host") && i + 1 < argc) {
            host = argv[++i];
        } else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: http-ceiling [--host H] [--port P]\n");
            return !strcmp(argv[i], "--help") ? 0 : 2;
        }
    }
    raise_fd_limit();
    signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is an error, not a death */
    loop = uv_default_loop();

    struct sockaddr_storage addr;
    int err = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (err)
        err = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
    if (err)
        die(host, err);
    uv_tcp_init(loop, &listener);
    if ((err = uv_tcp_bind(&listener, (struct sockaddr *)&addr, 0)) < 0)
        die("bind", err);
    if ((err = uv_listen((uv_stream_t *)&listener, 4096, on_connection)) < 0)
        die("listen", err);

    struct sockaddr_storage bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(&listener, (struct sockaddr *)&bound, &blen);
    char name[64] = "?";
    int bport;
    if (bound.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&bound, name, sizeof name);
        bport = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
        printf("listening on http://[%s]:%d/\n", name, bport);
    } else {
        uv_ip4_name((struct sockaddr_in *)&bound, name, sizeof name);
        bport = ntohs(((struct sockaddr_in *)&bound)->sin_port);
        printf("listening on http://%s:%d/\n", name, bport);
    }
    fflush(stdout);

    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
