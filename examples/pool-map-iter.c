/*
 * pool-map-iter.c - Pike's map and iter as parallel loops: exp mapped over
 * 0..4 into an array, and 0..99 added into a shared total under a scoped
 * lock (4950).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <weft/weft.h>

static int exp_at(size_t i, void *arg)
{
    ((double *)arg)[i] = exp((double)i);
    return 0;
}

struct total {
    pthread_mutex_t mu;
    long sum;
};

static int add_at(size_t i, void *arg)
{
    struct total *t = arg;
    WEFT_SCOPED_LOCK(&t->mu); /* released at the end of this block */
    t->sum += (long)i;
    return 0;
}

int main(void)
{
    weft_pool_t *pool = weft_pool_new(NULL);
    if (!pool)
        return 1;
    double out[5];
    int r = weft_pool_for(pool, 5, exp_at, out);
    printf("map(exp, 0..4) = [%g, %.6g, %.6g, %.6g, %.6g] (%s)\n", out[0], out[1], out[2], out[3],
           out[4], weft_strerror(r));

    struct total t = {PTHREAD_MUTEX_INITIALIZER, 0};
    int s = weft_pool_for(pool, 100, add_at, &t);
    printf("iter(0..99) total = %ld (%s)\n", t.sum, weft_strerror(s));
    weft_pool_free(pool);
    return r == 0 && s == 0 && t.sum == 4950 && fabs(out[4] - 54.598150033144236) < 1e-9 ? 0 : 1;
}
