/*
 * proxy.c - the PROXY protocol, version 1 (HAProxy's text header), on the
 * listeners configured for it (weft_server_listener_set_proxy_protocol).
 *
 * Where: a connection of such a listener starts with CF_PROXY_WAIT; after
 * each read, before anything reaches llhttp, the header is parsed from the
 * start of the read buffer (again from the start on each read, so a header
 * split across reads needs no state; it is at most 107 bytes) and cut out
 * of it, so the bytes that came behind it in the same read (a pipelined
 * request) are parsed as HTTP right away. A header is never guessed: on
 * these listeners one is required, and anything else, a malformed one or
 * the client's end inside it closes the connection without an answer (an
 * HTTP error would be read by the proxy as its client's answer). Those are
 * counted (weft_server_proxy_stats) and logged once per episode per loop;
 * the episode ends at the next good header. A connection closed before
 * its first byte (a TCP health check) is not an error.
 *
 * Threading: the connection's loop thread.
 */
#include <errno.h>
#include <string.h>

#include "http/http-int.h"

static const char SIG[] = "PROXY ";
#define SIG_LEN (sizeof(SIG) - 1)

bool weft__proxy_v1_prefix(const char *buf, size_t len)
{
    return len >= SIG_LEN && !memcmp(buf, SIG, SIG_LEN);
}

/* A decimal port: 1 to 5 digits, no leading zero, at most 65535. */
static bool parse_port(const char *s, size_t len, uint16_t *port)
{
    if (len == 0 || len > 5 || (len > 1 && s[0] == '0'))
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *port = (uint16_t)v;
    return true;
}

/* Splits line[0..len) at single spaces into at most max tokens: their
   count, or -1 for an empty token (two spaces, a leading or trailing one)
   or more than max. */
static int split(const char *line, size_t len, const char **tok, size_t *tlen, int max)
{
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && line[i] != ' ')
            continue;
        if (i == start || n == max)
            return -1;
        tok[n] = line + start;
        tlen[n++] = i - start;
        start = i + 1;
    }
    return n;
}

/* "TCP4 src dst sport dport" or "TCP6 ...", the line without "PROXY "
   and CRLF. */
static int parse_tcp(const char *line, size_t len, union weft__addr *src)
{
    const char *tok[5];
    size_t tlen[5];
    union weft__addr dst;
    uint16_t sport, dport;
    if (split(line, len, tok, tlen, 5) != 5)
        return -EPROTO;
    int family = tok[0][3] == '4' ? AF_INET : AF_INET6;
    if (weft__addr_parse(tok[1], tlen[1], src) < 0 || src->sa.sa_family != family ||
        weft__addr_parse(tok[2], tlen[2], &dst) < 0 || dst.sa.sa_family != family ||
        !parse_port(tok[3], tlen[3], &sport) || !parse_port(tok[4], tlen[4], &dport))
        return -EPROTO;
    if (family == AF_INET)
        src->in4.sin_port = htons(sport);
    else
        src->in6.sin6_port = htons(sport);
    return 0;
}

/* Where the line's CR is: its index, -1 while more bytes may complete it,
   -2 if these bytes cannot be a header line. */
static long find_end(const char *buf, size_t len)
{
    size_t upto = len < WEFT__PROXY_V1_MAX ? len : WEFT__PROXY_V1_MAX;
    for (size_t i = 0; i < upto; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\r') {
            if (i + 2 > WEFT__PROXY_V1_MAX)
                return -2; /* the LF would be past the 107 bytes */
            return i + 1 == len ? -1 : buf[i + 1] == '\n' ? (long)i : -2;
        }
        if (c < 0x20 || c > 0x7e)
            return -2; /* a bare LF, NUL, another control byte, not ASCII */
    }
    return len >= WEFT__PROXY_V1_MAX ? -2 : -1;
}

int weft__proxy_v1_parse(const char *buf, size_t len, union weft__addr *src)
{
    if (memcmp(buf, SIG, len < SIG_LEN ? len : SIG_LEN))
        return -EPROTO;
    long cr = find_end(buf, len);
    if (cr == -1)
        return 0;
    if (cr < (long)SIG_LEN)
        return -EPROTO;
    const char *line = buf + SIG_LEN;
    size_t n = (size_t)cr - SIG_LEN;
    memset(src, 0, sizeof(*src));
    src->sa.sa_family = AF_UNSPEC;
    /* UNKNOWN: the proxy could not tell (the receiver ignores the rest
       and uses the connection's own addresses). */
    if (n >= 7 && !memcmp(line, "UNKNOWN", 7) && (n == 7 || line[7] == ' '))
        return (int)cr + 2;
    if (n < 5 || (memcmp(line, "TCP4 ", 5) && memcmp(line, "TCP6 ", 5)))
        return -EPROTO;
    return parse_tcp(line, n, src) < 0 ? -EPROTO : (int)cr + 2;
}

/* ---- in the connection engine -------------------------------------------- */

static void rejected(struct http_conn *c, const char *why)
{
    struct http_loop *hl = c->hl;
    atomic_fetch_add_explicit(&hl->fig->proxy_rejected, 1, memory_order_relaxed);
    weft_log_episode_begin(&hl->proxy_log, WEFT_LOG_WARN,
                           "loop %u: a connection on a PROXY protocol listener %s: closed "
                           "(further ones are counted in weft_server_proxy_stats)",
                           hl->index, why);
}

bool weft__conn_take_proxy(struct http_conn *c)
{
    struct inbuf *in = c->in;
    WEFT_ASSERT(in->start == 0 && in->parsed == 0);
    int n = in->end ? weft__proxy_v1_parse(in->data, in->end, &c->proxied) : 0;
    if (n == 0 && !(c->flags & CF_PEER_EOF))
        return false; /* more to come; the head timer bounds the wait */
    if (n <= 0) {
        if (in->end)
            rejected(c, n == 0 ? "ended inside its PROXY header" : "sent no valid PROXY header");
        weft__conn_close(c);
        return false;
    }
    memmove(in->data, in->data + n, in->end - (size_t)n);
    in->end -= (size_t)n;
    c->flags &= ~CF_PROXY_WAIT;
    if (c->proxied.sa.sa_family != AF_UNSPEC)
        c->flags |= CF_PROXIED;
    atomic_fetch_add_explicit(&c->hl->fig->proxy_headers, 1, memory_order_relaxed);
    weft_log_episode_end(&c->hl->proxy_log, WEFT_LOG_INFO,
                         "loop %u: PROXY headers are well-formed again (%llu bad ones)",
                         c->hl->index,
                         (unsigned long long)weft_log_episode_count(&c->hl->proxy_log));
    return in->end > 0 || (c->flags & CF_PEER_EOF);
}

void weft__proxy_timed_out(struct http_conn *c)
{
    if (c->in && c->in->end)
        rejected(c, "did not complete its PROXY header in time");
}
