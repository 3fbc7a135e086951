/*
 * parser.c - turning bytes into a request: llhttp's callbacks, weft's own
 * strictness checks, and the limits.
 *
 * llhttp (8.1, built with LLHTTP_STRICT_MODE) parses. Everything it
 * reports is recorded as offsets into the connection's read buffer, so the
 * request costs no copies: split callbacks (a read ending mid-header) are
 * joined because the buffer holds the request contiguously, and a chunked
 * body is de-chunked in place (each piece moved down over the chunk framing
 * llhttp has already passed).
 *
 * What llhttp 8.1 accepts even in strict mode, weft rejects itself, with
 * 400 and a closed connection (DESIGN "HTTP"): obs-fold, an empty header
 * name, a bare LF or CR in the head (the head scanner below), a missing or
 * duplicate Host on HTTP/1.1, non-ASCII or control bytes in the target,
 * Content-Length with Transfer-Encoding, more than one Content-Length,
 * Transfer-Encoding in HTTP/1.0. Limits answer 414 (target), 431 (head
 * size or field count) and 413 (body).
 *
 * A callback rejects by setting in->reject and returning HPE_USER; the
 * message-complete callback pauses the parser so the connection dispatches
 * one request at a time and knows exactly where the next one starts. A
 * request the site streams pauses at the end of its head instead (it is
 * dispatched there), then at every body piece, which body.c hands to the
 * reader in place instead of collecting it.
 */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "http/http-int.h"

static struct inbuf *inbuf_of(llhttp_t *p)
{
    return (struct inbuf *)p; /* the parser is the first member */
}

static const struct http_limits *limits_of(struct inbuf *in)
{
    return in->conn->hl->limits;
}

static int reject(struct inbuf *in, int status)
{
    if (!in->reject)
        in->reject = status;
    return HPE_USER;
}

static uint32_t offset_of(struct inbuf *in, const char *at)
{
    return (uint32_t)(at - in->data);
}

/* Appends a callback's bytes to a span: the first piece sets its start,
   later ones (a read ended inside it) are contiguous in the buffer. */
static void extend(struct inbuf *in, struct span *s, const char *at, size_t len)
{
    if (s->len == 0)
        s->off = offset_of(in, at);
    s->len += (uint32_t)len;
}

void weft__inbuf_reset_request(struct inbuf *in)
{
    in->reject = 0;
    in->method = in->url = in->body = (struct span){0, 0};
    in->n_fields = in->n_trailers = 0;
    in->last_cb = 0;
    in->in_trailers = in->head_done = in->message_done = in->expect_continue = false;
    in->continue_sent = in->conn_close = in->conn_keep_alive = false;
    in->has_cl = in->has_te = false;
    in->n_host = in->n_cl = 0;
    in->streaming = false;
    in->piece = (struct span){0, 0};
    in->body_total = 0;
    in->scan_pos = in->start;
    in->scan_state = HS_LINE;
    in->scan_line = 0;
}

/* ---- weft's head checks -------------------------------------------------- */

/* Scans the head bytes up to `upto` (the bytes llhttp has just been given),
   up to the blank line that ends the head: every line must end in CRLF (no
   bare LF or CR), a header line must not start with whitespace (obs-fold)
   or a colon (empty name). Scanning only what llhttp parsed keeps errors in
   byte order, so how the input was split never changes the verdict.
   Returns 0 or 400. */
/* The first CR or LF in d[i, end), or end: 16 bytes at a time where SSE2
   is there (x86-64 always). */
static size_t line_end(const unsigned char *d, size_t i, size_t end)
{
#ifdef __SSE2__
    const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
    for (; i + 16 <= end; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(d + i));
        unsigned m =
            (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
        if (m)
            return i + (size_t)__builtin_ctz(m);
    }
#endif
    while (i < end && d[i] != '\r' && d[i] != '\n')
        i++;
    return i;
}

int weft__scan_head(struct inbuf *in, size_t upto)
{
    const unsigned char *d = (const unsigned char *)in->data;
    uint8_t st = in->scan_state;
    uint32_t line = in->scan_line;
    size_t i = in->scan_pos;
    while (i < upto && st != HS_DONE) {
        if (st == HS_LINE) { /* the hot part: skip to the line's end */
            size_t from = i;
            i = line_end(d, i, upto);
            line += (uint32_t)(i - from);
            if (i == upto)
                break;
            if (d[i] == '\n')
                return 400; /* bare LF */
            st = HS_CR;
        } else if (st == HS_LINE_START) {
            if (d[i] == ' ' || d[i] == '\t' || d[i] == ':' || d[i] == '\n')
                return 400; /* obs-fold, empty field name, bare LF */
            st = d[i] == '\r' ? HS_CR : HS_LINE;
            line = d[i] != '\r';
        } else { /* HS_CR */
            if (d[i] != '\n')
                return 400; /* bare CR */
            /* An empty line ends the head (the request line is never empty:
               llhttp refuses a request that starts with one). */
            st = line == 0 && i > in->start + 1 ? HS_DONE : HS_LINE_START;
            line = 0;
        }
        i++;
    }
    in->scan_pos = i;
    in->scan_state = st;
    in->scan_line = line;
    return 0;
}

/* ---- llhttp callbacks ---------------------------------------------------- */

static int on_message_begin(llhttp_t *p)
{
    struct inbuf *in = inbuf_of(p);
    in->conn->flags |= CF_STARTED;
    return 0;
}

static int on_method(llhttp_t *p, const char *at, size_t len)
{
    struct inbuf *in = inbuf_of(p);
    extend(in, &in->method, at, len);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct inbuf *in = inbuf_of(p);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)at[i];
        if (ch <= 0x20 || ch >= 0x7f)
            return reject(in, 400); /* RFC 9112 3.2: no raw non-ASCII */
    }
    extend(in, &in->url, at, len);
    if (in->url.len > limits_of(in)->max_uri_size)
        return reject(in, 414);
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct inbuf *in = inbuf_of(p);
    if (in->last_cb != 1) {
        if (in->n_fields + in->n_trailers >= limits_of(in)->max_header_count)
            return reject(in, 431);
        unsigned i = in->n_fields + in->n_trailers;
        in->fields[i] = (struct field){{0, 0}, {0, 0}};
        if (in->in_trailers)
            in->n_trailers++;
        else
            in->n_fields++;
        in->last_cb = 1;
    }
    extend(in, &in->fields[in->n_fields + in->n_trailers - 1].name, at, len);
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct inbuf *in = inbuf_of(p);
    in->last_cb = 2;
    extend(in, &in->fields[in->n_fields + in->n_trailers - 1].value, at, len);
    return 0;
}

static bool span_ieq(struct inbuf *in, struct span s, const char *lit)
{
    return weft_slice_ieq((weft_slice_t){in->data + s.off, s.len}, lit);
}

/* Connection is a comma-separated list of tokens with optional whitespace
   around each (RFC 9110 7.6.1, 5.6.1): "close" or "keep-alive" anywhere in
   it counts, "close\t" included. */
static void connection_tokens(struct inbuf *in, struct span v)
{
    const char *p = in->data + v.off, *end = p + v.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *tok = p;
        while (p < end && *p != ',')
            p++;
        const char *tend = p;
        while (tend > tok && (tend[-1] == ' ' || tend[-1] == '\t'))
            tend--;
        weft_slice_t t = {tok, (size_t)(tend - tok)};
        if (weft_slice_ieq(t, "close"))
            in->conn_close = true;
        else if (weft_slice_ieq(t, "keep-alive"))
            in->conn_keep_alive = true;
    }
}

/* Checks that the request line names HTTP (RFC 9112 2.3): llhttp 8.1 also
   takes RTSP and ICE. The version follows the target and one space. */
static bool protocol_is_http(struct inbuf *in)
{
    size_t at = (size_t)in->url.off + in->url.len + 1;
    return at + 5 <= in->end && !memcmp(in->data + at, "HTTP/", 5);
}

/* Notes what the framing checks need to know about a header. */
static int on_header_value_complete(llhttp_t *p)
{
    struct inbuf *in = inbuf_of(p);
    if (in->in_trailers)
        return 0;
    struct field *f = &in->fields[in->n_fields - 1];
    if (span_ieq(in, f->name, "host"))
        in->n_host++;
    else if (span_ieq(in, f->name, "content-length"))
        in->n_cl++, in->has_cl = true;
    else if (span_ieq(in, f->name, "transfer-encoding"))
        in->has_te = true;
    else if (span_ieq(in, f->name, "expect") && span_ieq(in, f->value, "100-continue"))
        in->expect_continue = true;
    else if (span_ieq(in, f->name, "connection"))
        connection_tokens(in, f->value);
    return 0;
}

/* Whether the site wants this request at its head, its body streamed, and
   the body's limit. */
static bool streams(struct inbuf *in)
{
    const struct http_site *site = in->conn->site;
    in->body_limit = limits_of(in)->max_body_size;
    if (!site->streams)
        return false;
    const char *url = in->data + in->url.off;
    const char *q = memchr(url, '?', in->url.len);
    weft_slice_t method = {in->data + in->method.off, in->method.len};
    weft_slice_t path = {url, q ? (size_t)(q - url) : in->url.len};
    in->streaming = site->streams(method, path, &in->body_limit, site->handler_arg);
    return in->streaming;
}

/* The smuggling checks and the body limit, once the head is complete. */
static int on_headers_complete(llhttp_t *p)
{
    struct inbuf *in = inbuf_of(p);
    in->head_done = true;
    unsigned minor = llhttp_get_http_minor(p);
    if (!protocol_is_http(in))
        return reject(in, 400);
    if (llhttp_get_http_major(p) != 1)
        return reject(in, 505);
    if (minor == 1 && in->n_host != 1)
        return reject(in, 400); /* RFC 9112 3.2: exactly one Host */
    if (in->n_host > 1 || in->n_cl > 1 || (in->has_cl && in->has_te) || (minor == 0 && in->has_te))
        return reject(in, 400); /* RFC 9112 6.1, 6.3: smuggling vectors */
    if (llhttp_get_method(p) == HTTP_CONNECT)
        return reject(in, 405); /* answered, never tunnelled */
    bool streamed = streams(in);
    if (in->has_cl && p->content_length > in->body_limit)
        return reject(in, 413);
    /* An Upgrade is answered as a plain request; the connection closes
       after it, since the client may switch protocols right after. */
    if (p->upgrade) {
        p->upgrade = 0;
        in->conn->flags |= CF_CLOSE_AFTER;
    }
    return streamed ? HPE_PAUSED : 0; /* dispatched now, the body later */
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct inbuf *in = inbuf_of(p);
    if (in->streaming) { /* pause: body.c hands the piece to the reader */
        in->body_total += len;
        if (in->body_total > in->body_limit)
            return reject(in, 413);
        in->piece = (struct span){offset_of(in, at), (uint32_t)len};
        in->conn->body_seen += len;
        return HPE_PAUSED;
    }
    if ((uint64_t)in->body.len + len > in->body_limit)
        return reject(in, 413);
    uint32_t off = offset_of(in, at);
    if (in->body.len == 0) {
        in->body.off = off;
    } else if (off != in->body.off + in->body.len) {
        /* A chunked piece: move it down over the framing already parsed. */
        memmove(in->data + in->body.off + in->body.len, at, len);
    }
    in->body.len += (uint32_t)len;
    in->conn->body_seen += len;
    return 0;
}

static int on_chunk_header(llhttp_t *p)
{
    struct inbuf *in = inbuf_of(p);
    if (p->content_length == 0) {
        in->in_trailers = true; /* the last chunk: trailers may follow */
        in->last_cb = 0;
    }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct inbuf *in = inbuf_of(p);
    in->message_done = true;
    return HPE_PAUSED; /* the connection dispatches, then resumes */
}

const llhttp_settings_t weft__http_settings = {
    .on_message_begin = on_message_begin,
    .on_method = on_method,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_message_complete = on_message_complete,
};
