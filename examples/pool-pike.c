/*
 * pool-pike.c - Pike's Async pool example, in C with weft.
 *
 * A pool of 4 workers; exp(10) is submitted and waited for; exp is mapped
 * over 0..4 with one job per element; then close blocks until every
 * worker has ended.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <weft/weft.h>

static void exp_job(weft_job_t *job, void *arg)
{
    weft_job_return_double(job, exp(*(const double *)arg));
}

int main(void)
{
    weft_pool_t *pool = weft_pool_new(&(weft_pool_options_t){.threads = 4, .name = "pike"});
    if (!pool) {
        perror("weft_pool_new");
        return 1;
    }

    double ten = 10;
    weft_future_t *f = weft_pool_submit(pool, exp_job, &ten);
    if (!f || weft_future_wait(f, -1) != 0 || weft_future_state(f) != WEFT_FUTURE_FULFILLED) {
        fprintf(stderr, "exp(10) failed: %s\n", weft_strerror(f ? weft_future_error(f) : -12));
        return 1;
    }
    printf("exp(10) = %.15g\n", weft_future_double(f));
    int ok = fabs(weft_future_double(f) - 22026.465794806718) < 1e-9;
    weft_future_unref(f);

    double in[5] = {0, 1, 2, 3, 4};
    weft_future_t *fs[5];
    for (int i = 0; i < 5; i++)
        fs[i] = weft_pool_submit(pool, exp_job, &in[i]);
    printf("map(exp, 0..4) =");
    for (int i = 0; i < 5; i++) {
        weft_future_wait(fs[i], -1);
        printf(" %.6g", weft_future_double(fs[i]));
        ok &= fabs(weft_future_double(fs[i]) - exp(i)) < 1e-12;
        weft_future_unref(fs[i]);
    }
    printf("\n");

    /* Blocks until every worker has ended (the queue is empty already). */
    int r = weft_pool_close(pool, -1);
    weft_pool_stats_t st;
    weft_pool_stats(pool, &st);
    printf("closed: %s, %u workers left, %llu jobs completed\n", weft_strerror(r), st.threads,
           (unsigned long long)st.completed);
    ok &= r == 0 && st.threads == 0 && st.completed == 6;
    weft_pool_free(pool);
    return ok ? 0 : 1;
}
