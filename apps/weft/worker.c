/*
 * worker.c - the worker side of `weft --workers M` (see workers.h): attach
 * to what the master passed, serve on its sockets, report readiness, and
 * obey the control socket.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "workers.h"

static int fail(const char *what, int err)
{
    fprintf(stderr, "weft: worker: %s: %s\n", what, weft_strerror(err));
    return 2;
}

int worker_attach(struct worker *w, unsigned slot)
{
    int r = weft_proc_child_init(SIGTERM); /* the master died: stop gracefully */
    if (r == -ENOENT)
        return fail("--worker-slot is for the master's own use", -EINVAL);
    if (r < 0)
        return fail("the master is gone", r);
    signal(SIGHUP, SIG_IGN); /* the master's to handle */
    w->slot = slot;
    w->shared = weft_shm_map(WORKER_FD_SHARED, &w->shared_size);
    if (!w->shared)
        return fail("mapping the shared segment", -errno);
    close(WORKER_FD_SHARED);
    const struct shared_head *h = w->shared;
    if (w->shared_size < SHARED_HEAD || h->magic != SHARED_MAGIC || slot >= h->n_slots ||
        h->notes_bytes != shared_notes_bytes() || w->shared_size != shared_size(h->n_slots))
        return fail("the shared segment", -EINVAL);
    if ((r = weft_proc_notes_attach(shared_notes(w->shared, slot), h->notes_bytes)) < 0)
        return fail("the crash notes", r);
    return 0;
}

/* One group "first:count" of WEFT_WORKER_LISTENERS. */
static int listen_group(weft_server_t *srv, unsigned first, unsigned count, weft_app_t *app)
{
    if (count == 1)
        return weft_server_listen_fd(srv, (int)first, app); /* shared by every loop */
    int fds[256];
    if (count > 256)
        return -EINVAL;
    for (unsigned i = 0; i < count; i++)
        fds[i] = (int)(first + i);
    return weft_server_listen_group(srv, fds, count, app);
}

int worker_listen(struct worker *w, weft_server_t *srv, weft_app_t *app, weft_app_t *admin_app)
{
    const char *spec = getenv("WEFT_WORKER_LISTENERS");
    unsigned groups[WORKER_GROUPS][2], n = 0;
    for (const char *s = spec; s && *s; n++) {
        if (n == WORKER_GROUPS)
            return fail("WEFT_WORKER_LISTENERS", -E2BIG);
        char *end;
        groups[n][0] = (unsigned)strtoul(s, &end, 10);
        if (*end != ':')
            return fail("WEFT_WORKER_LISTENERS", -EINVAL);
        groups[n][1] = (unsigned)strtoul(end + 1, &end, 10);
        s = *end == ',' ? end + 1 : end;
    }
    if (n == 0 || (admin_app && n < 2))
        return fail("WEFT_WORKER_LISTENERS", -EINVAL);
    int r = 0;
    for (unsigned i = 0; i < n && r == 0; i++)
        r = listen_group(srv, groups[i][0], groups[i][1],
                         admin_app && i == n - 1 ? admin_app : app);
    if (r < 0)
        return fail("the inherited listening sockets", r);
    const struct shared_head *h = w->shared;
    r = weft_server_share_figures(srv, shared_figures(w->shared, h->n_slots), h->figures_slot,
                                  h->n_slots, w->slot);
    return r < 0 ? fail("the shared figures", r) : 0;
}

void worker_ready(void)
{
    char msg = MSG_READY;
    if (send(WORKER_FD_CONTROL, &msg, 1, MSG_NOSIGNAL) < 0)
        weft_log(WEFT_LOG_ERROR, "telling the master we are ready: %s", strerror(errno));
}

static void send_alive(void *arg)
{
    char msg = MSG_ALIVE;
    (void)send(WORKER_FD_CONTROL, &msg, 1,
               MSG_NOSIGNAL | MSG_DONTWAIT); /* a full socket: the next one */
}

struct heartbeat *worker_heartbeat_start(weft_server_t *srv, unsigned loops)
{
    return heartbeat_start(srv, loops, (int64_t)WORKER_BEAT_MS * 1000000, send_alive, NULL);
}

/* ---- the control socket ----------------------------------------------------- */

static struct {
    uv_poll_t poll;
    void (*fn)(void *arg, bool retire);
    void *arg;
    bool open;
} control;

static void on_control(uv_poll_t *h, int status, int events)
{
    char msg;
    ssize_t n = recv(WORKER_FD_CONTROL, &msg, 1, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n == 1 && msg != MSG_RETIRE)
        return;      /* nothing else is sent this way */
    uv_poll_stop(h); /* retired, or the master is gone: either way, once */
    control.fn(control.arg, n == 1);
}

int worker_watch(uv_loop_t *loop, void (*fn)(void *arg, bool retire), void *arg)
{
    control.fn = fn;
    control.arg = arg;
    int r = uv_poll_init(loop, &control.poll, WORKER_FD_CONTROL);
    if (r == 0)
        r = uv_poll_start(&control.poll, UV_READABLE | UV_DISCONNECT, on_control);
    control.open = r == 0;
    return r;
}

void worker_unwatch(void)
{
    if (control.open)
        uv_close((uv_handle_t *)&control.poll, NULL);
    control.open = false;
}
