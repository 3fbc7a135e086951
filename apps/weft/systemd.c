/*
 * systemd.c - systemd's protocols without libsystemd. Notifications
 * (sd_notify(3)): one datagram per state to the unix socket named by
 * $NOTIFY_SOCKET ("@name" is the abstract namespace). Socket activation
 * (sd_listen_fds(3)): $LISTEN_FDS sockets from fd 3, if $LISTEN_PID is us.
 *
 * The watchdog pings only while every loop is alive: each half period the
 * watchdog thread checks that every loop ran the post it sent the round
 * before, then posts the next. A loop stuck in a handler never runs its
 * post, the pings stop, and systemd (WatchdogSec=) restarts the service.
 * The posts cost one loop wake-up per half period.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "systemd.h"

int sd_notify_send(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !path[0])
        return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
        return -EINVAL;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* the abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    socklen_t sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, sa_len);
    int r = n < 0 ? -errno : 0;
    close(fd);
    return r;
}

int sd_listen_fds(void)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    int n = 0;
    if (pid && fds && strtol(pid, NULL, 10) == (long)getpid())
        n = (int)strtol(fds, NULL, 10);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return n > 0 && n < 1024 ? n : 0;
}

/* ---- the watchdog ------------------------------------------------------------- */

struct loop_ack {
    _Atomic uint64_t round; /* the last round this loop answered */
};

struct sd_watchdog {
    weft_server_t *srv;
    unsigned loops;
    int64_t half_ns;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    struct loop_ack *acks;
    uint64_t round;
};

struct ack_post {
    struct loop_ack *ack;
    uint64_t round;
};

static void ack(void *arg)
{
    struct ack_post *p = arg;
    atomic_store_explicit(&p->ack->round, p->round, memory_order_release);
    free(p);
}

/* Every loop answered the previous round; then the next round is posted. */
static bool all_alive(struct sd_watchdog *wd)
{
    bool alive = true;
    for (unsigned i = 0; i < wd->loops; i++)
        if (atomic_load_explicit(&wd->acks[i].round, memory_order_acquire) != wd->round)
            alive = false;
    if (!alive)
        return false; /* no new round until the stuck one answers */
    wd->round++;
    for (unsigned i = 0; i < wd->loops; i++) {
        struct ack_post *p = malloc(sizeof(*p));
        if (!p)
            return true; /* this round's pings still hold; the next will tell */
        *p = (struct ack_post){&wd->acks[i], wd->round};
        if (weft_loop_post(weft_server_loop(wd->srv, i), ack, p) < 0)
            free(p); /* stopping: the main thread is about to stop us */
    }
    return true;
}

static void *watchdog_main(void *arg)
{
    struct sd_watchdog *wd = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the main thread's */
    pthread_mutex_lock(&wd->lock);
    while (!wd->stopping) {
        if (all_alive(wd))
            sd_notify_send("WATCHDOG=1");
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        int64_t ns = until.tv_nsec + wd->half_ns;
        until.tv_sec += ns / 1000000000;
        until.tv_nsec = ns % 1000000000;
        while (!wd->stopping && pthread_cond_timedwait(&wd->wake, &wd->lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&wd->lock);
    return NULL;
}

/* The half period from $WATCHDOG_USEC, if it is meant for this process. */
int64_t sd_watchdog_half_ns(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    if (!usec || (pid && strtol(pid, NULL, 10) != (long)getpid()))
        return 0;
    long long us = strtoll(usec, NULL, 10);
    return us > 0 ? (int64_t)us * 500 : 0;
}

struct sd_watchdog *sd_watchdog_start(weft_server_t *srv, unsigned loops)
{
    int64_t half_ns = sd_watchdog_half_ns();
    if (!half_ns || !loops)
        return NULL;
    struct sd_watchdog *wd = calloc(1, sizeof(*wd));
    if (wd)
        wd->acks = calloc(loops, sizeof(*wd->acks));
    if (!wd || !wd->acks) {
        weft_log(WEFT_LOG_ERROR, "systemd watchdog: out of memory: no pings");
        free(wd);
        return NULL;
    }
    *wd = (struct sd_watchdog){.srv = srv, .loops = loops, .half_ns = half_ns, .acks = wd->acks};
    pthread_mutex_init(&wd->lock, NULL);
    pthread_cond_init(&wd->wake, NULL);
    int r = pthread_create(&wd->thread, NULL, watchdog_main, wd);
    if (r) {
        weft_log(WEFT_LOG_ERROR, "systemd watchdog: %s: no pings", strerror(r));
        free(wd->acks);
        free(wd);
        return NULL;
    }
    return wd;
}

void sd_watchdog_stop(struct sd_watchdog *wd)
{
    if (!wd)
        return;
    pthread_mutex_lock(&wd->lock);
    wd->stopping = true;
    pthread_cond_signal(&wd->wake);
    pthread_mutex_unlock(&wd->lock);
    pthread_join(wd->thread, NULL);
    pthread_cond_destroy(&wd->wake);
    pthread_mutex_destroy(&wd->lock);
    free(wd->acks);
    free(wd);
}
