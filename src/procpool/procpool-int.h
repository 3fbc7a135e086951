/*
 * procpool-int.h - the process pool's private structures, shared by its
 * modules:
 *
 *   registry.c   the job table (name -> function), the child_main marker
 *   child.c      the worker process: its loop and the weft_procjob_* calls
 *   transport.c  the messages between pool and worker, and the memfds
 *                that carry large arguments and results
 *   procpool.c   new, close, free, stats: the pool's life
 *   submit.c     submit, the queue, dispatching a job to an idle worker,
 *                the cancel hook
 *   supervise.c  the supervisor thread: spawning, results, deaths,
 *                deadlines, restarts
 *
 * Threads: submitters (any thread), the supervisor (one per pool: it
 * spawns every worker, so PR_SET_PDEATHSIG ties them to a thread that
 * lives as long as the pool), and whoever cancels a future (the cancel
 * hook). One mutex, `mu`, guards every field marked (mu); no future is
 * ever settled or cancelled while it is held (a settle runs callbacks, and
 * the cancel hook takes mu).
 *
 * A job's life: QUEUED (in the queue) -> RUNNING (on a worker) -> ENDED,
 * or QUEUED -> ENDED. Every change is made under mu by exactly one party,
 * which counts it and then settles the future outside the lock.
 *
 * A job has two references: the pool's (dropped when it has ended and been
 * settled) and the cancel hook's (dropped when the hook runs; if the
 * future was settled otherwise the hook never runs, and the party that
 * settled it drops that reference too).
 */
#ifndef WEFT_PROCPOOL_INT_H
#define WEFT_PROCPOOL_INT_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "error/base.h"
#include "future/future-int.h"
#include "sync/clock.h"
#include "sync/spin.h"
#include "weft/procpool.h"

#define PP_WORKER_FLAG "--weft-procpool-worker"
#define PP_SHM_NAME    "weft-procpool"
#define PP_MSG_MAX     512 /* a failure's message, its NUL included */
#define PP_DEFAULT_SHM (1024 * 1024)
#define PP_MAX_WORKERS 256
#define PP_MAX_JOBS    256
#define PP_SOCK_FD     3 /* in the worker */
#define PP_SHM_FD      4

/* ---- registry.c ---- */
weft_procjob_fn weft__procjob_lookup(const char *name) WEFT_INTERNAL;
bool weft__procpool_main_called(void) WEFT_INTERNAL;

/* ---- child.c: the worker's whole life ---- */
WEFT_NORETURN void weft__procpool_worker(int argc, char **argv) WEFT_INTERNAL;

/* ---- transport.c: the messages ---- */

/* Packets on the socket: READY (the worker is up), DOORBELL (look at the
   box: its reader was not spinning), FD (a memfd for the next message
   whose payload is PP_IN_FD). Messages in the boxes: REQUEST (the job
   name as text), RESULT, FAILED (the message as text). */
enum pp_msg_type { PP_READY = 1, PP_DOORBELL, PP_FD, PP_REQUEST, PP_RESULT, PP_FAILED };

/* Flags of a message: the payload is in a memfd passed with it, not in
   the worker's segment. */
#define PP_IN_FD 1u

struct pp_msg {
    uint32_t type;
    uint32_t flags;
    uint64_t len; /* the payload's bytes (argument or result) */
    int32_t err;  /* PP_FAILED */
    uint32_t text_len;
};

#define PP_PACKET_MAX (sizeof(struct pp_msg) + PP_MSG_MAX)

/* One direction of the control page at the start of a worker's segment:
   its writer fills msg and text, then bumps seq; a reader that spins on
   seq says so in `spinning`, and the writer rings the doorbell (a packet)
   only when it does not. seq_cst on both flags: writer stores seq then
   loads spinning, reader stores spinning = 0 then loads seq, so one of
   them sees the other (no lost wake-up). */
struct pp_box {
    _Atomic uint32_t seq;
    _Atomic uint32_t spinning;
    struct pp_msg msg;
    char text[PP_MSG_MAX];
} __attribute__((aligned(64)));

struct pp_ctl {
    struct pp_box req; /* pool -> worker */
    struct pp_box res; /* worker -> pool */
};

#define PP_CTL_SIZE 4096 /* the control page; payloads follow */
_Static_assert(sizeof(struct pp_ctl) <= PP_CTL_SIZE, "the control page is one page");

/* How long a reader spins on its box before it sleeps on the socket: an
   answer or the next request within this is taken with no system call
   on either side (the futures' waiters spin as long). */
#define PP_SPIN_NS (50 * 1000)

/* Sends one packet with text (text_len bytes) and, if fd >= 0, fd with
   it. 0 or -errno. Never blocks, never raises SIGPIPE. */
int weft__pp_send(int sock, const struct pp_msg *m, const char *text, int fd) WEFT_INTERNAL;

/* Receives one packet: 0 with *m, text (NUL-terminated, up to
   PP_MSG_MAX - 1 bytes) and *fd (-1 if none passed); -EPIPE at EOF;
   -EAGAIN with nothing there (nonblocking); -EPROTO for a malformed one
   (any passed fd closed); other -errno. */
int weft__pp_recv(int sock, bool nonblocking, struct pp_msg *m, char *text, int *fd) WEFT_INTERNAL;

/* Posts message m (and text) into box, its memfd fd (>= 0 with PP_IN_FD)
   through the socket first; rings the doorbell unless the reader spins.
   0 or -errno (the socket failed: the other side is gone). */
int weft__pp_post(struct pp_box *box, int sock, const struct pp_msg *m, const char *text,
                  int fd) WEFT_INTERNAL;

/* Takes a new message from box (seq past *seen): 1 with *m, text and *fd
   (the memfd of a PP_IN_FD message: *pending if a packet brought it
   already, else read from the socket now); 0 if there is none; -EPROTO
   if it is malformed or its memfd is missing. */
int weft__pp_take(struct pp_box *box, uint32_t *seen, int sock, int *pending, struct pp_msg *m,
                  char *text, int *fd) WEFT_INTERNAL;

/* Whether box holds a message past seen (for spinning). */
static inline bool weft__pp_ready(struct pp_box *box, uint32_t seen)
{
    /* Acquire: the message written before seq is visible after. */
    return atomic_load_explicit(&box->seq, memory_order_acquire) != seen;
}

/* A sealed memfd holding len bytes of data: its fd, or -errno. */
int weft__pp_memfd_with(const void *data, size_t len) WEFT_INTERNAL;

/* ---- the pool's records ---- */

enum pp_job_state { PJ_QUEUED, PJ_RUNNING, PJ_ENDED };

/* How a job that the pool ended is settled: a result, or an error. */
struct pp_outcome {
    weft_procpool_result_t *result; /* fulfilled with this (owned) */
    int err;                        /* else rejected with err */
    char msg[PP_MSG_MAX];
};

struct pp_slot;

/* A job. Its cancel node (the future's on_cancel list) runs exactly once
   whenever the future settles, cancelled or not (fire says which): so the
   node's reference is always dropped there. */
struct pp_job {
    struct pp_job *prev, *next; /* the queue (mu) */
    struct pp_job *settle_next; /* a settling list, local to one thread */
    struct weft_procpool *pp;
    weft_future_t *f; /* the pool's reference */
    struct weft__future_cb on_cancel;
    _Atomic int refs;
    enum pp_job_state state; /* mu */
    struct pp_slot *slot;    /* RUNNING on it (mu) */
    int64_t deadline_ns;     /* WEFT_FOREVER: none */
    int arg_fd;              /* a memfd with the argument; -1: inline */
    size_t len;
    char name[WEFT_PROCPOOL_NAME_MAX + 1];
    struct pp_outcome out; /* how it ends, when the pool ends it */
    unsigned char arg[];   /* inline arguments */
};

enum pp_slot_state {
    PS_EMPTY,    /* no process: waiting to (re)start at restart_at_ns */
    PS_STARTING, /* spawned, not yet ready */
    PS_IDLE,
    PS_BUSY, /* running slot->job (NULL once it was cancelled) */
};

struct pp_slot {
    unsigned index;
    enum pp_slot_state state; /* mu */
    weft_proc_t *proc;        /* NULL in PS_EMPTY */
    int sock;                 /* the pool's end; -1 in PS_EMPTY */
    struct pp_job *job;       /* PS_BUSY (mu) */
    const char *killed_for;   /* we SIGKILLed it: why (its death is ours) */
    bool sock_done;           /* EOF or an error on sock: stop polling it */
    uint32_t res_seen;        /* the last answer taken from the box */
    int pending_fd;           /* a memfd that came before its answer; -1 */
    int64_t restart_at_ns;    /* PS_EMPTY: when to start a process */
    bool restarted;           /* the next start replaces a dead one */
    /* The segment: the control page, then shm_size bytes of arguments,
       then shm_size of results. Kept across restarts, for the pool's
       whole life (the control page is zeroed for each new worker). */
    int shm_fd;
    unsigned char *shm;
    struct pp_ctl *ctl; /* = shm */
    unsigned char *args, *results;
};

/* The segment's size for an inline size of n bytes each way. */
static inline size_t weft__pp_segment_size(size_t n)
{
    return PP_CTL_SIZE + 2 * n;
}

struct weft_procpool {
    pthread_mutex_t mu;
    pthread_cond_t space_cond; /* submitters wait for room */
    pthread_cond_t idle_cond;  /* close waits for the drain */
    pthread_mutex_t close_mu;  /* serialises closers */
    pthread_t supervisor;
    bool supervisor_started;
    int wake_fd; /* an eventfd: the supervisor's doorbell */

    weft_procpool_options_t opts; /* resolved; read-only */
    size_t shm_size;
    size_t memory_limit; /* 0 under sanitizers */
    char name[32];
    const char **env; /* opts.env plus the sanitizers' options */

    struct pp_slot *slots;       /* opts.workers of them */
    struct pp_job *head, *tail;  /* the queue (mu) */
    size_t queued, running;      /* mu */
    unsigned n_deadlines_queued; /* queued jobs with a deadline (mu) */
    unsigned space_waiters;      /* mu */
    bool intake_closed;          /* mu */
    bool stopping;               /* mu: the supervisor stops the workers and exits */
    bool closed;                 /* close finished (close_mu) */
    weft_restarts_t restarts;    /* supervisor only */
    bool degraded;               /* mu */
    weft_log_episode_t degraded_log;
    /* counters (mu) */
    uint64_t submitted, completed, failed, cancelled, timed_out, rejected, crashed, replaced;
};

/* ---- submit.c ---- */
/* Gives idle slot s the queued jobs while it takes them (mu held). */
void weft__pp_dispatch_queued_locked(struct weft_procpool *pp, struct pp_slot *s) WEFT_INTERNAL;
void weft__pp_unqueue_locked(struct weft_procpool *pp, struct pp_job *j) WEFT_INTERNAL;
/* Ends job j (QUEUED or RUNNING) as cancelled: dropped from the queue, or
   its worker killed. Returns whether it did (the caller then drops the
   pool's reference). mu held. */
bool weft__pp_end_cancelled_locked(struct weft_procpool *pp, struct pp_job *j) WEFT_INTERNAL;
void weft__pp_job_unref(struct pp_job *j) WEFT_INTERNAL;
/* Settles j from j->out (outside mu), then drops the pool's reference. */
void weft__pp_settle(struct pp_job *j) WEFT_INTERNAL;
/* Wakes close when nothing is queued or running (mu held). */
void weft__pp_maybe_idle_locked(struct weft_procpool *pp) WEFT_INTERNAL;
/* Signals submitters waiting for room (mu held). */
void weft__pp_space_locked(struct weft_procpool *pp) WEFT_INTERNAL;

/* ---- supervise.c ---- */
void *weft__pp_supervisor_main(void *arg) WEFT_INTERNAL;
void weft__pp_wake(struct weft_procpool *pp) WEFT_INTERNAL;

#endif /* WEFT_PROCPOOL_INT_H */
