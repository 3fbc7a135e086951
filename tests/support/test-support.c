/* test-support.c - see test-support.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "error/base.h"
#include "test-support.h"

int weft_test_multiplier(void)
{
    const char *s = getenv("WEFT_TEST_TIMEOUT_MULTIPLIER");
    int m = s ? atoi(s) : 1;
    return m > 0 ? m : 1;
}

int64_t weft_test_ms(int64_t ms)
{
    return ms * weft_test_multiplier();
}

int64_t weft_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void weft_test_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int weft_test_oom_sweep(const char *what, weft_test_construct_fn construct,
                        weft_test_destroy_fn destroy, void *arg)
{
    for (int n = 0; n < 100000; n++) {
        weft__alloc_fail_after(n);
        errno = 0;
        void *obj = construct(arg);
        if (!obj) {
            int err = errno;
            long live = weft__alloc_live();
            weft__alloc_fail_after(-1);
            if (err != ENOMEM || live != 0)
                fail_msg("%s: failing allocation %d: errno %d, %ld allocations left", what, n, err,
                         live);
            continue;
        }
        destroy(obj);
        long live = weft__alloc_live();
        weft__alloc_fail_after(-1);
        if (live != 0)
            fail_msg("%s: %ld allocations left after destroy", what, live);
        return n;
    }
    weft__alloc_fail_after(-1);
    fail_msg("%s: never succeeded", what);
    return -1;
}
