/* Stress tests of the loop layer (run under TSan by make check):
   - 2 producers x 1,000,000 posts: each delivered exactly once, in order
     per producer, on the loop thread;
   - stopping a loop while other threads post, settle futures with
     continuations and submit work, many times over: every accepted post
     runs exactly once, every continuation is called exactly once (0 or
     -ECANCELED), nothing is left (ASan/LSan, TSan). */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "loop-test.h"
#include "weft/pool.h"

/* ---- a million posts each ---------------------------------------------- */

#define PRODUCERS 2
#define POSTS     1000000L

static struct {
    weft_loop_t *loop;
    pthread_t loop_thread;
    long next[PRODUCERS];
    long bad_order, wrong_thread, total, expected;
} flood;

struct producer {
    int id;
    long posts;
    pthread_t thread;
    int64_t ns;
};

static void flood_note(void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    int id = (int)(v % PRODUCERS);
    long seq = (long)(v / PRODUCERS);
    if (seq != flood.next[id])
        flood.bad_order++;
    flood.next[id] = seq + 1;
    if (!pthread_equal(pthread_self(), flood.loop_thread))
        flood.wrong_thread++;
    if (++flood.total == flood.expected)
        weft_loop_stop(flood.loop);
}

static void *flood_main(void *arg)
{
    struct producer *p = arg;
    int64_t t0 = weft_test_now_ms();
    for (long i = 0; i < p->posts; i++) {
        uintptr_t v = (uintptr_t)(i * PRODUCERS + p->id);
        if (weft_loop_post(flood.loop, flood_note, (void *)v) != 0)
            abort(); /* cannot assert off the main thread */
    }
    p->ns = (weft_test_now_ms() - t0) * 1000000;
    weft__inbox_release_thread_cache();
    return NULL;
}

static void run_flood(int producers, long posts, const char *what)
{
    memset(&flood, 0, sizeof(flood));
    flood.loop = weft_loop_new();
    flood.loop_thread = pthread_self();
    flood.expected = producers * posts;
    struct producer p[PRODUCERS];
    int64_t t0 = weft_test_now_ms();
    for (int i = 0; i < producers; i++) {
        p[i] = (struct producer){.id = i, .posts = posts};
        assert_int_equal(pthread_create(&p[i].thread, NULL, flood_main, &p[i]), 0);
    }
    assert_int_equal(weft_loop_run(flood.loop), 0);
    int64_t ms = weft_test_now_ms() - t0;
    for (int i = 0; i < producers; i++) {
        pthread_join(p[i].thread, NULL);
        assert_int_equal(flood.next[i], posts);
        print_message("%s: producer %d: %.1f M posts/s\n", what, i,
                      p[i].ns ? posts * 1000.0 / (double)p[i].ns : 0.0);
    }
    print_message("%s: %ld posts delivered in %lld ms (%.1f M/s end to end)\n", what, flood.total,
                  (long long)ms, ms ? flood.total / 1000.0 / (double)ms : 0.0);
    assert_int_equal(flood.bad_order, 0);
    assert_int_equal(flood.wrong_thread, 0);
    assert_int_equal(flood.total, flood.expected);
    weft_loop_free(flood.loop);
}

static void two_producers_a_million_posts_each(void **state)
{
    run_flood(PRODUCERS, POSTS, "2 producers");
}

static void one_producer_rate(void **state)
{
    run_flood(1, 2 * POSTS, "1 producer");
}

/* ---- stop while others post, settle and submit --------------------------- */

struct round {
    weft_loop_t *loop;
    weft_pool_t *pool;
    atomic_long accepted, ran;      /* posts */
    atomic_long registered, called; /* continuations */
    atomic_long cancelled;
    atomic_long works, done; /* weft_loop_work */
    atomic_long seq_errors;
};

struct actor {
    struct round *r;
    pthread_t thread;
    long next_seq; /* producers: the next sequence number the loop expects */
    long seq;
    unsigned seed;
};

struct tagged {
    struct actor *a;
    long seq;
};

static void counted_post(void *arg)
{
    struct tagged *t = arg;
    if (t->seq != t->a->next_seq)
        atomic_fetch_add(&t->a->r->seq_errors, 1);
    t->a->next_seq = t->seq + 1;
    atomic_fetch_add(&t->a->r->ran, 1);
    free(t);
}

static void *post_until_stopped(void *arg)
{
    struct actor *a = arg;
    for (;;) {
        struct tagged *t = malloc(sizeof(*t));
        *t = (struct tagged){a, a->seq};
        int rc = weft_loop_post(a->r->loop, counted_post, t);
        if (rc < 0) {
            free(t); /* -EPIPE: the argument is ours again */
            break;
        }
        a->seq++;
        atomic_fetch_add(&a->r->accepted, 1);
        if (rand_r(&a->seed) % 64 == 0)
            sched_yield();
    }
    /* The post blocks go at thread exit (the cache's destructor): a block
       the loop has not finished yet is handed over to it. */
    return NULL;
}

static void counted_then(weft_future_t *f, int status, void *arg)
{
    struct round *r = arg;
    if (status == -ECANCELED)
        atomic_fetch_add(&r->cancelled, 1);
    else if (status != 0)
        abort();
    atomic_fetch_add(&r->called, 1);
}

/* Registers continuations on futures and settles them from this thread
   (some at once, some later, some by dropping them pending). */
static void *settle_until_stopped(void *arg)
{
    struct actor *a = arg;
    weft_future_t *held[8] = {0};
    for (unsigned i = 0;; i++) {
        weft_future_t *f = weft_promise_new();
        if (rand_r(&a->seed) % 4 == 0)
            weft_future_fulfill_int(f, i);
        int rc = weft_future_then(f, a->r->loop, counted_then, a->r);
        if (rc == 0)
            atomic_fetch_add(&a->r->registered, 1);
        weft_future_t *old = held[i % 8];
        held[i % 8] = f;
        if (old) {
            if (rand_r(&a->seed) % 3)
                weft_future_fulfill_int(old, i);
            weft_future_unref(old); /* a pending drop cancels it */
        }
        if (rc == -EPIPE)
            break;
    }
    for (int i = 0; i < 8; i++) {
        if (held[i])
            weft_future_fulfill_int(held[i], -1);
        weft_future_unref(held[i]);
    }
    return NULL;
}

static void quick_job(weft_job_t *job, void *arg)
{
    weft_job_return_int(job, 1);
}

static void counted_done(weft_future_t *f, int status, void *arg)
{
    struct round *r = arg;
    if (status != 0 && status != -ECANCELED)
        abort();
    atomic_fetch_add(&r->done, 1);
}

static void *work_until_stopped(void *arg)
{
    struct actor *a = arg;
    for (;;) {
        int rc = weft_loop_work(a->r->loop, a->r->pool, quick_job, NULL, counted_done, a->r);
        if (rc == -EPIPE)
            break;
        if (rc == 0)
            atomic_fetch_add(&a->r->works, 1);
        else if (rc == -EAGAIN)
            sched_yield();
        else
            abort();
    }
    return NULL;
}

static void one_round(weft_pool_t *pool, unsigned seed)
{
    struct round r = {.loop = weft_loop_new(), .pool = pool};
    struct runner run;
    runner_start(&run, r.loop);
    struct actor a[4];
    void *(*mains[4])(void *) = {post_until_stopped, post_until_stopped, settle_until_stopped,
                                 work_until_stopped};
    for (int i = 0; i < 4; i++) {
        a[i] = (struct actor){.r = &r, .seed = seed * 4 + (unsigned)i};
        assert_int_equal(pthread_create(&a[i].thread, NULL, mains[i], &a[i]), 0);
    }
    weft_test_sleep_ms(rand_r(&seed) % 4);
    assert_int_equal(weft_loop_stop(r.loop), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(a[i].thread, NULL);
    assert_int_equal(runner_join(&run), 0);
    /* Close delivers what was queued too late for run's last drain; done
       callbacks of jobs still running come from the workers. */
    assert_int_equal(weft_loop_close(r.loop), 0);
    int64_t deadline = weft_test_now_ms() + weft_test_ms(10000);
    while (atomic_load(&r.done) < atomic_load(&r.works) && weft_test_now_ms() < deadline)
        weft_test_sleep_ms(1);
    assert_int_equal(atomic_load(&r.ran), atomic_load(&r.accepted));
    assert_int_equal(atomic_load(&r.seq_errors), 0);
    assert_int_equal(atomic_load(&r.called), atomic_load(&r.registered));
    assert_int_equal(atomic_load(&r.done), atomic_load(&r.works));
    weft_loop_free(r.loop);
}

static void stop_while_others_post_settle_and_submit(void **state)
{
    weft_pool_options_t po = {.threads = 2, .queue_capacity = 64};
    weft_pool_t *pool = weft_pool_new(&po);
    assert_non_null(pool);
    int rounds = 1000 / weft_test_multiplier();
    for (int i = 0; i < rounds; i++)
        one_round(pool, (unsigned)i + 1);
    assert_int_equal(weft_pool_close(pool, -1), 0);
    weft_pool_free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_producers_a_million_posts_each),
        cmocka_unit_test(one_producer_rate),
        cmocka_unit_test(stop_while_others_post_settle_and_submit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
