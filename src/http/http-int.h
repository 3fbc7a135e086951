/*
 * http-int.h - the HTTP/1.1 connection engine's private structures:
 *
 *   conn.c       a connection's life: reading, dispatching, closing, linger
 *   parser.c     llhttp callbacks, weft's own strictness checks, limits
 *   request.c    the request a handler sees
 *   response.c   the response: status, headers, bodies, streaming
 *   body.c       request bodies read as a stream
 *   output.c     batching answers into one writev, queued output, drain
 *   timers.c     per-loop deadline lists and the tick that runs them
 *   date.c       the Date header, formatted once per second per loop
 *   figures.c    counters in private or shared (multi-process) memory
 *   status.c     reason phrases and the engine's error -> status table
 *   transport.c  the plain TCP transport (the seam for TLS later)
 *   proxy.c      the PROXY protocol v1 header, before HTTP (proxy-int.h)
 *   client.c     the client's address behind proxies (proxy-int.h)
 *   addr.c       IP addresses and CIDR sets (proxy-int.h)
 *
 * I/O model (docs/architecture.md): every connection is a uv_poll_t on a
 * non-blocking socket we read and writev ourselves, as h2o does, rather
 * than a uv_tcp_t: it is 88 bytes smaller, reads go straight into our own
 * buffer, a whole batch of pipelined answers leaves in one writev, and
 * sendfile needs no detour. The socket calls go through a transport (a
 * table of functions) so TLS can slot in.
 *
 * Memory: an idle keep-alive connection holds its poll handle and this
 * struct only: the read buffer (with the parser and the request being
 * read) comes from a per-loop cache when bytes arrive and goes back when
 * everything read has been answered; output is queued only when the socket
 * would block; timeouts are links into per-loop lists, not timer handles.
 *
 * Threading: everything here belongs to one loop thread. Only the server's
 * connection count is shared between loops (an atomic).
 */
#ifndef WEFT_HTTP_INT_H
#define WEFT_HTTP_INT_H

#include <llhttp.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "error/base.h"
#include "http/proxy-int.h"
#include "weft/app.h"
#include "weft/http.h"
#include "weft/server.h"

struct http_loop;
struct http_conn;
struct inbuf;

/* ---- limits, resolved from weft_server_options_t ------------------------ */

struct http_limits {
    int64_t header_timeout_ms, idle_timeout_ms, linger_ms, send_timeout_ms;
    uint64_t body_min_rate;
    size_t max_header_size, max_uri_size, max_body_size, output_high_water;
    unsigned max_header_count, max_pipeline;
};

/* ---- timers: one FIFO per constant timeout ------------------------------ */

/* Every connection of a loop in one phase has the same timeout, so a list
   kept in arrival order is sorted by deadline: arming is an append, the
   tick pops expired heads. A connection is in at most one list. */
enum timer_list { TL_NONE, TL_HEAD, TL_IDLE, TL_BODY, TL_SEND, TL_LINGER, TL_DRAIN, TL_COUNT };

struct timer_link {
    struct timer_link *next, *prev;
    int64_t deadline_ms;
    uint8_t list; /* enum timer_list */
};

void weft__timer_arm(struct http_conn *c, enum timer_list list, int64_t timeout_ms) WEFT_INTERNAL;
void weft__timer_disarm(struct http_conn *c) WEFT_INTERNAL;
int weft__timers_start(struct http_loop *hl) WEFT_INTERNAL;
void weft__timers_stop(struct http_loop *hl) WEFT_INTERNAL;

/* ---- transport ---------------------------------------------------------- */

struct weft_transport {
    ssize_t (*read)(struct http_conn *c, void *buf, size_t len);
    ssize_t (*writev)(struct http_conn *c, const struct iovec *iov, int n);
    int (*shutdown_write)(struct http_conn *c);
    /* Bytes we sent that the peer has not acknowledged yet, or -errno. */
    ssize_t (*unacked)(struct http_conn *c);
    /* Up to len bytes of the file fd from off: bytes sent, 0 at the file's
       end, -EAGAIN when the socket is full, or -errno. The file's own
       offset is not moved. */
    ssize_t (*sendfile)(struct http_conn *c, int fd, int64_t off, size_t len);
    /* Hold partial segments back (on) until uncorked (off), so a head and
       the file behind it leave in full-sized segments. */
    void (*cork)(struct http_conn *c, bool on);
};
extern const struct weft_transport weft__tcp_transport WEFT_INTERNAL;

/* ---- reading: the buffer, the parser, the request being read ------------ */

/* A header as offsets into the read buffer (the buffer may move while a
   request is read; it never moves while a handler holds the request). */
struct span {
    uint32_t off, len;
};

struct field {
    struct span name, value;
};

enum head_scan_state { HS_LINE, HS_CR, HS_LINE_START, HS_DONE };

struct inbuf {
    llhttp_t parser; /* first: callbacks cast the parser back */
    struct http_conn *conn;
    struct inbuf *next_free; /* in the loop's cache */
    uint32_t refs;           /* the connection + a handler holding a request */
    size_t cap;              /* bytes of data[] */
    size_t start;            /* where the current request begins */
    size_t parsed;           /* bytes given to llhttp */
    size_t end;              /* bytes read */
    /* weft's own head checks (what llhttp 8.1 lets through) */
    size_t scan_pos;
    uint8_t scan_state; /* enum head_scan_state */
    uint32_t scan_line; /* bytes in the current head line */
    /* the request being read */
    int reject; /* status to answer instead (400, 413, 414, 431) */
    struct span method, url, body;
    struct field *fields; /* max_header_count, then trailers after them */
    unsigned n_fields, n_trailers;
    uint8_t last_cb; /* 0, 1 field, 2 value: joining split callbacks */
    bool in_trailers, head_done, message_done, expect_continue, continue_sent;
    bool conn_close, conn_keep_alive; /* tokens of the Connection header */
    bool has_cl, has_te;
    unsigned n_host, n_cl;
    /* a streamed body (body.c): dispatched at the head, pieces in place */
    bool streaming;
    struct span piece; /* the piece llhttp paused on, not yet delivered */
    size_t body_base;  /* where the body begins: seen pieces are dropped */
    uint64_t body_total, body_limit;
    char data[];
};

/* ---- the exchange: a request and its response --------------------------- */

enum out_mode { OUT_NONE, OUT_LENGTH, OUT_CHUNKED, OUT_UNTIL_CLOSE };

struct resp_header {
    struct resp_header *next;
    size_t name_len, value_len;
    char text[]; /* name, then value */
};

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    char data[];
};

struct weft_request {
    struct http_conn *conn; /* NULL once the client is gone */
    struct http_loop *hl;
    const struct http_site *site;
    void *app_data;   /* the app layer's per-request state */
    int64_t time_ns;  /* when the head was complete */
    struct inbuf *in; /* holds every byte the request points at */
    struct span method, url, path, query, body;
    struct field *fields;
    unsigned n_fields, n_trailers;
    uint8_t http_minor;
    bool keep_alive, head_only;
    /* the body reader (body.c) */
    bool streamed;    /* dispatched at the head: the body comes later */
    bool body_paused; /* backpressure from the reader */
    bool body_given;  /* a whole body: its one piece was delivered */
    bool body_ended;  /* the end or an error was delivered */
    weft_body_fn body_fn;
    void *body_arg;
    struct arena_chunk *arena;
    union weft__addr peer;
    union weft__addr client; /* weft_request_client, when has_client */
    bool has_client;
};

struct weft_response {
    struct weft_request *req;
    int status;
    uint64_t bytes; /* body bytes given */
    struct resp_header *headers, **headers_tail;
    bool head_sent, finished, close_after, drain_posted;
    bool held;         /* the engine is still using the exchange: finishing defers freeing */
    uint8_t mode;      /* enum out_mode */
    int64_t remaining; /* OUT_LENGTH: body bytes still to come */
    void (*drain_cb)(weft_response_t *res, void *arg);
    void *drain_arg;
};

/* One allocation per request, recycled per loop with its first arena
   chunk (so a request that needs a little scratch memory, as every app
   request does, costs no malloc). */
struct exchange {
    struct weft_request req; /* first: a request is its exchange */
    struct weft_response res;
    struct exchange *next_free;
    struct arena_chunk *spare; /* kept from the last use */
};

/* ---- output ------------------------------------------------------------- */

/* A piece of queued output: borrowed (release called once written or
   dropped), owned bytes that follow the struct, or a file (fd >= 0: len
   bytes from file_off, sent with the transport's sendfile; the fd is the
   segment's, closed once sent or dropped). */
struct out_seg {
    struct out_seg *next;
    union {
        const char *ptr; /* fd < 0 */
        int64_t file_off;
    };
    size_t len;
    void (*release)(void *arg);
    void *arg;
    int fd; /* a file segment's, else -1 */
    char own[];
};

struct outq {
    struct out_seg *head, *tail;
    size_t bytes;
};

/* ---- the connection ----------------------------------------------------- */

enum conn_flags {
    CF_READING = 1u << 0,     /* poll has UV_READABLE */
    CF_WRITING = 1u << 1,     /* poll has UV_WRITABLE */
    CF_CLOSING = 1u << 2,     /* being closed: no more I/O */
    CF_LINGER = 1u << 3,      /* write side shut, discarding input */
    CF_PEER_EOF = 1u << 4,    /* the client sent FIN */
    CF_CLOSE_AFTER = 1u << 5, /* close once the output is written */
    CF_BATCHING = 1u << 6,    /* answers go to the loop's batch */
    CF_STARTED = 1u << 7,     /* bytes of a request arrived */
    CF_IN_DRAIN = 1u << 8,    /* inside a streaming handler's drain callback */
    CF_SERVED = 1u << 9,      /* at least one request dispatched */
    CF_PROXY_WAIT = 1u << 10, /* a PROXY protocol header must come first */
    CF_PROXIED = 1u << 11,    /* proxied holds the PROXY header's source */
};

/* What a connection serves: the handler its listener was given (the
   server puts an app's dispatcher here). */
struct http_site {
    weft_handler_fn handler;
    void *handler_arg;
    /* Optional, for the app layer: the response was finished (before the
       exchange is freed), and the client went away while a handler held
       the request (reset: true; a half-close, EOF: false). */
    void (*on_done)(weft_request_t *req, weft_response_t *res, void *arg);
    void (*on_gone)(weft_request_t *req, weft_response_t *res, bool reset, void *arg);
    /* Optional: whether the request with this method and path (up to
       '?') is dispatched at its head, its body streamed; if so, *max_body
       may raise or lower its body limit (it starts at max_body_size). */
    bool (*streams)(weft_slice_t method, weft_slice_t path, uint64_t *max_body, void *arg);
    /* Behind proxies (set by the server per listener, before it starts):
       a PROXY protocol header comes first on every connection; whose
       X-Forwarded-For is believed (NULL: nobody's). */
    bool proxy_protocol;
    const struct weft__cidrs *trusted;
};

struct http_conn {
    uv_poll_t poll; /* first: the poll callback casts back */
    struct http_loop *hl;
    const struct http_site *site;
    const struct weft_transport *tp;
    struct inbuf *in;    /* NULL while idle */
    struct outq *out;    /* NULL while nothing waits */
    struct exchange *ex; /* the request being answered */
    struct timer_link timer;
    struct http_conn *next, *prev;              /* the loop's connections */
    struct http_conn *ready_next, **ready_prev; /* buffered requests waiting */
    uint64_t body_seen;                         /* body bytes, for the minimum rate */
    uint64_t body_checked;
    uint32_t linger_unacked; /* at the last linger deadline */
    uint32_t linger_bytes;   /* discarded while lingering */
    uint16_t flags;          /* enum conn_flags */
    int fd;
    union weft__addr peer;
    union weft__addr proxied; /* the PROXY header's source (CF_PROXIED) */
};

/* ---- figures (figures.c) ---------------------------------------------------- */

/* A loop's counters: written by that loop only, summed by readers. */
struct http_figures {
    _Atomic uint64_t accepted, open, requests, rejected, timeouts;
    _Atomic uint64_t by_class[6]; /* responses per status class 1xx..5xx */
    /* latency: per weft__latency_bounds_ns bucket, the last above them all */
    _Atomic uint64_t latency[WEFT_LATENCY_BUCKETS + 1];
    _Atomic uint64_t latency_sum_ns;
    /* PROXY protocol headers taken, connections closed for a bad one */
    _Atomic uint64_t proxy_headers, proxy_rejected;
};

/* Where a server's counters live: base NULL for private memory, else slot
   `slot` of n_slots slots of slot_size bytes shared with other processes. */
struct figures_area {
    char *base;
    size_t slot_size;
    unsigned n_slots, slot;
    size_t used;     /* bytes handed out in our slot */
    uint64_t layout; /* a hash of what was handed out, in order */
};

int weft__figures_area_init(struct figures_area *a, void *base, size_t slot_size, unsigned n_slots,
                            unsigned slot) WEFT_INTERNAL;
/* Zeroed memory for counters, 64-byte aligned: from the heap, or the next
   bytes of our slot (NULL when it is full). `what` names it in the layout. */
void *weft__figures_alloc(struct figures_area *a, size_t size, const char *what) WEFT_INTERNAL;
void weft__figures_free(const struct figures_area *a, void *p) WEFT_INTERNAL;
/* After the last allocation: our slot, if laid out otherwise, is cleared. */
void weft__figures_seal(struct figures_area *a) WEFT_INTERNAL;
/* *p, or with a shared area the same counter summed over every slot laid
   out like ours. a may be NULL. */
uint64_t weft__figures_sum(const struct figures_area *a, const _Atomic uint64_t *p) WEFT_INTERNAL;

/* ---- the loop's HTTP state ---------------------------------------------- */

struct http_loop {
    struct weft_server *srv;
    weft_loop_t *loop;
    uv_loop_t *uv;
    unsigned index;
    const struct http_limits *limits;
    uv_timer_t tick;
    bool tick_open;
    struct timer_link lists[TL_COUNT]; /* sentinels */
    int64_t now_ms;
    int64_t read_ns; /* CLOCK_MONOTONIC at the last read event */
    /* Date: one line, rebuilt when the second changes */
    char date[48];
    size_t date_len;
    int64_t date_sec;
    /* caches */
    struct inbuf *free_bufs;
    unsigned n_free_bufs;
    struct exchange *free_ex;
    unsigned n_free_ex;
    /* the batch: answers of one read, written with one writev */
    struct http_conn *batch_owner;
    char *batch;
    size_t batch_len, batch_cap;
    /* connections */
    struct http_conn conns;  /* sentinel of the list */
    struct http_conn *ready; /* with requests buffered, for the check phase */
    uv_check_t check;
    bool check_open;
    struct lwatch *watches; /* this loop's listening sockets (server.c) */
    unsigned n_watches;
    unsigned n_conns;
    bool stopping;  /* draining: no new requests after the current ones */
    bool stop_sent; /* weft_loop_stop called */
    int64_t drain_deadline_ms;
    struct http_figures *fig;     /* this loop's, summed by weft_server_stats */
    weft_log_episode_t proxy_log; /* bad PROXY headers, once per episode */
};

/* The latency histogram's upper bounds (response.c). */
extern const int64_t weft__latency_bounds_ns[WEFT_LATENCY_BUCKETS] WEFT_INTERNAL;

/* conn.c */
struct http_conn *weft__conn_new(struct http_loop *hl, int fd, const struct http_site *site,
                                 const struct sockaddr *peer, socklen_t peer_len) WEFT_INTERNAL;
void weft__conn_close(struct http_conn *c) WEFT_INTERNAL;
void weft__conn_timeout(struct http_conn *c, enum timer_list list) WEFT_INTERNAL;
void weft__conn_finished(struct http_conn *c, bool close_after) WEFT_INTERNAL;
void weft__conn_kick(struct http_conn *c) WEFT_INTERNAL;
void weft__conn_schedule(struct http_conn *c) WEFT_INTERNAL;
void weft__conn_update_poll(struct http_conn *c) WEFT_INTERNAL;
void weft__http_loop_close_all(struct http_loop *hl) WEFT_INTERNAL;
void weft__http_loop_drain(struct http_loop *hl) WEFT_INTERNAL;

/* server.c: the listener side of a loop */
void weft__site_conn_closed(struct http_loop *hl) WEFT_INTERNAL;
void weft__site_tick(struct http_loop *hl) WEFT_INTERNAL;

/* parser.c */
extern const llhttp_settings_t weft__http_settings WEFT_INTERNAL;
void weft__inbuf_reset_request(struct inbuf *in) WEFT_INTERNAL;
int weft__scan_head(struct inbuf *in, size_t upto) WEFT_INTERNAL;

/* request.c / response.c */
struct exchange *weft__exchange_new(struct http_conn *c) WEFT_INTERNAL;
void weft__exchange_free(struct exchange *ex, struct http_loop *hl) WEFT_INTERNAL;
struct inbuf *weft__inbuf_get(struct http_conn *c) WEFT_INTERNAL;
void weft__inbuf_put(struct http_conn *c) WEFT_INTERNAL;
int weft__inbuf_grow(struct http_conn *c, size_t want) WEFT_INTERNAL;
void weft__http_loop_free_caches(struct http_loop *hl) WEFT_INTERNAL;
void weft__exchange_client_gone(struct exchange *ex) WEFT_INTERNAL;
void weft__response_drained(weft_response_t *res) WEFT_INTERNAL;
int weft__respond_error(struct http_conn *c, int status, bool head_only) WEFT_INTERNAL;

/* output.c */
int weft__out_append(struct http_conn *c, const void *ptr, size_t len) WEFT_INTERNAL;
int weft__out_append_borrowed(struct http_conn *c, const void *ptr, size_t len,
                              void (*release)(void *), void *arg) WEFT_INTERNAL;
int weft__out_append_file(struct http_conn *c, int fd, int64_t off, size_t len) WEFT_INTERNAL;
void weft__out_batch_begin(struct http_conn *c) WEFT_INTERNAL;
int weft__out_flush(struct http_conn *c) WEFT_INTERNAL;
void weft__out_drop(struct http_conn *c) WEFT_INTERNAL;
size_t weft__out_queued(const struct http_conn *c) WEFT_INTERNAL;

/* body.c */
bool weft__body_wanted(const struct weft_request *r) WEFT_INTERNAL;
bool weft__body_feed(struct http_conn *c) WEFT_INTERNAL;
void weft__body_fail(struct http_conn *c, int err) WEFT_INTERNAL;
void weft__body_client_gone(struct weft_request *r) WEFT_INTERNAL;

/* date.c / status.c */
const char *weft__http_date(struct http_loop *hl, size_t *len) WEFT_INTERNAL;
int weft__http_status_for(llhttp_errno_t err) WEFT_INTERNAL;

#endif /* WEFT_HTTP_INT_H */
