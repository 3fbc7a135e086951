/*
 * workers.h - `weft --workers M`: a master process and M worker processes
 * (master.c, worker.c), and what the two sides agree on.
 *
 * The master is single-threaded: it opens the listening sockets (one
 * SO_REUSEPORT socket per loop index, per listener), makes one shared
 * memory segment, starts each worker with posix_spawn of its own binary
 * (the original flags plus --worker-slot K) and supervises them. Every
 * worker inherits every socket: its loop i accepts from socket i, like the
 * same loop of every other worker, so a worker that exits never closes the
 * only copy of a socket (which would reset what waits in its backlog).
 *
 * A worker's descriptors:
 *   3  its end of a SOCK_SEQPACKET socketpair with the master (control)
 *   4  the shared segment (a memfd)
 *   5… the listening sockets, in groups: WEFT_WORKER_LISTENERS="5:2,7:2"
 *      (first:count; a count of 1 is a socket every loop shares, as with
 *      systemd's socket activation), the public ones first, then the admin
 *      listener's when --admin is set.
 *
 * The segment: a head, then per slot a crash-notes area (weft_proc_note:
 * what each thread is doing, read by the master when the worker dies),
 * then per slot the server's figures (weft_server_share_figures: counters
 * that outlive the worker and that /metrics sums over every slot). There
 * are more slots than workers: during a rolling restart a new worker and
 * the old one it replaces count side by side.
 */
#ifndef WEFT_APP_WORKERS_H
#define WEFT_APP_WORKERS_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "heartbeat.h"
#include "weft/weft.h"

#define WORKER_FD_CONTROL   3
#define WORKER_FD_SHARED    4
#define WORKER_FD_LISTENERS 5

#define WORKERS_MAX      64
#define WORKER_GROUPS    32        /* listening socket groups a worker takes */
#define SLOTS_PER_WORKER 3         /* the worker, a new one, an old one draining */
#define NOTES_THREADS    512       /* threads a worker's notes can name */
#define FIGURES_SLOT     (1 << 20) /* bytes of counters per slot: touched ones cost */

/* Control messages: one byte each, in either direction. */
enum { MSG_READY = 'R', MSG_RETIRE = 'T', MSG_ALIVE = 'A' };

/* A worker says it is alive this often, while every loop answers. */
#define WORKER_BEAT_MS 250

/* The segment's head: where things are, for the worker. */
struct shared_head {
    uint32_t magic;
    uint32_t n_slots;
    uint64_t notes_bytes;  /* one slot's notes area */
    uint64_t figures_slot; /* one slot's figures */
};

#define SHARED_MAGIC 0x57454654u /* "WEFT" */
#define SHARED_HEAD  4096

static inline size_t shared_notes_bytes(void)
{
    return (weft_proc_notes_size(NOTES_THREADS) + 4095) & ~(size_t)4095;
}

static inline size_t shared_size(unsigned n_slots)
{
    return SHARED_HEAD + (size_t)n_slots * (shared_notes_bytes() + FIGURES_SLOT);
}

static inline char *shared_notes(void *base, unsigned slot)
{
    return (char *)base + SHARED_HEAD + (size_t)slot * shared_notes_bytes();
}

static inline char *shared_figures(void *base, unsigned n_slots)
{
    return (char *)base + SHARED_HEAD + (size_t)n_slots * shared_notes_bytes();
}

/* master.c: the master's whole life; returns the exit status. */
int master_run(const struct cli *cli, int argc, char **argv);

/* worker.c: the worker's side. */
struct worker {
    unsigned slot;
    void *shared;
    size_t shared_size;
};

/* In a worker, before anything else: ask for SIGTERM when the master dies,
   map the segment, attach the crash notes. 0, or 2 after a message. */
int worker_attach(struct worker *w, unsigned slot);

/* Serve app (and admin_app, if not NULL) on the inherited sockets and
   count in the shared figures. 0, or 2 after a message. */
int worker_listen(struct worker *w, weft_server_t *srv, weft_app_t *app, weft_app_t *admin_app);

/* Tell the master this worker serves. */
void worker_ready(void);

/* MSG_ALIVE to the master every WORKER_BEAT_MS while every loop of srv
   answers (heartbeat.h): a worker whose loop is stuck in a handler falls
   silent, and the master kills it (--worker-timeout). */
struct heartbeat *worker_heartbeat_start(weft_server_t *srv, unsigned loops);

/* Watch the control socket on loop (its thread): fn(arg, true) when the
   master asks this worker to retire, fn(arg, false) when the master is
   gone. */
int worker_watch(uv_loop_t *loop, void (*fn)(void *arg, bool retire), void *arg);
void worker_unwatch(void);

#endif
