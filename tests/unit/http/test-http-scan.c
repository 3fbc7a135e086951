/* Unit tests for weft's own head checks (what llhttp 8.1 lets through):
   the head scanner over raw bytes, fed whole and byte by byte. */
#include <stdlib.h>
#include <string.h>

#include "http/http-int.h"
#include "test-support.h"

static int scan(const char *head, bool bytewise)
{
    size_t len = strlen(head);
    struct inbuf *in = calloc(1, sizeof(*in) + len + 1);
    memcpy(in->data, head, len);
    in->end = len;
    in->scan_state = HS_LINE;
    int r = 0;
    if (bytewise) {
        for (size_t i = 1; i <= len && r == 0; i++)
            r = weft__scan_head(in, i);
    } else {
        r = weft__scan_head(in, len);
    }
    bool done = in->scan_state == HS_DONE;
    free(in);
    return r ? r : done ? 1 : 0;
}

static void expect(const char *head, int want)
{
    for (int bytewise = 0; bytewise < 2; bytewise++)
        if (scan(head, bytewise) != want)
            fail_msg("%s: wanted %d (%s)", head, want, bytewise ? "byte by byte" : "whole");
}

static void well_formed_heads_end_at_the_blank_line(void **state)
{
    expect("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1);
    expect("GET / HTTP/1.1\r\nHost: a\r\n", 0); /* not finished yet */
    expect("GET / HTTP/1.1\r\nHost: a\r\n\r\nbody\nwith\rbare bytes", 1);
}

static void bare_lf_and_cr_are_400(void **state)
{
    expect("GET / HTTP/1.1\nHost: a\r\n\r\n", 400);
    expect("GET / HTTP/1.1\r\nHost: a\n\r\n", 400);
    expect("GET / HTTP/1.1\rHost: a\r\n\r\n", 400);
    expect("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", 400);
}

static void obs_fold_and_empty_names_are_400(void **state)
{
    expect("GET / HTTP/1.1\r\nHost: a\r\n  folded\r\n\r\n", 400);
    expect("GET / HTTP/1.1\r\nHost: a\r\n\tfolded\r\n\r\n", 400);
    expect("GET / HTTP/1.1\r\n: empty\r\n\r\n", 400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(well_formed_heads_end_at_the_blank_line),
        cmocka_unit_test(bare_lf_and_cr_are_400),
        cmocka_unit_test(obs_fold_and_empty_names_are_400),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
