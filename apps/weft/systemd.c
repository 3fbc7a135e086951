/*
 * systemd.c - systemd's protocols without libsystemd. Notifications
 * (sd_notify(3)): one datagram per state to the unix socket named by
 * $NOTIFY_SOCKET ("@name" is the abstract namespace). Socket activation
 * (sd_listen_fds(3)): $LISTEN_FDS sockets from fd 3, if $LISTEN_PID is us.
 *
 * The watchdog pings only while every loop is alive (heartbeat.c): a loop
 * stuck in a handler stops the pings, and systemd (WatchdogSec=) restarts
 * the service.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
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

/* The half period from $WATCHDOG_USEC, if it is meant for this process. */
int64_t sd_watchdog_half_ns(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    if (!usec || (pid && strtol(pid, NULL, 10) != (long)getpid()))
        return 0;
    long long us = strtoll(usec, NULL, 10);
    return us > 0 ? (int64_t)us * 500 : 0;
}

static void ping_systemd(void *arg)
{
    sd_notify_send("WATCHDOG=1");
}

struct heartbeat *sd_watchdog_start(weft_server_t *srv, unsigned loops)
{
    int64_t half_ns = sd_watchdog_half_ns();
    return half_ns ? heartbeat_start(srv, loops, half_ns, ping_systemd, NULL) : NULL;
}
