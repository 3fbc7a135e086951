/* server-int.h - the server's private structures (server.c). */
#ifndef WEFT_SERVER_INT_H
#define WEFT_SERVER_INT_H

#include <stdatomic.h>
#include <sys/socket.h>

#include "http/http-int.h"

/* One host:port served by an app: a SO_REUSEPORT socket per loop. */
struct listener {
    struct listener *next;
    struct http_site site; /* the app's dispatcher */
    weft_app_t *app;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    uint16_t port;
    int fds[]; /* one per loop index */
};

/* A loop's watch on its own socket of one listener. */
struct lwatch {
    uv_poll_t poll; /* first: the accept callback casts back */
    struct http_loop *hl;
    struct listener *l;
    int fd;
    bool paused; /* at the connection cap, or out of descriptors */
};

struct weft_server {
    struct http_limits limits;
    unsigned threads;
    unsigned max_connections;
    _Atomic unsigned conns; /* open connections, every loop */
    struct listener *listeners;
    unsigned n_listeners;
    struct http_loop **loops;
    weft_loop_group_t *group;
    bool started;
    _Atomic bool stop_requested;
    int64_t drain_timeout_ms;
    weft_log_episode_t accept_log;
    struct figures_area figures; /* base NULL: private (weft_server_share_figures) */
    struct weft__cidrs *trusted; /* weft_server_trust_proxies (proxy.c) */
};

/* Serves a connected socket (a socketpair end, non-blocking) on loop
   `loop` as listener 0's: for tests and the fuzzer. Any thread. */
int weft__server_adopt(weft_server_t *srv, unsigned loop, int fd) WEFT_INTERNAL;

#endif /* WEFT_SERVER_INT_H */
