/*
 * test-support.h - helpers shared by weft's tests: time scaled for
 * sanitizer builds, a monotonic clock, and the out-of-memory sweep.
 *
 * Include after <setjmp.h>, <stdarg.h>, <stddef.h> as cmocka requires;
 * this header does that itself.
 */
#ifndef WEFT_TEST_SUPPORT_H
#define WEFT_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* WEFT_TEST_TIMEOUT_MULTIPLIER from the environment (1 if unset): how much
   slower this build runs (sanitizers). */
int weft_test_multiplier(void);

/* ms scaled by the multiplier, for behavioural time bounds. */
int64_t weft_test_ms(int64_t ms);

/* Monotonic milliseconds, for measuring how long something took. */
int64_t weft_test_now_ms(void);

/* Sleeps for ms milliseconds. */
void weft_test_sleep_ms(int64_t ms);

/*
 * The out-of-memory sweep: runs construct(arg) with the allocator hook set
 * to fail the first allocation, then the second, and so on, until construct
 * succeeds. Each failure must return NULL with errno ENOMEM and leave
 * nothing allocated; the final success is destroyed and must leave nothing
 * either. Returns the number of allocations the constructor made. Fails
 * the test (cmocka) on any violation.
 */
typedef void *(*weft_test_construct_fn)(void *arg);
typedef void (*weft_test_destroy_fn)(void *obj);
int weft_test_oom_sweep(const char *what, weft_test_construct_fn construct,
                        weft_test_destroy_fn destroy, void *arg);

#endif
