/*
 * futex.h - sleeping on and waking a 32-bit word (Linux futex(2)).
 *
 * The word is always an atomic that carries the real state; the futex is
 * only the sleep. Callers re-check the word after every return, so
 * spurious wakeups, EINTR and EAGAIN (the word changed before we slept)
 * are all handled by the caller's loop.
 */
#ifndef WEFT_SYNC_FUTEX_H
#define WEFT_SYNC_FUTEX_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sync/clock.h"

/* Sleeps while *word == expected, until woken or the absolute monotonic
   deadline passes. Returns 0 (woken, or the word differed), -ETIMEDOUT,
   or -EINTR. */
static inline int weft__futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t deadline_ns)
{
    struct timespec ts, *tsp = NULL;
    if (deadline_ns != WEFT_FOREVER) {
        ts = weft__timespec(deadline_ns);
        tsp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
    long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected,
                     tsp, NULL, FUTEX_BITSET_MATCH_ANY);
    if (r == 0 || errno == EAGAIN)
        return 0;
    return errno == ETIMEDOUT ? -ETIMEDOUT : -EINTR;
}

static inline void weft__futex_wake(_Atomic uint32_t *word, int n)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL, NULL, 0);
}

static inline void weft__futex_wake_all(_Atomic uint32_t *word)
{
    weft__futex_wake(word, INT_MAX);
}

/* A pause for spin loops: tells the core we are spinning (x86 PAUSE). */
static inline void weft__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif /* WEFT_SYNC_FUTEX_H */
