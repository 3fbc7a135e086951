/* Unit tests for the static file handler's HTTP rules (static-http.c):
   MIME types, entity tags, HTTP dates, If-None-Match, If-Range and Range
   parsing; and weft_app_static's set-up errors. The handler itself is
   driven end to end by tests/e2e/test_static.py through the weft binary. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/static-int.h"
#include "test-support.h"
#include "weft/app.h"

static weft_slice_t S(const char *s)
{
    return (weft_slice_t){s, strlen(s)};
}

static void test_mime(void **state)
{
    assert_string_equal(weft__mime_type("a/b.html", 8), "text/html; charset=utf-8");
    assert_string_equal(weft__mime_type("X.PNG", 5), "image/png");
    assert_string_equal(weft__mime_type("app.min.js", 10), "text/javascript; charset=utf-8");
    assert_string_equal(weft__mime_type("noext", 5), "application/octet-stream");
    assert_string_equal(weft__mime_type("dir.d/file", 10), "application/octet-stream");
    assert_string_equal(weft__mime_type("trailing.", 9), "application/octet-stream");
    assert_string_equal(weft__mime_type(".hidden", 7), "application/octet-stream");
    assert_string_equal(weft__mime_type("x.webmanifest", 13), "application/manifest+json");
    assert_string_equal(weft__mime_type("x.woff2", 7), "font/woff2");
}

static void test_etag_changes_with_the_file(void **state)
{
    struct stat a = {.st_ino = 10, .st_size = 100}, b = a, c = a, d = a;
    a.st_mtim.tv_sec = 1000;
    b.st_mtim.tv_sec = 1000;
    b.st_mtim.tv_nsec = 1; /* same second, a new write */
    c.st_mtim = a.st_mtim;
    c.st_ino = 11; /* renamed over, same size and time */
    d.st_mtim = a.st_mtim;
    d.st_size = 101;
    char ea[WEFT__ETAG_MAX], eb[WEFT__ETAG_MAX], ec[WEFT__ETAG_MAX], ed[WEFT__ETAG_MAX];
    size_t n = weft__etag(&a, ea);
    assert_true(n > 2 && ea[0] == '"' && ea[n - 1] == '"');
    weft__etag(&b, eb);
    weft__etag(&c, ec);
    weft__etag(&d, ed);
    assert_string_not_equal(ea, eb);
    assert_string_not_equal(ea, ec);
    assert_string_not_equal(ea, ed);
}

static void test_dates(void **state)
{
    char out[30];
    weft__http_date_format(784111777, out);
    assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
    time_t t = 0;
    assert_true(weft__http_date_parse(S("Sun, 06 Nov 1994 08:49:37 GMT"), &t));
    assert_int_equal(t, 784111777);
    t = 0;
    assert_true(weft__http_date_parse(S("Sunday, 06-Nov-94 08:49:37 GMT"), &t));
    assert_int_equal(t, 784111777);
    t = 0;
    assert_true(weft__http_date_parse(S("Sun Nov  6 08:49:37 1994"), &t));
    assert_int_equal(t, 784111777);
    const char *bad[] = {"",
                         "yesterday",
                         "Sun, 06 Nov 1994 08:49:37 UTC",
                         "Sun, 06 Foo 1994 08:49:37 GMT",
                         "Sun, 32 Nov 1994 08:49:37 GMT",
                         "Sun, 06 Nov 1994 24:49:37 GMT",
                         "Sun, 06 Nov 1994 08:49:37 GMT trailing"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(weft__http_date_parse(S(bad[i]), &t));
}

static void test_if_none_match(void **state)
{
    const char *tag = "\"abc\"";
    assert_true(weft__etag_list_matches(S("\"abc\""), tag, 5, false));
    assert_true(weft__etag_list_matches(S("W/\"abc\""), tag, 5, false));
    assert_true(weft__etag_list_matches(S("\"x\", \"y\",W/\"abc\""), tag, 5, false));
    assert_true(weft__etag_list_matches(S(" * "), tag, 5, false));
    assert_false(weft__etag_list_matches(S("\"abcd\""), tag, 5, false));
    assert_false(weft__etag_list_matches(S("abc"), tag, 5, false));
    assert_false(weft__etag_list_matches(S("\"ab"), tag, 5, false));
    assert_false(weft__etag_list_matches(S(""), tag, 5, false));
    /* If-Match: the strong comparison */
    assert_true(weft__etag_list_matches(S("\"abc\""), tag, 5, true));
    assert_true(weft__etag_list_matches(S("*"), tag, 5, true));
    assert_false(weft__etag_list_matches(S("W/\"abc\""), tag, 5, true));
    assert_true(weft__etag_list_matches(S("W/\"abc\", \"abc\""), tag, 5, true));
}

static void test_if_range(void **state)
{
    const char *tag = "\"abc\"";
    assert_true(weft__if_range_holds(S("\"abc\""), tag, 5, 0));
    assert_false(weft__if_range_holds(S("W/\"abc\""), tag, 5, 0)); /* strong comparison */
    assert_false(weft__if_range_holds(S("\"old\""), tag, 5, 0));
    assert_true(weft__if_range_holds(S("Sun, 06 Nov 1994 08:49:37 GMT"), tag, 5, 784111777));
    assert_false(weft__if_range_holds(S("Sun, 06 Nov 1994 08:49:38 GMT"), tag, 5, 784111777));
    assert_false(weft__if_range_holds(S("garbage"), tag, 5, 784111777));
}

static void expect_range(const char *v, uint64_t size, enum weft__range_kind kind, uint64_t first,
                         uint64_t len)
{
    uint64_t f = 777, l = 777;
    enum weft__range_kind k = weft__range_parse(S(v), size, &f, &l);
    if (k != kind)
        fail_msg("%s: kind %d, want %d", v, (int)k, (int)kind);
    if (kind == WEFT__RANGE_ONE && (f != first || l != len))
        fail_msg("%s: [%llu, +%llu), want [%llu, +%llu)", v, (unsigned long long)f,
                 (unsigned long long)l, (unsigned long long)first, (unsigned long long)len);
}

static void test_ranges(void **state)
{
    expect_range("bytes=0-4", 10, WEFT__RANGE_ONE, 0, 5);
    expect_range("bytes=5-", 10, WEFT__RANGE_ONE, 5, 5);
    expect_range("bytes=-3", 10, WEFT__RANGE_ONE, 7, 3);
    expect_range("bytes=-30", 10, WEFT__RANGE_ONE, 0, 10);
    expect_range("bytes=8-100", 10, WEFT__RANGE_ONE, 8, 2);
    expect_range("BYTES=9-9", 10, WEFT__RANGE_ONE, 9, 1);
    expect_range(" bytes=1-2 ", 10, WEFT__RANGE_ONE, 1, 2);
    expect_range("bytes=10-", 10, WEFT__RANGE_UNSATISFY, 0, 0);
    expect_range("bytes=-0", 10, WEFT__RANGE_UNSATISFY, 0, 0);
    expect_range("bytes=0-0", 0, WEFT__RANGE_UNSATISFY, 0, 0);
    expect_range("bytes=20-30, 40-50", 10, WEFT__RANGE_UNSATISFY, 0, 0);
    expect_range("bytes=0-1,3-4", 10, WEFT__RANGE_MANY, 0, 0);
    expect_range("bytes=0-1, 30-40", 10, WEFT__RANGE_MANY, 0, 0);
    expect_range("bytes=5-2", 10, WEFT__RANGE_NONE, 0, 0);
    expect_range("bytes=a-b", 10, WEFT__RANGE_NONE, 0, 0);
    expect_range("bytes=", 10, WEFT__RANGE_NONE, 0, 0);
    expect_range("bytes=-", 10, WEFT__RANGE_NONE, 0, 0);
    expect_range("bytes=1-2;", 10, WEFT__RANGE_NONE, 0, 0);
    expect_range("items=0-1", 10, WEFT__RANGE_NONE, 0, 0);
    expect_range("bytes=99999999999999999999-", 10, WEFT__RANGE_NONE, 0, 0);
    expect_range("bytes=0-18446744073709551615", 10, WEFT__RANGE_ONE, 0, 10);
}

static void test_set_up_errors(void **state)
{
    weft_app_t *app = weft_app_new();
    assert_non_null(app);
    assert_int_equal(weft_app_static(app, "/", "/nonexistent/weft", NULL), -ENOENT);
    char file[] = "/tmp/weft-static-XXXXXX";
    int fd = mkstemp(file);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(weft_app_static(app, "/", file, NULL), -ENOTDIR);
    unlink(file);
    assert_int_equal(weft_app_static(app, "assets", "/tmp", NULL), -EINVAL);
    weft_static_options_t bad_index = {.index = "../x.html"};
    assert_int_equal(weft_app_static(app, "/", "/tmp", &bad_index), -EINVAL);
    assert_int_equal(weft_app_static(app, "/assets/", "/tmp", NULL), 0);
    assert_int_equal(weft_app_static(app, "/assets", "/tmp", NULL), -EEXIST);
    assert_int_equal(weft_app_static(app, "/", "/tmp", NULL), 0);
    weft_app_freeze(app);
    assert_int_equal(weft_app_static(app, "/more", "/tmp", NULL), -EBUSY);
    weft_app_free(app); /* closes both directories (ASan/valgrind see leaks) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mime),          cmocka_unit_test(test_etag_changes_with_the_file),
        cmocka_unit_test(test_dates),         cmocka_unit_test(test_if_none_match),
        cmocka_unit_test(test_if_range),      cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_set_up_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
