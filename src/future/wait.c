/*
 * wait.c - weft_future_wait: block a thread until a future settles.
 *
 * A waiter first checks the state, then spins briefly (a result that is
 * microseconds away is cheaper to spin for than to sleep and be woken for:
 * a futex sleep and wake cost a few microseconds each), then sets the
 * SLEEPERS flag in the state word and sleeps on the word itself; the
 * settling thread's exchange sees the flag and wakes every sleeper. The
 * caller holds a reference, so the word outlives the sleep.
 *
 * A pool worker does not sleep here: its pool installed a wait hook on
 * the thread (sync/thread.h), which runs the pool's queued jobs until the
 * future settles, so a pool whose every worker waits on queued work still
 * finishes.
 */
#include <errno.h>

#include "future/future-int.h"
#include "sync/clock.h"
#include "sync/futex.h"
#include "sync/spin.h"
#include "sync/thread.h"

/* How long a waiter spins before sleeping (sync/spin.h): the 50 us spin
   budget per wait, matching how long an idle pool worker lingers. */
#define WAIT_SPIN_NS (50 * 1000)

static bool spin_until_settled(weft_future_t *f, int64_t deadline_ns)
{
    struct weft__spin spin = weft__spin_begin(WAIT_SPIN_NS, deadline_ns);
    bool yielding = atomic_load_explicit(&f->state, memory_order_relaxed) & WEFT__FUTURE_YIELDING;
    while (weft__future_state_acquire(f) == WEFT_FUTURE_PENDING)
        if (!(yielding ? weft__spin_next_yielding(&spin) : weft__spin_next(&spin)))
            return false;
    return true;
}

static int sleep_until_settled(weft_future_t *f, int64_t deadline_ns)
{
    for (;;) {
        uint32_t s = atomic_load_explicit(&f->state, memory_order_acquire);
        if ((s & WEFT__FUTURE_STATE_MASK) != WEFT_FUTURE_PENDING)
            return 0;
        if (!(s & WEFT__FUTURE_SLEEPERS)) {
            /* Announce the sleeper; if the state moved meanwhile, re-check. */
            if (!atomic_compare_exchange_weak_explicit(&f->state, &s, s | WEFT__FUTURE_SLEEPERS,
                                                       memory_order_acq_rel, memory_order_acquire))
                continue;
            s |= WEFT__FUTURE_SLEEPERS;
        }
        if (weft__futex_wait(&f->state, s, deadline_ns) == -ETIMEDOUT)
            return weft__future_state_acquire(f) == WEFT_FUTURE_PENDING ? -ETIMEDOUT : 0;
    }
}

int weft__future_wait_until(weft_future_t *f, int64_t deadline_ns)
{
    if (spin_until_settled(f, deadline_ns))
        return 0;
    return sleep_until_settled(f, deadline_ns);
}

int weft_future_wait(weft_future_t *f, int64_t timeout_ms)
{
    if (weft__would_block_loop(timeout_ms))
        return -EDEADLK;
    if (weft__future_state_acquire(f) != WEFT_FUTURE_PENDING)
        return 0;
    if (timeout_ms == 0)
        return -ETIMEDOUT;
    int64_t deadline = weft__deadline_ns(timeout_ms);
    if (weft__self.wait_hook)
        return weft__self.wait_hook(weft__self.wait_ctx, f, deadline);
    return weft__future_wait_until(f, deadline);
}
