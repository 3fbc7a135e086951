/*
 * clock.h - monotonic time and deadlines, in nanoseconds.
 *
 * Every timeout in weft's API is relative milliseconds (below 0: forever,
 * 0: do not wait); internally it becomes an absolute CLOCK_MONOTONIC
 * deadline once, at the start of the call, so retries after spurious
 * wakeups never extend it.
 */
#ifndef WEFT_SYNC_CLOCK_H
#define WEFT_SYNC_CLOCK_H

#include <stdint.h>
#include <time.h>

#define WEFT_NS_PER_MS  1000000LL
#define WEFT_NS_PER_SEC 1000000000LL
#define WEFT_FOREVER    INT64_MAX /* a deadline that never comes */

static inline int64_t weft__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * WEFT_NS_PER_SEC + ts.tv_nsec;
}

/* The absolute deadline for a relative timeout of the API's convention. */
static inline int64_t weft__deadline_ns(int64_t timeout_ms)
{
    if (timeout_ms < 0)
        return WEFT_FOREVER;
    int64_t now = weft__now_ns();
    if (timeout_ms > (WEFT_FOREVER - now) / WEFT_NS_PER_MS)
        return WEFT_FOREVER;
    return now + timeout_ms * WEFT_NS_PER_MS;
}

static inline struct timespec weft__timespec(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / WEFT_NS_PER_SEC, .tv_nsec = ns % WEFT_NS_PER_SEC};
    return ts;
}

#endif /* WEFT_SYNC_CLOCK_H */
