/* plugin-counter.c - a test plugin (test-plugin.c): GET /count answers
   "<config>:<n>", n counting this app's requests. Its state is per app, as
   weft/plugin.h asks: two apps loading it count apart. Config "fail" makes
   init fail after adding its route (the .so must stay mapped). */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/plugin.h>

struct counter {
    char label[32];
    _Atomic int n;
};

static void count_route(weft_request_t *req, weft_response_t *res, void *arg)
{
    struct counter *c = arg;
    char text[64];
    int len = snprintf(text, sizeof(text), "%s:%d", c->label, atomic_fetch_add(&c->n, 1) + 1);
    weft_response_send(res, text, (size_t)len);
}

static int counter_init(weft_app_t *app, const char *config, void **state)
{
    struct counter *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    snprintf(c->label, sizeof(c->label), "%s", config ? config : "");
    int r = weft_app_route(app, "GET", "/count", count_route, c);
    if (r == 0 && strcmp(c->label, "fail") == 0)
        r = -ENOTSUP;
    if (r < 0) {
        free(c); /* the route stays with a dangling arg: never served */
        return r;
    }
    *state = c;
    return 0;
}

static void counter_fini(weft_app_t *app, void *state)
{
    free(state);
}

static const weft_plugin_t counter = {WEFT_PLUGIN_ABI, "counter", "0.1", counter_init,
                                      counter_fini};
WEFT_PLUGIN_DEFINE(counter)
