/*
 * stress-queue.c - 4 producers and 4 consumers race over a small bounded
 * queue, round after round. Every accepted item must be delivered exactly
 * once, and each consumer must see each producer's items in the order they
 * were pushed. Producers push in three ways (waiting forever, short
 * timeouts retried, try_push with yields); consumers pop one at a time or
 * in batches. Even rounds close the queue once producers are done; odd
 * rounds close it while they are still pushing, so pushes race the close:
 * then exactly the items whose push returned 0 must come out.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "weft/sync.h"
#include "test-support.h"

#if defined(WEFT_UNDER_TSAN) || defined(__SANITIZE_THREAD__)
#define PER_PRODUCER 50000
#define ROUNDS       6
#else
#define PER_PRODUCER 200000
#define ROUNDS       6
#endif
#define PRODUCERS 4
#define CONSUMERS 4
#define CAPACITY  64
#define BATCH     16
#define TOTAL     (PRODUCERS * PER_PRODUCER)

struct round {
    weft_queue_t *q;
    atomic_uchar *accepted;  /* per item: its push returned 0 */
    atomic_uchar *delivered; /* per item: times a consumer got it */
    atomic_long consumed;
    atomic_long errors; /* unexpected return codes, order violations */
};

struct worker {
    struct round *rd;
    int id;
    pthread_t thread;
};

/* Item i of producer p is the number p * PER_PRODUCER + i; item 0 is NULL,
   which the queue must carry like any other. */
static void *item_of(int p, long i)
{
    return (void *)(uintptr_t)((long)p * PER_PRODUCER + i);
}

/* 0 pushed, -EPIPE closed; anything else counts as an error. */
static int push_one(struct round *rd, int style, void *item)
{
    for (;;) {
        int r;
        if (style == 0)
            r = weft_queue_push(rd->q, item, -1);
        else if (style == 1)
            r = weft_queue_push(rd->q, item, 1);
        else
            r = weft_queue_try_push(rd->q, item);
        if (r == 0 || r == -EPIPE)
            return r;
        if (r != -ETIMEDOUT && r != -EAGAIN) {
            atomic_fetch_add(&rd->errors, 1);
            return r;
        }
        sched_yield();
    }
}

static void *producer_main(void *arg)
{
    struct worker *w = arg;
    int style = w->id % 3;
    for (long i = 0; i < PER_PRODUCER; i++) {
        uintptr_t n = (uintptr_t)item_of(w->id, i);
        if (push_one(w->rd, style, (void *)n) != 0)
            break;
        atomic_store_explicit(&w->rd->accepted[n], 1, memory_order_relaxed);
    }
    return NULL;
}

/* Records one delivery; last[p] is the last index seen from producer p. */
static void deliver(struct round *rd, long *last, void *item)
{
    uintptr_t n = (uintptr_t)item;
    if (n >= TOTAL) {
        atomic_fetch_add(&rd->errors, 1);
        return;
    }
    atomic_fetch_add_explicit(&rd->delivered[n], 1, memory_order_relaxed);
    long p = (long)n / PER_PRODUCER, i = (long)n % PER_PRODUCER;
    if (i <= last[p])
        atomic_fetch_add(&rd->errors, 1);
    last[p] = i;
    atomic_fetch_add_explicit(&rd->consumed, 1, memory_order_relaxed);
}

static void *consumer_main(void *arg)
{
    struct worker *w = arg;
    long last[PRODUCERS] = {-1, -1, -1, -1};
    void *items[BATCH];
    for (;;) {
        ssize_t n;
        if (w->id % 2 == 0) {
            int r = weft_queue_pop(w->rd->q, items, -1);
            n = r ? r : 1;
        } else {
            n = weft_queue_pop_batch(w->rd->q, items, BATCH, -1);
        }
        if (n == -EPIPE)
            return NULL;
        if (n < 1 || n > BATCH) {
            atomic_fetch_add(&w->rd->errors, 1);
            return NULL;
        }
        for (ssize_t i = 0; i < n; i++)
            deliver(w->rd, last, items[i]);
    }
}

static void run_round(int round)
{
    struct round rd = {.q = weft_queue_new(CAPACITY)};
    rd.accepted = calloc(TOTAL, sizeof(*rd.accepted));
    rd.delivered = calloc(TOTAL, sizeof(*rd.delivered));
    assert_non_null(rd.q);
    assert_non_null(rd.accepted);
    assert_non_null(rd.delivered);
    bool early_close = round % 2 == 1;

    struct worker producers[PRODUCERS], consumers[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) {
        consumers[i] = (struct worker){.rd = &rd, .id = i};
        assert_int_equal(pthread_create(&consumers[i].thread, NULL, consumer_main, &consumers[i]),
                         0);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        producers[i] = (struct worker){.rd = &rd, .id = i};
        assert_int_equal(pthread_create(&producers[i].thread, NULL, producer_main, &producers[i]),
                         0);
    }
    if (early_close) {
        while (atomic_load(&rd.consumed) < TOTAL / 2)
            sched_yield();
        weft_queue_close(rd.q);
    }
    for (int i = 0; i < PRODUCERS; i++)
        assert_int_equal(pthread_join(producers[i].thread, NULL), 0);
    weft_queue_close(rd.q);
    for (int i = 0; i < CONSUMERS; i++)
        assert_int_equal(pthread_join(consumers[i].thread, NULL), 0);

    assert_int_equal(atomic_load(&rd.errors), 0);
    assert_int_equal(weft_queue_len(rd.q), 0);
    long accepted = 0;
    for (long n = 0; n < TOTAL; n++) {
        if (atomic_load(&rd.delivered[n]) != atomic_load(&rd.accepted[n]))
            fail_msg("round %d: item %ld accepted %d, delivered %d times", round, n,
                     atomic_load(&rd.accepted[n]), atomic_load(&rd.delivered[n]));
        accepted += atomic_load(&rd.accepted[n]);
    }
    assert_int_equal(atomic_load(&rd.consumed), accepted);
    if (!early_close)
        assert_int_equal(accepted, TOTAL);
    printf("round %d: %ld of %d items delivered exactly once%s\n", round, accepted, TOTAL,
           early_close ? " (closed early)" : "");

    weft_queue_free(rd.q);
    free(rd.accepted);
    free(rd.delivered);
}

static void every_item_is_delivered_exactly_once(void **state)
{
    for (int round = 0; round < ROUNDS; round++)
        run_round(round);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_item_is_delivered_exactly_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
