/*
 * weft/server.h - an HTTP/1.1 server: loops, listeners, limits, stop.
 *
 * A server runs N event loops on N threads (a loop group) and serves apps
 * on listeners (host:port -> app). Each connection belongs to one loop for
 * its whole life. Limits bound what one hostile client can cost: header
 * size and count (431), URI length (414), body size (413), a deadline for
 * the whole head and a minimum body rate (408 once a request has started,
 * else a silent close), an idle keep-alive timeout, a connection cap (the
 * listener pauses accepting), pipeline depth and queued output (reading
 * pauses above the high-water mark).
 *
 * Lifecycle: weft_server_new -> weft_server_listen (one or more) ->
 * weft_server_start -> ... -> weft_server_stop (any thread) ->
 * weft_server_wait -> weft_server_free.
 *
 * Thread-safety: new, listen, start and free from one thread; stop and the
 * stats from any thread.
 */
#ifndef WEFT_SERVER_H
#define WEFT_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "weft/app.h"
#include "weft/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_server weft_server_t;

/* Options; zero-initialise for the documented defaults. */
typedef struct {
    unsigned threads;          /* loops; 0: CPUs this process may run on */
    int64_t header_timeout_ms; /* the whole head must arrive within; 10 s */
    uint64_t body_min_rate;    /* body bytes per second, at least; 1024 */
    int64_t idle_timeout_ms;   /* keep-alive idle; 30 s */
    unsigned max_connections;  /* per process, all listeners; 10,000 */
    size_t max_header_size;    /* request line + headers, bytes; 16 KiB */
    unsigned max_header_count; /* header fields; 100 */
    size_t max_uri_size;       /* request-target, bytes; 8 KiB, or
                                  max_header_size if that is smaller */
    size_t max_body_size;      /* request body, bytes; 1 MiB */
    unsigned max_pipeline;     /* requests read ahead of their answers; 32 */
    size_t output_high_water;  /* queued output per connection; 256 KiB */
    int64_t linger_ms;         /* reading and discarding before close; 2 s */
    int64_t drain_timeout_ms;  /* a graceful stop waits this long for
                                  requests under way; 30 s */
} weft_server_options_t;

/* weft_server_new - a server that serves nothing yet. NULL with errno:
   ENOMEM, EINVAL (nonsense options: max_uri_size above max_header_size,
   a header or body limit of 2 GiB or more). */
WEFT_API weft_server_t *weft_server_new(const weft_server_options_t *opts);

/*
 * weft_server_listen - serve app on host:port (host a numeric IPv4 or IPv6
 * address, or "localhost"; port 0 picks a free one, see weft_server_port).
 * The port is bound now, so a port in use is reported here: -EADDRINUSE;
 * -EADDRNOTAVAIL, -EACCES, -EINVAL (bad host), -EBUSY (already started),
 * -ENOMEM. The app is borrowed until the server is freed, and frozen when
 * the server starts.
 */
WEFT_API int weft_server_listen(weft_server_t *srv, const char *host, uint16_t port,
                                weft_app_t *app);

/*
 * weft_server_listen_fd - serve app on a listening TCP socket made by
 * someone else (systemd's socket activation: LISTEN_FDS). Every loop
 * watches its own duplicate of it, so all loops accept from the one
 * socket (no per-loop spreading). fd is the server's from this call on
 * (closed when the server is freed, also on failure). -ENOTSOCK, -EINVAL
 * (not a listening stream socket), -EBUSY (already started), -ENOMEM,
 * -EMFILE.
 */
WEFT_API int weft_server_listen_fd(weft_server_t *srv, int fd, weft_app_t *app);

/*
 * weft_server_listen_group - serve app on a group of listening sockets
 * made by someone else, one per loop: loop i accepts from fds[i], and n
 * must be the server's loop count (weft_server_threads). This is how
 * worker processes share their master's sockets (weft_listener_group_open):
 * each worker's loop i polls the same socket i, and a worker that exits
 * closes only its copies, so nothing waiting in a backlog is reset. The
 * fds are the server's from this call on (closed when it is freed, also
 * on failure). -EINVAL (n wrong, not listening stream sockets, or not one
 * address), -ENOTSOCK, -EBUSY (already started), -ENOMEM.
 */
WEFT_API int weft_server_listen_group(weft_server_t *srv, const int *fds, unsigned n,
                                      weft_app_t *app);

/*
 * weft_listener_group_open - the sockets weft_server_listen would bind,
 * without a server: after the same probe (-EADDRINUSE if anybody listens
 * there), n SO_REUSEPORT listening sockets on host:port, non-blocking and
 * close-on-exec, into fds[0..n-1]; *bound_port (may be NULL) gets the
 * port, the one picked for port 0. For a master process that passes them
 * to its workers. Errors as weft_server_listen; on failure nothing is left
 * open. Thread-safety: any thread.
 */
WEFT_API int weft_listener_group_open(const char *host, uint16_t port, unsigned n, int *fds,
                                      uint16_t *bound_port);

/* weft_server_threads - how many loops the server runs (options.threads,
   or the CPUs this process may run on). */
WEFT_API unsigned weft_server_threads(const weft_server_t *srv);

/*
 * weft_server_share_figures - count in memory shared between processes:
 * this server's figures (weft_server_stats, weft_server_latency, and the
 * route figures of the apps it serves first) live in slot `slot` of an
 * area of n_slots slots of slot_size bytes each (a multiple of 64, at
 * least 4096; say 1 MiB, only touched pages cost memory) at area, memory
 * shared with the other processes (weft_shm_create, weft/proc.h). The
 * slot's counters continue from what an earlier process left in it, so
 * totals never go backwards when a process is replaced; and every figure
 * the server and its apps report is the sum over the slots laid out like
 * this one (the same program and configuration): the figures of every
 * process sharing the area. Give two live processes different slots. The
 * area must stay mapped until the server and its apps are freed.
 * 0, -EINVAL, -EBUSY (started). Start fails with -ENOSPC if the figures
 * do not fit in a slot.
 */
WEFT_API int weft_server_share_figures(weft_server_t *srv, void *area, size_t slot_size,
                                       unsigned n_slots, unsigned slot);

/* weft_server_port - the port listener i (in listen order) is bound to, or
   0 if there is no such listener. */
WEFT_API uint16_t weft_server_port(const weft_server_t *srv, unsigned i);

/* weft_server_start - freeze the apps, raise the soft RLIMIT_NOFILE to
   the hard limit (as nginx's worker_rlimit_nofile: a server's connections
   are file descriptors), start the loop threads and accept. Returns 0,
   -EBUSY (started already), -EINVAL (no listener), or why a loop could not
   start. */
WEFT_API int weft_server_start(weft_server_t *srv);

/*
 * weft_server_stop - stop gracefully: every loop stops accepting, accepts
 * what is already waiting in its listener's backlog (closing a listener
 * would reset those), gives each idle keep-alive connection a grace of up
 * to a second for one more request (its client may be sending it right
 * now) before closing it, and lets every
 * connection with a request under way (or not yet sent, on a connection
 * just accepted) finish it; those answers carry Connection: close. Each
 * loop stops when its last connection closed, or at drain_timeout_ms, when
 * what is left is closed. A second call stops at once. Returns 0.
 * Thread-safety: any thread (not from a signal handler: the weft binary
 * calls it from a uv_signal_t watcher on a loop).
 */
WEFT_API int weft_server_stop(weft_server_t *srv);

/* weft_server_wait - block until every loop has stopped. -EDEADLK on one of
   the server's own loop threads. */
WEFT_API int weft_server_wait(weft_server_t *srv);

/* weft_server_loop - loop i of the server (for signal watchers and the
   like), or NULL. */
WEFT_API weft_loop_t *weft_server_loop(weft_server_t *srv, unsigned i);

/* weft_server_free - after wait (or before start). NULL is fine. */
WEFT_API void weft_server_free(weft_server_t *srv);

/* Server figures, summed over its loops: a snapshot. */
typedef struct {
    uint64_t connections_accepted, connections_open;
    uint64_t requests;
    uint64_t responses_2xx, responses_3xx, responses_4xx, responses_5xx;
    uint64_t rejected_requests; /* answered 4xx by the engine itself */
    uint64_t timeouts;          /* closed or answered 408 by a timer */
} weft_server_stats_t;

WEFT_API void weft_server_stats(weft_server_t *srv, weft_server_stats_t *out);

/* Response latency, every loop: from a request's head being complete to
   its response being finished (handed to the socket), as a histogram with
   fixed upper bounds in seconds (bounds[i], counts[i] for those at or
   below it and above bounds[i-1]; counts[WEFT_LATENCY_BUCKETS] above the
   last), their count and sum. Thread-safety: any thread. */
#define WEFT_LATENCY_BUCKETS 14
typedef struct {
    double bounds[WEFT_LATENCY_BUCKETS];
    uint64_t counts[WEFT_LATENCY_BUCKETS + 1];
    uint64_t count;
    double sum_seconds;
} weft_latency_t;

WEFT_API void weft_server_latency(weft_server_t *srv, weft_latency_t *out);

/* ---- behind proxies (docs/deployment.md) -------------------------------- */

/*
 * weft_server_trust_proxies - add address ranges whose X-Forwarded-For
 * headers are believed (see weft_request_client for the rule): cidrs is a
 * comma-separated list of IPv4 or IPv6 addresses, each optionally with a
 * prefix length ("10.0.0.0/8, 127.0.0.1, ::1/128"; spaces around commas
 * are allowed; bits past the prefix are ignored). Each call adds to the
 * set; it applies to every listener of the server. cidrs is copied.
 * Returns 0, -EINVAL (NULL or empty, an empty entry, an entry that is not
 * a numeric address, a prefix length out of range: nothing is added, so
 * callers can pass entries one at a time to name the bad one), -ENOMEM
 * (nothing added), -EBUSY (the server has started).
 * Thread-safety: like weft_server_listen (before start, one thread).
 */
WEFT_API int weft_server_trust_proxies(weft_server_t *srv, const char *cidrs);

/*
 * weft_server_listener_set_proxy_protocol - whether every connection of
 * listener i (in listen order, as weft_server_port counts them) starts
 * with a PROXY protocol v1 header (HAProxy's `send-proxy`): then its
 * source address is the client's (weft_request_client), and a connection
 * whose first bytes are not a valid header is closed without an answer.
 * Never guessed: on other listeners a "PROXY ..." line is a bad request
 * (400). Only enable it on a listener that nothing but the proxy can
 * reach: the header is believed from whoever connects. Returns 0,
 * -ENOENT (no listener i), -EBUSY (the server has started).
 * Thread-safety: like weft_server_listen (before start, one thread).
 */
WEFT_API int weft_server_listener_set_proxy_protocol(weft_server_t *srv, unsigned i, bool on);

/* PROXY protocol figures, every loop: headers taken, and connections
   closed because their header was malformed, cut short or missing (the
   first of an episode is logged as a warning). Thread-safety: any
   thread. */
typedef struct {
    uint64_t headers, rejected;
} weft_proxy_stats_t;

WEFT_API void weft_server_proxy_stats(weft_server_t *srv, weft_proxy_stats_t *out);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_SERVER_H */
