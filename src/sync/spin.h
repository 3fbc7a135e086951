/*
 * spin.h - bounded, polite spinning before sleeping.
 *
 * A thread that expects an event within microseconds spins instead of
 * sleeping: a futex sleep plus wake-up costs several microseconds on each
 * side. The spin is bounded by time (not iterations, which vary with the
 * CPU), reads the clock only every 64 pauses, and yields the CPU every 256
 * (a few microseconds): when the thread it waits for was woken onto this
 * very CPU (the scheduler's wake-affine placement), a pure spin would keep
 * it off the CPU for the whole budget; sched_yield lets it run. Yielding
 * more often costs more than it saves: each yield is a system call, and a
 * context switch when another thread is runnable.
 *
 *   struct weft__spin s = weft__spin_begin(budget_ns, deadline_ns);
 *   while (!ready())
 *       if (!weft__spin_next(&s))
 *           break; // budget spent: go to sleep
 */
#ifndef WEFT_SYNC_SPIN_H
#define WEFT_SYNC_SPIN_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "sync/clock.h"
#include "sync/futex.h"

struct weft__spin {
    int64_t until;
    unsigned i;
};

static inline struct weft__spin weft__spin_begin(int64_t budget_ns, int64_t deadline_ns)
{
    int64_t now = weft__now_ns();
    int64_t until = now + budget_ns;
    struct weft__spin s = {until < deadline_ns ? until : deadline_ns, 0};
    return s;
}

/* One more round of spinning: false once the budget is spent. */
static inline bool weft__spin_next(struct weft__spin *s)
{
    weft__cpu_relax();
    if ((++s->i & 63) != 0)
        return true;
    if (weft__now_ns() >= s->until)
        return false;
    if ((s->i & 255) == 0)
        sched_yield();
    return true;
}

/* One more round of spinning for a hand-off with more parties than CPUs:
   it yields every 4 rounds (weft__spin_next, every 256), so the party
   that must act next gets a CPU a spinner holds. A process pool's round
   trip has three (the waiter, the pool's supervisor thread, the worker
   process); measured on two CPUs: 5 us per empty round trip against 20 us
   with the usual spin. False once the budget is spent. */
static inline bool weft__spin_next_yielding(struct weft__spin *s)
{
    weft__cpu_relax();
    if ((++s->i & 3) == 0)
        sched_yield();
    return weft__now_ns() < s->until;
}

#endif /* WEFT_SYNC_SPIN_H */
