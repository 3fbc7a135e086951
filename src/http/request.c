/*
 * request.c - the request a handler sees, and the exchange (request plus
 * response) it lives in.
 *
 * An exchange is created when a request's last byte has been parsed and
 * lives until its response is finished. Its request points into the
 * connection's read buffer (zero copies), which it holds a reference to:
 * the buffer does not move or go away while a handler holds the request,
 * even if the client disconnects. Exchanges are recycled per loop.
 * Per-request scratch memory (weft_request_alloc, response headers) comes
 * from a small arena that dies with the exchange, except for its first
 * chunk, which the recycled exchange keeps.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "http/http-int.h"
#include "sync/clock.h"

#define EXCHANGE_CACHE 64
#define ARENA_CHUNK    1024

bool weft_slice_eq(weft_slice_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

static unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
}

bool weft_slice_ieq(weft_slice_t s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (ascii_lower((unsigned char)s.ptr[i]) != ascii_lower((unsigned char)lit[i]))
            return false;
    return true;
}

/* ---- exchanges ----------------------------------------------------------- */

static void split_target(struct weft_request *r)
{
    const char *url = r->in->data + r->url.off;
    const char *q = memchr(url, '?', r->url.len);
    size_t path_len = q ? (size_t)(q - url) : r->url.len;
    r->path = (struct span){r->url.off, (uint32_t)path_len};
    r->query =
        q ? (struct span){r->url.off + (uint32_t)path_len + 1, r->url.len - (uint32_t)path_len - 1}
          : (struct span){0, 0};
}

struct exchange *weft__exchange_new(struct http_conn *c)
{
    struct http_loop *hl = c->hl;
    struct exchange *ex = hl->free_ex;
    if (ex) {
        hl->free_ex = ex->next_free;
        hl->n_free_ex--;
    } else if (!(ex = weft__calloc(1, sizeof(*ex)))) {
        return NULL;
    }
    struct arena_chunk *spare = ex->spare;
    memset(ex, 0, sizeof(*ex));
    ex->spare = spare;
    struct inbuf *in = c->in;
    struct weft_request *r = &ex->req;
    r->conn = c;
    r->hl = hl;
    r->site = c->site;
    r->time_ns = hl->read_ns; /* when the bytes that completed it were read */
    r->in = in;
    r->peer = c->peer;
    in->refs++;
    r->method = in->method;
    r->url = in->url;
    r->body = in->body;
    r->fields = in->fields;
    r->n_fields = in->n_fields;
    r->n_trailers = in->n_trailers;
    r->http_minor = llhttp_get_http_minor(&in->parser);
    /* Keep-alive from our own reading of Connection (llhttp's misses a
       token followed by a tab): HTTP/1.1 unless "close", HTTP/1.0 only
       with "keep-alive". */
    r->keep_alive = !(c->flags & CF_CLOSE_AFTER) && !in->conn_close && !hl->stopping &&
                    (r->http_minor >= 1 || in->conn_keep_alive);
    r->head_only = llhttp_get_method(&in->parser) == HTTP_HEAD;
    r->streamed = in->streaming;
    split_target(r);
    weft__request_resolve_client(r, c); /* client.c: behind proxies */
    ex->res.req = r;
    ex->res.status = 200;
    ex->res.headers_tail = &ex->res.headers;
    return ex;
}

static void inbuf_unref(struct http_loop *hl, struct inbuf *in);

static void exchange_release(struct exchange *ex)
{
    weft__free(ex->spare);
    weft__free(ex);
}

void weft__exchange_free(struct exchange *ex, struct http_loop *hl)
{
    for (struct arena_chunk *a = ex->req.arena, *next; a; a = next) {
        next = a->next;
        if (!ex->spare && a->cap == ARENA_CHUNK) {
            a->used = 0; /* kept for the next request */
            ex->spare = a;
        } else {
            weft__free(a);
        }
    }
    inbuf_unref(hl, ex->req.in);
    if (hl->n_free_ex < EXCHANGE_CACHE) {
        ex->next_free = hl->free_ex;
        hl->free_ex = ex;
        hl->n_free_ex++;
    } else {
        exchange_release(ex);
    }
}

/* ---- read buffers -------------------------------------------------------- */

#define INBUF_START 4096
#define INBUF_CACHE 256

struct inbuf *weft__inbuf_get(struct http_conn *c)
{
    struct http_loop *hl = c->hl;
    struct inbuf *in = hl->free_bufs;
    if (in) {
        hl->free_bufs = in->next_free;
        hl->n_free_bufs--;
    } else {
        in = weft__malloc(sizeof(*in) + INBUF_START);
        struct field *fields = weft__malloc(hl->limits->max_header_count * sizeof(*fields));
        if (!in || !fields) {
            weft__free(in);
            weft__free(fields);
            return NULL;
        }
        in->cap = INBUF_START;
        in->fields = fields;
    }
    llhttp_init(&in->parser, HTTP_REQUEST, &weft__http_settings);
    in->conn = c;
    in->refs = 1;
    in->start = in->parsed = in->end = 0;
    weft__inbuf_reset_request(in);
    return in;
}

static void inbuf_unref(struct http_loop *hl, struct inbuf *in)
{
    if (--in->refs > 0)
        return;
    if (in->cap == INBUF_START && hl->n_free_bufs < INBUF_CACHE && !hl->stopping) {
        in->next_free = hl->free_bufs;
        hl->free_bufs = in;
        hl->n_free_bufs++;
        return;
    }
    weft__free(in->fields);
    weft__free(in);
}

void weft__inbuf_put(struct http_conn *c)
{
    struct inbuf *in = c->in;
    c->in = NULL;
    if (in) {
        in->conn = NULL;
        inbuf_unref(c->hl, in);
    }
}

/* Grows the buffer (only while no handler holds a request in it). */
int weft__inbuf_grow(struct http_conn *c, size_t want)
{
    struct inbuf *in = c->in;
    if (in->refs > 1)
        return -EBUSY;
    size_t cap = in->cap;
    while (cap < want)
        cap *= 2;
    struct inbuf *bigger = weft__realloc(in, sizeof(*in) + cap);
    if (!bigger)
        return -ENOMEM;
    bigger->cap = cap; /* llhttp keeps no pointer into data between executes */
    c->in = bigger;
    return 0;
}

void weft__http_loop_free_caches(struct http_loop *hl)
{
    while (hl->free_bufs) {
        struct inbuf *in = hl->free_bufs;
        hl->free_bufs = in->next_free;
        weft__free(in->fields);
        weft__free(in);
    }
    hl->n_free_bufs = 0;
    while (hl->free_ex) {
        struct exchange *ex = hl->free_ex;
        hl->free_ex = ex->next_free;
        exchange_release(ex);
    }
    hl->n_free_ex = 0;
}

/* ---- the request API ----------------------------------------------------- */

static weft_slice_t slice(const weft_request_t *r, struct span s)
{
    return (weft_slice_t){r->in->data + s.off, s.len};
}

weft_slice_t weft_request_method(const weft_request_t *r)
{
    return slice(r, r->method);
}

weft_slice_t weft_request_target(const weft_request_t *r)
{
    return slice(r, r->url);
}

weft_slice_t weft_request_path(const weft_request_t *r)
{
    return slice(r, r->path);
}

weft_slice_t weft_request_query(const weft_request_t *r)
{
    return slice(r, r->query);
}

unsigned weft_request_http_minor(const weft_request_t *r)
{
    return r->http_minor;
}

static bool find(const weft_request_t *r, unsigned from, unsigned to, const char *name,
                 weft_slice_t *value)
{
    for (unsigned i = from; i < to; i++) {
        if (weft_slice_ieq(slice(r, r->fields[i].name), name)) {
            if (value)
                *value = slice(r, r->fields[i].value);
            return true;
        }
    }
    return false;
}

bool weft_request_header(const weft_request_t *r, const char *name, weft_slice_t *value)
{
    return find(r, 0, r->n_fields, name, value);
}

size_t weft_request_header_count(const weft_request_t *r)
{
    return r->n_fields;
}

bool weft_request_header_at(const weft_request_t *r, size_t i, weft_slice_t *name,
                            weft_slice_t *value)
{
    if (i >= r->n_fields)
        return false;
    if (name)
        *name = slice(r, r->fields[i].name);
    if (value)
        *value = slice(r, r->fields[i].value);
    return true;
}

bool weft_request_trailer(const weft_request_t *r, const char *name, weft_slice_t *value)
{
    return find(r, r->n_fields, r->n_fields + r->n_trailers, name, value);
}

weft_slice_t weft_request_body(const weft_request_t *r)
{
    return slice(r, r->body);
}

bool weft_request_keep_alive(const weft_request_t *r)
{
    return r->keep_alive;
}

const struct sockaddr *weft_request_peer(const weft_request_t *r)
{
    return &r->peer.sa;
}

int64_t weft_request_time_ns(const weft_request_t *r)
{
    return r->time_ns;
}

weft_loop_t *weft_request_loop(const weft_request_t *r)
{
    return r->hl->loop;
}

void *weft_request_alloc(weft_request_t *r, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    struct arena_chunk *a = r->arena;
    if (!a || a->cap - a->used < size) {
        struct exchange *ex = (struct exchange *)r;
        size_t cap = size > ARENA_CHUNK ? size : ARENA_CHUNK;
        struct arena_chunk *fresh = cap == ARENA_CHUNK ? ex->spare : NULL;
        if (fresh)
            ex->spare = NULL;
        else if (!(fresh = weft__malloc(sizeof(*fresh) + cap)))
            return NULL;
        fresh->cap = cap;
        fresh->used = 0;
        fresh->next = a;
        r->arena = a = fresh;
    }
    void *p = a->data + a->used;
    a->used += size;
    return p;
}
