/*
 * loop-test.h - helpers shared by the loop layer's tests: running a loop
 * on another thread, and stopping one later.
 *
 * cmocka's assertions must run on the test's main thread, so tests either
 * run the loop there (callbacks may assert) or record what other threads
 * saw and assert after joining them.
 */
#ifndef WEFT_LOOP_TEST_H
#define WEFT_LOOP_TEST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "test-support.h"
#include "loop/loop-int.h"
#include "weft/loop.h"

/* A loop run by a thread of its own. */
struct runner {
    weft_loop_t *loop;
    pthread_t thread;
    int rc;
};

static void *runner_main(void *arg)
{
    struct runner *r = arg;
    r->rc = weft_loop_run(r->loop);
    return NULL;
}

static inline void runner_start(struct runner *r, weft_loop_t *loop)
{
    r->loop = loop;
    r->rc = 1;
    assert_int_equal(pthread_create(&r->thread, NULL, runner_main, r), 0);
}

static inline int runner_join(struct runner *r)
{
    assert_int_equal(pthread_join(r->thread, NULL), 0);
    return r->rc;
}

/* Calls weft_loop_stop(loop) from another thread after ms. */
struct stopper {
    weft_loop_t *loop;
    int64_t ms;
    pthread_t thread;
    pthread_t stopped_on;
};

static void *stopper_main(void *arg)
{
    struct stopper *s = arg;
    weft_test_sleep_ms(s->ms);
    s->stopped_on = pthread_self();
    weft_loop_stop(s->loop);
    return NULL;
}

static inline void stopper_start(struct stopper *s, weft_loop_t *loop, int64_t ms)
{
    s->loop = loop;
    s->ms = ms;
    assert_int_equal(pthread_create(&s->thread, NULL, stopper_main, s), 0);
}

static inline void stopper_join(struct stopper *s)
{
    assert_int_equal(pthread_join(s->thread, NULL), 0);
}

/* A post that stops the loop it runs on. */
static inline void stop_current(void *arg)
{
    weft_loop_stop(arg);
}

#endif
