/*
 * work.c - weft_loop_work: cl-async's `work`, a pool job whose result comes
 * back to a loop.
 *
 * The job is submitted without blocking, so this is safe on a loop thread.
 * A reservation on the inbox brackets the submit: if the loop stops after
 * the check but before the continuation is attached, the job is already
 * accepted and cannot be taken back, so the record is attached anyway (as
 * orphaned, or queued as cancelled) and weft_loop_close waits until no
 * reservation is left before its final drain. A stop never calls `done`
 * while the job may still run: an orphaned record is delivered with
 * -ECANCELED by whoever settles the job's future.
 */
#include <errno.h>

#include "loop/loop-int.h"

int weft_loop_work(weft_loop_t *loop, weft_pool_t *pool, weft_job_fn fn, void *arg,
                   weft_then_fn done, void *done_arg)
{
    if (!loop || !pool || !fn || !done)
        return -EINVAL;
    struct weft__cont *c = weft__cont_new(loop->ib, done, done_arg, true);
    if (!c)
        return -ENOMEM;
    int r = weft__inbox_reserve(loop->ib);
    if (r < 0)
        goto out_discard;
    weft_job_options_t opts = {.nonblocking = true};
    weft_future_t *f = NULL;
    r = weft_pool_submit_ex(pool, fn, arg, &opts, &f);
    if (r < 0)
        goto out_unreserve;
    /* The submit's reference becomes then's own. A reserved attach never
       fails. */
    r = weft__cont_register(c, f, true);
    WEFT_ASSERT(r == 0);
    return 0;

out_unreserve:
    weft__inbox_unreserve(loop->ib);
out_discard:
    weft__cont_discard(c);
    return r;
}
