/*
 * body.c - request bodies read as a stream: the reader a handler sets with
 * weft_request_read_body, fed piece by piece as the parser passes them.
 *
 * A request its site streams is dispatched when its head is complete (the
 * parser pauses there, parser.c). From then on the parser runs only while
 * the reader wants bytes: every body piece pauses it again, so the reader
 * is called outside llhttp, with the piece in place in the read buffer.
 * Once the reader returns, the bytes up to the end of that piece (chunk
 * framing included) are dropped by moving what follows down to where the
 * body began, so a body of any size flows through the buffer that held
 * the head, and the head the handler may still point into never moves.
 * A paused reader stops the parser; the buffer fills, and reading from the
 * socket stops (conn.c's may_read).
 *
 * A body read whole (a request not streamed) is delivered the same way,
 * as one piece and the end, so a handler can read either kind.
 *
 * The reader is never called inside the call that set or unpaused it:
 * those schedule the connection, and the check phase feeds it.
 */
#include <errno.h>
#include <string.h>

#include "http/http-int.h"

/* ---- the public calls ----------------------------------------------------- */

/* A client that sent "Expect: 100-continue" waits for this before sending
   a streamed body: the handler asking for the body is the go-ahead (unless
   it has already begun its answer). */
static void continue_if_expected(struct weft_request *r)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    struct inbuf *in = r->in;
    const struct exchange *ex = (const struct exchange *)r; /* req is first */
    if (!r->streamed || !in->expect_continue || in->continue_sent || in->message_done ||
        ex->res.head_sent)
        return;
    in->continue_sent = true;
    if (weft__out_append(r->conn, cont, sizeof(cont) - 1) == 0)
        weft__conn_kick(r->conn);
}

int weft_request_read_body(weft_request_t *req, weft_body_fn fn, void *arg)
{
    if (!fn)
        return -EINVAL;
    if (req->body_fn || req->body_ended)
        return -EALREADY;
    if (!req->conn)
        return -EPIPE;
    req->body_fn = fn;
    req->body_arg = arg;
    continue_if_expected(req);
    weft__conn_schedule(req->conn);
    return 0;
}

void weft_request_pause_body(weft_request_t *req, bool paused)
{
    if (!req->body_fn || req->body_ended || req->body_paused == paused)
        return;
    req->body_paused = paused;
    if (!paused && req->conn)
        weft__conn_schedule(req->conn);
}

/* ---- feeding the reader ------------------------------------------------------ */

bool weft__body_wanted(const struct weft_request *r)
{
    return r->body_fn && !r->body_paused && !r->body_ended;
}

static void deliver(struct weft_request *r, weft_slice_t data, int err)
{
    if (err || !data.len)
        r->body_ended = true;
    r->body_fn(r, data, err, r->body_arg);
}

static const weft_slice_t no_data = {NULL, 0};

/* The status the engine answers for err if the handler did not. */
static int status_for(int err)
{
    switch (err) {
    case -EMSGSIZE:
        return 413;
    case -ETIMEDOUT:
        return 408;
    default:
        return 400;
    }
}

void weft__body_fail(struct http_conn *c, int err)
{
    struct exchange *ex = c->ex;
    c->flags |= CF_CLOSE_AFTER; /* where the next request begins is unknown */
    ex->req.keep_alive = false;
    if (ex->req.body_fn && !ex->req.body_ended)
        deliver(&ex->req, no_data, err);
    if (c->ex == ex && !ex->res.head_sent && !(c->flags & CF_CLOSING))
        weft_response_send_error(&ex->res, status_for(err), NULL);
}

void weft__body_client_gone(struct weft_request *r)
{
    if (r->body_fn && !r->body_ended)
        deliver(r, no_data, -ECONNRESET);
}

/* A whole body: one piece, then the end. */
static void feed_whole(struct weft_request *r)
{
    weft_slice_t body = weft_request_body(r);
    if (body.len && !r->body_given) {
        r->body_given = true;
        deliver(r, body, 0);
    } else {
        deliver(r, no_data, 0);
    }
}

/* Drops the body bytes the reader has seen, framing included. Not once
   trailers are being read: their fields point into what follows. */
static void drop_seen(struct inbuf *in)
{
    if (in->in_trailers || in->parsed == in->body_base)
        return;
    memmove(in->data + in->body_base, in->data + in->parsed, in->end - in->parsed);
    in->end -= in->parsed - in->body_base;
    in->parsed = in->body_base;
}

/* Runs the parser over what was read, up to the next piece or the end. */
static void parse_body(struct http_conn *c, struct inbuf *in)
{
    llhttp_errno_t err = llhttp_execute(&in->parser, in->data + in->parsed, in->end - in->parsed);
    if (err == HPE_OK) {
        in->parsed = in->end;
        return;
    }
    in->parsed = (size_t)(llhttp_get_error_pos(&in->parser) - in->data);
    if (err == HPE_PAUSED)
        llhttp_resume(&in->parser); /* a piece, or the end */
    else
        weft__body_fail(c, in->reject == 413 ? -EMSGSIZE : -EPROTO);
}

/*
 * Feeds c's reader while it wants more and there is something to give.
 * Returns true when the request is no longer held (its response finished
 * meanwhile), so the caller goes on with the next one.
 */
bool weft__body_feed(struct http_conn *c)
{
    struct exchange *ex = c->ex;
    struct weft_request *r = &ex->req;
    struct inbuf *in = r->in;
    while (c->ex == ex && !(c->flags & CF_CLOSING) && weft__body_wanted(r)) {
        if (!r->streamed) {
            feed_whole(r);
        } else if (in->piece.len) {
            weft_slice_t piece = {in->data + in->piece.off, in->piece.len};
            in->piece.len = 0;
            deliver(r, piece, 0);
            drop_seen(in);
        } else if (in->message_done) {
            r->n_trailers = in->n_trailers;
            deliver(r, no_data, 0);
        } else if (in->parsed < in->end || !(c->flags & CF_PEER_EOF)) {
            size_t before = in->parsed;
            parse_body(c, in);
            if (in->parsed == before && !in->piece.len && !in->message_done)
                break; /* waiting for bytes */
        } else {
            weft__body_fail(c, -ECONNRESET); /* EOF before the body's end */
        }
    }
    return c->ex != ex;
}
