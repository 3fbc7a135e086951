/*
 * weft/app.h - an application: routes, hooks, state, offloading to a pool.
 *
 * An app is set up before serving: routes (method + pattern -> handler),
 * hooks, user state, the pool its blocking handlers offload to. A server
 * freezes it when it starts serving it: from then on every loop reads it
 * without locks, and set-up calls fail with -EBUSY (Wookie's rule). The
 * same app may be served by many loops and listeners; different apps on
 * different ports share nothing. Mutable state belongs per loop, per
 * request, or behind the app's own locks.
 *
 * A request goes through, in this order:
 *   1. the before hooks, in registration order: each may answer at once
 *      (the request ends there), or return a future that holds the request
 *      until it settles (fulfilled: go on; rejected: 403, unless an error
 *      hook answers) -- async authentication, as Wookie's hooks can;
 *   2. routing: the route for the method and path; a path that exists for
 *      other methods gets 405 with Allow; no route gets the fallback
 *      handler or 404; HEAD falls back to the GET route;
 *   3. the handler: it answers at once, streams, or offloads a blocking
 *      job to the pool (weft_offload) and answers when it settles;
 *   4. once the response is finished, the after hooks (an access log).
 * Error hooks run when an offloaded job fails, and may answer (else 500).
 *
 * Thread-safety: set-up calls are not thread-safe (one thread, before
 * serving); a frozen app is read-only and safe on every loop. Everything a
 * handler or hook calls is loop thread only, unless said otherwise.
 */
#ifndef WEFT_APP_H
#define WEFT_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "weft/error.h"
#include "weft/http.h"
#include "weft/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_app weft_app_t;

/* weft_app_new - an empty app: every request gets 404 until routes or a
   fallback are added. NULL with errno ENOMEM. */
WEFT_API weft_app_t *weft_app_new(void);

/* weft_app_free - after every server serving it is freed (plugins' fini
   run first, see weft_app_use). NULL is fine. */
WEFT_API void weft_app_free(weft_app_t *app);

/* ---- routes --------------------------------------------------------------- */

/* Route options (zero for defaults). */
typedef struct {
    int64_t deadline_ms;    /* offloaded jobs of this route: 504 past it; 0: none */
    bool cancel_on_eof;     /* a client half-closing (EOF) counts as gone */
    bool stream_body;       /* the handler runs once the head is in and reads
                               the body as it comes (weft_request_read_body) */
    uint64_t max_body_size; /* stream_body routes: the body's limit instead
                               of the server's; 0: the server's */
} weft_route_options_t;

/*
 * weft_app_route - handle method + pattern with handler(req, res, arg).
 * method: "GET", "POST"... or "*" for any. pattern: "/" followed by
 * segments; a segment ":name" matches one non-empty segment, a last
 * segment "*name" matches the rest of the path (possibly empty). Static
 * segments win over parameters, parameters over the rest. Parameters are
 * percent-decoded (weft_request_param). arg is borrowed for the app's life.
 * Matching costs the same however many routes there are (a trie by
 * segment). Returns 0, -EINVAL (bad method or pattern, or a ":name"/"*name"
 * conflicting with another name at the same place), -EEXIST (the same
 * method and pattern again), -EBUSY (frozen), -ENOMEM.
 */
WEFT_API int weft_app_route(weft_app_t *app, const char *method, const char *pattern,
                            weft_handler_fn handler, void *arg);
WEFT_API int weft_app_route_ex(weft_app_t *app, const char *method, const char *pattern,
                               weft_handler_fn handler, void *arg,
                               const weft_route_options_t *opts);

/* weft_app_set_handler - the fallback for requests no route takes (all of
   them, for an app without routes). -EBUSY once frozen. */
WEFT_API int weft_app_set_handler(weft_app_t *app, weft_handler_fn fn, void *arg);

/* ---- hooks ---------------------------------------------------------------- */

/* A before hook: return NULL to go on (or after answering res: then the
   request ends), or a future to hold the request until it settles. The
   future is taken over (the app drops the reference). */
typedef weft_future_t *(*weft_before_fn)(weft_request_t *req, weft_response_t *res, void *arg);
/* An after hook: the response is finished (read its figures, log). */
typedef void (*weft_after_fn)(weft_request_t *req, weft_response_t *res, void *arg);
/* An error hook: err (negative errno) and msg (may be NULL) from a failed
   job or a rejected gate; answer res to take over, else 500 (or 403). */
typedef void (*weft_error_fn)(weft_request_t *req, weft_response_t *res, int err, const char *msg,
                              void *arg);

/* Each returns 0, -EBUSY (frozen) or -ENOMEM. Hooks run in registration
   order; arg is borrowed for the app's life. */
WEFT_API int weft_app_before(weft_app_t *app, weft_before_fn fn, void *arg);
WEFT_API int weft_app_after(weft_app_t *app, weft_after_fn fn, void *arg);
WEFT_API int weft_app_on_error(weft_app_t *app, weft_error_fn fn, void *arg);

/* ---- state, pool, freezing ------------------------------------------------ */

/* weft_app_set_state / weft_app_state - per-app user state, borrowed for
   the app's life. set: -EBUSY once frozen. The state is shared by every
   loop serving the app: read-only, or guarded by its own locks. */
WEFT_API int weft_app_set_state(weft_app_t *app, void *state);
WEFT_API void *weft_app_state(const weft_app_t *app);

/* weft_app_set_pool - the pool weft_offload submits to (borrowed: free it
   after the servers). -EBUSY once frozen. */
WEFT_API int weft_app_set_pool(weft_app_t *app, weft_pool_t *pool);
WEFT_API weft_pool_t *weft_app_pool(const weft_app_t *app);

/* weft_app_freeze - freeze now (a server does it when it starts serving);
   idempotent. */
WEFT_API void weft_app_freeze(weft_app_t *app);
WEFT_API bool weft_app_frozen(const weft_app_t *app);

/* weft_app_route_stats - responses by status class (by_class[c] counts
   cxx answers, c = 1..5), per route, since the app was first served: fn
   runs once per route (method "*" for any method; pattern as registered)
   and once more with method and pattern NULL for what no route took (404,
   405, the fallback). Counted on each loop's own cache line, summed here.
   Thread-safety: any thread; figures are a snapshot per route. */
typedef void (*weft_route_stats_fn)(const char *method, const char *pattern,
                                    const uint64_t by_class[6], void *arg);
WEFT_API void weft_app_route_stats(const weft_app_t *app, weft_route_stats_fn fn, void *arg);

/* The app serving a request (for handlers shared by several apps). */
WEFT_API weft_app_t *weft_request_app(const weft_request_t *req);

/* ---- what a handler reads ------------------------------------------------- */

/* weft_request_param - the route parameter called name (":name" or
   "*name"), percent-decoded: true and *value set (borrowed for the
   request's life), or false. */
WEFT_API bool weft_request_param(weft_request_t *req, const char *name, weft_slice_t *value);

/* weft_request_query_param - the first query parameter called name
   (application/x-www-form-urlencoded: '+' is a space), decoded; a key with
   no '=' has an empty value. true and *value set, or false. */
WEFT_API bool weft_request_query_param(weft_request_t *req, const char *name, weft_slice_t *value);

/* weft_url_decode - percent-decode in into out (at least in.len bytes);
   plus_is_space for form encoding. Returns the decoded length, or -EINVAL
   for a bad escape or a decoded NUL. Thread-safety: any thread. */
WEFT_API ssize_t weft_url_decode(weft_slice_t in, char *out, bool plus_is_space);

/* ---- answering ------------------------------------------------------------- */

/* weft_response_json - 200 (or the status set) with a JSON text, copied,
   as application/json. */
WEFT_API int weft_response_json(weft_response_t *res, const char *json, size_t len);

/* weft_response_redirect - status (301, 302, 303, 307 or 308; else
   -EINVAL) to location, with a short body. */
WEFT_API int weft_response_redirect(weft_response_t *res, int status, const char *location);

/* ---- static files ---------------------------------------------------------- */

typedef struct {
    const char *index;  /* served for a directory; NULL: "index.html"; "": none */
    bool listing;       /* a directory without an index gets an HTML listing
                           (else 404); off by default */
    uint32_t max_age_s; /* Cache-Control: max-age on files; 0: no header */
} weft_static_options_t;

/*
 * weft_app_static - serve the files under dir at GET (and HEAD) prefix/...
 * ("/" for the whole site; "/assets" serves dir/x.css as /assets/x.css).
 * Answers: 200 with Content-Type by extension, ETag and Last-Modified; 304
 * for If-None-Match / If-Modified-Since; 412 for a failed If-Match /
 * If-Unmodified-Since; a single byte range as 206 (416
 * when unsatisfiable, several ranges as 200 with the whole file; If-Range
 * honoured); a directory's index, or 301 to the path with a trailing '/'.
 *
 * Confinement: nothing outside dir is ever served. A path with "." or ".."
 * segments, an encoded slash, a backslash or a control byte is 404; the
 * rest is opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so
 * a symlink that leaves dir is refused by the kernel at the open itself.
 * Symlinks that stay inside are followed.
 *
 * Blocking: no file call waits for the disk on a loop. Path lookups run on
 * the loop only when the dentry cache holds them (RESOLVE_CACHED), bodies
 * go out with sendfile only when cachestat(2) finds them in the page cache;
 * otherwise those steps run on the app's pool (weft_app_set_pool; without
 * a pool they run on the loop). A pool that is full answers 503.
 *
 * dir is opened now (and kept open for the app's life): moving it later
 * does not change what is served. opts NULL: defaults. Returns 0, -EINVAL
 * (prefix not starting with '/', an index name with '/'), -ENOENT,
 * -ENOTDIR, -EACCES (dir), -ENOSYS (a kernel without openat2, before 5.6),
 * -EEXIST (a route there already), -EBUSY (frozen), -ENOMEM.
 */
WEFT_API int weft_app_static(weft_app_t *app, const char *prefix, const char *dir,
                             const weft_static_options_t *opts);

/* ---- offloading to the pool ----------------------------------------------- */

/* Called on the request's loop when the job settled: f holds its outcome
   (fulfilled, rejected, cancelled). Answer res here. Not called when the
   request no longer waits for it (504 sent, client gone): the result is
   dropped. */
typedef void (*weft_offload_fn)(weft_request_t *req, weft_response_t *res, weft_future_t *f,
                                void *arg);

/*
 * weft_offload - run fn(job, arg) on the app's pool and answer when it
 * settles: done(req, res, future, done_arg) runs on the loop (NULL: send
 * the job's result: a pointer value as a C string body, an int or double
 * as text; a failure through the error hooks, or 500). Never blocks the
 * loop:
 *   - pool full: 503 with Retry-After, answered at once (returns -EAGAIN);
 *   - the route's deadline passes first: 504, the late result is dropped
 *     (the job sees weft_job_cancelled());
 *   - the client goes away (a reset, or EOF when the route says so): the
 *     job's future is cancelled, which the job sees.
 * arg is borrowed by the job until it ends -- so not request memory
 * (weft_request_alloc): a drain timeout or a client gone frees the request
 * while the job may still run; done_arg until done runs or
 * the result is dropped (then done is not called: free done_arg in the
 * job, or use an after hook). Returns 0, -EAGAIN (answered 503), -EPIPE
 * (pool closed: answered 503), -ENOSYS (no pool set), -ENOMEM.
 */
WEFT_API int weft_offload(weft_request_t *req, weft_response_t *res, weft_job_fn fn, void *arg,
                          weft_offload_fn done, void *done_arg);

/*
 * weft_offload_future - answer res when f settles, exactly as weft_offload
 * answers a pool job (done, or the default answer; 504 past the route's
 * deadline; the client gone), for a future that comes from elsewhere: a
 * process pool's job (weft_procpool_submit_ex), another service's reply.
 * Takes over the caller's reference to f. The deadline and a client gone
 * cancel f, so its producer can stop (a process pool kills the job's
 * worker). Returns 0, or -ENOMEM / -EPIPE (the loop stopped: answered 503,
 * f cancelled and released), -EINVAL (f NULL, or req not an app's:
 * answered 500).
 */
WEFT_API int weft_offload_future(weft_request_t *req, weft_response_t *res, weft_future_t *f,
                                 weft_offload_fn done, void *done_arg);

/* weft_offload_detached - a side effect that outlives the request (the
   e-mail after the response, Django-style): fire and forget on the app's
   pool. -EAGAIN (full), -EPIPE, -ENOSYS, -ENOMEM. Thread-safety: any
   thread. */
WEFT_API int weft_offload_detached(weft_app_t *app, weft_job_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_APP_H */
