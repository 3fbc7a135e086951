/*
 * server.c - a server: N loops on N threads (a loop group), listeners, the
 * connection cap, stats.
 *
 * Listeners. weft_server_listen first binds a probe socket without
 * SO_REUSEPORT: if anything listens on the port (even a leftover process
 * of ours that would otherwise silently share it), that fails with
 * EADDRINUSE right there. The probe is closed and one SO_REUSEPORT socket
 * per loop index is bound to the same port (for port 0, the one the probe
 * got), so the kernel spreads connections over the loops. Each loop polls
 * its own socket and accepts with accept4.
 *
 * The connection cap is per process, across loops: an atomic count. A loop
 * that reaches it stops polling its listening socket (the connections wait
 * in the kernel's backlog); it resumes when a close brings the count below
 * the cap, or on its next tick for closes that happened on other loops.
 *
 * Threading: new/listen/start/wait/free on the managing thread; stop and
 * stats from any thread; everything per loop on that loop's thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app/app-int.h"
#include "server/server-int.h"

#define BACKLOG        4096
#define ACCEPTS_PER_IO 64

/* ---- options ------------------------------------------------------------- */

static int64_t or_default(int64_t v, int64_t dflt)
{
    return v > 0 ? v : dflt;
}

static int resolve_limits(struct weft_server *srv, const weft_server_options_t *o)
{
    struct http_limits *l = &srv->limits;
    l->header_timeout_ms = or_default(o->header_timeout_ms, 10000);
    l->idle_timeout_ms = or_default(o->idle_timeout_ms, 30000);
    l->send_timeout_ms = l->idle_timeout_ms;
    l->linger_ms = or_default(o->linger_ms, 2000);
    srv->drain_timeout_ms = or_default(o->drain_timeout_ms, 30000);
    l->body_min_rate = o->body_min_rate ? o->body_min_rate : 1024;
    l->max_header_size = (size_t)or_default((int64_t)o->max_header_size, 16 * 1024);
    l->max_uri_size = o->max_uri_size ? o->max_uri_size /* the target fits in the head */
                      : l->max_header_size < 8 * 1024 ? l->max_header_size
                                                      : 8 * 1024;
    l->max_body_size = (size_t)or_default((int64_t)o->max_body_size, 1024 * 1024);
    l->output_high_water = (size_t)or_default((int64_t)o->output_high_water, 256 * 1024);
    l->max_header_count = o->max_header_count ? o->max_header_count : 100;
    l->max_pipeline = o->max_pipeline ? o->max_pipeline : 32;
    srv->max_connections = o->max_connections ? o->max_connections : 10000;
    if (l->max_uri_size > l->max_header_size || l->max_header_size > UINT32_MAX / 2 ||
        l->max_body_size > UINT32_MAX / 2)
        return -EINVAL; /* offsets in the read buffer are 32-bit */
    return 0;
}

static unsigned cpus_available(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    return 1;
}

weft_server_t *weft_server_new(const weft_server_options_t *opts)
{
    weft_server_options_t defaults = {0};
    struct weft_server *srv = weft__calloc(1, sizeof(*srv));
    if (!srv)
        return NULL;
    const weft_server_options_t *o = opts ? opts : &defaults;
    if (resolve_limits(srv, o) < 0) {
        weft__free(srv);
        errno = EINVAL;
        return NULL;
    }
    srv->threads = o->threads ? o->threads : cpus_available();
    srv->loops = weft__calloc(srv->threads, sizeof(*srv->loops));
    if (!srv->loops) {
        weft__free(srv);
        errno = ENOMEM;
        return NULL;
    }
    return srv;
}

/* ---- listening sockets --------------------------------------------------- */

static int parse_host(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (!strcmp(host, "localhost"))
        host = "127.0.0.1";
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        *len = sizeof(*in4);
        return 0;
    }
    const char *h = host;
    char buf[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(host);
    if (n > 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(buf)) {
        memcpy(buf, host + 1, n - 2); /* [::1] as well as ::1 */
        buf[n - 2] = '\0';
        h = buf;
    }
    if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *len = sizeof(*in6);
        return 0;
    }
    return -EINVAL;
}

static int open_socket(const struct sockaddr_storage *ss, socklen_t len, bool reuseport)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* restarts: TIME_WAIT */
    if (ss->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail;
    if (bind(fd, (const struct sockaddr *)ss, len) < 0)
        goto fail;
    return fd;
fail:;
    int err = -errno;
    close(fd);
    return err;
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
    return ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
                                          : ((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* The probe: fails with EADDRINUSE if anybody listens on the port, and
   picks the port when asked for port 0. */
static int probe(struct sockaddr_storage *ss, socklen_t len)
{
    int fd = open_socket(ss, len, false);
    if (fd < 0)
        return fd;
    socklen_t got = len;
    int r = getsockname(fd, (struct sockaddr *)ss, &got) < 0 ? -errno : 0;
    close(fd);
    return r;
}

static int open_group(struct listener *l, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        int fd = open_socket(&l->addr, l->addr_len, true);
        if (fd >= 0 && listen(fd, BACKLOG) < 0) {
            int err = -errno;
            close(fd);
            fd = err;
        }
        if (fd < 0)
            return fd;
        l->fds[i] = fd;
    }
    return 0;
}

static void close_group(struct listener *l, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (l->fds[i] >= 0)
            close(l->fds[i]);
}

/* A listener with no sockets yet (-1 each). */
static struct listener *listener_new(struct weft_server *srv)
{
    struct listener *l = weft__calloc(1, sizeof(*l) + srv->threads * sizeof(int));
    if (l)
        for (unsigned i = 0; i < srv->threads; i++)
            l->fds[i] = -1;
    return l;
}

static void listener_add(struct weft_server *srv, struct listener *l, weft_app_t *app)
{
    l->app = app;
    l->site = *weft__app_site(app);
    l->site.trusted = srv->trusted; /* proxy.c keeps every listener's up to date */
    l->next = NULL;
    struct listener **tail = &srv->listeners;
    while (*tail)
        tail = &(*tail)->next;
    *tail = l;
    srv->n_listeners++;
}

/* 0 if fd is a listening stream socket; its address into l. */
static int check_passed(int fd, struct listener *l)
{
    int type = 0, listening = 0;
    socklen_t n = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &n) < 0)
        return -errno;
    n = sizeof(listening);
    if (type != SOCK_STREAM || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &n) < 0 ||
        !listening)
        return -EINVAL;
    l->addr_len = sizeof(l->addr);
    if (getsockname(fd, (struct sockaddr *)&l->addr, &l->addr_len) < 0)
        return -errno;
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ? -errno : 0;
}

int weft_server_listen(weft_server_t *srv, const char *host, uint16_t port, weft_app_t *app)
{
    if (srv->started)
        return -EBUSY;
    if (!host || !app)
        return -EINVAL;
    struct listener *l = listener_new(srv);
    if (!l)
        return -ENOMEM;
    int r = parse_host(host, port, &l->addr, &l->addr_len);
    if (r == 0)
        r = probe(&l->addr, l->addr_len);
    if (r == 0)
        r = open_group(l, srv->threads);
    if (r < 0) {
        close_group(l, srv->threads);
        weft__free(l);
        return r;
    }
    l->port = port_of(&l->addr);
    set_port(&l->addr, l->port);
    listener_add(srv, l, app);
    return 0;
}

int weft_server_listen_fd(weft_server_t *srv, int fd, weft_app_t *app)
{
    int r = srv->started ? -EBUSY : fd < 0 || !app ? -EINVAL : 0;
    struct listener *l = r ? NULL : listener_new(srv);
    if (!r && !l)
        r = -ENOMEM;
    if (!r)
        r = check_passed(fd, l);
    for (unsigned i = 0; !r && i < srv->threads; i++) /* a dup per loop: its own watch */
        if ((l->fds[i] = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
            r = -errno;
    if (fd >= 0)
        close(fd); /* the loops hold their duplicates */
    if (r) {
        if (l)
            close_group(l, srv->threads);
        weft__free(l);
        return r;
    }
    l->port = port_of(&l->addr);
    listener_add(srv, l, app);
    return 0;
}

int weft_server_listen_group(weft_server_t *srv, const int *fds, unsigned n, weft_app_t *app)
{
    int r = srv->started ? -EBUSY : !fds || !app || n != srv->threads ? -EINVAL : 0;
    struct listener *l = r ? NULL : listener_new(srv);
    if (!r && !l)
        r = -ENOMEM;
    for (unsigned i = 0; !r && i < n; i++) {
        struct sockaddr_storage first = l->addr;
        r = check_passed(fds[i], l);
        if (!r && i > 0 &&
            (first.ss_family != l->addr.ss_family || port_of(&first) != port_of(&l->addr)))
            r = -EINVAL; /* one group: one address */
    }
    if (r) {
        weft__free(l);
        for (unsigned i = 0; fds && i < n; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        return r;
    }
    memcpy(l->fds, fds, n * sizeof(int));
    l->port = port_of(&l->addr);
    listener_add(srv, l, app);
    return 0;
}

int weft_listener_group_open(const char *host, uint16_t port, unsigned n, int *fds,
                             uint16_t *bound_port)
{
    if (!host || !fds || n == 0)
        return -EINVAL;
    struct listener *l = weft__calloc(1, sizeof(*l) + n * sizeof(int));
    if (!l)
        return -ENOMEM;
    for (unsigned i = 0; i < n; i++)
        l->fds[i] = -1;
    int r = parse_host(host, port, &l->addr, &l->addr_len);
    if (r == 0)
        r = probe(&l->addr, l->addr_len);
    if (r == 0)
        r = open_group(l, n);
    if (r < 0)
        close_group(l, n);
    else
        memcpy(fds, l->fds, n * sizeof(int));
    if (r == 0 && bound_port)
        *bound_port = port_of(&l->addr);
    weft__free(l);
    return r;
}

unsigned weft_server_threads(const weft_server_t *srv)
{
    return srv->threads;
}

uint16_t weft_server_port(const weft_server_t *srv, unsigned i)
{
    for (const struct listener *l = srv->listeners; l; l = l->next, i--)
        if (i == 0)
            return l->port;
    return 0;
}

/* ---- accepting ----------------------------------------------------------- */

static void watch_pause(struct lwatch *w)
{
    if (!w->paused) {
        uv_poll_stop(&w->poll);
        w->paused = true;
    }
}

static void on_accept(uv_poll_t *poll, int status, int events);

static void watch_resume(struct lwatch *w)
{
    if (w->paused && !w->hl->stopping) {
        uv_poll_start(&w->poll, UV_READABLE, on_accept);
        w->paused = false;
    }
}

static bool at_cap(struct weft_server *srv)
{
    return atomic_load_explicit(&srv->conns, memory_order_relaxed) >= srv->max_connections;
}

static void accept_one(struct lwatch *w, int fd, struct sockaddr_storage *ss, socklen_t len)
{
    struct weft_server *srv = w->hl->srv;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* answers are batched */
    atomic_fetch_add_explicit(&srv->conns, 1, memory_order_relaxed);
    if (!weft__conn_new(w->hl, fd, &w->l->site, (struct sockaddr *)ss, len)) {
        close(fd);
        atomic_fetch_sub_explicit(&srv->conns, 1, memory_order_relaxed);
    }
}

static void on_accept(uv_poll_t *poll, int status, int events)
{
    struct lwatch *w = (struct lwatch *)poll;
    struct weft_server *srv = w->hl->srv;
    for (int i = 0; i < ACCEPTS_PER_IO && status == 0; i++) {
        if (at_cap(srv)) {
            watch_pause(w); /* withhold accept: they wait in the backlog */
            return;
        }
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(w->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            accept_one(w, fd, &ss, len);
            continue;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            weft_log_episode_begin(&srv->accept_log, WEFT_LOG_ERROR,
                                   "accept: %s; pausing the listener", strerror(errno));
            watch_pause(w); /* the tick retries */
        }
        return; /* EAGAIN, or a connection that died in the backlog */
    }
}

/* For tests and the fuzzer: serve an already connected socket (one end
   of a socketpair) on loop i, as if listener 0 had accepted it. */
struct adoption {
    struct weft_server *srv;
    unsigned loop;
    int fd;
};

static void adopt_on_loop(void *arg)
{
    struct adoption *a = arg;
    struct http_loop *hl = a->srv->loops[a->loop];
    struct sockaddr_storage ss = {.ss_family = AF_UNIX};
    atomic_fetch_add_explicit(&a->srv->conns, 1, memory_order_relaxed);
    if (!weft__conn_new(hl, a->fd, &a->srv->listeners->site, (struct sockaddr *)&ss,
                        sizeof(sa_family_t))) {
        close(a->fd);
        atomic_fetch_sub_explicit(&a->srv->conns, 1, memory_order_relaxed);
    }
    weft__free(a);
}

int weft__server_adopt(weft_server_t *srv, unsigned loop, int fd)
{
    if (!srv->started || loop >= srv->threads || !srv->listeners)
        return -EINVAL;
    struct adoption *a = weft__malloc(sizeof(*a));
    if (!a)
        return -ENOMEM;
    *a = (struct adoption){srv, loop, fd};
    int r = weft_loop_post(weft_loop_group_loop(srv->group, loop), adopt_on_loop, a);
    if (r < 0)
        weft__free(a);
    return r;
}

void weft__site_conn_closed(struct http_loop *hl)
{
    struct weft_server *srv = hl->srv;
    atomic_fetch_sub_explicit(&srv->conns, 1, memory_order_relaxed);
    if (hl->stopping && hl->n_conns == 0 && !hl->stop_sent) {
        hl->stop_sent = true; /* drained: this loop is done */
        weft_loop_stop(hl->loop);
        return;
    }
    if (!at_cap(srv))
        for (unsigned i = 0; i < hl->n_watches; i++)
            watch_resume(&hl->watches[i]);
}

void weft__site_tick(struct http_loop *hl)
{
    if (hl->stopping) {
        if (hl->now_ms >= hl->drain_deadline_ms && !hl->stop_sent) {
            hl->stop_sent = true; /* what is left is closed as the loop stops */
            weft_loop_stop(hl->loop);
        }
        return;
    }
    if (at_cap(hl->srv))
        return;
    for (unsigned i = 0; i < hl->n_watches; i++)
        if (hl->watches[i].paused)
            watch_resume(&hl->watches[i]);
}

/* ---- the loops ----------------------------------------------------------- */

static int loop_setup(struct weft_server *srv, struct http_loop *hl)
{
    hl->conns.next = hl->conns.prev = &hl->conns;
    int r = weft__timers_start(hl);
    if (r == 0)
        r = uv_check_init(hl->uv, &hl->check);
    if (r < 0)
        return r;
    hl->check.data = hl;
    hl->check_open = true;
    hl->watches = weft__calloc(srv->n_listeners, sizeof(*hl->watches));
    if (!hl->watches)
        return -ENOMEM;
    unsigned j = 0;
    for (struct listener *l = srv->listeners; l; l = l->next, j++) {
        struct lwatch *w = &hl->watches[j];
        w->hl = hl;
        w->l = l;
        w->fd = l->fds[hl->index];
        if ((r = uv_poll_init(hl->uv, &w->poll, w->fd)) < 0)
            return r;
        hl->n_watches++;
        uv_poll_start(&w->poll, UV_READABLE, on_accept);
    }
    return 0;
}

static void on_loop_start(weft_loop_t *loop, unsigned index, void *arg)
{
    struct weft_server *srv = arg;
    struct http_loop *hl = srv->loops[index];
    hl->loop = loop;
    hl->uv = weft_loop_uv(loop);
    weft_loop_set_data(loop, hl);
    int r = loop_setup(srv, hl);
    if (r < 0) {
        weft_log(WEFT_LOG_ERROR, "server loop %u could not start: %s", index, weft_strerror(r));
        weft_server_stop(srv);
    }
}

static void on_loop_stop(weft_loop_t *loop, unsigned index, void *arg)
{
    struct weft_server *srv = arg;
    struct http_loop *hl = srv->loops[index];
    hl->stopping = true;
    weft__http_loop_close_all(hl);
    for (unsigned i = 0; i < hl->n_watches; i++)
        uv_close((uv_handle_t *)&hl->watches[i].poll, NULL);
    weft__timers_stop(hl);
    if (hl->check_open)
        uv_close((uv_handle_t *)&hl->check, NULL);
    hl->check_open = false;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl); /* best effort: the cap still applies */
    }
}

int weft_server_share_figures(weft_server_t *srv, void *area, size_t slot_size, unsigned n_slots,
                              unsigned slot)
{
    if (srv->started || srv->loops[0])
        return -EBUSY;
    return weft__figures_area_init(&srv->figures, area, slot_size, n_slots, slot);
}

/* The loops' and the apps' counters, from the figures area: in the same
   order in every process that shares it. */
static int make_figures(struct weft_server *srv)
{
    int shortage = srv->figures.base ? -ENOSPC : -ENOMEM;
    for (unsigned i = 0; i < srv->threads; i++) {
        struct http_loop *hl = srv->loops[i];
        if (!hl->fig && !(hl->fig = weft__figures_alloc(&srv->figures, sizeof(*hl->fig), "loop")))
            return shortage;
    }
    for (struct listener *l = srv->listeners; l; l = l->next) {
        int r = weft__app_prepare_stats(l->app, srv->threads, &srv->figures);
        if (r < 0)
            return r; /* before freezing: start may be called again */
    }
    weft__figures_seal(&srv->figures);
    for (struct listener *l = srv->listeners; l; l = l->next)
        weft__app_figures_sealed(l->app, &srv->figures);
    for (unsigned i = 0; i < srv->threads; i++) /* a gauge: the last owner's are gone */
        atomic_store_explicit(&srv->loops[i]->fig->open, 0, memory_order_relaxed);
    return 0;
}

int weft_server_start(weft_server_t *srv)
{
    if (srv->started)
        return -EBUSY;
    if (!srv->listeners)
        return -EINVAL;
    for (unsigned i = 0; i < srv->threads; i++) {
        if (!srv->loops[i] && !(srv->loops[i] = weft__calloc(1, sizeof(struct http_loop))))
            return -ENOMEM;
        srv->loops[i]->srv = srv;
        srv->loops[i]->index = i;
        srv->loops[i]->limits = &srv->limits;
    }
    int r = make_figures(srv);
    if (r < 0)
        return r;
    for (struct listener *l = srv->listeners; l; l = l->next)
        weft_app_freeze(l->app);
    raise_fd_limit();
    weft_loop_group_options_t go = {.loops = srv->threads,
                                    .name = "weft-http",
                                    .on_start = on_loop_start,
                                    .on_stop = on_loop_stop,
                                    .arg = srv};
    srv->group = weft_loop_group_new(&go);
    if (!srv->group)
        return -errno;
    srv->started = true;
    return weft_loop_group_start(srv->group);
}

/* Takes what waits in a listener's backlog: closing the listener later
   would reset those connections. */
static void accept_backlog(struct lwatch *w)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(w->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        accept_one(w, fd, &ss, len);
    }
}

/* Runs on each loop: the graceful stop of weft_server_stop. */
static void begin_drain(void *arg)
{
    struct http_loop *hl = arg;
    if (hl->stopping || !hl->uv)
        return;
    hl->stopping = true;
    hl->drain_deadline_ms = (int64_t)uv_now(hl->uv) + hl->srv->drain_timeout_ms;
    for (unsigned i = 0; i < hl->n_watches; i++) {
        struct lwatch *w = &hl->watches[i];
        accept_backlog(w);
        uv_poll_stop(&w->poll);
        w->paused = true;
    }
    weft__http_loop_drain(hl);
    if (hl->n_conns == 0 && !hl->stop_sent) {
        hl->stop_sent = true;
        weft_loop_stop(hl->loop);
    }
}

/* Stops a loop from its own thread, so the continuations a stop cancels
   run there, next to the connections they answer. */
static void stop_now(void *arg)
{
    struct http_loop *hl = arg;
    hl->stop_sent = true;
    weft_loop_stop(hl->loop);
}

int weft_server_stop(weft_server_t *srv)
{
    if (!srv->group)
        return 0;
    void (*how)(void *) = atomic_exchange(&srv->stop_requested, true) ? stop_now : begin_drain;
    for (unsigned i = 0; i < srv->threads; i++)
        weft_loop_post(weft_loop_group_loop(srv->group, i), how, srv->loops[i]);
    return 0; /* -EPIPE from a post: that loop has stopped already */
}

int weft_server_wait(weft_server_t *srv)
{
    return srv->group ? weft_loop_group_join(srv->group) : 0;
}

weft_loop_t *weft_server_loop(weft_server_t *srv, unsigned i)
{
    return srv->group ? weft_loop_group_loop(srv->group, i) : NULL;
}

void weft_server_free(weft_server_t *srv)
{
    if (!srv)
        return;
    weft_loop_group_free(srv->group); /* stops and joins if needed */
    for (unsigned i = 0; i < srv->threads; i++) {
        struct http_loop *hl = srv->loops[i];
        if (!hl)
            continue;
        weft__http_loop_free_caches(hl);
        weft__figures_free(&srv->figures, hl->fig);
        weft__free(hl->batch);
        weft__free(hl->watches);
        weft__free(hl);
    }
    for (struct listener *l = srv->listeners, *next; l; l = next) {
        next = l->next;
        close_group(l, srv->threads);
        weft__free(l);
    }
    weft__free(srv->loops);
    weft__cidrs_free(srv->trusted);
    weft__free(srv);
}

static uint64_t sum(const struct weft_server *srv, const _Atomic uint64_t *counter)
{
    return weft__figures_sum(&srv->figures, counter);
}

void weft_server_latency(weft_server_t *srv, weft_latency_t *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned b = 0; b < WEFT_LATENCY_BUCKETS; b++)
        out->bounds[b] = (double)weft__latency_bounds_ns[b] / 1e9;
    uint64_t sum_ns = 0;
    for (unsigned i = 0; i < srv->threads; i++) {
        struct http_loop *hl = srv->loops[i];
        if (!hl || !hl->fig)
            continue;
        for (unsigned b = 0; b <= WEFT_LATENCY_BUCKETS; b++)
            out->counts[b] += sum(srv, &hl->fig->latency[b]);
        sum_ns += sum(srv, &hl->fig->latency_sum_ns);
    }
    for (unsigned b = 0; b <= WEFT_LATENCY_BUCKETS; b++)
        out->count += out->counts[b];
    out->sum_seconds = (double)sum_ns / 1e9;
}

void weft_server_stats(weft_server_t *srv, weft_server_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < srv->threads; i++) {
        struct http_loop *hl = srv->loops[i];
        if (!hl || !hl->fig)
            continue;
        struct http_figures *f = hl->fig;
        out->connections_accepted += sum(srv, &f->accepted);
        out->connections_open += sum(srv, &f->open);
        out->requests += sum(srv, &f->requests);
        out->rejected_requests += sum(srv, &f->rejected);
        out->timeouts += sum(srv, &f->timeouts);
        out->responses_2xx += sum(srv, &f->by_class[2]);
        out->responses_3xx += sum(srv, &f->by_class[3]);
        out->responses_4xx += sum(srv, &f->by_class[4]);
        out->responses_5xx += sum(srv, &f->by_class[5]);
    }
}
