/*
 * strerror.c - weft_strerror: messages for negative (or positive) errno
 * values. glibc's strerrordesc_np returns static strings, so unlike
 * strerror(3) this is thread-safe for every input.
 */
#include <string.h>

#include "error/base.h"

const char *weft_strerror(int err)
{
    if (err == 0)
        return "Success";
    /* -INT_MIN overflows; it is no errno anyway. */
    int code = err < 0 ? (err == (-2147483647 - 1) ? 0 : -err) : err;
    const char *s = code ? strerrordesc_np(code) : NULL;
    return s ? s : "Unknown error";
}
