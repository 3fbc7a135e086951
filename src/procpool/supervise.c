/*
 * supervise.c - the pool's supervisor thread: it spawns every worker (so
 * their PR_SET_PDEATHSIG is tied to a thread that lives as long as the
 * pool), and polls, for each worker, its socket (results, readiness) and
 * its pidfd (its death), plus the pool's eventfd doorbell, with a timeout
 * at the nearest job deadline or delayed restart.
 *
 * Only this thread spawns, reaps, and closes a worker's socket, so it
 * reads slot->proc and slot->sock without the lock; it changes them, and
 * every job or slot state, under mu. It settles futures after unlocking
 * (a settled list), so no callback runs under mu.
 *
 * A death: messages already sent are read first (a result that made it
 * out counts), then the process is reaped; a job still on it was killed
 * by the crash and is rejected with WEFT_PROCPOOL_ECRASH and the death in
 * words ("worker killed by SIGSEGV"). Deaths the pool caused (a deadline,
 * a cancel) do not count against the restart intensity: a pool that kills
 * a stuck worker should not be slowed down for it.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "procpool/procpool-int.h"
#include "sync/spin.h"
#include "sync/thread.h"

void weft__pp_wake(struct weft_procpool *pp)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already huge: the doorbell is rung. */
    (void)!write(pp->wake_fd, &one, sizeof(one));
}

static void push_settle(struct pp_job **list, struct pp_job *j)
{
    j->settle_next = *list;
    *list = j;
}

static void settle_all(struct pp_job *list)
{
    while (list) {
        struct pp_job *next = list->settle_next;
        weft__pp_settle(list);
        list = next;
    }
}

static void kill_slot_locked(struct pp_slot *s, const char *why)
{
    if (!s->killed_for)
        s->killed_for = why;
    weft_proc_signal(s->proc, SIGKILL);
}

/* ---- spawning ------------------------------------------------------------------ */

static int spawn_slot(struct weft_procpool *pp, struct pp_slot *s)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    memset(s->ctl, 0, PP_CTL_SIZE); /* nobody else maps it: the last worker is reaped */
    s->res_seen = 0;
    char inline_size[24], limit[24];
    snprintf(inline_size, sizeof(inline_size), "%zu", pp->shm_size);
    snprintf(limit, sizeof(limit), "%zu", pp->memory_limit);
    const char *argv[] = {pp->name, PP_WORKER_FLAG, inline_size, limit, NULL};
    int fds[] = {sv[1], s->shm_fd};
    weft_spawn_options_t o = {.argv = argv, .env = pp->env, .fds = fds, .n_fds = 2};
    weft_proc_t *proc;
    int r = weft_proc_spawn(&o, &proc);
    close(sv[1]);
    if (r < 0) {
        close(sv[0]);
        return r;
    }
    pthread_mutex_lock(&pp->mu);
    s->proc = proc;
    s->sock = sv[0];
    s->sock_done = false;
    s->killed_for = NULL;
    s->state = PS_STARTING;
    if (s->restarted)
        pp->replaced++;
    s->restarted = false;
    pthread_mutex_unlock(&pp->mu);
    return 0;
}

static void start_due(struct weft_procpool *pp, int64_t now)
{
    for (unsigned i = 0; i < pp->opts.workers; i++) {
        struct pp_slot *s = &pp->slots[i];
        /* proc, not state: submitters change state (under mu); proc and
           restart_at_ns are this thread's own. */
        if (s->proc || s->restart_at_ns > now)
            continue;
        int r = spawn_slot(pp, s);
        if (r == 0)
            continue;
        int64_t delay = weft_restarts_next(&pp->restarts, now / WEFT_NS_PER_MS);
        if (delay <= 0)
            delay = pp->restarts.policy.backoff_ms;
        s->restart_at_ns = now + delay * WEFT_NS_PER_MS;
        weft_log(WEFT_LOG_ERROR, "%s: cannot start worker %u: %s; trying again in %" PRId64 " ms",
                 pp->name, i, weft_strerror(r), delay);
    }
}

/* ---- results ------------------------------------------------------------------ */

/* The result a worker announced, copied out of its segment or memfd into
   a new weft_procpool_result_t; on failure o->err says why. */
static void take_result(struct weft_procpool *pp, struct pp_slot *s, const struct pp_msg *m, int fd,
                        struct pp_outcome *o)
{
    const unsigned char *src = s->results;
    size_t mapped = 0;
    if (fd >= 0) {
        src = weft_shm_map(fd, &mapped);
        close(fd);
        if (!src || mapped < m->len) {
            weft_shm_unmap((void *)src, mapped);
            o->err = -EPROTO;
            snprintf(o->msg, sizeof(o->msg), "the worker's result could not be read");
            return;
        }
    } else if (m->len > pp->shm_size) {
        o->err = -EPROTO;
        snprintf(o->msg, sizeof(o->msg), "the worker announced too large a result");
        return;
    }
    if (m->len > SIZE_MAX - sizeof(*o->result) - 1 ||
        !(o->result = malloc(sizeof(*o->result) + m->len + 1))) {
        o->err = -ENOMEM;
        snprintf(o->msg, sizeof(o->msg), "no memory for a result of %" PRIu64 " bytes", m->len);
    } else {
        o->result->len = m->len;
        memcpy(o->result->data, src, m->len);
        o->result->data[m->len] = '\0';
    }
    if (fd >= 0)
        weft_shm_unmap((void *)src, mapped);
}

/* A job's answer arrived (outcome o): end the job still on s, if any.
   An answer nobody asked for (s not BUSY) is a protocol error. */
static void job_answered(struct weft_procpool *pp, struct pp_slot *s, struct pp_outcome *o,
                         struct pp_job **settle)
{
    pthread_mutex_lock(&pp->mu);
    struct pp_job *j = s->job;
    if (s->state != PS_BUSY) {
        kill_slot_locked(s, "it answered a question never asked");
    } else if (j) {
        j->state = PJ_ENDED;
        j->slot = NULL;
        s->job = NULL;
        pp->running--;
        if (o->result)
            pp->completed++;
        else
            pp->failed++;
        j->out = *o;
        o->result = NULL;
        push_settle(settle, j);
        weft__pp_maybe_idle_locked(pp);
    }
    if (s->state == PS_BUSY && !s->killed_for) {
        s->state = PS_IDLE;
        weft__pp_dispatch_queued_locked(pp, s);
    }
    pthread_mutex_unlock(&pp->mu);
    free(o->result); /* nobody waits for it any more */
}

static void protocol_error(struct weft_procpool *pp, struct pp_slot *s, struct pp_job **settle)
{
    struct pp_outcome o = {.err = -EPROTO};
    snprintf(o.msg, sizeof(o.msg), "the worker answered nonsense and was killed");
    pthread_mutex_lock(&pp->mu);
    kill_slot_locked(s, "it answered nonsense");
    pthread_mutex_unlock(&pp->mu);
    weft_log(WEFT_LOG_ERROR, "%s: worker %d sent a malformed message: killed", pp->name,
             (int)weft_proc_pid(s->proc));
    job_answered(pp, s, &o, settle);
}

static void worker_ready(struct weft_procpool *pp, struct pp_slot *s)
{
    pthread_mutex_lock(&pp->mu);
    if (s->state == PS_STARTING) {
        s->state = PS_IDLE;
        weft__pp_dispatch_queued_locked(pp, s);
    } else {
        kill_slot_locked(s, "it said it was ready twice");
    }
    pthread_mutex_unlock(&pp->mu);
}

static void handle_answer(struct weft_procpool *pp, struct pp_slot *s, const struct pp_msg *m,
                          const char *text, int fd, struct pp_job **settle)
{
    if (m->type == PP_REQUEST) {
        if (fd >= 0)
            close(fd);
        protocol_error(pp, s, settle);
        return;
    }
    struct pp_outcome o = {0};
    if (m->type == PP_RESULT) {
        take_result(pp, s, m, fd, &o);
    } else {
        if (fd >= 0)
            close(fd);
        o.err = m->err < 0 ? m->err : -EINVAL;
        snprintf(o.msg, sizeof(o.msg), "%s", text);
    }
    job_answered(pp, s, &o, settle);
}

/* Takes the answer in s's box, if there is one: true if there was. */
static bool check_answer(struct weft_procpool *pp, struct pp_slot *s, struct pp_job **settle)
{
    struct pp_msg m;
    char text[PP_MSG_MAX];
    int fd, r = weft__pp_take(&s->ctl->res, &s->res_seen, s->sock, &s->pending_fd, &m, text, &fd);
    if (r < 0)
        protocol_error(pp, s, settle);
    else if (r == 1)
        handle_answer(pp, s, &m, text, fd, settle);
    return r != 0;
}

/* Reads every packet waiting on s's socket: READY, doorbells (the box is
   checked after), the memfd of an answer not yet in the box. */
static void drain_socket(struct weft_procpool *pp, struct pp_slot *s, struct pp_job **settle)
{
    while (!s->sock_done) {
        struct pp_msg m;
        char text[PP_MSG_MAX];
        int fd, r = weft__pp_recv(s->sock, true, &m, text, &fd);
        if (r == -EAGAIN)
            return;
        if (r == -EPROTO) {
            protocol_error(pp, s, settle);
            continue;
        }
        if (r < 0) { /* EOF or a reset: it is exiting; the pidfd says when */
            s->sock_done = true;
            return;
        }
        if (m.type == PP_READY) {
            worker_ready(pp, s);
        } else if (m.type == PP_FD) {
            if (s->pending_fd >= 0)
                close(s->pending_fd);
            s->pending_fd = fd;
        }
    }
}

/* ---- deaths ------------------------------------------------------------------- */

static void schedule_restart_locked(struct weft_procpool *pp, struct pp_slot *s, bool counted,
                                    int64_t now)
{
    int64_t delay = counted ? weft_restarts_next(&pp->restarts, now / WEFT_NS_PER_MS) : 0;
    s->restart_at_ns = now + delay * WEFT_NS_PER_MS;
    s->restarted = true;
    if (delay > 0) {
        pp->degraded = true;
        weft_log_episode_begin(&pp->degraded_log, WEFT_LOG_WARN,
                               "%s: workers keep dying: restarts held back (%" PRId64 " ms)",
                               pp->name, delay);
    } else if (pp->degraded && counted) {
        pp->degraded = false;
        weft_log_episode_end(&pp->degraded_log, WEFT_LOG_INFO, "%s: restarts are immediate again",
                             pp->name);
    }
}

static void handle_death(struct weft_procpool *pp, struct pp_slot *s, struct pp_job **settle)
{
    drain_socket(pp, s, settle);
    check_answer(pp, s, settle); /* an answer that made it out counts */
    int status = 0;
    /* Reaped under mu: the cancel node may signal this process meanwhile,
       and must not find its pidfd closed under it. */
    pthread_mutex_lock(&pp->mu);
    if (weft_proc_reap(s->proc, 0, &status) < 0) {
        pthread_mutex_unlock(&pp->mu);
        return; /* not yet after all */
    }
    char how[64], what[80];
    weft_proc_describe(status, how, sizeof(how));
    snprintf(what, sizeof(what), "worker %s", how);
    struct pp_job *j = s->job;
    bool ours = s->killed_for != NULL;
    if (!ours)
        pp->crashed++;
    if (!ours)
        weft_log(WEFT_LOG_ERROR, "%s: worker %d %s%s%s%s", pp->name, (int)weft_proc_pid(s->proc),
                 how, j ? " running job \"" : "", j ? j->name : "", j ? "\"" : "");
    else
        weft_log(WEFT_LOG_DEBUG, "%s: worker %d %s: %s", pp->name, (int)weft_proc_pid(s->proc), how,
                 s->killed_for);
    if (j) {
        j->state = PJ_ENDED;
        j->slot = NULL;
        pp->running--;
        pp->failed++;
        j->out.err = WEFT_PROCPOOL_ECRASH;
        snprintf(j->out.msg, sizeof(j->out.msg), "%s", what);
        push_settle(settle, j);
        weft__pp_maybe_idle_locked(pp);
    }
    weft_proc_free(s->proc);
    close(s->sock);
    if (s->pending_fd >= 0)
        close(s->pending_fd);
    *s = (struct pp_slot){.index = s->index,
                          .state = PS_EMPTY,
                          .sock = -1,
                          .pending_fd = -1,
                          .shm_fd = s->shm_fd,
                          .shm = s->shm,
                          .ctl = s->ctl,
                          .args = s->args,
                          .results = s->results};
    if (!pp->stopping)
        schedule_restart_locked(pp, s, !ours, weft__now_ns());
    pthread_mutex_unlock(&pp->mu);
}

/* ---- deadlines ------------------------------------------------------------------ */

static void end_timed_out_locked(struct weft_procpool *pp, struct pp_job *j, const char *msg,
                                 struct pp_job **settle)
{
    j->state = PJ_ENDED;
    pp->timed_out++;
    j->out.err = -ETIMEDOUT;
    snprintf(j->out.msg, sizeof(j->out.msg), "%s", msg);
    push_settle(settle, j);
}

static void expire(struct weft_procpool *pp, int64_t now, struct pp_job **settle)
{
    pthread_mutex_lock(&pp->mu);
    for (unsigned i = 0; i < pp->opts.workers; i++) {
        struct pp_slot *s = &pp->slots[i];
        struct pp_job *j = s->job;
        if (!j || j->deadline_ns > now)
            continue;
        s->job = NULL;
        j->slot = NULL;
        pp->running--;
        kill_slot_locked(s, "its job's deadline passed");
        end_timed_out_locked(pp, j, "the job ran past its deadline: its worker was killed", settle);
    }
    for (struct pp_job *j = pp->n_deadlines_queued ? pp->head : NULL, *next; j; j = next) {
        next = j->next;
        if (j->deadline_ns > now)
            continue;
        weft__pp_unqueue_locked(pp, j);
        end_timed_out_locked(pp, j, "the job waited past its deadline", settle);
    }
    weft__pp_maybe_idle_locked(pp);
    pthread_mutex_unlock(&pp->mu);
}

/* The nearest deadline or restart, absolute; WEFT_FOREVER if none. */
static int64_t next_event_locked(struct weft_procpool *pp)
{
    int64_t t = WEFT_FOREVER;
    for (unsigned i = 0; i < pp->opts.workers; i++) {
        struct pp_slot *s = &pp->slots[i];
        if (s->job && s->job->deadline_ns < t)
            t = s->job->deadline_ns;
        if (s->state == PS_EMPTY && !pp->stopping && s->restart_at_ns < t)
            t = s->restart_at_ns;
    }
    for (struct pp_job *j = pp->n_deadlines_queued ? pp->head : NULL; j; j = j->next)
        if (j->deadline_ns < t)
            t = j->deadline_ns;
    return t;
}

/* ---- the loop -------------------------------------------------------------------- */

/* pollfds: [0] the doorbell, then per slot its socket and its pidfd
   (fd -1, ignored by poll, where there is none). hot: do not sleep. */
static int poll_once(struct weft_procpool *pp, struct pollfd *pfd, bool hot)
{
    pthread_mutex_lock(&pp->mu);
    int64_t next = next_event_locked(pp);
    pthread_mutex_unlock(&pp->mu);
    pfd[0] = (struct pollfd){.fd = pp->wake_fd, .events = POLLIN};
    for (unsigned i = 0; i < pp->opts.workers; i++) {
        struct pp_slot *s = &pp->slots[i];
        pfd[1 + 2 * i] =
            (struct pollfd){.fd = s->proc && !s->sock_done ? s->sock : -1, .events = POLLIN};
        pfd[2 + 2 * i] =
            (struct pollfd){.fd = s->proc ? weft_proc_fd(s->proc) : -1, .events = POLLIN};
    }
    int timeout = -1;
    if (hot) {
        timeout = 0;
    } else if (next != WEFT_FOREVER) {
        int64_t left = next - weft__now_ns();
        timeout = left <= 0 ? 0 : (int)((left + WEFT_NS_PER_MS - 1) / WEFT_NS_PER_MS);
    }
    return poll(pfd, 1 + 2 * pp->opts.workers, timeout);
}

static void set_spinning(struct weft_procpool *pp, uint32_t on)
{
    for (unsigned i = 0; i < pp->opts.workers; i++)
        if (pp->slots[i].proc)
            atomic_store_explicit(&pp->slots[i].ctl->res.spinning, on, memory_order_seq_cst);
}

/* Whether some worker's answer box moved. seq_cst when it is the check
   after the spin (see linger). */
static bool any_answer(struct weft_procpool *pp, memory_order mo)
{
    for (unsigned i = 0; i < pp->opts.workers; i++) {
        struct pp_slot *s = &pp->slots[i];
        if (s->proc && atomic_load_explicit(&s->ctl->res.seq, mo) != s->res_seen)
            return true;
    }
    return false;
}

/* Spins a moment for the next answer instead of sleeping for it: after
   an answer (the next job of a stream is likely on its way) or while jobs
   run. Workers see `spinning` and skip the doorbell. True if an answer
   came. */
static bool linger(struct weft_procpool *pp, bool answered)
{
    pthread_mutex_lock(&pp->mu);
    bool worth = (answered || pp->running) && !pp->stopping;
    pthread_mutex_unlock(&pp->mu);
    if (!worth)
        return false;
    struct weft__spin spin = weft__spin_begin(PP_SPIN_NS, WEFT_FOREVER);
    set_spinning(pp, 1);
    while (!any_answer(pp, memory_order_acquire) && weft__spin_next_yielding(&spin))
        ;
    set_spinning(pp, 0);
    /* Both seq_cst: a worker that saw spinning still set skipped its
       doorbell, and its seq store came before, so this load sees it. */
    return any_answer(pp, memory_order_seq_cst);
}

static bool stopping(struct weft_procpool *pp)
{
    pthread_mutex_lock(&pp->mu);
    bool stop = pp->stopping;
    pthread_mutex_unlock(&pp->mu);
    return stop;
}

/* Whether the process exited within timeout_ms (its pidfd readable). */
static bool exited(weft_proc_t *p, int timeout_ms)
{
    struct pollfd pfd = {.fd = weft_proc_fd(p), .events = POLLIN};
    int n;
    while ((n = poll(&pfd, 1, timeout_ms)) < 0 && errno == EINTR)
        ;
    return n > 0;
}

/* The end: hang up on every worker (an idle one exits at EOF), give them
   a moment, then kill what is left; reap all. Jobs still on them (none,
   after close) are rejected as cancelled. */
static void stop_workers(struct weft_procpool *pp)
{
    struct pp_job *settle = NULL;
    pthread_mutex_lock(&pp->mu);
    for (unsigned i = 0; i < pp->opts.workers; i++) {
        struct pp_slot *s = &pp->slots[i];
        if (!s->proc)
            continue;
        if (!s->killed_for)
            s->killed_for = "the pool closed"; /* its exit is no crash */
        shutdown(s->sock, SHUT_RDWR);
    }
    pthread_mutex_unlock(&pp->mu);
    for (unsigned i = 0; i < pp->opts.workers; i++) {
        struct pp_slot *s = &pp->slots[i];
        if (!s->proc)
            continue;
        if (!exited(s->proc, 2000)) {
            pthread_mutex_lock(&pp->mu);
            weft_proc_signal(s->proc, SIGKILL);
            pthread_mutex_unlock(&pp->mu);
            exited(s->proc, -1);
        }
        handle_death(pp, s, &settle);
    }
    settle_all(settle);
}

void *weft__pp_supervisor_main(void *arg)
{
    struct weft_procpool *pp = arg;
    struct pollfd pfd[1 + 2 * PP_MAX_WORKERS];
    bool hot = false;
    weft__thread_set_name(pp->name);
    while (!stopping(pp)) {
        start_due(pp, weft__now_ns());
        if (poll_once(pp, pfd, hot) < 0 && errno != EINTR) {
            weft_log(WEFT_LOG_ERROR, "%s: poll: %s", pp->name, weft_strerror(-errno));
            usleep(10000); /* do not spin on a persistent error */
            continue;
        }
        struct pp_job *settle = NULL;
        uint64_t rung;
        bool answered = false;
        if (pfd[0].revents)
            (void)!read(pp->wake_fd, &rung, sizeof(rung));
        for (unsigned i = 0; i < pp->opts.workers; i++) {
            struct pp_slot *s = &pp->slots[i];
            if (pfd[1 + 2 * i].revents && s->proc)
                drain_socket(pp, s, &settle);
            if (s->proc)
                answered |= check_answer(pp, s, &settle);
            if (pfd[2 + 2 * i].revents && s->proc)
                handle_death(pp, s, &settle);
        }
        expire(pp, weft__now_ns(), &settle);
        settle_all(settle);
        hot = linger(pp, answered);
    }
    stop_workers(pp);
    return NULL;
}
