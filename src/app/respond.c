/*
 * respond.c - answers an app commonly needs: a JSON text, a redirect.
 */
#include <errno.h>
#include <stdio.h>

#include "app/app-int.h"

int weft_response_json(weft_response_t *res, const char *json, size_t len)
{
    int r = weft_response_header(res, "Content-Type", "application/json");
    if (r < 0 && r != -EALREADY)
        return r;
    return weft_response_send(res, json, len);
}

int weft_response_redirect(weft_response_t *res, int status, const char *location)
{
    if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308)
        return -EINVAL;
    int r = weft_response_status(res, status);
    if (r == 0)
        r = weft_response_header(res, "Location", location);
    if (r < 0)
        return r;
    char body[64];
    int n = snprintf(body, sizeof(body), "%s\n", weft_http_reason(status));
    weft_response_header(res, "Content-Type", "text/plain; charset=utf-8");
    return weft_response_send(res, body, (size_t)n);
}
