/*
 * weft/procpool.h - a supervised pool of worker processes whose jobs
 * return futures: crash isolation for the jobs that deserve a process of
 * their own (parsing untrusted files, a fragile library). newLISP's
 * spawn/receive and the process flavour of Pike's pool, for a
 * multithreaded server.
 *
 * The pool keeps N resident worker processes, each started with
 * posix_spawn of the program itself through the proc layer (never a fork
 * of a multithreaded process). A job is a function registered by name --
 * the same program runs on both sides, so both have the same table -- and
 * an argument as bytes; its result is bytes. Submitting returns a
 * weft_future_t that can be waited on, or continued on a loop
 * (weft_future_then). Arguments and results travel through a memfd
 * segment per worker (no copy through a socket); larger ones through a
 * fresh memfd passed with SCM_RIGHTS, so a 16 MiB result arrives whole.
 *
 * THE CONTRACT WITH main(). A worker is this program, started again with
 * a marker argument. So the program must, first thing in main():
 *
 *     int main(int argc, char **argv) {
 *         weft_procpool_register("resize", resize_job);   // every job, in
 *         weft_procpool_register("parse", parse_job);     // both roles
 *         weft_procpool_child_main(argc, argv);  // a worker never returns
 *         ...                                    // the program proper
 *
 * weft_procpool_child_main returns at once in the program proper and
 * remembers it was called; weft_procpool_new refuses to start (-ENOEXEC)
 * in a program that never called it, because its workers would run the
 * whole program again instead of the worker loop.
 *
 * Outcomes of a job's future:
 *   - fulfilled with a pointer to the bytes the job returned (NUL-
 *     terminated, owned by the future; weft_procpool_result() gives their
 *     length too);
 *   - rejected with the job's own error and message (weft_procjob_fail);
 *   - rejected with WEFT_PROCPOOL_ECRASH (-EOWNERDEAD, as a dead pool
 *     thread) and a message naming how the worker died, "worker killed by
 *     SIGSEGV" or "worker exited with status 3"; the worker is replaced;
 *   - rejected with -ETIMEDOUT past its deadline: the worker is killed
 *     (SIGKILL) and replaced;
 *   - cancelled (weft_future_cancel, or close past its drain): a queued
 *     job is dropped, a running one's worker is killed (SIGKILL) and
 *     replaced (weft_future_on_cancel is how the pool hears of it);
 *   - rejected with -EPROTO if a worker answered nonsense (it is killed).
 * Nothing submitted is ever left pending: close settles everything.
 *
 * Supervision: a dead worker is replaced at once, up to the restart
 * intensity (weft_restart_policy_t, proc.h); past it replacements wait a
 * doubling backoff and the pool reports itself degraded. Workers die with
 * the pool's process (PR_SET_PDEATHSIG, tied to the pool's supervisor
 * thread, which lives as long as the pool).
 *
 * Thread-safety: every weft_procpool_* function may be called from any
 * thread except where it says otherwise. weft_procjob_* functions are for
 * job code, in the worker process, with the job handle it was given.
 */
#ifndef WEFT_PROCPOOL_H
#define WEFT_PROCPOOL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "weft/error.h"
#include "weft/future.h"
#include "weft/proc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_procpool weft_procpool_t;
typedef struct weft_procjob weft_procjob_t;

/* The error a job's future is rejected with when its worker died under it
   (crashed, killed by someone else, exited). */
#define WEFT_PROCPOOL_ECRASH (-EOWNERDEAD)

/* The longest job name, in bytes (the terminating NUL not counted). */
#define WEFT_PROCPOOL_NAME_MAX 63

/* ---- the job side (in the worker process) ---------------------------------- */

/*
 * A job: runs in a worker process, single-threaded there, with its handle
 * and its argument (borrowed: valid until the function returns; len may be
 * 0). It answers with weft_procjob_return / weft_procjob_result_buffer or
 * weft_procjob_fail; one that returns without either is fulfilled with an
 * empty result. It may crash: that is what the process is for.
 */
typedef void (*weft_procjob_fn)(weft_procjob_t *job, const void *arg, size_t len);

/*
 * weft_procpool_register - make fn runnable under name (at most
 * WEFT_PROCPOOL_NAME_MAX bytes) in every pool of this program. Call it
 * before weft_procpool_child_main, with the same names in every run of
 * the program. Returns 0, -EINVAL (bad name or fn), -EEXIST (the name is
 * taken), -ENOSPC (more than 256 jobs), -EBUSY (too late:
 * weft_procpool_child_main was called).
 * Thread-safety: not thread-safe (main, before any thread starts).
 */
WEFT_API int weft_procpool_register(const char *name, weft_procjob_fn fn);

/*
 * weft_procpool_child_main - in a worker (this program spawned by a pool):
 * serve jobs until the pool closes its end, then exit; never returns.
 * Anywhere else: note that the program honours the contract and return at
 * once. argv is not changed.
 * Thread-safety: main, before any thread starts.
 */
WEFT_API void weft_procpool_child_main(int argc, char **argv);

/*
 * weft_procjob_return - the job's result: len bytes copied from data
 * (NULL is fine with len 0). A second answer is ignored. -ENOMEM when the
 * result cannot be stored (a memory limit): the job then fails with
 * -ENOMEM unless it answers otherwise.
 * Thread-safety: the job's own code, in the worker, while it runs.
 */
WEFT_API int weft_procjob_return(weft_procjob_t *job, const void *data, size_t len);

/*
 * weft_procjob_result_buffer - the result, written in place: a buffer of
 * len bytes (in shared memory: no copy) the job fills before it returns;
 * calling it again replaces the earlier buffer. NULL with errno ENOMEM.
 * Thread-safety: the job's own code, in the worker, while it runs.
 */
WEFT_API void *weft_procjob_result_buffer(weft_procjob_t *job, size_t len);

/* weft_procjob_fail - the job failed: its future is rejected with err
   (negative errno; else -EINVAL) and msg (copied, up to 511 bytes; may be
   NULL). A second answer is ignored.
   Thread-safety: the job's own code, in the worker, while it runs. */
WEFT_API void weft_procjob_fail(weft_procjob_t *job, int err, const char *msg);

/* ---- the pool (in the program proper) --------------------------------------- */

typedef struct {
    unsigned workers;              /* worker processes; 0: 2 */
    size_t queue_capacity;         /* jobs waiting for a worker; 0: unbounded */
    int64_t job_deadline_ms;       /* <= 0: none; past it: -ETIMEDOUT, SIGKILL */
    size_t memory_limit;           /* bytes of address space per worker
                                      (RLIMIT_AS); 0: none. Ignored, with a
                                      warning, under ASan and TSan, whose shadow
                                      memory no such limit admits */
    size_t shm_size;               /* inline bytes each way per worker (a memfd
                                      segment; pages cost only once touched);
                                      larger arguments and results go through a
                                      memfd of their own. 0: 1 MiB */
    const char *name;              /* argv[0] of the workers (ps), logs;
                                      NULL: "weft-procpool" */
    weft_restart_policy_t restart; /* zero: 32 restarts in 1 s, then a
                                      backoff from 100 ms to 1 s */
    const char *const *env;        /* environment changes for the workers, as
                                      weft_spawn_options_t.env; may be NULL;
                                      borrowed for the pool's life */
} weft_procpool_options_t;

typedef struct {
    int64_t deadline_ms; /* 0: the pool's; < 0: none for this job */
    bool nonblocking;    /* -EAGAIN instead of waiting while full */
} weft_procjob_options_t;

/* How a job's result is kept: a fulfilled future's pointer value
   (weft_future_ptr) is `data` -- the bytes, NUL-terminated, so code that
   takes a pointer value for a C string (weft_offload_future's default
   answer) works on text results -- with the length just before it. */
typedef struct {
    size_t len;
    unsigned char data[]; /* len bytes, then a NUL */
} weft_procpool_result_t;

/*
 * weft_procpool_new - start a pool: its supervisor thread spawns the
 * workers (they become ready shortly after; jobs submitted before wait in
 * the queue). opts NULL: defaults. Returns NULL with errno: ENOEXEC (the
 * program never called weft_procpool_child_main), EINVAL, ENOMEM, or what
 * creating the thread or the shared memory said. Workers run with the
 * credentials the process has when each is spawned: in a server that
 * drops privileges (setuid), make the pool after the drop, or its first
 * workers keep the old ones.
 * Thread-safety: any thread.
 */
WEFT_API weft_procpool_t *weft_procpool_new(const weft_procpool_options_t *opts);

/*
 * weft_procpool_submit_ex - run job `name` with len bytes of arg (copied
 * before the call returns; NULL is fine with len 0) on a worker. *out gets
 * a new reference to the job's future (the pool keeps its own: dropping
 * yours does not cancel; cancelling does). While the queue is full it
 * waits for room, or returns -EAGAIN with opts->nonblocking. Returns 0, or
 * with *out NULL: -EAGAIN, -EPIPE (closed), -ENOENT (no job of that name),
 * -EINVAL, -ENOMEM, -EDEADLK (it would wait on a loop thread), or what
 * creating the memfd of a large argument said. Failure atomicity: on an
 * error nothing was queued and nothing is counted but -EAGAIN (rejected).
 * Thread-safety: any thread (a loop thread: nonblocking, or -EDEADLK when
 * it would wait).
 */
WEFT_API int weft_procpool_submit_ex(weft_procpool_t *pp, const char *name, const void *arg,
                                     size_t len, const weft_procjob_options_t *opts,
                                     weft_future_t **out);

/*
 * weft_procpool_submit - submit_ex with the defaults (waiting while full):
 * a new reference to the job's future; a failure to submit is a future
 * rejected with that error. NULL only when out of memory (errno ENOMEM).
 * Thread-safety: any thread but a loop thread (there: -EDEADLK when full).
 */
WEFT_API weft_future_t *weft_procpool_submit(weft_procpool_t *pp, const char *name, const void *arg,
                                             size_t len);

/*
 * weft_procpool_result - the bytes of a fulfilled job's future: a pointer
 * to them (borrowed from f, NUL-terminated) and *len; NULL (and *len 0)
 * if f is not fulfilled with a result. len may be NULL. The bytes may
 * also be taken with weft_future_take_ptr: then the caller owns them, and
 * frees them with weft_procpool_result_free (weft_procpool_result_len
 * tells their length).
 * Thread-safety: any thread holding a reference to f.
 */
WEFT_API const void *weft_procpool_result(const weft_future_t *f, size_t *len);

/* The length of result bytes taken out of a future (weft_future_take_ptr),
   and freeing them (NULL is fine). Thread-safety: any thread. */
WEFT_API size_t weft_procpool_result_len(const void *data);
WEFT_API void weft_procpool_result_free(void *data);

/*
 * weft_procpool_close - stop intake (submits get -EPIPE), run what is
 * queued until drain_timeout_ms passes (< 0: wait for every job), then
 * cancel what is left (queued jobs dropped, running ones' workers
 * killed), stop the workers and reap every one: afterwards no child of
 * the pool is left, not even a zombie, and none of its shared memory is
 * mapped or open. Returns 0, or -ETIMEDOUT if it had to cancel anything;
 * -EDEADLK on a loop thread with a drain other than 0. Repeatable. Even
 * with a drain of 0 it waits for the workers to exit: up to 2 s for an
 * idle one (it exits at EOF), then SIGKILL.
 * Thread-safety: any thread; concurrent closes wait for the first.
 */
WEFT_API int weft_procpool_close(weft_procpool_t *pp, int64_t drain_timeout_ms);

/* weft_procpool_free - close(0) if needed, then free. NULL is fine.
   Thread-safety: any thread, once nothing else uses pp. Futures of its
   jobs stay valid (they are refcounted). */
WEFT_API void weft_procpool_free(weft_procpool_t *pp);

/*
 * Figures, a consistent snapshot. submitted counts accepted jobs; each
 * ends in exactly one of completed (fulfilled), failed (the job failed,
 * or its worker died), cancelled (by a user or by close) or timed_out, so
 * submitted = completed + failed + cancelled + timed_out + queued +
 * running. rejected counts -EAGAIN refusals; crashed counts workers that
 * died by themselves (a subset of the deaths behind replaced); replaced
 * counts workers started in place of dead or killed ones.
 */
typedef struct {
    unsigned workers; /* worker processes alive now (started, not reaped) */
    unsigned ready;   /* of them, ready for or running a job */
    size_t queued, running;
    uint64_t submitted, completed, failed, cancelled, timed_out, rejected;
    uint64_t crashed, replaced;
    bool degraded; /* a replacement is being held back by the intensity */
} weft_procpool_stats_t;

/* Thread-safety: any thread. */
WEFT_API void weft_procpool_stats(weft_procpool_t *pp, weft_procpool_stats_t *out);

/* The pids of the live workers, up to max of them in pids; returns how
   many there are (for tests and /status pages). Thread-safety: any
   thread; a snapshot. */
WEFT_API unsigned weft_procpool_pids(weft_procpool_t *pp, pid_t *pids, unsigned max);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_PROCPOOL_H */
