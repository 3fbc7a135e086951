/*
 * loop-errors - a failing job's error reaches the loop as a rejection
 * (cl-async's promise error-forwarding example).
 *
 * The job fails with an errno and a message; the continuation on the loop
 * sees the rejected future and prints its message and error.
 *
 *   $ ./loop-errors
 *   err: could not reach the database (Connection refused)
 */
#include <errno.h>
#include <stdio.h>

#include <weft/weft.h>

static void failing_job(weft_job_t *job, void *arg)
{
    weft_job_fail(job, -ECONNREFUSED, "could not reach the database");
}

static void on_result(weft_future_t *f, int status, void *arg)
{
    weft_loop_t *loop = arg;
    if (status == 0 && weft_future_state(f) == WEFT_FUTURE_REJECTED)
        printf("err: %s (%s)\n", weft_future_message(f), weft_strerror(weft_future_error(f)));
    else if (status == 0)
        printf("val: %lld\n", (long long)weft_future_int(f));
    weft_loop_stop(loop);
}

int main(void)
{
    weft_loop_t *loop = weft_loop_new();
    weft_pool_t *pool = weft_pool_new(NULL);
    if (!loop || !pool) {
        fprintf(stderr, "loop-errors: %s\n", weft_strerror(-errno));
        return 1;
    }
    int r = weft_loop_work(loop, pool, failing_job, NULL, on_result, loop);
    if (r < 0) {
        fprintf(stderr, "loop-errors: %s\n", weft_strerror(r));
        return 1;
    }
    weft_loop_run(loop);
    weft_pool_free(pool);
    weft_loop_free(loop);
    return 0;
}
