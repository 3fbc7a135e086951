/*
 * plugin-crash.c - a test plugin that crashes its process on purpose, the
 * way a bug in a handler would: GET /crash dereferences NULL on the loop
 * thread, GET /crash-job does it in a pool job. The worker-process tests
 * use it to see the master name the route in flight and replace the
 * worker.
 */
#include <signal.h>

#include "weft/weft.h"

static void crash_now(void)
{
    raise(SIGSEGV); /* what a stray pointer does, without the undefined behaviour */
}

static void crash(weft_request_t *req, weft_response_t *res, void *arg)
{
    crash_now();
}

static void crash_job(weft_job_t *job, void *arg)
{
    crash_now();
}

static void crash_in_job(weft_request_t *req, weft_response_t *res, void *arg)
{
    weft_offload(req, res, crash_job, NULL, NULL, NULL);
}

static int crash_init(weft_app_t *app, const char *config, void **state)
{
    int r = weft_app_route(app, "GET", "/crash", crash, NULL);
    return r ? r : weft_app_route(app, "GET", "/crash-job", crash_in_job, NULL);
}

static const weft_plugin_t crash_plugin = {
    .abi = WEFT_PLUGIN_ABI,
    .name = "crash",
    .version = "1.0.0",
    .init = crash_init,
};
WEFT_PLUGIN_DEFINE(crash_plugin)
