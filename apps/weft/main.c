/*
 * main.c - the weft command: parse the flags, serve the demo app (or a
 * directory) with its job pool and plugins, stop gracefully on SIGINT or SIGTERM (a second signal
 * stops at once).
 *
 * Signals: every loop thread blocks asynchronous signals, so they reach
 * the main thread (waiting in weft_server_wait), where libuv's handler
 * hands them to loop 0 through its signal pipe; the watcher there asks the
 * server to stop. The listening line is printed only once the watcher is
 * in place, so whoever reads it can signal at once. SIGPIPE is ignored:
 * writes report EPIPE instead.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access_log.h"
#include "admin.h"
#include "behind_proxy.h"
#include "cli.h"
#include "demo.h"
#include "logging.h"
#include "privileges.h"
#include "systemd.h"
#include "weft/weft.h"
#include "workers.h"

struct signals {
    weft_server_t *srv;
    struct access_log *log; /* reopened on SIGUSR1; may be NULL */
    weft_pool_t *pool;      /* its waiting jobs are shed at the stop */
    struct admin *admin;    /* /healthz turns 503 at the first stop signal */
    int64_t delay_ms;       /* --shutdown-delay: serve this long first */
    weft_event_t *watching; /* set once the handlers are installed */
    unsigned received;      /* stop signals so far */
    bool stopping;          /* weft_server_stop was called */
    bool worker;            /* under a master (--workers): obey its control socket */
    uv_signal_t sigint, sigterm, sigusr1;
    uv_timer_t delay;
};

static void stop(struct signals *s)
{
    bool again = s->stopping;
    s->stopping = true;
    weft_server_stop(s->srv); /* graceful the first time, at once the second */
    if (again)
        return;
    /* Jobs nobody started are answered 503 now (their requests' clients
       can retry elsewhere); running ones finish within the drain timeout. */
    size_t shed = weft_pool_cancel_queued(s->pool);
    if (shed)
        weft_log(WEFT_LOG_INFO, "%zu queued jobs answered 503", shed);
}

static void on_delay_over(uv_timer_t *t)
{
    weft_log(WEFT_LOG_INFO, "the shutdown delay is over: stopping gracefully");
    stop(t->data);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct signals *s = h->data;
    if (s->received++ == 0) {
        sd_notify_send("STOPPING=1");
        atomic_store(&s->admin->draining, true);
        if (s->delay_ms > 0) { /* load balancers see /healthz fail, then we stop */
            weft_log(WEFT_LOG_INFO, "%s: draining: serving %lld ms more", strsignal(signum),
                     (long long)s->delay_ms);
            uv_timer_start(&s->delay, on_delay_over, (uint64_t)s->delay_ms, 0);
            return;
        }
    }
    weft_log(WEFT_LOG_INFO, "%s: stopping %s", strsignal(signum),
             s->received > 1 ? "at once" : "gracefully");
    uv_timer_stop(&s->delay);
    if (s->received > 1 && !s->stopping)
        stop(s); /* during the delay: the graceful stop first, then at once */
    stop(s);
}

/* logrotate moved the access log away: write to a new file of its name. */
static void on_reopen(uv_signal_t *h, int signum)
{
    struct signals *s = h->data;
    int r = s->log ? access_log_reopen(s->log) : 0;
    if (r < 0)
        weft_log(WEFT_LOG_ERROR, "reopening the access log: %s", weft_strerror(r));
    else if (s->log)
        weft_log(WEFT_LOG_INFO, "the access log was reopened");
}

/* A worker's master asked it to retire (a rolling restart), or is gone.
   Either way it stops gracefully, leaving /healthz alone: the other
   workers answer it on the same port. A signal after this stops at once. */
static void on_control(void *arg, bool retire)
{
    struct signals *s = arg;
    weft_log(WEFT_LOG_INFO, retire ? "retiring: a new worker serves in our place"
                                   : "the master is gone: stopping gracefully");
    s->received++;
    stop(s);
}

static void close_signals(weft_loop_t *loop, void *arg)
{
    struct signals *s = arg;
    if (s->worker)
        worker_unwatch();
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sigusr1, NULL);
    uv_close((uv_handle_t *)&s->delay, NULL);
    /* The stop is under way: a late signal must not kill the process by
       its default action (closing the watchers restored it). */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
}

/* Runs on loop 0's thread: libuv handles belong to their loop. */
static void watch_signals(void *arg)
{
    struct signals *s = arg;
    uv_loop_t *uv = weft_loop_uv(weft_server_loop(s->srv, 0));
    uv_signal_init(uv, &s->sigint);
    uv_signal_init(uv, &s->sigterm);
    uv_signal_init(uv, &s->sigusr1);
    uv_timer_init(uv, &s->delay);
    s->delay.data = s;
    s->sigint.data = s->sigterm.data = s->sigusr1.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_start(&s->sigusr1, on_reopen, SIGUSR1);
    if (s->worker && worker_watch(uv, on_control, s) < 0)
        weft_log(WEFT_LOG_ERROR, "worker: cannot watch the control socket");
    weft_loop_on_stop(weft_server_loop(s->srv, 0), close_signals, s);
    weft_event_set(s->watching);
}

static unsigned count_loops(weft_server_t *srv)
{
    unsigned n = 0;
    while (weft_server_loop(srv, n))
        n++;
    return n;
}

static int fail(const char *what, int err)
{
    fprintf(stderr, "weft: %s: %s\n", what, weft_strerror(err));
    return 2;
}

static void print_listening(const char *host, uint16_t port)
{
    bool v6 = strchr(host, ':') && host[0] != '[';
    printf("listening on http://%s%s%s:%u/\n", v6 ? "[" : "", host, v6 ? "]" : "", port);
    fflush(stdout);
}

/* Everything main builds, so one function can take it down. */
struct parts {
    char host[INET6_ADDRSTRLEN]; /* what the listening line names */
    struct demo demo;
    weft_app_t *app;
    weft_server_t *srv;
    struct access_log *log;
    struct admin admin;
    weft_app_t *admin_app; /* --admin: /healthz and /metrics on their own port */
    unsigned admin_index;  /* its listener's index (after the public ones) */
    struct worker *worker; /* under a master: its sockets and shared memory */
};

/* The listening lines on stdout (the admin listener's second), then
   READY=1 to systemd. */
static void announce(const struct parts *p, const struct cli *cli)
{
    print_listening(p->host, weft_server_port(p->srv, 0));
    if (p->admin_app)
        printf("admin on http://%s%s%s:%u/\n", strchr(cli->admin_host, ':') ? "[" : "",
               cli->admin_host, strchr(cli->admin_host, ':') ? "]" : "",
               weft_server_port(p->srv, p->admin_index));
    fflush(stdout);
    sd_notify_send("READY=1");
}

static void take_down(struct parts *p)
{
    weft_server_free(p->srv);
    weft_app_free(p->admin_app);
    weft_app_free(p->app);
    weft_pool_free(p->demo.pool);
    weft_procpool_free(atomic_load(&p->demo.procs));
    access_log_close(p->log);
}

static unsigned count_listeners(const weft_server_t *srv)
{
    unsigned n = 0;
    while (weft_server_port(srv, n))
        n++;
    return n;
}

/* Sockets passed by systemd (socket activation) if any, else host:port. */
static int listen_all(struct parts *p, const struct cli *cli)
{
    char where[300];
    int r, passed = sd_listen_fds();
    snprintf(p->host, sizeof(p->host), "%s", cli->host);
    for (int i = 0; i < passed; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (i == 0 && getsockname(3, (struct sockaddr *)&ss, &len) == 0)
            inet_ntop(ss.ss_family,
                      ss.ss_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                                               : (void *)&((struct sockaddr_in *)&ss)->sin_addr,
                      p->host, sizeof(p->host));
        snprintf(where, sizeof(where), "socket activation: fd %d", 3 + i);
        if ((r = weft_server_listen_fd(p->srv, 3 + i, p->app)) < 0)
            return fail(where, r);
    }
    if (passed)
        return 0;
    snprintf(where, sizeof(where), "cannot listen on %s:%u", cli->host, cli->port);
    r = weft_server_listen(p->srv, cli->host, cli->port, p->app);
    return r < 0 ? fail(where, r) : 0;
}

/* --admin H:P: its own app on its own port (nothing of it on the public
   one). */
static int make_admin(struct parts *p, const struct cli *cli)
{
    p->admin = (struct admin){.srv = p->srv, .pool = p->demo.pool, .app = p->app};
    if (cli->admin_host && !(p->admin_app = admin_app_new(&p->admin)))
        return fail("the admin listener", -errno);
    return 0;
}

static int listen_admin(struct parts *p, const struct cli *cli)
{
    int r = make_admin(p, cli);
    if (r || !p->admin_app)
        return r;
    char where[300];
    snprintf(where, sizeof(where), "--admin: cannot listen on %s:%u", cli->admin_host,
             cli->admin_port);
    while (weft_server_port(p->srv, p->admin_index))
        p->admin_index++;
    r = weft_server_listen(p->srv, cli->admin_host, cli->admin_port, p->admin_app);
    return r < 0 ? fail(where, r) : 0;
}

/* Under a master: its sockets (the admin listener's last) and the
   counters it keeps for all its workers. */
static int listen_worker(struct parts *p, const struct cli *cli)
{
    int r = make_admin(p, cli);
    if (r || (r = worker_listen(p->worker, p->srv, p->app, p->admin_app)))
        return r;
    return behind_proxy_apply(p->srv, cli, count_listeners(p->srv) - (p->admin_app ? 1 : 0));
}

/* The demo app, or the files of cli->dir; then the plugins. */
static int build_app(struct parts *p, const struct cli *cli)
{
    int r;
    if (!cli->dir) {
        if (!(p->app = weft_demo_app_new(&p->demo)))
            return fail("starting", -errno);
    } else {
        weft_static_options_t opts = {.listing = cli->listing, .max_age_s = cli->max_age_s};
        if (!(p->app = weft_app_new()))
            return fail("starting", -errno);
        if ((r = weft_app_set_pool(p->app, p->demo.pool)) < 0 ||
            (r = weft_app_static(p->app, "/", cli->dir, &opts)) < 0)
            return fail(cli->dir, r);
    }
    for (unsigned i = 0; i < cli->n_plugins; i++)
        if ((r = weft_app_load_plugin(p->app, cli->plugins[i], NULL)) < 0)
            return fail(cli->plugins[i], r);
    return 0;
}

static int build(struct parts *p, const struct cli *cli)
{
    int r;
    if (cli->access_log && !(p->log = access_log_open(cli->access_log)))
        return fail(cli->access_log, -errno);
    if (!(p->demo.pool = weft_pool_new(&cli->pool)))
        return fail("starting the job pool", -errno);
    if ((r = build_app(p, cli)))
        return r;
    if (!(p->srv = weft_server_new(&cli->server)))
        return fail("starting", -errno);
    p->demo.srv = p->srv;
    if (p->log && (r = access_log_attach(p->log, p->app)) < 0)
        return fail("the access log", r);
    if (p->worker) {
        if ((r = listen_worker(p, cli)))
            return r;
    } else if ((r = listen_all(p, cli)) ||
               (r = behind_proxy_apply(p->srv, cli, count_listeners(p->srv))) ||
               (r = listen_admin(p, cli))) {
        return r;
    }
    if ((cli->user || cli->group) && (r = privileges_drop(cli->user, cli->group)))
        return r; /* bound as root; nothing is served as root */
    if ((r = weft_server_start(p->srv)) < 0)
        return fail("starting the server", r);
    return 0;
}

int main(int argc, char **argv)
{
    weft_demo_register_jobs();            /* a process-pool worker runs only these: */
    weft_procpool_child_main(argc, argv); /* it never returns from here */
    struct cli cli;
    int r = weft_cli_parse(argc, argv, &cli);
    if (r)
        return r;
    if (cli.help) {
        weft_cli_usage(stdout);
        return 0;
    }
    if (cli.version) {
        printf("weft %s\n", weft_version_string());
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    logging_start(cli.log_level);
    if (cli.workers && cli.worker_slot < 0)
        return master_run(&cli, argc, argv);
    struct parts p = {0};
    struct worker worker;
    if (cli.worker_slot >= 0) {
        logging_tag_worker();
        if ((r = worker_attach(&worker, (unsigned)cli.worker_slot)))
            return r;
        p.worker = &worker;
    }
    if ((r = build(&p, &cli))) {
        take_down(&p);
        return r;
    }
    struct signals sig = {.srv = p.srv,
                          .log = p.log,
                          .pool = p.demo.pool,
                          .admin = &p.admin,
                          .delay_ms = cli.shutdown_delay_ms,
                          .worker = p.worker != NULL,
                          .watching = weft_event_new(true, false)};
    if (!sig.watching ||
        (r = weft_loop_post(weft_server_loop(p.srv, 0), watch_signals, &sig)) < 0 ||
        (r = weft_event_wait(sig.watching, -1)) < 0) {
        weft_server_stop(p.srv);
        weft_server_wait(p.srv);
        take_down(&p);
        weft_event_free(sig.watching);
        return fail("watching for signals", sig.watching ? r : -ENOMEM);
    }
    struct heartbeat *beats; /* while every loop answers: to the master, or systemd */
    if (p.worker) {
        worker_ready(); /* the master prints the listening line */
        beats = worker_heartbeat_start(p.srv, count_loops(p.srv));
    } else {
        announce(&p, &cli);
        beats = sd_watchdog_start(p.srv, count_loops(p.srv));
    }
    weft_server_wait(p.srv);
    heartbeat_stop(beats);
    take_down(&p);
    weft_event_free(sig.watching);
    return 0;
}
