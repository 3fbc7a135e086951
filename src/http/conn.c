/*
 * conn.c - a connection's life: reading, dispatching requests one at a
 * time, settling (write, then decide: wait, linger, close), timeouts.
 *
 * The cycle. A readable socket is read once into the connection's buffer
 * (taken from the loop's cache if the connection was idle); `advance`
 * parses what arrived and dispatches each complete request to the handler,
 * in order, collecting the answers of this read in the loop's batch; then
 * `settle` writes the batch with one writev and decides what comes next:
 * more reading, waiting for the socket to drain (reading pauses above the
 * high-water mark), a lingering close, or nothing at all. A request whose
 * handler answers later (from a continuation) holds the connection: no
 * further request is dispatched until it is finished; then the rest of the
 * buffer is processed on the loop's next check phase.
 *
 * Closing. A close after a response (Connection: close, an error, a
 * timeout) lingers: shut the write side and read and discard what the
 * client still sends until it closes too, so that our close does not reset
 * the connection before the client has our last answer: closing with
 * unread input sends a reset at once, and the kernel drops whatever of
 * the answer it had not sent yet. Lingering ends at the client's EOF; or
 * past LINGER_BYTES discarded, once the client has acknowledged the whole
 * answer (until then we stop reading, not discarding without end); or
 * after linger_ms, extended by linger_ms at a time while the client is
 * still acknowledging the answer's last bytes. A dead socket is closed at
 * once. If a handler still holds the request, it is told the
 * client is gone and keeps the request's bytes alive until it finishes.
 *
 * Timers (timers.c): one deadline per connection, by phase. Waiting for a
 * request's head: header_timeout from its first byte (from accept for the
 * first one); 408 if any byte of it arrived, else a silent close. Reading a
 * body: at least body_min_rate per BODY_WINDOW_MS, else 408. Idle between
 * requests: idle_timeout, then a silent close. Output not moving:
 * send_timeout, then a close. Lingering: linger_ms.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "http/http-int.h"
#include "sync/clock.h"

#define LINGER_BYTES        (64 * 1024)
#define BODY_WINDOW_MS      2000
#define DRAIN_GRACE_MS      1000        /* an idle connection's last chance in a drain */
#define STREAM_ROOM         (16 * 1024) /* read room a streamed body gets */
#define INBUF_MAX_GROW(lim) ((lim)->max_header_size + (lim)->max_body_size + 4096)

static void on_io(uv_poll_t *poll, int status, int events);
static void settle(struct http_conn *c);

/* ---- open and close ------------------------------------------------------ */

struct http_conn *weft__conn_new(struct http_loop *hl, int fd, const struct http_site *site,
                                 const struct sockaddr *peer, socklen_t peer_len)
{
    struct http_conn *c = weft__calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (uv_poll_init(hl->uv, &c->poll, fd) < 0) {
        weft__free(c);
        return NULL;
    }
    c->hl = hl;
    c->site = site;
    c->tp = &weft__tcp_transport;
    c->fd = fd;
    memcpy(&c->peer, peer, peer_len < sizeof(c->peer) ? peer_len : sizeof(c->peer));
    if (site->proxy_protocol)
        c->flags |= CF_PROXY_WAIT; /* proxy.c: the header before any HTTP */
    c->next = hl->conns.next;
    c->prev = &hl->conns;
    hl->conns.next->prev = c;
    hl->conns.next = c;
    hl->n_conns++;
    atomic_fetch_add_explicit(&hl->fig->accepted, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&hl->fig->open, 1, memory_order_relaxed);
    weft__timer_arm(c, TL_HEAD, hl->limits->header_timeout_ms);
    weft__conn_update_poll(c);
    return c;
}

static void on_closed(uv_handle_t *h)
{
    struct http_conn *c = (struct http_conn *)h;
    struct http_loop *hl = c->hl;
    close(c->fd);
    weft__free(c);
    weft__site_conn_closed(hl);
}

static void unready(struct http_conn *c)
{
    if (!c->ready_prev)
        return;
    *c->ready_prev = c->ready_next;
    if (c->ready_next)
        c->ready_next->ready_prev = c->ready_prev;
    c->ready_next = NULL;
    c->ready_prev = NULL;
}

/* Closes at once: nothing more is read or written. */
void weft__conn_close(struct http_conn *c)
{
    struct http_loop *hl = c->hl;
    if (c->flags & CF_CLOSING)
        return;
    c->flags |= CF_CLOSING;
    weft__timer_disarm(c);
    unready(c);
    c->prev->next = c->next;
    c->next->prev = c->prev;
    hl->n_conns--;
    atomic_fetch_sub_explicit(&hl->fig->open, 1, memory_order_relaxed);
    if (c->ex) {
        struct exchange *ex = c->ex;
        c->ex = NULL;
        weft__exchange_client_gone(ex);
    }
    weft__inbuf_put(c);
    weft__out_drop(c);
    uv_poll_stop(&c->poll);
    uv_close((uv_handle_t *)&c->poll, on_closed); /* the fd closes after libuv */
}

/* Shut our side and discard what the client still sends, for a while. */
static void begin_linger(struct http_conn *c)
{
    if ((c->flags & CF_PEER_EOF) || c->tp->shutdown_write(c) < 0) {
        weft__conn_close(c);
        return;
    }
    c->flags |= CF_LINGER;
    c->linger_unacked = UINT32_MAX;
    c->linger_bytes = 0;
    weft__inbuf_put(c);
    weft__timer_arm(c, TL_LINGER, c->hl->limits->linger_ms);
    weft__conn_update_poll(c);
}

static void discard_input(struct http_conn *c)
{
    char scratch[16 * 1024];
    for (;;) {
        ssize_t n = c->tp->read(c, scratch, sizeof(scratch));
        if (n == -EAGAIN)
            return;
        if (n <= 0) { /* the client closed too (or the socket died) */
            weft__conn_close(c);
            return;
        }
        c->linger_bytes += (uint32_t)n;
        if (c->linger_bytes > LINGER_BYTES) {
            if (c->tp->unacked(c) <= 0)
                weft__conn_close(c); /* the client has every byte of ours */
            else
                weft__conn_update_poll(c); /* stop reading; the timer decides */
            return;
        }
    }
}

/* At a linger deadline: true while the client is still taking our answer,
   so that closing now could destroy its unread tail. */
static bool linger_progressing(struct http_conn *c)
{
    ssize_t unacked = c->tp->unacked(c);
    if (unacked <= 0 || (uint64_t)unacked >= c->linger_unacked)
        return false;
    c->linger_unacked = (uint32_t)unacked;
    return true;
}

/* ---- poll interest ------------------------------------------------------- */

static bool may_read(const struct http_conn *c)
{
    if (c->flags & CF_LINGER)
        return c->linger_bytes <= LINGER_BYTES;
    if (c->flags & (CF_PEER_EOF | CF_CLOSE_AFTER))
        return false;
    if (weft__out_queued(c) >= c->hl->limits->output_high_water)
        return false; /* a slow reader or a pipelining flood: backpressure */
    /* A handler holds the buffer: read ahead only while it has room. */
    return !(c->ex && c->in && c->in->end == c->in->cap);
}

void weft__conn_update_poll(struct http_conn *c)
{
    if (c->flags & CF_CLOSING)
        return;
    int want = (may_read(c) ? UV_READABLE : 0) | (weft__out_queued(c) ? UV_WRITABLE : 0);
    int have =
        (c->flags & CF_READING ? UV_READABLE : 0) | (c->flags & CF_WRITING ? UV_WRITABLE : 0);
    if (want == have)
        return;
    c->flags &= ~(CF_READING | CF_WRITING);
    c->flags |= (want & UV_READABLE ? CF_READING : 0) | (want & UV_WRITABLE ? CF_WRITING : 0);
    if (want)
        uv_poll_start(&c->poll, want, on_io);
    else
        uv_poll_stop(&c->poll);
}

/* ---- requests ------------------------------------------------------------ */

/* The engine answers instead of a handler: 400, 408, 413, 414, 431... and
   the connection closes after it. */
static void reject(struct http_conn *c, int status)
{
    /* A HEAD gets the head only (RFC 9110 9.3.2), once its method is known. */
    bool head =
        c->in && c->in->method.len == 4 && !memcmp(c->in->data + c->in->method.off, "HEAD", 4);
    weft__respond_error(c, status, head);
    c->flags |= CF_CLOSE_AFTER;
}

static void dispatch(struct http_conn *c)
{
    struct inbuf *in = c->in;
    if (in->streaming) {
        /* Its pieces flow through the room after the head, and the buffer
           cannot move once the handler holds the request: grow it now. */
        in->body_base = in->parsed;
        if (in->cap - in->parsed < STREAM_ROOM &&
            weft__inbuf_grow(c, in->parsed + STREAM_ROOM) < 0) {
            reject(c, 503);
            return;
        }
    }
    c->flags &= ~CF_STARTED;
    weft__timer_disarm(c);
    struct exchange *ex = weft__exchange_new(c);
    if (!ex) {
        reject(c, 503); /* out of memory: this request, not the process */
        return;
    }
    c->ex = ex;
    c->flags |= CF_SERVED;
    atomic_fetch_add_explicit(&c->hl->fig->requests, 1, memory_order_relaxed);
    c->site->handler(&ex->req, &ex->res, c->site->handler_arg);
}

static void send_continue(struct http_conn *c)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    struct inbuf *in = c->in;
    if (in->head_done && in->expect_continue && !in->continue_sent && !in->message_done) {
        in->continue_sent = true;
        weft__out_append(c, cont, sizeof(cont) - 1);
    }
}

/* The status for llhttp's error: a PROXY protocol line on a listener not
   configured for it is a bad request (400), not an unknown method (501);
   it is never taken for a header there. */
static int status_for(const struct http_conn *c, llhttp_errno_t err)
{
    const struct inbuf *in = c->in;
    if (err == HPE_INVALID_METHOD &&
        weft__proxy_v1_prefix(in->data + in->start, in->end - in->start))
        return 400;
    return weft__http_status_for(err);
}

/* Gives llhttp the next bytes: never head bytes past max_header_size, so
   every limit and every error is found in byte order. Returns llhttp's
   verdict and sets *pos to where it stopped. */
static llhttp_errno_t parse_some(struct http_conn *c, size_t *pos)
{
    struct inbuf *in = c->in;
    size_t upto = in->end;
    if (!in->head_done && upto > in->start + c->hl->limits->max_header_size)
        upto = in->start + c->hl->limits->max_header_size;
    if (in->parsed >= upto) {
        *pos = in->parsed;
        return HPE_OK;
    }
    llhttp_errno_t err = llhttp_execute(&in->parser, in->data + in->parsed, upto - in->parsed);
    *pos = err == HPE_OK ? upto : (size_t)(llhttp_get_error_pos(&in->parser) - in->data);
    return err;
}

/* Parses what was read and dispatches complete requests, one at a time,
   until one is answered later, the connection must close, or bytes run
   out. At most max_pipeline requests per call: the rest wait for the
   check phase, so one connection cannot hold the loop. */
static void process(struct http_conn *c)
{
    const struct http_limits *lim = c->hl->limits;
    if (c->ex && !weft__body_feed(c))
        return; /* a streamed body's handler still holds the request */
    for (unsigned n = 0; !c->ex && !(c->flags & (CF_CLOSING | CF_CLOSE_AFTER)); n++) {
        struct inbuf *in = c->in;
        if (in->parsed >= in->end)
            return;
        if (n == lim->max_pipeline) {
            weft__conn_schedule(c);
            return;
        }
        size_t pos;
        llhttp_errno_t err = parse_some(c, &pos);
        /* The byte llhttp failed on is scanned too: "HTTP/1.1\rHost" is a
           bare CR (400), not a bad version. */
        size_t scan_to = err != HPE_OK && err != HPE_PAUSED && pos < in->end ? pos + 1 : pos;
        if (in->scan_state != HS_DONE && weft__scan_head(in, scan_to)) {
            reject(c, 400); /* obs-fold, bare CR or LF, empty name */
            return;
        }
        bool progressed = pos > in->parsed;
        in->parsed = pos;
        if (err == HPE_OK) {
            if (!in->head_done && pos == in->start + lim->max_header_size && pos < in->end) {
                reject(c, 431);
                return;
            }
            send_continue(c);
            if (!progressed || in->parsed >= in->end)
                return;
            continue;
        }
        if (err != HPE_PAUSED || !(in->message_done || in->streaming)) {
            reject(c, in->reject ? in->reject : status_for(c, err));
            return;
        }
        llhttp_resume(&in->parser);
        dispatch(c); /* a whole request, or the head of a streamed one */
    }
}

/* Where the next request begins once one is finished; the buffer is moved
   down when nothing points into it any more. */
static void next_request(struct http_conn *c)
{
    struct inbuf *in = c->in;
    in->start = in->parsed;
    weft__inbuf_reset_request(in);
    c->body_seen = c->body_checked = 0;
}

static void compact(struct inbuf *in)
{
    if (in->refs > 1 || in->start == 0 || in->start != in->parsed)
        return;
    memmove(in->data, in->data + in->start, in->end - in->start);
    in->end -= in->start;
    in->parsed = in->scan_pos = in->start = 0;
}

/* Parse, answer, settle. */
static void advance(struct http_conn *c)
{
    if (c->flags & CF_CLOSING)
        return;
    c->flags |= CF_BATCHING;
    weft__out_batch_begin(c);
    if (c->in && !(c->flags & CF_LINGER) && (!c->ex || weft__body_wanted(&c->ex->req)))
        process(c);
    c->flags &= ~CF_BATCHING;
    settle(c);
}

/* A handler finished c's current request (called by response.c). */
void weft__conn_finished(struct http_conn *c, bool close_after)
{
    c->ex = NULL;
    if (close_after || (c->in && c->in->streaming && !c->in->message_done))
        c->flags |= CF_CLOSE_AFTER; /* a streamed body not read to its end */
    next_request(c);
    if (c->flags & CF_BATCHING)
        return; /* process() goes on by itself */
    settle(c);
    if (!(c->flags & CF_CLOSING) && c->in && c->in->parsed < c->in->end)
        weft__conn_schedule(c); /* pipelined requests wait in the buffer */
}

/* After streaming output outside a read: write it now. */
void weft__conn_kick(struct http_conn *c)
{
    if (c && !(c->flags & (CF_BATCHING | CF_CLOSING)))
        settle(c);
}

/* ---- timers -------------------------------------------------------------- */

/* A streamed body under way with a reader that wants it: the client's
   pace is what the minimum body rate judges. */
static bool streaming_body(const struct http_conn *c)
{
    return c->in && c->in->streaming && !c->in->message_done && weft__body_wanted(&c->ex->req);
}

/* How long an idle connection of a draining loop waits for one more
   request (see weft__http_loop_drain). */
static int64_t drain_grace(const struct http_limits *lim)
{
    return lim->idle_timeout_ms < DRAIN_GRACE_MS ? lim->idle_timeout_ms : DRAIN_GRACE_MS;
}

static void arm_for_phase(struct http_conn *c)
{
    const struct http_limits *lim = c->hl->limits;
    if (weft__out_queued(c)) {
        if (c->timer.list != TL_SEND)
            weft__timer_arm(c, TL_SEND, lim->send_timeout_ms);
    } else if (c->ex && streaming_body(c)) {
        if (c->timer.list != TL_BODY) {
            c->body_checked = c->body_seen;
            weft__timer_arm(c, TL_BODY, BODY_WINDOW_MS);
        }
    } else if (c->ex) {
        weft__timer_disarm(c); /* the app's own deadlines apply */
    } else if ((c->flags & CF_STARTED) || (c->in && c->in->parsed < c->in->end)) {
        if (c->in && c->in->head_done) {
            if (c->timer.list != TL_BODY) {
                c->body_checked = c->body_seen;
                weft__timer_arm(c, TL_BODY, BODY_WINDOW_MS);
            }
        } else if (c->timer.list != TL_HEAD) {
            weft__timer_arm(c, TL_HEAD, lim->header_timeout_ms);
        }
    } else if (c->hl->stopping) {
        if (c->timer.list != TL_DRAIN) /* idle while the loop drains */
            weft__timer_arm(c, TL_DRAIN, drain_grace(lim));
    } else if (c->timer.list != TL_IDLE) {
        weft__timer_arm(c, TL_IDLE, lim->idle_timeout_ms);
    }
}

void weft__conn_timeout(struct http_conn *c, enum timer_list list)
{
    struct http_loop *hl = c->hl;
    if (list == TL_DRAIN) {
        weft__conn_close(c); /* idle through the drain's grace: nothing in flight */
        return;
    }
    if (list == TL_BODY) {
        uint64_t need = hl->limits->body_min_rate * BODY_WINDOW_MS / 1000;
        if (c->body_seen - c->body_checked >= need) {
            c->body_checked = c->body_seen;
            weft__timer_arm(c, TL_BODY, BODY_WINDOW_MS);
            return;
        }
    }
    if (list == TL_LINGER && linger_progressing(c)) {
        weft__timer_arm(c, TL_LINGER, hl->limits->linger_ms);
        return;
    }
    if (list == TL_BODY && c->ex) {
        if (!streaming_body(c)) {
            weft__timer_disarm(c); /* the reader paused: not the client's fault */
            return;
        }
        atomic_fetch_add_explicit(&hl->fig->timeouts, 1, memory_order_relaxed);
        c->flags |= CF_BATCHING;
        weft__out_batch_begin(c);
        weft__body_fail(c, -ETIMEDOUT);
        c->flags &= ~CF_BATCHING;
        settle(c);
        return;
    }
    atomic_fetch_add_explicit(&hl->fig->timeouts, 1, memory_order_relaxed);
    if (c->flags & CF_PROXY_WAIT) {
        weft__proxy_timed_out(c); /* no HTTP answer before the proxy's header */
        weft__conn_close(c);
        return;
    }
    bool started = (c->flags & CF_STARTED) || (c->in && c->in->end > c->in->start);
    if ((list == TL_HEAD && started) || list == TL_BODY) {
        /* A request was under way: tell the client why (RFC 9110 15.5.9). */
        c->flags |= CF_BATCHING;
        weft__out_batch_begin(c);
        reject(c, 408);
        c->flags &= ~CF_BATCHING;
        settle(c);
        return;
    }
    weft__conn_close(c); /* idle, never started, stalled output, lingering */
}

/* ---- settling ------------------------------------------------------------ */

static void release_idle_buffer(struct http_conn *c)
{
    struct inbuf *in = c->in;
    /* Only at a clean boundary: not one byte of the next request taken,
       not even a CR llhttp skipped (the head scanner remembers it). */
    if (in && !c->ex && in->refs == 1 && in->parsed == in->end && in->parsed == in->start &&
        !(c->flags & CF_STARTED))
        weft__inbuf_put(c);
}

/* Lets a streaming handler waiting for the drain write again, as long as
   the socket keeps taking its output: a loop here, not recursion through
   write -> settle -> drain, and at most DRAIN_ROUNDS rounds per event so
   a fast reader of a huge body cannot hold the loop; the rest continues
   in the check phase. */
#define DRAIN_ROUNDS 16

static void run_drains(struct http_conn *c)
{
    size_t low = c->hl->limits->output_high_water / 2;
    if (c->flags & CF_IN_DRAIN)
        return; /* a write from inside the drain callback: just flushed */
    c->flags |= CF_IN_DRAIN;
    for (int round = 0;; round++) {
        if ((c->flags & CF_CLOSING) || !c->ex || !c->ex->res.drain_cb || weft__out_queued(c) >= low)
            break;
        if (round == DRAIN_ROUNDS) {
            weft__conn_schedule(c);
            break;
        }
        weft__response_drained(&c->ex->res);
        if (!(c->flags & CF_CLOSING) && weft__out_flush(c) < 0)
            weft__conn_close(c);
    }
    c->flags &= ~CF_IN_DRAIN;
}

/* Writes what is pending, then decides what comes next. */
static void settle(struct http_conn *c)
{
    if (c->flags & CF_CLOSING)
        return;
    if (weft__out_flush(c) < 0) {
        weft__conn_close(c); /* the client is gone */
        return;
    }
    run_drains(c);
    if (c->flags & (CF_CLOSING | CF_IN_DRAIN))
        return; /* the outer settle decides */
    bool written = weft__out_queued(c) == 0;
    if (written && !c->ex) {
        if (c->flags & CF_CLOSE_AFTER) {
            begin_linger(c);
            return;
        }
        if ((c->flags & CF_PEER_EOF) && !(c->in && c->in->parsed < c->in->end)) {
            weft__conn_close(c); /* the client finished and got every answer */
            return;
        }
    }
    release_idle_buffer(c);
    arm_for_phase(c);
    weft__conn_update_poll(c);
}

/* ---- I/O events ---------------------------------------------------------- */

/* Room for the next read: compact at a request boundary, else grow. */
static bool make_room(struct http_conn *c)
{
    struct inbuf *in = c->in;
    if (in->end < in->cap)
        return true;
    compact(in);
    if (in->end < in->cap)
        return true;
    const struct http_limits *lim = c->hl->limits;
    if (in->cap >= INBUF_MAX_GROW(lim) || weft__inbuf_grow(c, in->cap * 2) < 0)
        return false;
    return true;
}

static void on_readable(struct http_conn *c)
{
    if (c->flags & CF_LINGER) {
        discard_input(c);
        return;
    }
    if (!c->in && !(c->in = weft__inbuf_get(c))) {
        weft__conn_close(c); /* out of memory: drop this connection only */
        return;
    }
    if (!make_room(c)) {
        /* Full: a handler holds it, or the limits said no already. */
        c->flags &= ~CF_READING;
        uv_poll_start(&c->poll, weft__out_queued(c) ? UV_WRITABLE : 0, on_io);
        return;
    }
    struct inbuf *in = c->in;
    ssize_t n = c->tp->read(c, in->data + in->end, in->cap - in->end);
    if (n == -EAGAIN)
        return;
    if (n < 0) {
        weft__conn_close(c);
        return;
    }
    if (n == 0) {
        c->flags |= CF_PEER_EOF;
        if (c->ex && c->site->on_gone) /* a half-close while a handler holds it */
            c->site->on_gone(&c->ex->req, &c->ex->res, false, c->site->handler_arg);
        if (c->flags & CF_CLOSING)
            return;
    }
    in->end += (size_t)n;
    c->hl->read_ns = weft__now_ns(); /* a request's time: once per read, not per request */
    if ((c->flags & CF_PROXY_WAIT) && !weft__conn_take_proxy(c))
        return; /* more of the header to come, or closed */
    advance(c);
}

static void on_io(uv_poll_t *poll, int status, int events)
{
    struct http_conn *c = (struct http_conn *)poll;
    c->hl->now_ms = (int64_t)uv_now(c->hl->uv);
    if (status < 0) {
        weft__conn_close(c);
        return;
    }
    if (events & UV_WRITABLE) {
        settle(c);
        if (!(c->flags & CF_CLOSING) && !c->ex && c->in && c->in->parsed < c->in->end &&
            !weft__out_queued(c))
            advance(c); /* reading had paused with requests buffered */
    }
    if ((events & UV_READABLE) && !(c->flags & CF_CLOSING))
        on_readable(c);
}

/* ---- the check phase: connections with buffered requests ------------------ */

static void on_check(uv_check_t *check)
{
    struct http_loop *hl = check->data;
    while (hl->ready) {
        struct http_conn *c = hl->ready;
        unready(c);
        advance(c);
    }
    uv_check_stop(check);
}

void weft__conn_schedule(struct http_conn *c)
{
    struct http_loop *hl = c->hl;
    if (c->ready_prev || (c->flags & CF_CLOSING))
        return;
    c->ready_next = hl->ready;
    c->ready_prev = &hl->ready;
    if (hl->ready)
        hl->ready->ready_prev = &c->ready_next;
    hl->ready = c;
    uv_check_start(&hl->check, on_check);
}

/* A graceful stop on this loop. An idle keep-alive connection is not
   closed at once: its client may be sending the next request right now,
   and closing under it would lose that request (wrk counts a read error;
   a browser may not retry a POST). It keeps reading for a short grace:
   a request that comes is answered with Connection: close (the loop is
   stopping), and silence closes it. One with a request under way, or
   just accepted and not heard from yet, gets that one answered (with
   Connection: close) and then closes. */
void weft__http_loop_drain(struct http_loop *hl)
{
    for (struct http_conn *c = hl->conns.next, *next; c != &hl->conns; c = next) {
        next = c->next;
        bool busy = c->ex || weft__out_queued(c) || (c->flags & CF_STARTED) ||
                    (c->in && c->in->parsed < c->in->end) || !(c->flags & CF_SERVED);
        if (!busy)
            weft__timer_arm(c, TL_DRAIN, drain_grace(hl->limits));
    }
}

void weft__http_loop_close_all(struct http_loop *hl)
{
    while (hl->conns.next != &hl->conns)
        weft__conn_close(hl->conns.next);
}
