/*
 * loop-notifier - a background job tells the event loop it is done
 * (cl-async's make-notifier / trigger-notifier example).
 *
 * A pool job computes a result on a worker thread, stores it, and triggers
 * a notifier; the notifier's callback runs on the loop thread, where it is
 * safe to touch loop-owned state, and prints the result.
 *
 *   $ ./loop-notifier
 *   Job finished! 42
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft/weft.h>

struct job {
    weft_notifier_t *done;
    int result; /* written by the worker before it triggers */
};

static void background(weft_job_t *job, void *arg)
{
    struct job *j = arg;
    j->result = 42; /* the work */
    weft_notifier_trigger(j->done);
}

/* On the loop thread: the trigger happened before, so result is visible. */
static void job_finished(void *arg)
{
    struct job *j = arg;
    printf("Job finished! %d\n", j->result);
    weft_notifier_free(j->done); /* the job triggers only once */
    weft_loop_stop(weft_loop_current());
}

int main(void)
{
    weft_loop_t *loop = weft_loop_new();
    weft_pool_t *pool = weft_pool_new(NULL);
    if (!loop || !pool) {
        fprintf(stderr, "loop-notifier: %s\n", weft_strerror(-errno));
        return 1;
    }
    struct job j = {0};
    j.done = weft_notifier_new(loop, job_finished, &j); /* before the loop runs */
    int r = j.done ? weft_pool_try_submit(pool, background, &j, NULL) : -errno;
    if (r < 0) {
        fprintf(stderr, "loop-notifier: %s\n", weft_strerror(r));
        return 1;
    }
    weft_loop_run(loop); /* until job_finished stops it */
    weft_pool_free(pool);
    weft_loop_free(loop);
    return 0;
}
