/*
 * params.c - what a handler reads beyond the raw request: route
 * parameters and query parameters, percent-decoded (RFC 3986 2.1) into the
 * request's arena, so the slices live as long as the request.
 */
#include <errno.h>
#include <string.h>

#include "app/app-int.h"

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

ssize_t weft_url_decode(weft_slice_t in, char *out, bool plus_is_space)
{
    size_t n = 0;
    for (size_t i = 0; i < in.len; i++) {
        char c = in.ptr[i];
        if (c == '%') {
            int hi = i + 2 < in.len ? hex(in.ptr[i + 1]) : -1;
            int lo = hi >= 0 ? hex(in.ptr[i + 2]) : -1;
            if (lo < 0 || (hi == 0 && lo == 0))
                return -EINVAL; /* a bad escape, or %00 */
            out[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[n++] = plus_is_space && c == '+' ? ' ' : c;
        }
    }
    return (ssize_t)n;
}

/* Decodes into the request's arena. */
static bool decode(weft_request_t *req, weft_slice_t raw, bool plus, weft_slice_t *out)
{
    char *buf = weft_request_alloc(req, raw.len + 1);
    if (!buf)
        return false;
    ssize_t n = weft_url_decode(raw, buf, plus);
    if (n < 0)
        return false;
    buf[n] = '\0';
    *out = (weft_slice_t){buf, (size_t)n};
    return true;
}

bool weft_request_param(weft_request_t *req, const char *name, weft_slice_t *value)
{
    struct app_req *ar = weft__app_req(req);
    for (unsigned i = 0; ar && i < ar->n_params; i++)
        if (!strcmp(ar->params[i].name, name))
            return decode(req, ar->params[i].raw, false, value);
    return false;
}

bool weft_request_query_param(weft_request_t *req, const char *name, weft_slice_t *value)
{
    weft_slice_t q = weft_request_query(req);
    const char *p = q.ptr, *end = q.ptr + q.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pair_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pair_end - p));
        weft_slice_t key_raw = {p, (size_t)((eq ? eq : pair_end) - p)}, key;
        if (key_raw.len && decode(req, key_raw, true, &key) && weft_slice_eq(key, name)) {
            weft_slice_t raw =
                eq ? (weft_slice_t){eq + 1, (size_t)(pair_end - eq - 1)} : (weft_slice_t){p, 0};
            return decode(req, raw, true, value);
        }
        p = pair_end + 1;
    }
    return false;
}
