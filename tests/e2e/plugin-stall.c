/*
 * plugin-stall.c - a test plugin that does what a handler must never do:
 * GET /stall?ms=N sleeps N ms on the loop thread (N <= 5000). The e2e
 * tests use it to see a stuck loop stop systemd's watchdog pings.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft/weft.h"

static void stall(weft_request_t *req, weft_response_t *res, void *arg)
{
    weft_slice_t v;
    char text[16] = "0";
    if (weft_request_query_param(req, "ms", &v) && v.len < sizeof(text)) {
        memcpy(text, v.ptr, v.len); /* a slice is not NUL-terminated */
        text[v.len] = '\0';
    }
    long ms = strtol(text, NULL, 10);
    if (ms < 0 || ms > 5000) {
        weft_response_send_error(res, 400, "ms must be 0..5000");
        return;
    }
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    weft_response_send(res, "stalled\n", 8);
}

static int stall_init(weft_app_t *app, const char *config, void **state)
{
    return weft_app_route(app, "GET", "/stall", stall, NULL);
}

static const weft_plugin_t stall_plugin = {
    .abi = WEFT_PLUGIN_ABI,
    .name = "stall",
    .version = "1.0.0",
    .init = stall_init,
};
WEFT_PLUGIN_DEFINE(stall_plugin)
