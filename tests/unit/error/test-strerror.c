/* Unit tests for weft_strerror and the version. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "test-support.h"
#include "weft/error.h"

static void zero_is_success(void **state)
{
    assert_string_equal(weft_strerror(0), "Success");
}

static void either_sign_gives_the_same_text(void **state)
{
    assert_string_equal(weft_strerror(-EAGAIN), weft_strerror(EAGAIN));
    assert_string_equal(weft_strerror(-EPIPE), strerror(EPIPE));
    assert_string_equal(weft_strerror(-ETIMEDOUT), strerror(ETIMEDOUT));
}

static void unknown_codes_are_named_so(void **state)
{
    assert_string_equal(weft_strerror(-99999), "Unknown error");
    assert_string_equal(weft_strerror(INT_MIN), "Unknown error");
    assert_string_equal(weft_strerror(INT_MAX), "Unknown error");
}

static void version_matches_the_macros(void **state)
{
    char expect[32];
    snprintf(expect, sizeof(expect), "%d.%d.%d", WEFT_VERSION_MAJOR, WEFT_VERSION_MINOR,
             WEFT_VERSION_PATCH);
    assert_string_equal(weft_version_string(), expect);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(zero_is_success),
        cmocka_unit_test(either_sign_gives_the_same_text),
        cmocka_unit_test(unknown_codes_are_named_so),
        cmocka_unit_test(version_matches_the_macros),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
