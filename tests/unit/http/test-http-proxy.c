/* Unit tests for running behind proxies: the PROXY protocol v1 parser
   (whole, byte by byte, hostile inputs, random bytes), CIDR sets, and,
   through an in-process server, the header in the engine (pipelined data
   behind it, split across writes, malformed, on a listener without it)
   and the client address rule with X-Forwarded-For. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http-test.h"
#include "http/http-int.h"
#include "test-support.h"

/* ---- the parser ---------------------------------------------------------- */

static int parse(const char *s, union weft__addr *src)
{
    return weft__proxy_v1_parse(s, strlen(s), src);
}

static void addr_text(const struct sockaddr *sa, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
        port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip));
        port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    } else {
        snprintf(ip, sizeof(ip), "none");
    }
    snprintf(out, cap, "%s %u", ip, port);
}

/* Every proper prefix of a good header needs more; the whole is taken. */
static void expect_good(const char *hdr, const char *want_src)
{
    union weft__addr src;
    size_t len = strlen(hdr);
    for (size_t i = 0; i < len; i++)
        if (weft__proxy_v1_parse(hdr, i, &src) != 0)
            fail_msg("%s: prefix of %zu bytes was not 'need more'", hdr, i);
    char both[256];
    snprintf(both, sizeof(both), "%sGET / HTTP/1.1\r\n\r\n", hdr);
    assert_int_equal(parse(both, &src), (int)len);
    char text[80];
    addr_text(&src.sa, text, sizeof(text));
    assert_string_equal(text, want_src);
}

static void expect_bad(const char *hdr)
{
    union weft__addr src;
    int r = parse(hdr, &src);
    if (r != -EPROTO)
        fail_msg("'%s': wanted -EPROTO, got %d", hdr, r);
}

static void good_headers_are_taken(void **state)
{
    expect_good("PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n", "203.0.113.7 56324");
    expect_good("PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n", "2001:db8::1 1");
    expect_good("PROXY TCP6 ::ffff:10.0.0.1 ::1 0 80\r\n", "::ffff:10.0.0.1 0");
    expect_good("PROXY UNKNOWN\r\n", "none 0");
    expect_good("PROXY UNKNOWN ffff:f...f:ffff 0:0:0:0 65535 65535\r\n", "none 0");
    /* the longest TCP6 header there is: 104 bytes */
    expect_good("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535");
}

static void hostile_headers_are_refused(void **state)
{
    expect_bad("GET / HTTP/1.1\r\n");
    expect_bad("G");
    expect_bad("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
    expect_bad("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
    expect_bad("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n");
    expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n");
    expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n");
    expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n");
    expect_bad("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n");
    expect_bad("PROXY TCP4 ::1 ::1 1 2\r\n"); /* family mismatch */
    expect_bad("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n");
    expect_bad("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"); /* leading zero octet */
    expect_bad("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n");
    expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"); /* leading zero port */
    expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n");
    expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n");
    expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n");  /* bare LF */
    expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"); /* bare CR */
    expect_bad("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n");
    expect_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\x80\r\n");
    expect_bad("PROXY \r\n");
    expect_bad("PROXY UNKNOWNX\r\n");
    expect_bad("PROXY TCP4\r\n");
    union weft__addr src;
    static const char nul[] = "PROXY TCP4 1.2.3.4\0005.6.7.8 1 2\r\n";
    assert_int_equal(weft__proxy_v1_parse(nul, sizeof(nul) - 1, &src), -EPROTO);
}

static void the_107_byte_limit_holds(void **state)
{
    union weft__addr src;
    char line[256];
    /* UNKNOWN with padding to exactly 107 bytes: taken; 108: refused. */
    int pad = WEFT__PROXY_V1_MAX - (int)strlen("PROXY UNKNOWN \r\n");
    snprintf(
        line, sizeof(line), "PROXY UNKNOWN %.*s\r\n", pad,
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxx");
    assert_int_equal(strlen(line), WEFT__PROXY_V1_MAX);
    assert_int_equal(parse(line, &src), WEFT__PROXY_V1_MAX);
    snprintf(
        line, sizeof(line), "PROXY UNKNOWN %.*s\r\n", pad + 1,
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxx");
    assert_int_equal(parse(line, &src), -EPROTO);
    /* No CRLF within the limit: refused once 107 bytes are there, not
       before (a slow proxy is not an error). */
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    assert_int_equal(weft__proxy_v1_parse(line, 106, &src), 0);
    assert_int_equal(weft__proxy_v1_parse(line, 107, &src), -EPROTO);
    assert_int_equal(weft__proxy_v1_parse(line, sizeof(line), &src), -EPROTO);
}

static void random_bytes_never_confuse_it(void **state)
{
    unsigned seed = 14;
    char buf[160];
    union weft__addr src;
    for (int round = 0; round < 200000; round++) {
        size_t len = (size_t)(rand_r(&seed) % sizeof(buf));
        static const char alphabet[] = "PROXY TCP46UNKOW0123456789.:abcdef \r\n\t\x80";
        bool from_alphabet = round % 2;
        size_t keep = round % 3 == 0 ? 6 : 0; /* often past the signature */
        memcpy(buf, "PROXY ", keep < len ? keep : len);
        for (size_t i = keep; i < len; i++)
            buf[i] = from_alphabet ? alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)]
                                   : (char)rand_r(&seed);
        int r = weft__proxy_v1_parse(buf, len, &src);
        if (!(r == -EPROTO || r == 0 || (r >= 8 && r <= WEFT__PROXY_V1_MAX && (size_t)r <= len)))
            fail_msg("round %d: result %d for %zu bytes", round, r, len);
        if (r > 0 && (buf[r - 2] != '\r' || buf[r - 1] != '\n'))
            fail_msg("round %d: a header of %d bytes not ending in CRLF", round, r);
    }
}

/* ---- CIDR sets ----------------------------------------------------------- */

static bool match(const struct weft__cidrs *set, const char *ip)
{
    union weft__addr a;
    assert_int_equal(weft__addr_parse(ip, strlen(ip), &a), 0);
    return weft__cidrs_match(set, &a.sa);
}

static void cidr_sets_match_ranges(void **state)
{
    struct weft__cidrs *set = NULL;
    assert_false(match(set, "127.0.0.1"));
    assert_int_equal(weft__cidrs_add(&set, "10.1.2.3/8, 192.0.2.1 ,2001:db8::/32"), 0);
    assert_int_equal(weft__cidrs_add(&set, "::1,172.16.0.0/12"), 0);
    assert_true(match(set, "10.255.0.1"));
    assert_true(match(set, "::ffff:10.0.0.9")); /* IPv4-mapped */
    assert_false(match(set, "11.0.0.1"));
    assert_true(match(set, "192.0.2.1"));
    assert_false(match(set, "192.0.2.2"));
    assert_true(match(set, "2001:db8:ffff::1"));
    assert_false(match(set, "2001:db9::1"));
    assert_true(match(set, "::1"));
    assert_false(match(set, "::2"));
    assert_true(match(set, "172.31.255.255"));
    assert_false(match(set, "172.32.0.0"));
    weft__cidrs_free(set);

    set = NULL;
    assert_int_equal(weft__cidrs_add(&set, "0.0.0.0/0"), 0);
    assert_true(match(set, "8.8.8.8"));
    assert_false(match(set, "2001:db8::1")); /* an IPv4 range */
    assert_int_equal(weft__cidrs_add(&set, "::ffff:0.0.0.0/96"), 0);
    weft__cidrs_free(set);
}

static void bad_cidrs_add_nothing(void **state)
{
    static const char *const bad[] = {
        "",
        " ",
        "10.0.0.0/33",
        "10.0.0.0/",
        "10.0.0.0/-1",
        "::/129",
        "10.0.0.0/8,",
        ",10.0.0.0/8",
        "10.0.0.0/8,,::1",
        "localhost",
        "10.0.0.0/8 x",
        "10.0.0.0 /8",
        "1.2.3.4.5",
        "10.0.0.0/0008",
        "[::1]",
        "1.2.3.4:80",
        "::ffff:1.2.3.4/95",
    };
    struct weft__cidrs *set = NULL;
    assert_int_equal(weft__cidrs_add(&set, "127.0.0.1"), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (weft__cidrs_add(&set, bad[i]) != -EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
        assert_false(match(set, "10.0.0.1"));
    }
    assert_int_equal(weft__cidrs_add(&set, NULL), -EINVAL);
    assert_true(match(set, "127.0.0.1"));
    weft__cidrs_free(set);
}

/* ---- in the engine ------------------------------------------------------- */

static void who(weft_request_t *req, weft_response_t *res, void *arg)
{
    char client[80], peer[80], body[200];
    addr_text(weft_request_client(req), client, sizeof(client));
    addr_text(weft_request_peer(req), peer, sizeof(peer));
    int n = snprintf(body, sizeof(body), "client=%s peer=%s", client, peer);
    weft_response_send(res, body, (size_t)n);
}

struct srv {
    weft_server_t *srv;
    weft_app_t *app;
    uint16_t proxied_port, plain_port;
};

static void start(struct srv *s, const char *trusted)
{
    weft_server_options_t o = {.threads = 1, .header_timeout_ms = 2000};
    s->app = weft_app_new();
    s->srv = weft_server_new(&o);
    assert_non_null(s->app);
    assert_non_null(s->srv);
    weft_app_set_handler(s->app, who, NULL);
    assert_int_equal(weft_server_listen(s->srv, "127.0.0.1", 0, s->app), 0);
    assert_int_equal(weft_server_listen(s->srv, "127.0.0.1", 0, s->app), 0);
    assert_int_equal(weft_server_listener_set_proxy_protocol(s->srv, 0, true), 0);
    assert_int_equal(weft_server_listener_set_proxy_protocol(s->srv, 2, true), -ENOENT);
    if (trusted)
        assert_int_equal(weft_server_trust_proxies(s->srv, trusted), 0);
    assert_int_equal(weft_server_start(s->srv), 0);
    assert_int_equal(weft_server_trust_proxies(s->srv, "10.0.0.0/8"), -EBUSY);
    assert_int_equal(weft_server_listener_set_proxy_protocol(s->srv, 0, false), -EBUSY);
    s->proxied_port = weft_server_port(s->srv, 0);
    s->plain_port = weft_server_port(s->srv, 1);
}

static void stop(struct srv *s)
{
    weft_server_stop(s->srv);
    weft_server_wait(s->srv);
    weft_server_free(s->srv);
    weft_app_free(s->app);
}

static int connect_to(uint16_t port)
{
    struct http_test_server ts = {.port = port};
    int fd = http_test_connect(&ts);
    assert_true(fd >= 0);
    return fd;
}

static char buf[64 * 1024];

#define GET_CLOSE "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
#define GET       "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"

/* The answer to what, sent in pieces of `step` bytes (0: at once). */
static ssize_t exchange(uint16_t port, const char *what, size_t step)
{
    int fd = connect_to(port);
    size_t len = strlen(what);
    for (size_t off = 0; off < len;) {
        size_t n = step && len - off > step ? step : len - off;
        assert_int_equal(http_test_write(fd, what + off, n), 0);
        off += n;
        if (step)
            usleep(1000); /* separate reads on the server, mostly */
    }
    ssize_t got = http_test_read_all(fd, buf, sizeof(buf) - 1, (int)weft_test_ms(5000));
    close(fd);
    assert_true(got >= 0);
    buf[got] = '\0';
    return got;
}

static void proxy_header_then_pipelined_requests(void **state)
{
    struct srv s;
    start(&s, NULL);
    exchange(s.proxied_port, "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n" GET GET_CLOSE, 0);
    int statuses[4];
    assert_int_equal(http_test_statuses(buf, strlen(buf), statuses, 4), 2);
    char *second = strstr(buf, "client=203.0.113.7 5555 peer=127.0.0.1");
    assert_non_null(second);
    assert_non_null(strstr(second + 1, "client=203.0.113.7 5555 peer=127.0.0.1"));

    for (size_t step = 1; step <= 7; step += 3) {
        exchange(s.proxied_port, "PROXY TCP6 2001:db8::7 ::1 6666 80\r\n" GET_CLOSE, step);
        assert_non_null(strstr(buf, "HTTP/1.1 200"));
        assert_non_null(strstr(buf, "client=2001:db8::7 6666 peer=127.0.0.1"));
    }
    exchange(s.proxied_port, "PROXY UNKNOWN\r\n" GET_CLOSE, 0);
    assert_non_null(strstr(buf, "client=127.0.0.1"));

    weft_proxy_stats_t ps;
    weft_server_proxy_stats(s.srv, &ps);
    assert_int_equal(ps.headers, 5);
    assert_int_equal(ps.rejected, 0);
    stop(&s);
}

static void bad_or_missing_headers_close_silently(void **state)
{
    struct srv s;
    start(&s, NULL);
    assert_int_equal(exchange(s.proxied_port, GET_CLOSE, 0), 0);
    assert_int_equal(exchange(s.proxied_port, "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n" GET_CLOSE, 0), 0);
    /* One header only: a second one is HTTP, a bad request. */
    exchange(s.proxied_port, "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nPROXY UNKNOWN\r\n", 0);
    assert_non_null(strstr(buf, "HTTP/1.1 400"));
    /* The client's end inside the header. */
    int fd = connect_to(s.proxied_port);
    assert_int_equal(http_test_write(fd, "PROXY TCP4 1.2.", 15), 0);
    shutdown(fd, SHUT_WR);
    assert_int_equal(http_test_read_all(fd, buf, sizeof(buf), (int)weft_test_ms(5000)), 0);
    close(fd);
    /* A connection closed before its first byte is no error. */
    close(connect_to(s.proxied_port));
    weft_proxy_stats_t ps;
    for (int i = 0; i < 500; i++) { /* the last close is seen by the loop soon */
        weft_server_proxy_stats(s.srv, &ps);
        if (ps.rejected >= 3)
            break;
        usleep(2000);
    }
    assert_int_equal(ps.rejected, 3);
    assert_int_equal(ps.headers, 1);
    stop(&s);
}

static void a_proxy_line_elsewhere_is_a_bad_request(void **state)
{
    struct srv s;
    start(&s, NULL);
    exchange(s.plain_port, "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n" GET_CLOSE, 0);
    assert_non_null(strstr(buf, "HTTP/1.1 400"));
    assert_null(strstr(buf, "203.0.113.7"));
    stop(&s);
}

static void forwarded_for_is_believed_from_trusted_hops_only(void **state)
{
    struct srv s;
    start(&s, NULL); /* nobody trusted: the header is never read */
    exchange(s.plain_port,
             "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.1\r\n"
             "Connection: close\r\n\r\n",
             0);
    assert_non_null(strstr(buf, "client=127.0.0.1"));
    stop(&s);

    start(&s, "127.0.0.0/8, 10.0.0.0/8");
    struct {
        const char *xff, *want;
    } cases[] = {
        {"X-Forwarded-For: 198.51.100.1\r\n", "client=198.51.100.1 0"},
        {"X-Forwarded-For: 203.0.113.9, 198.51.100.1, 10.0.0.2\r\n", "client=198.51.100.1 0"},
        {"X-Forwarded-For: 203.0.113.9\r\nx-forwarded-for: 10.1.1.1 , 10.0.0.2\r\n",
         "client=203.0.113.9 0"},
        {"X-Forwarded-For: 10.0.0.3, 10.0.0.2\r\n", "client=10.0.0.3 0"},
        {"X-Forwarded-For: 198.51.100.1, unknown\r\n", "client=127.0.0.1"},
        {"X-Forwarded-For: 198.51.100.1, garbage, 10.0.0.2\r\n", "client=10.0.0.2 0"},
        {"X-Forwarded-For: 2001:db8::5\r\n", "client=2001:db8::5 0"},
        {"", "client=127.0.0.1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char req[512];
        snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n",
                 cases[i].xff);
        exchange(s.plain_port, req, 0);
        if (!strstr(buf, cases[i].want))
            fail_msg("%s: wanted %s in %s", cases[i].xff, cases[i].want, buf);
    }
    /* Behind PROXY: its source is the nearest hop; untrusted, so X-F-F is
       not read; trusted, it is. */
    exchange(s.proxied_port,
             "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\nGET / HTTP/1.1\r\n"
             "Host: x\r\nX-Forwarded-For: 198.51.100.1\r\nConnection: close\r\n\r\n",
             0);
    assert_non_null(strstr(buf, "client=203.0.113.7 5555"));
    exchange(s.proxied_port,
             "PROXY TCP4 10.9.9.9 127.0.0.1 5555 80\r\nGET / HTTP/1.1\r\n"
             "Host: x\r\nX-Forwarded-For: 198.51.100.1\r\nConnection: close\r\n\r\n",
             0);
    assert_non_null(strstr(buf, "client=198.51.100.1 0"));
    stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_headers_are_taken),
        cmocka_unit_test(hostile_headers_are_refused),
        cmocka_unit_test(the_107_byte_limit_holds),
        cmocka_unit_test(random_bytes_never_confuse_it),
        cmocka_unit_test(cidr_sets_match_ranges),
        cmocka_unit_test(bad_cidrs_add_nothing),
        cmocka_unit_test(proxy_header_then_pipelined_requests),
        cmocka_unit_test(bad_or_missing_headers_close_silently),
        cmocka_unit_test(a_proxy_line_elsewhere_is_a_bad_request),
        cmocka_unit_test(forwarded_for_is_believed_from_trusted_hops_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
