/*
 * master.c - the master process of `weft --workers M` (see workers.h).
 *
 * One thread, one libuv loop: signals, a pidfd and a control socket per
 * worker, a timer per worker seat. It never serves a request, so nothing
 * a client sends can crash it.
 *
 *   a worker dies      reaped; its in-flight routes (crash notes) named in
 *                      the log; a new one starts in its seat, at once or
 *                      after a backoff if the seat keeps crashing (restart
 *                      intensity, weft/proc.h)
 *   SIGHUP             rolling restart, one seat at a time: a new worker
 *                      starts, and once it says it is ready the old one is
 *                      told to retire (it stops accepting, finishes what it
 *                      has, exits); the sockets stay open throughout
 *   SIGTERM, SIGINT    every worker stops gracefully (a second signal: at
 *                      once); the master exits when the last one has
 *   SIGUSR1            passed on to every worker (reopen the access log)
 *   the master dies    each worker gets SIGTERM (PR_SET_PDEATHSIG) and
 *                      its control socket closes: it stops gracefully
 *
 * Workers start in their own process group, so a terminal's ^C reaches
 * only the master, which passes it on once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "systemd.h"
#include "workers.h"

struct master;

/* One worker process. */
struct child {
    struct master *m;
    struct child *next; /* every child not yet reaped */
    weft_proc_t *proc;
    unsigned seat, slot;
    int ctl; /* our end of the control socketpair */
    bool ready, retiring;
    bool stuck;       /* killed for falling silent */
    int64_t alive_ms; /* its last heartbeat (or when it became ready) */
    uv_poll_t exit_watch, ctl_watch;
    unsigned handles; /* open uv handles: freed at 0 */
};

/* One of the M places a worker serves in. */
struct seat {
    struct master *m;
    struct child *current;
    weft_restarts_t restarts;
    uv_timer_t restart;
};

enum state { STARTING, SERVING, STOPPING };

struct master {
    const struct cli *cli;
    uv_loop_t loop;
    enum state state;
    int status; /* the exit status */
    unsigned n_seats, n_slots, loops;
    struct seat seats[WORKERS_MAX];
    struct child *children;
    bool slot_busy[WORKERS_MAX * SLOTS_PER_WORKER];
    /* what every worker gets */
    char **argv; /* the master's flags, then --worker-slot K */
    char slot_arg[16];
    int fds[3 + 512]; /* [0] the control end, set per child; then the segment, listeners */
    unsigned n_fds;
    char listeners_env[512];
    void *shared;
    size_t shared_size;
    /* the listening line */
    char host[64];
    uint16_t port, admin_port;
    /* rolling restart */
    bool rolling, roll_again;
    unsigned roll_seat;
    struct child *roll_new;
    uv_timer_t roll_timer;
    uv_timer_t watchdog; /* WATCHDOG=1 while the master's loop turns */
    uv_timer_t liveness; /* kills workers whose heartbeats stopped */
    uv_signal_t sigint, sigterm, sighup, sigusr1;
    unsigned stop_signals;
    bool closed; /* our own handles are closing: uv_run returns once children's have */
};

static void spawn_into(struct seat *s);

static int64_t now_ms(struct master *m)
{
    return (int64_t)uv_now(&m->loop);
}

static unsigned seat_of(const struct seat *s)
{
    return (unsigned)(s - s->m->seats);
}

/* ---- children ------------------------------------------------------------------ */

static void child_handle_closed(uv_handle_t *h)
{
    struct child *c = h->data;
    if (--c->handles == 0) {
        weft_proc_free(c->proc);
        free(c);
    }
}

static void child_forget(struct child *c)
{
    struct master *m = c->m;
    for (struct child **p = &m->children; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    m->slot_busy[c->slot] = false;
    if (m->seats[c->seat].current == c)
        m->seats[c->seat].current = NULL;
    if (c->ctl >= 0)
        close(c->ctl);
    c->ctl = -1;
    uv_close((uv_handle_t *)&c->exit_watch, child_handle_closed);
    uv_close((uv_handle_t *)&c->ctl_watch, child_handle_closed);
}

/* Asks a worker to retire; one that cannot hear it gets SIGTERM instead
   (its /healthz turns 503 for a moment, but it does stop). */
static void child_retire(struct child *c)
{
    char msg = MSG_RETIRE;
    c->retiring = true;
    if (c->ctl >= 0 && send(c->ctl, &msg, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
        return;
    weft_log(WEFT_LOG_WARN, "worker %u (pid %d): control: %s; sending SIGTERM", c->seat,
             (int)weft_proc_pid(c->proc), strerror(errno));
    weft_proc_signal(c->proc, SIGTERM);
}

static void on_child_exit(uv_poll_t *h, int status, int events);
static void on_child_message(uv_poll_t *h, int status, int events);

static int free_slot(const struct master *m)
{
    for (unsigned k = 0; k < m->n_slots; k++)
        if (!m->slot_busy[k])
            return (int)k;
    return -1;
}

/* Starts a worker for seat s in slot `slot`; NULL (logged) on failure. */
static struct child *spawn_child(struct master *m, unsigned seat, unsigned slot)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        weft_log(WEFT_LOG_ERROR, "starting worker %u: socketpair: %s", seat, strerror(errno));
        return NULL;
    }
    weft_proc_notes_init(shared_notes(m->shared, slot), shared_notes_bytes());
    snprintf(m->slot_arg, sizeof(m->slot_arg), "%u", slot);
    const char *env[] = {m->listeners_env, "NOTIFY_SOCKET", "WATCHDOG_USEC",  "WATCHDOG_PID",
                         "LISTEN_FDS",     "LISTEN_PID",    "LISTEN_FDNAMES", NULL};
    m->fds[0] = sv[1];
    weft_spawn_options_t o = {.argv = (const char *const *)m->argv,
                              .env = env,
                              .fds = m->fds,
                              .n_fds = m->n_fds,
                              .new_group = true};
    struct child *c = calloc(1, sizeof(*c));
    int r = c ? weft_proc_spawn(&o, &c->proc) : -ENOMEM;
    close(sv[1]);
    if (r < 0) {
        weft_log(WEFT_LOG_ERROR, "starting worker %u: %s", seat, weft_strerror(r));
        close(sv[0]);
        free(c);
        return NULL;
    }
    *c = (struct child){.m = m,
                        .next = m->children,
                        .proc = c->proc,
                        .seat = seat,
                        .slot = slot,
                        .ctl = sv[0],
                        .handles = 2};
    m->children = c;
    m->slot_busy[slot] = true;
    uv_poll_init(&m->loop, &c->exit_watch, weft_proc_fd(c->proc));
    uv_poll_init(&m->loop, &c->ctl_watch, c->ctl);
    c->exit_watch.data = c->ctl_watch.data = c;
    uv_poll_start(&c->exit_watch, UV_READABLE, on_child_exit);
    uv_poll_start(&c->ctl_watch, UV_READABLE, on_child_message);
    weft_log(WEFT_LOG_INFO, "worker %u started (pid %d)", seat, (int)weft_proc_pid(c->proc));
    return c;
}

/* ---- starting up and stopping ------------------------------------------------------- */

static void print_listening(struct master *m)
{
    bool v6 = strchr(m->host, ':') != NULL;
    printf("listening on http://%s%s%s:%u/\n", v6 ? "[" : "", m->host, v6 ? "]" : "", m->port);
    if (m->cli->admin_host) {
        bool a6 = strchr(m->cli->admin_host, ':') != NULL;
        printf("admin on http://%s%s%s:%u/\n", a6 ? "[" : "", m->cli->admin_host, a6 ? "]" : "",
               m->admin_port);
    }
    fflush(stdout);
}

static bool all_ready(const struct master *m)
{
    for (unsigned i = 0; i < m->n_seats; i++)
        if (!m->seats[i].current || !m->seats[i].current->ready)
            return false;
    return true;
}

static void close_master_handles(struct master *m)
{
    if (m->closed)
        return;
    m->closed = true;
    uv_close((uv_handle_t *)&m->sigint, NULL);
    uv_close((uv_handle_t *)&m->sigterm, NULL);
    uv_close((uv_handle_t *)&m->sighup, NULL);
    uv_close((uv_handle_t *)&m->sigusr1, NULL);
    uv_close((uv_handle_t *)&m->roll_timer, NULL);
    uv_close((uv_handle_t *)&m->watchdog, NULL);
    uv_close((uv_handle_t *)&m->liveness, NULL);
    for (unsigned i = 0; i < m->n_seats; i++)
        uv_close((uv_handle_t *)&m->seats[i].restart, NULL);
}

/* Stops every worker: gracefully the first time, at once the second. */
static void stop_all(struct master *m, bool at_once)
{
    if (m->state != STOPPING) {
        m->state = STOPPING;
        sd_notify_send("STOPPING=1");
        uv_timer_stop(&m->roll_timer);
        for (unsigned i = 0; i < m->n_seats; i++)
            uv_timer_stop(&m->seats[i].restart);
    }
    for (struct child *c = m->children; c; c = c->next)
        if (at_once || !c->retiring) /* retiring ones stop already */
            weft_proc_signal(c->proc, SIGTERM);
    if (!m->children)
        close_master_handles(m);
}

/* Under systemd's watchdog the master pings for the service: it is what
   systemd sees, and its workers are what it keeps alive. */
static void ping_watchdog(uv_timer_t *t)
{
    sd_notify_send("WATCHDOG=1");
}

static void started(struct master *m)
{
    m->state = SERVING;
    print_listening(m);
    sd_notify_send("READY=1");
    int64_t half_ms = sd_watchdog_half_ns() / 1000000;
    if (half_ms > 0)
        uv_timer_start(&m->watchdog, ping_watchdog, 0, (uint64_t)half_ms);
    weft_log(WEFT_LOG_INFO, "%u workers serving", m->n_seats);
}

/* ---- rolling restart ------------------------------------------------------------------- */

static void roll_next(struct master *m);

static void roll_start(struct master *m)
{
    if (m->rolling) {
        m->roll_again = true; /* once this one is over */
        return;
    }
    weft_log(WEFT_LOG_INFO, "SIGHUP: restarting the workers one at a time");
    m->rolling = true;
    m->roll_seat = 0;
    roll_next(m);
}

static void roll_abort(struct master *m, const char *why)
{
    weft_log(WEFT_LOG_ERROR, "rolling restart stopped at worker %u: %s; the others keep serving",
             m->roll_seat, why);
    uv_timer_stop(&m->roll_timer);
    if (m->roll_new) {
        m->roll_new->retiring = true; /* its exit is expected now */
        weft_proc_signal(m->roll_new->proc, SIGKILL);
    }
    m->roll_new = NULL;
    m->rolling = m->roll_again = false;
}

static void on_roll_timeout(uv_timer_t *t)
{
    roll_abort(t->data, "the new worker was not ready in time");
}

/* The new worker of the seat being rolled is ready: the old one retires. */
static void roll_ready(struct master *m, struct child *c)
{
    struct seat *s = &m->seats[c->seat];
    uv_timer_stop(&m->roll_timer);
    uv_timer_stop(&s->restart); /* a crash restart it makes needless */
    struct child *old = s->current;
    s->current = c;
    m->roll_new = NULL;
    if (old)
        child_retire(old);
    m->roll_seat++;
    roll_next(m);
}

static void roll_next(struct master *m)
{
    if (m->state != SERVING || m->roll_new)
        return;
    while (m->roll_seat < m->n_seats && !m->seats[m->roll_seat].current)
        m->roll_seat++; /* being restarted anyway: the restart is new */
    if (m->roll_seat == m->n_seats) {
        m->rolling = false;
        weft_log(WEFT_LOG_INFO, "rolling restart done");
        if (m->roll_again) {
            m->roll_again = false;
            roll_start(m);
        }
        return;
    }
    int slot = free_slot(m);
    if (slot < 0)
        return; /* every slot taken: an old worker's exit calls us again */
    m->roll_new = spawn_child(m, m->roll_seat, (unsigned)slot);
    if (!m->roll_new) {
        roll_abort(m, "the new worker could not start");
        return;
    }
    uv_timer_start(&m->roll_timer, on_roll_timeout, 60000, 0);
}

/* ---- what the children do ------------------------------------------------------------------ */

static void on_child_message(uv_poll_t *h, int status, int events)
{
    struct child *c = h->data;
    struct master *m = c->m;
    char msg;
    ssize_t n = recv(c->ctl, &msg, 1, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n != 1) { /* closed: it is exiting, its pidfd tells when */
        uv_poll_stop(h);
        return;
    }
    c->alive_ms = now_ms(m);
    if (msg != MSG_READY || c->ready)
        return; /* MSG_ALIVE: noted */
    c->ready = true;
    if (c == m->roll_new)
        roll_ready(m, c);
    else if (m->state == STARTING && all_ready(m))
        started(m);
}

static void restart_seat(uv_timer_t *t)
{
    spawn_into(t->data);
}

static void spawn_into(struct seat *s)
{
    struct master *m = s->m;
    int slot = free_slot(m);
    if (m->state == STOPPING || s->current)
        return;
    if (slot >= 0 && (s->current = spawn_child(m, seat_of(s), (unsigned)slot)))
        return;
    int64_t delay = weft_restarts_next(&s->restarts, now_ms(m));
    uv_timer_start(&s->restart, restart_seat, (uint64_t)(delay > 1000 ? delay : 1000), 0);
}

/* A worker died that nobody asked to stop: say what it was doing, and
   put another in its seat. */
static void crashed(struct master *m, struct child *c, int status)
{
    char how[64], notes[1024];
    weft_proc_describe(status, how, sizeof(how));
    unsigned n = weft_proc_notes_read(shared_notes(m->shared, c->slot), shared_notes_bytes(), notes,
                                      sizeof(notes));
    struct seat *s = &m->seats[c->seat];
    int64_t delay = weft_restarts_next(&s->restarts, now_ms(m));
    weft_log(WEFT_LOG_ERROR, "worker %u (pid %d) %s%s%s; restarting it in %lld ms", c->seat,
             (int)weft_proc_pid(c->proc), how, n ? " while serving " : " (nothing in flight)",
             n ? notes : "", (long long)delay);
    uv_timer_start(&s->restart, restart_seat, (uint64_t)delay, 0);
}

static void on_child_exit(uv_poll_t *h, int status, int events)
{
    struct child *c = h->data;
    struct master *m = c->m;
    int st;
    if (weft_proc_reap(c->proc, 0, &st) < 0)
        return; /* not yet: a spurious wake-up */
    bool was_current = m->seats[c->seat].current == c, was_new = c == m->roll_new;
    char how[64];
    if (c->retiring || m->state == STOPPING)
        weft_log(WEFT_LOG_INFO, "worker %u (pid %d) %s", c->seat, (int)weft_proc_pid(c->proc),
                 weft_proc_describe(st, how, sizeof(how)));
    else if (m->state == STARTING && !c->ready) {
        weft_log(WEFT_LOG_ERROR, "worker %u (pid %d) %s before it was ready: stopping", c->seat,
                 (int)weft_proc_pid(c->proc), weft_proc_describe(st, how, sizeof(how)));
        m->status = 2;
        stop_all(m, false);
    } else if (was_new)
        roll_abort(m, weft_proc_describe(st, how, sizeof(how)));
    else if (was_current)
        crashed(m, c, st);
    child_forget(c);
    if (m->state == STOPPING && !m->children)
        close_master_handles(m);
    else if (m->rolling)
        roll_next(m); /* a slot may have come free */
}

/* ---- stuck workers ------------------------------------------------------------------ */

/* A worker sends MSG_ALIVE every WORKER_BEAT_MS while every one of its
   loops answers; one that stays silent past --worker-timeout has a loop
   stuck in a handler (an endless loop, a deadlock): it is killed, and its
   death is handled like a crash, naming what it was doing. */
static void check_liveness(uv_timer_t *t)
{
    struct master *m = t->data;
    int64_t now = now_ms(m), limit = m->cli->worker_timeout_ms;
    for (struct child *c = m->children; c; c = c->next) {
        if (!c->ready || c->stuck || now - c->alive_ms < limit)
            continue;
        weft_log(WEFT_LOG_ERROR,
                 "worker %u (pid %d) is stuck: no heartbeat for %lld ms; killing it", c->seat,
                 (int)weft_proc_pid(c->proc), (long long)(now - c->alive_ms));
        c->stuck = true;
        weft_proc_signal(c->proc, SIGKILL);
    }
}

static void watch_liveness(struct master *m)
{
    int64_t limit = m->cli->worker_timeout_ms;
    if (limit <= 0)
        return;
    uint64_t every = (uint64_t)(limit / 4 < 1000 ? limit / 4 : 1000);
    uv_timer_start(&m->liveness, check_liveness, every ? every : 1, every ? every : 1);
}

/* ---- signals ------------------------------------------------------------------------------- */

static void on_stop_signal(uv_signal_t *h, int signum)
{
    struct master *m = h->data;
    bool again = m->stop_signals++ > 0;
    weft_log(WEFT_LOG_INFO, "%s: stopping the workers %s", strsignal(signum),
             again ? "at once" : "gracefully");
    stop_all(m, again);
}

static void on_hup(uv_signal_t *h, int signum)
{
    struct master *m = h->data;
    if (m->state == SERVING)
        roll_start(m);
    else
        weft_log(WEFT_LOG_WARN, "SIGHUP ignored: the workers are %s",
                 m->state == STARTING ? "still starting" : "stopping");
}

static void on_usr1(uv_signal_t *h, int signum)
{
    struct master *m = h->data;
    for (struct child *c = m->children; c; c = c->next)
        weft_proc_signal(c->proc, SIGUSR1);
}

static void watch_signals(struct master *m)
{
    uv_signal_t *sig[] = {&m->sigint, &m->sigterm, &m->sighup, &m->sigusr1};
    int num[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1};
    uv_signal_cb cb[] = {on_stop_signal, on_stop_signal, on_hup, on_usr1};
    for (int i = 0; i < 4; i++) {
        uv_signal_init(&m->loop, sig[i]);
        sig[i]->data = m;
        uv_signal_start(sig[i], cb[i], num[i]);
    }
}

/* ---- setting up ------------------------------------------------------------------------------ */

static int fail(const char *what, int err)
{
    fprintf(stderr, "weft: %s: %s\n", what, weft_strerror(err));
    return 2;
}

/* Appends a group of sockets to what the workers get, and to the
   WEFT_WORKER_LISTENERS they read. */
static void add_group(struct master *m, const int *fds, unsigned n)
{
    size_t len = strlen(m->listeners_env);
    snprintf(m->listeners_env + len, sizeof(m->listeners_env) - len, "%s%u:%u",
             m->n_fds > 2 ? "," : "", 3 + m->n_fds, n);
    memcpy(&m->fds[m->n_fds], fds, n * sizeof(int));
    m->n_fds += n;
}

/* The listening sockets: systemd's (each shared by every loop), else a
   SO_REUSEPORT group per listener; the admin listener's last. */
static int open_listeners(struct master *m)
{
    const struct cli *cli = m->cli;
    int fds[256], r, passed = sd_listen_fds();
    char where[300];
    if (m->loops > 256)
        return fail("--threads", -EINVAL);
    snprintf(m->listeners_env, sizeof(m->listeners_env), "WEFT_WORKER_LISTENERS=");
    snprintf(m->host, sizeof(m->host), "%s", cli->host);
    m->port = cli->port;
    if (passed > WORKER_GROUPS - 1) { /* one group is left for --admin */
        fprintf(stderr, "weft: socket activation: %d sockets passed; at most %d with --workers\n",
                passed, WORKER_GROUPS - 1);
        return 2;
    }
    for (int i = 0; i < passed; i++) {
        int fd = 3 + i;
        add_group(m, &fd, 1);
    }
    if (!passed) {
        snprintf(where, sizeof(where), "cannot listen on %s:%u", cli->host, cli->port);
        if ((r = weft_listener_group_open(cli->host, cli->port, m->loops, fds, &m->port)) < 0)
            return fail(where, r);
        add_group(m, fds, m->loops);
    }
    if (cli->admin_host) {
        snprintf(where, sizeof(where), "--admin: cannot listen on %s:%u", cli->admin_host,
                 cli->admin_port);
        r = weft_listener_group_open(cli->admin_host, cli->admin_port, m->loops, fds,
                                     &m->admin_port);
        if (r < 0)
            return fail(where, r);
        add_group(m, fds, m->loops);
    }
    return 0;
}

static int make_shared(struct master *m)
{
    int fd;
    m->shared_size = shared_size(m->n_slots);
    if (!(m->shared = weft_shm_create("weft-workers", m->shared_size, &fd)))
        return fail("the shared segment", -errno);
    struct shared_head *h = m->shared;
    *h = (struct shared_head){.magic = SHARED_MAGIC,
                              .n_slots = m->n_slots,
                              .notes_bytes = shared_notes_bytes(),
                              .figures_slot = FIGURES_SLOT};
    m->fds[1] = fd;
    return 0;
}

/* argv as given, then --worker-slot K (K filled in per child). */
static int make_argv(struct master *m, int argc, char **argv)
{
    if (!(m->argv = calloc((size_t)argc + 3, sizeof(char *))))
        return fail("starting", -ENOMEM);
    memcpy(m->argv, argv, (size_t)argc * sizeof(char *));
    m->argv[argc] = "--worker-slot";
    m->argv[argc + 1] = m->slot_arg;
    return 0;
}

static unsigned loops_of(const struct cli *cli)
{
    weft_server_t *srv = weft_server_new(&cli->server); /* no thread yet */
    unsigned n = srv ? weft_server_threads(srv) : 1;
    weft_server_free(srv);
    return n;
}

static int set_up(struct master *m, int argc, char **argv)
{
    int r;
    m->n_seats = m->cli->workers;
    m->n_slots = m->n_seats * SLOTS_PER_WORKER;
    m->loops = loops_of(m->cli);
    m->n_fds = 2; /* the control end and the segment come first */
    if ((r = open_listeners(m)) || (r = make_shared(m)) || (r = make_argv(m, argc, argv)))
        return r;
    if ((r = uv_loop_init(&m->loop)) < 0)
        return fail("starting", r);
    watch_signals(m);
    uv_timer_init(&m->loop, &m->roll_timer);
    uv_timer_init(&m->loop, &m->watchdog);
    uv_timer_init(&m->loop, &m->liveness);
    m->liveness.data = m;
    watch_liveness(m);
    m->roll_timer.data = m;
    for (unsigned i = 0; i < m->n_seats; i++) {
        struct seat *s = &m->seats[i];
        s->m = m;
        weft_restarts_init(&s->restarts, NULL);
        uv_timer_init(&m->loop, &s->restart);
        s->restart.data = s;
    }
    return 0;
}

int master_run(const struct cli *cli, int argc, char **argv)
{
    static struct master m; /* one per process; its handles outlive no call */
    m = (struct master){.cli = cli, .state = STARTING};
    int r = set_up(&m, argc, argv);
    if (r)
        return r;
    for (unsigned i = 0; i < m.n_seats && m.state == STARTING; i++)
        if (!(m.seats[i].current = spawn_child(&m, i, i))) {
            m.status = 2;
            stop_all(&m, false);
        }
    uv_run(&m.loop, UV_RUN_DEFAULT);
    uv_loop_close(&m.loop);
    for (unsigned i = 1; i < m.n_fds; i++)
        close(m.fds[i]);
    weft_shm_unmap(m.shared, m.shared_size);
    free(m.argv);
    return m.status;
}
