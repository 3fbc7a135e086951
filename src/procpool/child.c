/*
 * child.c - the worker process: the program itself, started by a pool's
 * supervisor with PP_WORKER_FLAG as argv[1] (then the inline size and the
 * memory limit), the pool's socket on fd 3 and its segment on fd 4.
 *
 * The worker asks to die with the pool's thread (PR_SET_PDEATHSIG), caps
 * its address space if told to, says it is ready, then serves one request
 * at a time until the pool closes its end of the socket. After each
 * answer it spins a moment on its request box (the next job of a stream
 * then costs no system call), then sleeps on the socket until the pool
 * rings. It is single-threaded, and runs nothing of the program proper:
 * main() called weft_procpool_child_main before anything else.
 *
 * Exit codes, for the pool's log: 0 the pool hung up; 70 not started by a
 * pool (or the pool is already gone); 71 bad arguments or segment; 72 the
 * pool sent nonsense.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "procpool/procpool-int.h"
#include "sync/spin.h"

struct weft_procjob {
    unsigned char *res_area; /* the result half of the segment */
    size_t res_cap;
    void *buf; /* the result: in res_area, or mapped from buf_fd */
    size_t buf_len;
    int buf_fd;
    bool answered; /* a result buffer was taken, or it failed */
    bool failed;
    int err;
    char msg[PP_MSG_MAX];
};

static void drop_own_buffer(weft_procjob_t *job)
{
    if (job->buf_fd >= 0) {
        weft_shm_unmap(job->buf, job->buf_len);
        close(job->buf_fd);
        job->buf_fd = -1;
    }
    job->buf = NULL;
    job->buf_len = 0;
}

void *weft_procjob_result_buffer(weft_procjob_t *job, size_t len)
{
    if (!job || job->failed) {
        errno = EINVAL;
        return NULL;
    }
    drop_own_buffer(job);
    void *buf = job->res_area;
    if (len > job->res_cap && !(buf = weft_shm_create(PP_SHM_NAME, len, &job->buf_fd))) {
        job->buf_fd = -1;
        errno = ENOMEM;
        return NULL;
    }
    job->buf = buf;
    job->buf_len = len;
    job->answered = true;
    return buf;
}

int weft_procjob_return(weft_procjob_t *job, const void *data, size_t len)
{
    if (!job || (len && !data))
        return -EINVAL;
    if (job->answered)
        return 0;
    void *buf = weft_procjob_result_buffer(job, len);
    if (!buf) {
        /* The default answer if the job gives no other. */
        job->err = -ENOMEM;
        snprintf(job->msg, sizeof(job->msg), "no memory for a result of %zu bytes", len);
        return -ENOMEM;
    }
    if (len)
        memmove(buf, data, len);
    return 0;
}

void weft_procjob_fail(weft_procjob_t *job, int err, const char *msg)
{
    if (!job || job->answered)
        return;
    job->answered = job->failed = true;
    job->err = err < 0 ? err : -EINVAL;
    snprintf(job->msg, sizeof(job->msg), "%s", msg ? msg : "");
}

/* ---- serving ------------------------------------------------------------- */

struct worker {
    int sock;
    struct pp_ctl *ctl;
    unsigned char *args, *results;
    size_t shm_size; /* per direction */
    uint32_t req_seen;
    int pending_fd; /* a memfd that came before its request */
};

static void send_or_exit(const struct worker *w, const struct pp_msg *m, const char *text, int fd)
{
    if (weft__pp_post(&w->ctl->res, w->sock, m, text, fd) < 0)
        _exit(0); /* the pool is gone */
}

static void answer(const struct worker *w, weft_procjob_t *job)
{
    struct pp_msg m = {.type = PP_RESULT};
    if (job->failed || (!job->answered && job->err)) {
        m.type = PP_FAILED;
        m.err = job->err;
        m.text_len = (uint32_t)strlen(job->msg);
        send_or_exit(w, &m, job->msg, -1);
        drop_own_buffer(job);
        return;
    }
    m.len = job->buf_len;
    if (job->buf_fd < 0) {
        send_or_exit(w, &m, NULL, -1);
        return;
    }
    int fd = job->buf_fd;
    weft_shm_unmap(job->buf, job->buf_len);
    m.flags = PP_IN_FD;
    send_or_exit(w, &m, NULL, fd);
    close(fd);
    job->buf_fd = -1;
}

static void fail_request(const struct worker *w, int err, const char *msg)
{
    weft_procjob_t job = {.buf_fd = -1};
    weft_procjob_fail(&job, err, msg);
    answer(w, &job);
}

/* Runs one request: name in text, the argument inline or in fd. */
static void serve(const struct worker *w, const struct pp_msg *m, const char *name, int fd)
{
    const void *arg = w->args;
    size_t mapped = 0;
    if (fd >= 0) {
        arg = weft_shm_map(fd, &mapped);
        close(fd);
        if (!arg || mapped < m->len) {
            weft_shm_unmap((void *)arg, mapped);
            fail_request(w, -ENOMEM, "the worker could not map the argument");
            return;
        }
    } else if (m->len > w->shm_size) {
        _exit(72);
    }
    weft_procjob_fn fn = weft__procjob_lookup(name);
    weft_procjob_t job = {.res_area = w->results, .res_cap = w->shm_size, .buf_fd = -1};
    if (fn) {
        fn(&job, m->len ? arg : NULL, m->len);
        if (!job.answered && !job.err)
            weft_procjob_result_buffer(&job, 0);
    } else {
        weft_procjob_fail(&job, -ENOENT, "no job of that name in the worker");
    }
    weft_shm_unmap((void *)(fd >= 0 ? arg : NULL), mapped);
    answer(w, &job);
}

static bool parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = s ? strtoull(s, &end, 10) : 0;
    if (!s || errno || end == s || *end)
        return false;
    *out = (size_t)v;
    return true;
}

/* argv: name, flag, inline size, memory limit. */
static void set_up(int argc, char **argv, struct worker *w)
{
    size_t limit, mapped = 0;
    if (weft_proc_child_init(SIGKILL) < 0)
        _exit(70);
    if (argc < 4 || !parse_size(argv[2], &w->shm_size) || !parse_size(argv[3], &limit))
        _exit(71);
    if (limit) {
        struct rlimit rl = {.rlim_cur = limit, .rlim_max = limit};
        if (setrlimit(RLIMIT_AS, &rl) < 0)
            _exit(71);
    }
    w->sock = PP_SOCK_FD;
    w->pending_fd = -1;
    w->req_seen = 0;
    unsigned char *shm = weft_shm_map(PP_SHM_FD, &mapped);
    close(PP_SHM_FD);
    if (!shm || mapped != weft__pp_segment_size(w->shm_size))
        _exit(71);
    w->ctl = (struct pp_ctl *)shm;
    w->args = shm + PP_CTL_SIZE;
    w->results = w->args + w->shm_size;
    signal(SIGPIPE, SIG_IGN);
}

/* Waits for the pool: spins on the request box a moment, then sleeps on
   the socket until a packet comes (a doorbell, or the memfd of the next
   request). Exits when the pool is gone. */
static void wait_for_request(struct worker *w)
{
    struct pp_box *box = &w->ctl->req;
    struct weft__spin spin = weft__spin_begin(PP_SPIN_NS, WEFT_FOREVER);
    atomic_store_explicit(&box->spinning, 1, memory_order_seq_cst);
    while (!weft__pp_ready(box, w->req_seen) && weft__spin_next_yielding(&spin))
        ;
    atomic_store_explicit(&box->spinning, 0, memory_order_seq_cst);
    if (atomic_load_explicit(&box->seq, memory_order_seq_cst) != w->req_seen)
        return;
    struct pp_msg m;
    char text[PP_MSG_MAX];
    int fd, r = weft__pp_recv(w->sock, false, &m, text, &fd);
    if (r == -EPIPE)
        _exit(0);
    if (r < 0 || (m.type != PP_DOORBELL && m.type != PP_FD))
        _exit(72);
    if (fd >= 0) {
        if (w->pending_fd >= 0)
            close(w->pending_fd);
        w->pending_fd = fd;
    }
}

void weft__procpool_worker(int argc, char **argv)
{
    struct worker w;
    set_up(argc, argv, &w);
    struct pp_msg m = {.type = PP_READY};
    if (weft__pp_send(w.sock, &m, NULL, -1) < 0)
        _exit(0);
    for (;;) {
        char name[PP_MSG_MAX];
        int fd, r = weft__pp_take(&w.ctl->req, &w.req_seen, w.sock, &w.pending_fd, &m, name, &fd);
        if (r < 0 || (r == 1 && m.type != PP_REQUEST))
            _exit(72);
        if (r == 1)
            serve(&w, &m, name, fd);
        else
            wait_for_request(&w);
    }
}
