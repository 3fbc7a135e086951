/*
 * weft/http.h - HTTP/1.1 requests and responses, as a handler sees them.
 *
 * The connection engine (llhttp parses; weft adds its own strictness
 * checks) turns bytes into requests and calls a handler on the loop thread
 * that owns the connection. The handler answers at once with
 * weft_response_send*, or later: from a continuation on the same loop
 * (weft_future_then), or piece by piece with the streaming writer. Answers
 * go out in request order; the answers to one read are batched into one
 * writev.
 *
 * Lifetimes. A request and its response live from the handler call until
 * the response is finished (sent, ended or aborted) and the request is
 * over; then both are freed. Every string a request hands out (weft_slice_t)
 * is borrowed for that lifetime: copy what must outlive it. If the client
 * goes away first, the objects stay valid until the handler finishes the
 * response, and response calls fail with -ECONNRESET
 * (weft_response_client_gone says so beforehand).
 *
 * Thread-safety: every function here is loop thread only (the loop of the
 * connection, weft_request_loop). To answer from a pool job, return the
 * result through a future and finish the response in a continuation on
 * that loop.
 */
#ifndef WEFT_HTTP_H
#define WEFT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#include "weft/error.h"
#include "weft/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_request weft_request_t;
typedef struct weft_response weft_response_t;

/* A borrowed run of bytes, not NUL-terminated (as picohttpparser's). */
typedef struct {
    const char *ptr;
    size_t len;
} weft_slice_t;

/* true when s holds exactly the C string lit (case-sensitive). */
WEFT_API bool weft_slice_eq(weft_slice_t s, const char *lit);
/* true when s holds exactly lit, ignoring ASCII case. */
WEFT_API bool weft_slice_ieq(weft_slice_t s, const char *lit);

/* A handler: called on the loop thread with a complete request head (and
   its whole body, unless the route streams it). It must eventually finish
   res; it may return before doing so. arg is the one given with it. */
typedef void (*weft_handler_fn)(weft_request_t *req, weft_response_t *res, void *arg);

/* ---- the request -------------------------------------------------------- */

/* The method ("GET"), the raw request-target ("/a%20b?x=1"), its path up to
   the first '?' (not decoded), and the query after it (empty if none). */
WEFT_API weft_slice_t weft_request_method(const weft_request_t *req);
WEFT_API weft_slice_t weft_request_target(const weft_request_t *req);
WEFT_API weft_slice_t weft_request_path(const weft_request_t *req);
WEFT_API weft_slice_t weft_request_query(const weft_request_t *req);

/* The minor version: 1 for HTTP/1.1, 0 for HTTP/1.0. */
WEFT_API unsigned weft_request_http_minor(const weft_request_t *req);

/* weft_request_header - the first header called name (ASCII case ignored):
   true and *value set, or false. Trailers are not headers: see
   weft_request_trailer. */
WEFT_API bool weft_request_header(const weft_request_t *req, const char *name, weft_slice_t *value);

/* Every header in arrival order: count, then each by index (false past the
   end). */
WEFT_API size_t weft_request_header_count(const weft_request_t *req);
WEFT_API bool weft_request_header_at(const weft_request_t *req, size_t i, weft_slice_t *name,
                                     weft_slice_t *value);

/* The trailer fields of a chunked body, kept apart from the headers. */
WEFT_API bool weft_request_trailer(const weft_request_t *req, const char *name,
                                   weft_slice_t *value);

/* The whole body as read (de-chunked); empty if none, and empty for a
   request whose body is streamed (see below). */
WEFT_API weft_slice_t weft_request_body(const weft_request_t *req);

/*
 * Request bodies as a stream. A request the app streams (a route with
 * weft_route_options_t.stream_body) reaches its handler as soon as its head
 * is complete, and its body comes through a reader, piece by piece as it
 * arrives, so a body never has to fit in memory at once (max_body_size
 * still bounds it). Any other request can be read this way too: its whole
 * body comes as one piece.
 *
 * The reader runs on the loop thread, never inside the call that set it:
 *   err == 0, data.len > 0   a piece, valid during the call only;
 *   err == 0, data.len == 0  the end: the body is complete, and its
 *                            trailers are readable (weft_request_trailer);
 *   err < 0                  the body will not complete: -ECONNRESET (the
 *                            client went away or stopped sending),
 *                            -EMSGSIZE (past max_body_size), -EPROTO
 *                            (malformed framing), -ETIMEDOUT (slower than
 *                            body_min_rate).
 * After the end or an error it is not called again. If the handler has not
 * begun its response when the reader returns from an error, the engine
 * answers (413, 400, 408; nothing if the client is gone). A response may
 * begin while the body still streams in (an echo); one that finishes
 * before the body's end closes the connection after it (a whole answer
 * sent then says Connection: close), the rest of the body discarded by the
 * lingering close. The reader may finish the response.
 */
typedef void (*weft_body_fn)(weft_request_t *req, weft_slice_t data, int err, void *arg);

/* weft_request_read_body - deliver the body to fn(req, ..., arg), starting
   from the loop's next turn. -EALREADY if a reader was set before, -EPIPE
   if the client is gone (fn is never called). */
WEFT_API int weft_request_read_body(weft_request_t *req, weft_body_fn fn, void *arg);

/* weft_request_pause_body - backpressure for a reader that cannot take
   more yet (say, a pool job is writing the last piece): while paused the
   reader is not called, the read buffer fills, and the engine stops
   reading from the client. Unpausing resumes on the loop's next turn. No
   effect before a reader is set or after the end. */
WEFT_API void weft_request_pause_body(weft_request_t *req, bool paused);

/* Whether the connection stays open after this exchange (keep-alive). */
WEFT_API bool weft_request_keep_alive(const weft_request_t *req);

/* The TCP peer: the address the connection came from (behind a proxy,
   the proxy's; see weft_request_client). */
WEFT_API const struct sockaddr *weft_request_peer(const weft_request_t *req);

/*
 * weft_request_client - the client's address, behind proxies: what access
 * logs and rate limits should use. The rule (docs/deployment.md):
 *   1. the nearest hop is the source address of the PROXY protocol header
 *      on a listener configured for it (weft_server_listener_set_proxy_
 *      protocol; for "PROXY UNKNOWN", the TCP peer), else the TCP peer;
 *   2. while that hop is a trusted proxy (weft_server_trust_proxies), the
 *      next hop is the next X-Forwarded-For entry from the right (the last
 *      header's last entry first); an entry that is not a bare IPv4 or
 *      IPv6 address stops the walk;
 *   3. the client is where the walk stopped: the right-most untrusted hop
 *      (or the left-most entry when every hop was trusted).
 * Without trusted proxies X-Forwarded-For is never read. An address taken
 * from X-Forwarded-For has port 0. Borrowed: valid as long as req (an
 * AF_INET or AF_INET6 address, or the peer's family for a socketpair).
 */
WEFT_API const struct sockaddr *weft_request_client(const weft_request_t *req);

/* The loop that owns the connection. */
WEFT_API weft_loop_t *weft_request_loop(const weft_request_t *req);

/* weft_request_alloc - scratch memory that lives as long as the request:
   NULL when out of memory. */
WEFT_API void *weft_request_alloc(weft_request_t *req, size_t size);

/* ---- the response ------------------------------------------------------- */

/* weft_response_status - the status code (100-999 but not 1xx); default
   200. -EINVAL for a bad code, -EALREADY once the head was sent. */
WEFT_API int weft_response_status(weft_response_t *res, int status);

/* weft_response_header - add a header (name and value copied). The engine
   writes Date, Content-Length or Transfer-Encoding, and Connection itself:
   adding those is -EINVAL. A name that is not a token, or a value with a
   control byte other than HTAB (CR, LF, NUL...), is -EINVAL (no response
   splitting). -EALREADY once the head was sent; -ENOMEM. */
WEFT_API int weft_response_header(weft_response_t *res, const char *name, const char *value);
WEFT_API int weft_response_header_n(weft_response_t *res, const char *name, size_t name_len,
                                    const char *value, size_t value_len);

/* weft_response_send - the whole body, copied; finishes the response (with
   Content-Length). HEAD answers get the headers only; 204 and 304
   answers get neither a body nor a Content-Length. Returns 0,
   -EALREADY (already finished or streaming), -ECONNRESET (the client is
   gone: nothing sent, the response is finished anyway), -ENOMEM. */
WEFT_API int weft_response_send(weft_response_t *res, const void *body, size_t len);

/* weft_response_send_borrowed - like send, without copying: body is
   borrowed until release(arg) is called (on the loop thread, once the
   bytes are written or the connection is gone; also when this call
   fails). release may be NULL for static data. */
WEFT_API int weft_response_send_borrowed(weft_response_t *res, const void *body, size_t len,
                                         void (*release)(void *arg), void *arg);

/* weft_response_send_file - the body is len bytes of the open file fd from
   offset, sent with sendfile(2) on the loop thread (zero-copy); finishes
   the response with Content-Length: len (HEAD: headers only). Takes
   ownership of fd: the engine closes it once the bytes are sent or the
   connection is gone, and also when this call fails (fd's own file offset
   is never moved). The caller must know the pages are in the page cache
   or accept that a cold page blocks the loop while sendfile reads it
   (weft's static file handler checks first, see app.h). The file must
   keep at least offset+len bytes until they are sent: if it shrinks, the
   promised length cannot be kept and the connection is closed.
   weft_response_bytes counts len (0 for HEAD). Returns 0, -EALREADY
   (already finished or streaming), -ECONNRESET (the client is gone:
   nothing sent, the response is finished anyway), -EINVAL (negative fd,
   or offset+len past what can be represented; the response is not
   finished and can still be answered), -ENOMEM. Loop thread only, like
   every call here. */
WEFT_API int weft_response_send_file(weft_response_t *res, int fd, uint64_t offset, uint64_t len);

/* weft_response_send_error - a short text/plain body for status (with the
   reason phrase when text is NULL); finishes the response. */
WEFT_API int weft_response_send_error(weft_response_t *res, int status, const char *text);

/* ---- streaming ---------------------------------------------------------- */

/* weft_response_begin - send the head now and stream the body: with a known
   length (content_length >= 0, sent as Content-Length) or chunked
   (content_length < 0; an HTTP/1.0 client gets the body until close).
   Returns 0, -EALREADY, -ECONNRESET. */
WEFT_API int weft_response_begin(weft_response_t *res, int64_t content_length);

/* weft_response_write - queue a piece of the body (copied). Returns 0 while
   the queued output is below the connection's high-water mark, 1 once it
   is at or above it: stop writing and wait for the drain callback. Errors:
   -ECONNRESET (client gone), -EINVAL (more than the announced length, or
   not begun), -ENOMEM. */
WEFT_API int weft_response_write(weft_response_t *res, const void *data, size_t len);

/* weft_response_on_drain - cb(res, arg) runs once on the loop thread when
   the queued output falls below the low-water mark again (or at once, in
   a later loop iteration, if it already is), or when the client is gone
   (then weft_response_client_gone is true). */
WEFT_API int weft_response_on_drain(weft_response_t *res,
                                    void (*cb)(weft_response_t *res, void *arg), void *arg);

/* weft_response_end - finish a streamed body (the last chunk for chunked).
   Ending a length-announced body early is an error: the connection is
   closed after the bytes written. */
WEFT_API int weft_response_end(weft_response_t *res);

/* weft_response_abort - give up: if the head was not sent yet, a 500 goes
   out; otherwise the connection is closed. Finishes the response. */
WEFT_API void weft_response_abort(weft_response_t *res);

/* Whether the response is finished; whether the client is gone. */
WEFT_API bool weft_response_finished(const weft_response_t *res);
WEFT_API bool weft_response_client_gone(const weft_response_t *res);

/* The request this response answers. */
WEFT_API weft_request_t *weft_response_request(weft_response_t *res);

/* For after hooks and logs: the status code sent (or to be sent), the
   body bytes sent so far (none for a HEAD request), and when the request's head was complete
   (CLOCK_MONOTONIC nanoseconds). */
WEFT_API int weft_response_code(const weft_response_t *res);
WEFT_API uint64_t weft_response_bytes(const weft_response_t *res);
WEFT_API int64_t weft_request_time_ns(const weft_request_t *req);

/* The reason phrase of a status ("Not Found"); "Unknown" otherwise. */
WEFT_API const char *weft_http_reason(int status);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_HTTP_H */
