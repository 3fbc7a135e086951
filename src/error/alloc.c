/*
 * alloc.c - every allocation of libweft, with a fault-injection hook.
 *
 * The hook costs one relaxed load per call when disarmed. Armed by a test,
 * it counts allocations and frees (weft__alloc_live) and makes every
 * allocation from the n-th on fail, so the out-of-memory sweep can check
 * that a constructor failing at any step returns a clean -ENOMEM/NULL and
 * leaves nothing allocated.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "error/base.h"

static atomic_bool armed;
static atomic_long countdown; /* allocations left before failing */
static atomic_long live;

void weft__alloc_fail_after(long n)
{
    if (n < 0) {
        atomic_store(&armed, false);
        return;
    }
    atomic_store(&countdown, n);
    atomic_store(&live, 0);
    atomic_store(&armed, true);
}

long weft__alloc_live(void)
{
    return atomic_load(&live);
}

/* Returns true when this allocation must fail. Relaxed is enough: the hook
   is armed before the code under test starts, by the same thread. */
static bool should_fail(void)
{
    if (weft_likely(!atomic_load_explicit(&armed, memory_order_relaxed)))
        return false;
    if (atomic_fetch_sub(&countdown, 1) <= 0) {
        errno = ENOMEM;
        return true;
    }
    return false;
}

static void *counted(void *p)
{
    if (p && atomic_load_explicit(&armed, memory_order_relaxed))
        atomic_fetch_add(&live, 1);
    return p;
}

void *weft__malloc(size_t size)
{
    return should_fail() ? NULL : counted(malloc(size));
}

void *weft__calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : counted(calloc(n, size));
}

void *weft__realloc(void *p, size_t size)
{
    if (should_fail())
        return NULL;
    void *q = realloc(p, size);
    /* realloc(NULL, n) is a new allocation; otherwise the count stays. */
    return p ? q : counted(q);
}

void *weft__calloc_aligned(size_t align, size_t size)
{
    void *p = NULL;
    if (should_fail() || posix_memalign(&p, align, size) != 0) {
        errno = ENOMEM;
        return NULL;
    }
    memset(p, 0, size);
    return counted(p);
}

void weft__free(void *p)
{
    if (p && atomic_load_explicit(&armed, memory_order_relaxed))
        atomic_fetch_sub(&live, 1);
    free(p);
}

char *weft__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = weft__malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}
