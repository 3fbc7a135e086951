/*
 * worker.c - the worker thread: find work, run it, repeat; and the wait
 * hook that keeps a worker useful while one of its jobs waits on a future.
 *
 * Finding work, oldest first: the worker's own local ring; half of another
 * worker's local ring; a batch from the shared ring; then linger and sleep
 * (queue.c). A worker marks itself in weft__self (sync/thread.h) as a
 * worker of its pool with a wait hook, so weft_future_wait on it runs the
 * pool's queued jobs instead of sleeping: a pool whose every worker waits
 * on queued work still finishes. While waiting it sleeps on its own park
 * word, which both the pool (new work) and the future (settled, through a
 * waiter node) can set.
 *
 * weft_job_exit unwinds the thread with pthread_exit: each job frame on the
 * way out ends its job (job.c), the hook removes its waiter node (cleanup
 * attribute), and the thread's cleanup handler hands the slot to the
 * supervisor. Each live thread holds a reference to the pool; an abandoned
 * thread drops its own when it finally returns.
 */
#include <errno.h>
#include <stdio.h>

#include "pool/pool-int.h"
#include "sync/futex.h"
#include "sync/spin.h"
#include "sync/thread.h"

/* The wait hook spins this long on the future and the queue before it
   parks, like a lingering idle worker. */
#define HOOK_SPIN_NS (50 * 1000)

/* One attempt at finding work without waiting. Entries in local rings are
   older than anything in the shared ring (they came from its head), so
   another worker's leftovers go before a new batch: a job never waits
   behind a long one in a busy worker's ring while newer ones run. */
static bool try_find_work(struct pool_worker *w, struct weft__entry *out)
{
    if (weft__local_pop(w, out))
        return true;
    if (weft__local_steal(w) && weft__local_pop(w, out))
        return true;
    bool got = weft__pool_take_batch(w->pool, w, w->eager) && weft__local_pop(w, out);
    w->eager = false;
    return got;
}

bool weft__worker_find_work(struct pool_worker *w, struct weft__entry *out)
{
    for (;;) {
        if (atomic_load_explicit(&w->abandoned, memory_order_relaxed))
            return false;
        if (try_find_work(w, out)) {
            w->woken_unused = false;
            return true;
        }
        if (!weft__pool_sleep(w))
            return false;
    }
}

/* ---- the wait hook ------------------------------------------------------ */

struct hook_waiter {
    struct weft__future_waiter node;
    struct pool_worker *w;
    weft_future_t *f; /* NULL once there is nothing to remove */
};

/* Called by the settling thread with the future's lock held. */
static void hook_wake(struct weft__future_waiter *node)
{
    struct pool_worker *w = weft_container_of(node, struct hook_waiter, node)->w;
    atomic_store_explicit(&w->park, 1, memory_order_seq_cst);
    weft__futex_wake(&w->park, 1); /* slots outlive the pool's threads */
}

static void hook_cleanup(struct hook_waiter *hw)
{
    if (hw->f)
        weft__future_remove_waiter(hw->f, &hw->node);
}

/* Spins until f settles or work shows up; false after HOOK_SPIN_NS. */
static bool hook_spin(struct weft_pool *p, weft_future_t *f)
{
    struct weft__spin spin = weft__spin_begin(HOOK_SPIN_NS, WEFT_FOREVER);
    while (weft_future_state(f) == WEFT_FUTURE_PENDING && !atomic_load(&p->ring_len))
        if (!weft__spin_next(&spin))
            return false;
    return true;
}

static int worker_wait(void *ctx, weft_future_t *f, int64_t deadline_ns)
{
    struct pool_worker *w = ctx;
    struct weft_pool *p = w->pool;
    struct hook_waiter hw
        __attribute__((cleanup(hook_cleanup))) = {.node.wake = hook_wake, .w = w, .f = f};
    if (!weft__future_add_waiter(f, &hw.node)) {
        hw.f = NULL;
        return 0;
    }
    while (weft_future_state(f) == WEFT_FUTURE_PENDING) {
        /* An abandoned thread takes no more jobs: it only waits. */
        if (atomic_load(&w->abandoned))
            return weft__future_wait_until(f, deadline_ns);
        struct weft__entry e;
        w->eager = true; /* waiting is idle time: take whatever is there */
        if (try_find_work(w, &e)) {
            weft__job_run(w, &e);
            continue;
        }
        if (weft__now_ns() >= deadline_ns)
            return weft_future_state(f) == WEFT_FUTURE_PENDING ? -ETIMEDOUT : 0;
        if (!hook_spin(p, f))
            weft__pool_park_waiting(w, f, deadline_ns);
    }
    return 0;
}

/* ---- the thread --------------------------------------------------------- */

static void worker_dying(void *arg)
{
    weft__self = (struct weft__thread){0};
    weft__worker_died(arg);
}

static void *worker_main(void *arg)
{
    struct pool_worker *w = arg;
    struct weft_pool *p = w->pool;
    char name[32];
    snprintf(name, sizeof(name), "%s-%u", p->name, w->index);
    weft__thread_set_name(name);
    weft__self.pool = p;
    weft__self.wait_hook = worker_wait;
    weft__self.wait_ctx = w;

    struct weft__entry e;
    pthread_cleanup_push(worker_dying, w);
    while (weft__worker_find_work(w, &e))
        weft__job_run(w, &e);
    pthread_cleanup_pop(0);

    weft__self = (struct weft__thread){0};
    if (atomic_load(&w->abandoned))
        weft__worker_exit_abandoned(w);
    return NULL; /* joined by close, which drops our reference */
}

/* Starts a thread in slot w. Under ctl. */
int weft__worker_start(struct pool_worker *w)
{
    struct weft_pool *p = w->pool;
    WEFT_ASSERT(w->state == SLOT_FREE && !w->joinable);
    atomic_fetch_add(&p->refs, 1);
    atomic_store(&w->abandoned, false);
    atomic_store(&w->park, 0);
    w->kept = false;
    w->woken_unused = false;
    w->steal_from = (w->index + 1) % p->n_slots;
    int r = weft__thread_start(&w->thread, worker_main, w, false);
    if (r < 0) {
        atomic_fetch_sub(&p->refs, 1);
        return r;
    }
    w->state = SLOT_ACTIVE;
    w->joinable = true;
    p->live++;
    return 0;
}
