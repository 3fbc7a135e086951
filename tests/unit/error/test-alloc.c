/* Unit tests for the allocator hook the out-of-memory sweeps rely on. */
#include <errno.h>
#include <stdlib.h>

#include "error/base.h"
#include "test-support.h"

static void disarmed_hook_allocates_normally(void **state)
{
    void *p = weft__malloc(16);
    assert_non_null(p);
    weft__free(p);
}

static void armed_hook_fails_from_the_nth_allocation_on(void **state)
{
    weft__alloc_fail_after(2);
    void *a = weft__malloc(8);
    void *b = weft__calloc(1, 8);
    errno = 0;
    void *c = weft__malloc(8);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(c);
    assert_int_equal(errno, ENOMEM);
    assert_null(weft__strdup("x"));
    assert_int_equal(weft__alloc_live(), 2);
    weft__free(a);
    weft__free(b);
    assert_int_equal(weft__alloc_live(), 0);
    weft__alloc_fail_after(-1);
}

static void realloc_of_null_counts_as_an_allocation(void **state)
{
    weft__alloc_fail_after(10);
    void *p = weft__realloc(NULL, 8);
    p = weft__realloc(p, 64);
    assert_int_equal(weft__alloc_live(), 1);
    weft__free(p);
    assert_int_equal(weft__alloc_live(), 0);
    weft__alloc_fail_after(-1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(disarmed_hook_allocates_normally),
        cmocka_unit_test(armed_hook_fails_from_the_nth_allocation_on),
        cmocka_unit_test(realloc_of_null_counts_as_an_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
