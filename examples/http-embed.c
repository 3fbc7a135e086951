/*
 * http-embed.c - weft's HTTP server inside your own program: an app with
 * routes, a before hook that checks an API key, shared state frozen while
 * serving, and a slow route answered from the job pool, served on two
 * loops.
 *
 * usage: http-embed [PORT]      serve on 127.0.0.1:PORT (8081) until Ctrl-C
 *        http-embed --self-test serve on a free port, ask it a few
 *                               questions, check the answers, stop
 *
 *   curl -H 'X-Api-Key: secret' http://127.0.0.1:8081/hello/ada
 *   curl -H 'X-Api-Key: secret' http://127.0.0.1:8081/square/12
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <weft/weft.h>

/* The app's state: set before serving, read-only after (the app freezes),
   except for the counter, which is atomic since every loop bumps it. */
struct state {
    const char *api_key;
    atomic_ulong greeted;
};

/* Before every route: no key, no entry. Answering here ends the request. */
static weft_future_t *check_key(weft_request_t *req, weft_response_t *res, void *arg)
{
    const struct state *st = weft_app_state(weft_request_app(req));
    weft_slice_t key;
    if (!weft_request_header(req, "X-Api-Key", &key) || !weft_slice_eq(key, st->api_key))
        weft_response_send_error(res, 401, "an X-Api-Key header is needed");
    return NULL;
}

static void hello(weft_request_t *req, weft_response_t *res, void *arg)
{
    struct state *st = weft_app_state(weft_request_app(req));
    weft_slice_t name;
    weft_request_param(req, "name", &name); /* decoded; the route guarantees it */
    for (size_t i = 0; i < name.len; i++) {
        char c = name.ptr[i]; /* a name goes into JSON as is: letters only */
        if (name.len > 64 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
            weft_response_send_error(res, 400, "a name is 1 to 64 letters");
            return;
        }
    }
    char json[160];
    int n = snprintf(json, sizeof(json), "{\"hello\":\"%.*s\",\"greeted\":%lu}", (int)name.len,
                     name.ptr, ++st->greeted);
    weft_response_json(res, json, (size_t)n);
}

/* A "blocking" computation: it runs on a pool thread, never on a loop. */
static void square_job(weft_job_t *job, void *arg)
{
    long n = (long)(intptr_t)arg;
    struct timespec think = {0, 20 * 1000 * 1000};
    nanosleep(&think, NULL);
    weft_job_return_int(job, n * n);
}

static void square_done(weft_request_t *req, weft_response_t *res, weft_future_t *f, void *arg)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "%lld\n", (long long)weft_future_int(f));
    weft_response_send(res, text, (size_t)n);
}

static void square(weft_request_t *req, weft_response_t *res, void *arg)
{
    weft_slice_t v;
    weft_request_param(req, "n", &v);
    char digits[8] = {0};
    if (v.len == 0 || v.len >= sizeof(digits) || strspn(v.ptr, "0123456789") < v.len) {
        weft_response_send_error(res, 400, "n: a number below 10000000");
        return;
    }
    memcpy(digits, v.ptr, v.len);
    weft_offload(req, res, square_job, (void *)(intptr_t)atol(digits), square_done, NULL);
}

/* ---- the self-test client ---------------------------------------------- */

/* One request on a fresh connection; the whole answer into out. */
static int ask(uint16_t port, const char *request, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        write(fd, request, strlen(request)) < 0)
        return -1;
    size_t got = 0;
    ssize_t n;
    while (got < cap - 1 && (n = read(fd, out + got, cap - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(fd);
    return 0;
}

static int expect(uint16_t port, const char *request, const char *want)
{
    char answer[2048];
    if (ask(port, request, answer, sizeof(answer)) < 0 || !strstr(answer, want)) {
        fprintf(stderr, "http-embed: expected \"%s\" in:\n%s\n", want, answer);
        return 1;
    }
    return 0;
}

static int self_test(uint16_t port)
{
    const char *key = "X-Api-Key: secret\r\nConnection: close\r\n\r\n";
    char hello_req[256], square_req[256], delete_req[256]; /* each closes after its answer */
    snprintf(hello_req, sizeof(hello_req), "GET /hello/ada HTTP/1.1\r\nHost: x\r\n%s", key);
    snprintf(square_req, sizeof(square_req), "GET /square/12 HTTP/1.1\r\nHost: x\r\n%s", key);
    snprintf(delete_req, sizeof(delete_req), "DELETE /hello/ada HTTP/1.1\r\nHost: x\r\n%s", key);
    int bad = 0;
    bad += expect(port, "GET /hello/ada HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                  "HTTP/1.1 401");
    bad += expect(port, hello_req, "{\"hello\":\"ada\",\"greeted\":1}");
    bad += expect(port, square_req, "\r\n\r\n144\n");
    bad += expect(port, delete_req, "HTTP/1.1 405");
    printf("http-embed: self-test %s\n", bad ? "FAILED" : "passed");
    return bad ? 1 : 0;
}

/* ---- main ----------------------------------------------------------------- */

static int check(int r, const char *what)
{
    if (r < 0) {
        fprintf(stderr, "http-embed: %s: %s\n", what, weft_strerror(r));
        exit(1);
    }
    return r;
}

int main(int argc, char **argv)
{
    bool testing = argc > 1 && !strcmp(argv[1], "--self-test");
    uint16_t port = testing ? 0 : argc > 1 ? (uint16_t)atoi(argv[1]) : 8081;
    static struct state st = {.api_key = "secret"};
    signal(SIGPIPE, SIG_IGN);
    sigset_t stop_signals; /* taken with sigwait below, not by a handler */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    weft_pool_t *pool = weft_pool_new(&(weft_pool_options_t){.threads = 2, .queue_capacity = 64});
    weft_app_t *app = weft_app_new();
    if (!pool || !app)
        return 1;
    check(weft_app_set_state(app, &st), "state");
    check(weft_app_set_pool(app, pool), "pool");
    check(weft_app_before(app, check_key, NULL), "hook");
    check(weft_app_route(app, "GET", "/hello/:name", hello, NULL), "route");
    weft_route_options_t quick = {.deadline_ms = 1000}; /* 504 past it */
    check(weft_app_route_ex(app, "GET", "/square/:n", square, NULL, &quick), "route");

    weft_server_t *srv = weft_server_new(&(weft_server_options_t){.threads = 2});
    if (!srv)
        return 1;
    check(weft_server_listen(srv, "127.0.0.1", port, app), "listen");
    check(weft_server_start(srv), "start"); /* the app is frozen from here */
    port = weft_server_port(srv, 0);

    int status = 0;
    if (testing) {
        status = self_test(port);
        weft_server_stop(srv); /* graceful: requests under way finish */
    } else {
        printf("http-embed: listening on http://127.0.0.1:%u/ (Ctrl-C stops)\n", port);
        fflush(stdout);
        int sig;
        sigwait(&stop_signals, &sig); /* then stop gracefully */
        weft_server_stop(srv);
    }
    weft_server_wait(srv);
    weft_server_free(srv);
    weft_app_free(app);
    weft_pool_close(pool, -1);
    weft_pool_free(pool);
    return status;
}
