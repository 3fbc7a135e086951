/*
 * loop-promise - a slow computation on the pool while the loop stays
 * responsive (cl-async's `work` and `with-delay` example).
 *
 * The job adds 4 and 5 after sleeping (3 s by default); a delay prints
 * "event loop still running..." after 1 s meanwhile; the job's result
 * comes back to the loop thread, which prints "got val: 9".
 *
 *   $ ./loop-promise [job-ms]
 *   event loop still running...
 *   got val: 9
 *
 * With job-ms the job sleeps that long and the delay fires after a third
 * of it (the smoke test runs it short).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <weft/weft.h>

struct add {
    int a, b;
    long sleep_ms;
};

/* On a worker thread. */
static void slow_add(weft_job_t *job, void *arg)
{
    struct add *x = arg;
    struct timespec ts = {x->sleep_ms / 1000, (x->sleep_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    weft_job_return_int(job, x->a + x->b);
}

/* On the loop thread, once the job is done (or the loop stopped first). */
static void got_val(weft_future_t *f, int status, void *arg)
{
    weft_loop_t *loop = arg;
    if (status == 0 && weft_loop_on_thread(loop))
        printf("got val: %lld\n", (long long)weft_future_int(f));
    weft_loop_stop(loop);
}

static void still_running(weft_loop_t *loop, int status, void *arg)
{
    if (status == 0)
        printf("event loop still running...\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct add x = {4, 5, argc > 1 ? atol(argv[1]) : 3000};
    weft_loop_t *loop = weft_loop_new();
    weft_pool_t *pool = weft_pool_new(NULL);
    if (!loop || !pool) {
        fprintf(stderr, "loop-promise: %s\n", weft_strerror(-errno));
        return 1;
    }
    uint64_t delay_ms = argc > 1 ? (uint64_t)x.sleep_ms / 3 : 1000;
    int r = weft_loop_delay(loop, delay_ms, still_running, NULL, NULL);
    if (r == 0)
        r = weft_loop_work(loop, pool, slow_add, &x, got_val, loop);
    if (r < 0) {
        fprintf(stderr, "loop-promise: %s\n", weft_strerror(r));
        return 1;
    }
    weft_loop_run(loop);
    weft_pool_free(pool);
    weft_loop_free(loop);
    return 0;
}
