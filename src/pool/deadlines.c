/*
 * deadlines.c - the pool's jobs with a deadline, in a binary min-heap on
 * their absolute deadline, so the supervisor sleeps exactly until the
 * next one. Every function runs under the pool's ctl mutex. A job knows
 * its index in the heap (heap_index), so removing it when it ends early is
 * O(log n). A job is in the heap from submit until it ends or expires.
 */
#include <errno.h>

#include "pool/pool-int.h"

static void place(struct weft_pool *p, size_t i, struct job_record *job)
{
    p->deadlines[i] = job;
    job->heap_index = i;
}

static void sift_up(struct weft_pool *p, size_t i)
{
    struct job_record *job = p->deadlines[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (p->deadlines[parent]->deadline_ns <= job->deadline_ns)
            break;
        place(p, i, p->deadlines[parent]);
        i = parent;
    }
    place(p, i, job);
}

static void sift_down(struct weft_pool *p, size_t i)
{
    struct job_record *job = p->deadlines[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= p->n_deadlines)
            break;
        if (child + 1 < p->n_deadlines &&
            p->deadlines[child + 1]->deadline_ns < p->deadlines[child]->deadline_ns)
            child++;
        if (job->deadline_ns <= p->deadlines[child]->deadline_ns)
            break;
        place(p, i, p->deadlines[child]);
        i = child;
    }
    place(p, i, job);
}

int weft__deadline_add(struct weft_pool *p, struct job_record *job)
{
    if (p->n_deadlines == p->cap_deadlines) {
        size_t cap = p->cap_deadlines ? 2 * p->cap_deadlines : 16;
        struct job_record **d = weft__realloc(p->deadlines, cap * sizeof(*d));
        if (!d)
            return -ENOMEM;
        p->deadlines = d;
        p->cap_deadlines = cap;
    }
    p->deadlines[p->n_deadlines++] = job;
    sift_up(p, p->n_deadlines - 1);
    return 0;
}

void weft__deadline_remove(struct weft_pool *p, struct job_record *job)
{
    size_t i = job->heap_index;
    if (i == WEFT__NO_HEAP)
        return;
    WEFT_ASSERT(i < p->n_deadlines && p->deadlines[i] == job);
    job->heap_index = WEFT__NO_HEAP;
    struct job_record *last = p->deadlines[--p->n_deadlines];
    if (last == job)
        return;
    place(p, i, last);
    if (i > 0 && p->deadlines[(i - 1) / 2]->deadline_ns > last->deadline_ns)
        sift_up(p, i);
    else
        sift_down(p, i);
}

struct job_record *weft__deadline_peek(const struct weft_pool *p)
{
    return p->n_deadlines ? p->deadlines[0] : NULL;
}
