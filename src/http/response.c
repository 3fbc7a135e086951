/*
 * response.c - answering: status, headers, whole bodies (copied or
 * borrowed), the streaming writer with backpressure, and the engine's own
 * error answers.
 *
 * The head is formatted once, into one contiguous run of bytes, when the
 * body's framing is known: Content-Length for a whole body or a streamed
 * body of announced length, chunked for a streamed body to an HTTP/1.1
 * client, until-close for HTTP/1.0. The engine writes Date (cached per
 * second), Server, the framing and Connection; a handler cannot, so it
 * cannot desynchronise the framing. Header names and values with CR, LF
 * or NUL are refused (no response splitting).
 *
 * Finishing a response hands the connection back (conn.c) and frees the
 * exchange, unless a drain callback is still posted: then the post frees
 * it. A response whose client went away is finished like any other; its
 * calls fail with -ECONNRESET and send nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "http/http-int.h"

#define HEAD_STACK 1024

static struct exchange *exchange_of(weft_response_t *res)
{
    return weft_container_of(res, struct exchange, res);
}

static void release_exchange(struct exchange *ex)
{
    if (!ex->res.drain_posted && !ex->res.held)
        weft__exchange_free(ex, ex->req.hl);
}

const int64_t weft__latency_bounds_ns[WEFT_LATENCY_BUCKETS] = {
    100000,   250000,   500000,    1000000,   2500000,    5000000,    10000000,
    25000000, 50000000, 100000000, 250000000, 1000000000, 2500000000, 10000000000};

/* The response's latency into this loop's histogram: written by this loop
   only (relaxed adds), summed by weft_server_latency. */
static void observe_latency(weft_response_t *res)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - res->req->time_ns;
    if (ns < 0)
        ns = 0;
    unsigned b = 0;
    while (b < WEFT_LATENCY_BUCKETS && ns > weft__latency_bounds_ns[b])
        b++;
    struct http_loop *hl = res->req->hl;
    atomic_fetch_add_explicit(&hl->fig->latency[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&hl->fig->latency_sum_ns, (uint64_t)ns, memory_order_relaxed);
}

/* Marks res finished and gives the connection back. res is gone after. */
static void finish(weft_response_t *res)
{
    res->finished = true;
    observe_latency(res);
    const struct http_site *site = res->req->site;
    if (site->on_done)
        site->on_done(res->req, res, site->handler_arg);
    struct http_conn *c = res->req->conn;
    if (c)
        weft__conn_finished(c, res->close_after);
    release_exchange(exchange_of(res));
}

/* 0 when res can still be answered; else the error, having finished a
   response whose client is gone. */
static int check_open(weft_response_t *res)
{
    if (res->finished)
        return -EALREADY;
    if (!res->req->conn) {
        finish(res);
        return -ECONNRESET;
    }
    return 0;
}

int weft_response_status(weft_response_t *res, int status)
{
    if (res->head_sent || res->finished)
        return -EALREADY;
    if (status < 200 || status > 999)
        return -EINVAL;
    res->status = status;
    return 0;
}

/* RFC 9110 5.6.2 tchar: visible ASCII but the delimiters, as a bitmap. */
static bool token_char(unsigned char ch)
{
    static const uint64_t tchar[2] = {0x03ff6cfa00000000ull, 0x57ffffffc7fffffeull};
    return ch < 128 && (tchar[ch >> 6] >> (ch & 63) & 1);
}

/* The framing headers are the engine's to write. */
static bool engine_header(weft_slice_t n)
{
    switch (n.len) {
    case 4:
        return weft_slice_ieq(n, "date");
    case 10:
        return weft_slice_ieq(n, "connection");
    case 14:
        return weft_slice_ieq(n, "content-length");
    case 17:
        return weft_slice_ieq(n, "transfer-encoding");
    default:
        return false;
    }
}

static bool valid_header(const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (nlen == 0)
        return false;
    for (size_t i = 0; i < nlen; i++)
        if (!token_char((unsigned char)name[i]))
            return false;
    for (size_t i = 0; i < vlen; i++) /* no control bytes but HTAB (RFC 9110 5.5) */
        if ((unsigned char)value[i] < 0x20 && value[i] != '\t')
            return false;
    return !engine_header((weft_slice_t){name, nlen});
}

int weft_response_header_n(weft_response_t *res, const char *name, size_t nlen, const char *value,
                           size_t vlen)
{
    if (res->head_sent || res->finished)
        return -EALREADY;
    if (!valid_header(name, nlen, value, vlen))
        return -EINVAL;
    struct resp_header *h = weft_request_alloc(res->req, sizeof(*h) + nlen + vlen);
    if (!h)
        return -ENOMEM;
    h->next = NULL;
    h->name_len = nlen;
    h->value_len = vlen;
    memcpy(h->text, name, nlen);
    memcpy(h->text + nlen, value, vlen);
    *res->headers_tail = h;
    res->headers_tail = &h->next;
    return 0;
}

int weft_response_header(weft_response_t *res, const char *name, const char *value)
{
    return weft_response_header_n(res, name, strlen(name), value, strlen(value));
}

/* ---- the head ------------------------------------------------------------ */

static size_t put(char *at, const void *src, size_t len)
{
    memcpy(at, src, len);
    return len;
}

static size_t head_size(const weft_response_t *res)
{
    size_t n = 160; /* status line, Server, framing, Connection, CRLF */
    for (const struct resp_header *h = res->headers; h; h = h->next)
        n += h->name_len + h->value_len + 4;
    return n + 48; /* Date */
}

/* Decimal digits of v at out; their count. */
static size_t put_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10));
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static size_t put_status_line(char *out, int status)
{
    const char *reason = weft_http_reason(status);
    size_t n = put(out, "HTTP/1.1 ", 9);
    n += put_u64(out + n, (uint64_t)status);
    out[n++] = ' ';
    n += put(out + n, reason, strlen(reason));
    return n + put(out + n, "\r\n", 2);
}

/* 204 and 304 answers never carry a body, nor a Content-Length (RFC 9110
   8.6: a 304's would have to be the full representation's, which the
   engine does not know); HEAD answers say the length but send nothing. */
static bool bodiless_status(int status)
{
    return status == 204 || status == 304;
}

static bool no_body(const weft_response_t *res)
{
    return res->req->head_only || bodiless_status(res->status);
}

static size_t format_head(weft_response_t *res, struct http_conn *c, char *out, int64_t length)
{
    size_t n = put_status_line(out, res->status);
    size_t dlen;
    const char *date = weft__http_date(c->hl, &dlen);
    n += put(out + n, date, dlen);
    n += put(out + n, "Server: weft\r\n", 14);
    for (const struct resp_header *h = res->headers; h; h = h->next) {
        n += put(out + n, h->text, h->name_len);
        n += put(out + n, ": ", 2);
        n += put(out + n, h->text + h->name_len, h->value_len);
        n += put(out + n, "\r\n", 2);
    }
    if (res->mode == OUT_LENGTH && !bodiless_status(res->status)) {
        n += put(out + n, "Content-Length: ", 16);
        n += put_u64(out + n, (uint64_t)length);
        n += put(out + n, "\r\n", 2);
    } else if (res->mode == OUT_CHUNKED)
        n += put(out + n, "Transfer-Encoding: chunked\r\n", 28);
    if (res->close_after)
        n += put(out + n, "Connection: close\r\n", 19);
    else if (res->req->http_minor == 0)
        n += put(out + n, "Connection: keep-alive\r\n", 24);
    n += put(out + n, "\r\n", 2);
    return n;
}

static void count_status(struct http_loop *hl, int status)
{
    atomic_fetch_add_explicit(&hl->fig->by_class[status / 100 % 6], 1, memory_order_relaxed);
}

static int send_head(weft_response_t *res, enum out_mode mode, int64_t length)
{
    struct http_conn *c = res->req->conn;
    res->mode = (uint8_t)mode;
    res->close_after = res->close_after || !res->req->keep_alive || (c->flags & CF_CLOSE_AFTER) ||
                       c->hl->stopping || mode == OUT_UNTIL_CLOSE;
    char stack[HEAD_STACK];
    size_t size = head_size(res);
    char *buf = size <= sizeof(stack) ? stack : weft__malloc(size);
    if (!buf)
        return -ENOMEM;
    size_t n = format_head(res, c, buf, length);
    int r = weft__out_append(c, buf, n);
    if (buf != stack)
        weft__free(buf);
    res->head_sent = true;
    count_status(c->hl, res->status);
    return r;
}

/* ---- whole bodies --------------------------------------------------------- */

/* A whole answer to a streamed request whose body is still coming: the
   connection closes after it (the rest is discarded while lingering). */
static bool body_unread(const struct weft_request *r)
{
    return r->streamed && !r->in->message_done;
}

int weft_response_send(weft_response_t *res, const void *body, size_t len)
{
    int r = check_open(res);
    if (r)
        return r;
    if (res->head_sent)
        return -EALREADY;
    struct http_conn *c = res->req->conn;
    res->close_after |= body_unread(res->req);
    r = send_head(res, OUT_LENGTH, (int64_t)len);
    res->bytes = no_body(res) ? 0 : len;
    if (r == 0 && !no_body(res))
        r = weft__out_append(c, body, len);
    if (r < 0)
        res->close_after = true;
    finish(res);
    return r;
}

int weft_response_send_borrowed(weft_response_t *res, const void *body, size_t len,
                                void (*release)(void *), void *arg)
{
    int r = check_open(res);
    if (r == 0 && res->head_sent)
        r = -EALREADY;
    if (r) {
        if (release)
            release(arg);
        return r;
    }
    struct http_conn *c = res->req->conn;
    res->close_after |= body_unread(res->req);
    r = send_head(res, OUT_LENGTH, (int64_t)len);
    res->bytes = no_body(res) ? 0 : len;
    if (r == 0 && !no_body(res) && len)
        r = weft__out_append_borrowed(c, body, len, release, arg);
    else if (release)
        release(arg);
    if (r < 0)
        res->close_after = true;
    finish(res);
    return r;
}

/* Whether len bytes from offset fit an off_t and a queue's size_t. */
static bool file_range_ok(uint64_t offset, uint64_t len)
{
    return offset <= INT64_MAX && len <= INT64_MAX - offset && (uint64_t)(size_t)len == len;
}

/* 0, or the error having closed fd (and finished the response if its
   client is gone; an invalid call leaves it open, to be answered). */
static int send_file_check(weft_response_t *res, int fd, uint64_t offset, uint64_t len)
{
    int r = res->finished                           ? -EALREADY
            : fd < 0 || !file_range_ok(offset, len) ? -EINVAL
                                                    : check_open(res);
    if (r == 0 && res->head_sent)
        r = -EALREADY;
    if (r && fd >= 0)
        close(fd);
    return r;
}

int weft_response_send_file(weft_response_t *res, int fd, uint64_t offset, uint64_t len)
{
    int r = send_file_check(res, fd, offset, len);
    if (r)
        return r;
    struct http_conn *c = res->req->conn;
    bool body = !no_body(res) && len;
    res->close_after |= body_unread(res->req);
    r = send_head(res, OUT_LENGTH, (int64_t)len);
    res->bytes = no_body(res) ? 0 : len;
    if (r == 0 && body)
        r = weft__out_append_file(c, fd, (int64_t)offset, (size_t)len); /* takes fd */
    else
        close(fd); /* HEAD, an empty range, or the head failed */
    if (r < 0)
        res->close_after = true;
    finish(res);
    return r;
}

int weft_response_send_error(weft_response_t *res, int status, const char *text)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "%s\n", text ? text : weft_http_reason(status));
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(body) ? (size_t)n : sizeof(body) - 1;
    int r = weft_response_status(res, status);
    if (r == 0)
        r = weft_response_header(res, "Content-Type", "text/plain; charset=utf-8");
    if (r < 0 && r != -EALREADY)
        return r;
    return weft_response_send(res, body, len);
}

/* ---- streaming ------------------------------------------------------------ */

int weft_response_begin(weft_response_t *res, int64_t content_length)
{
    int r = check_open(res);
    if (r)
        return r;
    if (res->head_sent)
        return -EALREADY;
    if (bodiless_status(res->status))
        content_length = 0; /* nothing may follow the head */
    enum out_mode mode = content_length >= 0         ? OUT_LENGTH
                         : res->req->http_minor >= 1 ? OUT_CHUNKED
                                                     : OUT_UNTIL_CLOSE;
    res->remaining = content_length;
    r = send_head(res, mode, content_length);
    weft__conn_kick(res->req->conn);
    return r;
}

static int above_high_water(struct http_conn *c)
{
    return weft__out_queued(c) >= c->hl->limits->output_high_water ? 1 : 0;
}

int weft_response_write(weft_response_t *res, const void *data, size_t len)
{
    if (res->finished)
        return -EALREADY;
    struct http_conn *c = res->req->conn;
    if (!c)
        return -ECONNRESET;
    if (!res->head_sent)
        return -EINVAL;
    if (res->mode == OUT_LENGTH) {
        if ((int64_t)len > res->remaining)
            return -EINVAL;
        res->remaining -= (int64_t)len;
    }
    int r = 0;
    if (!no_body(res) && len) {
        res->bytes += len;
        if (res->mode == OUT_CHUNKED) {
            char size[24];
            int n = snprintf(size, sizeof(size), "%zx\r\n", len);
            r = weft__out_append(c, size, (size_t)n);
            if (r == 0)
                r = weft__out_append(c, data, len);
            if (r == 0)
                r = weft__out_append(c, "\r\n", 2);
        } else {
            r = weft__out_append(c, data, len);
        }
    }
    if (r < 0)
        return r;
    weft__conn_kick(c);
    return res->req->conn ? above_high_water(c) : -ECONNRESET;
}

static void drain_posted(void *arg)
{
    struct exchange *ex = arg;
    weft_response_t *res = &ex->res;
    res->drain_posted = false;
    if (res->finished) {
        release_exchange(ex);
        return;
    }
    void (*cb)(weft_response_t *, void *) = res->drain_cb;
    res->drain_cb = NULL;
    if (cb)
        cb(res, res->drain_arg);
}

int weft_response_on_drain(weft_response_t *res, void (*cb)(weft_response_t *, void *), void *arg)
{
    if (res->finished)
        return -EALREADY;
    res->drain_cb = cb;
    res->drain_arg = arg;
    struct http_conn *c = res->req->conn;
    bool now = !c || weft__out_queued(c) < c->hl->limits->output_high_water / 2;
    if (!now || res->drain_posted)
        return 0; /* conn.c calls it when the queue drains */
    int r = weft_loop_post(res->req->hl->loop, drain_posted, exchange_of(res));
    if (r == 0)
        res->drain_posted = true;
    return r;
}

/* Called by conn.c when the queue fell below the low-water mark, or the
   client went away. */
void weft__response_drained(weft_response_t *res)
{
    void (*cb)(weft_response_t *, void *) = res->drain_cb;
    if (!cb || res->drain_posted)
        return;
    res->drain_cb = NULL;
    cb(res, res->drain_arg);
}

int weft_response_end(weft_response_t *res)
{
    int r = check_open(res);
    if (r)
        return r;
    if (!res->head_sent)
        return -EINVAL;
    struct http_conn *c = res->req->conn;
    if (res->mode == OUT_CHUNKED && !no_body(res))
        r = weft__out_append(c, "0\r\n\r\n", 5);
    if (res->mode == OUT_LENGTH && res->remaining > 0)
        r = -EPROTO; /* the framing promised more: the connection must close */
    if (r < 0)
        res->close_after = true;
    finish(res);
    return r;
}

void weft_response_abort(weft_response_t *res)
{
    if (res->finished)
        return;
    if (!res->req->conn) {
        finish(res);
        return;
    }
    if (!res->head_sent) {
        res->close_after = true;
        weft_response_send_error(res, 500, NULL);
        return;
    }
    res->close_after = true;
    res->req->conn->flags |= CF_CLOSE_AFTER;
    finish(res);
}

bool weft_response_finished(const weft_response_t *res)
{
    return res->finished;
}

bool weft_response_client_gone(const weft_response_t *res)
{
    return res->req->conn == NULL;
}

weft_request_t *weft_response_request(weft_response_t *res)
{
    return res->req;
}

/* The connection died while a handler holds the request: the exchange
   (and the read buffer it points into) now belongs to the handler alone,
   until it finishes the response. A streamer waiting to write is told. */
void weft__exchange_client_gone(struct exchange *ex)
{
    ex->req.conn = NULL;
    ex->req.in->conn = NULL;
    /* Held: the reader and the app's hook may finish the response, which
       would free the exchange under the calls that follow. */
    ex->res.held = true;
    bool reading = ex->req.body_fn && !ex->req.body_ended;
    weft__body_client_gone(&ex->req);
    const struct http_site *site = ex->req.site;
    if (site->on_gone)
        site->on_gone(&ex->req, &ex->res, true, site->handler_arg);
    if (!ex->res.finished)
        weft__response_drained(&ex->res);
    ex->res.held = false;
    if (ex->res.finished)
        release_exchange(ex);
    else if (reading && !ex->res.head_sent)
        finish(&ex->res); /* the reader got its error and left the answer to
                             the engine, which has nobody to send it to */
}

int weft_response_code(const weft_response_t *res)
{
    return res->status;
}

uint64_t weft_response_bytes(const weft_response_t *res)
{
    return res->bytes;
}

/* ---- the engine's own answers -------------------------------------------- */

/* Answers a request the engine rejected (no exchange, no handler): status,
   a one-line body, Connection: close. */
int weft__respond_error(struct http_conn *c, int status, bool head_only)
{
    char buf[512];
    size_t dlen;
    const char *date = weft__http_date(c->hl, &dlen);
    const char *reason = weft_http_reason(status);
    int n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 %d %s\r\n%.*sServer: weft\r\nContent-Type: text/plain; "
                     "charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
                     status, reason, (int)dlen, date, strlen(reason) + 1, head_only ? "" : reason);
    if (head_only)
        n--; /* the head of a HEAD answer: no body, not even its newline */
    count_status(c->hl, status);
    atomic_fetch_add_explicit(&c->hl->fig->rejected, 1, memory_order_relaxed);
    return weft__out_append(c, buf, (size_t)n);
}
