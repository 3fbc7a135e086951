/*
 * plugin-hello.c - how to write a weft plugin: GET /hello/plugin answers
 * "hello from plugin-hello (N)", N counting this app's requests to it.
 *
 * Build it outside the tree (a plugin does not link libweft: the program
 * that loads it provides the weft_ functions):
 *
 *   cc -shared -fPIC -o plugin-hello.so plugin-hello.c $(pkg-config --cflags weft)
 *
 * and load it:
 *
 *   weft serve --plugin ./plugin-hello.so
 *   curl localhost:8080/hello/plugin
 *
 * or, from a program of your own, before serving the app:
 *
 *   weft_app_load_plugin(app, "./plugin-hello.so", NULL);
 *
 * The rules a plugin follows (docs/plugins.md):
 *   1. One exported entry, written by WEFT_PLUGIN_DEFINE, returning a
 *      static weft_plugin_t that starts with WEFT_PLUGIN_ABI.
 *   2. No per-app state in globals: the .so is mapped once per process,
 *      and two apps loading it would share them. init allocates the state,
 *      fini frees it.
 *   3. Routes and hooks get that state as their arg (borrowed for the
 *      app's life, which is the state's life too).
 *   4. A route runs on every loop serving the app at once: shared state is
 *      atomic or locked.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft/plugin.h>

/* This app's state: one per weft_app_load_plugin, never a global. */
struct hello {
    _Atomic unsigned long count;
};

static void hello_route(weft_request_t *req, weft_response_t *res, void *arg)
{
    struct hello *h = arg; /* the state init passed as the route's arg */
    unsigned long n = atomic_fetch_add(&h->count, 1) + 1;
    char text[64];
    int len = snprintf(text, sizeof(text), "hello from plugin-hello (%lu)\n", n);
    weft_response_send(res, text, (size_t)len);
}

/* init: make this app's state, then set the app up with it. */
static int hello_init(weft_app_t *app, const char *config, void **state)
{
    struct hello *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    int r = weft_app_route(app, "GET", "/hello/plugin", hello_route, h);
    if (r < 0) { /* say -EEXIST: the app has that route already */
        free(h);
        return r;
    }
    *state = h; /* handed back to fini */
    return 0;
}

/* fini: runs in weft_app_free, once nothing serves the app any more. */
static void hello_fini(weft_app_t *app, void *state)
{
    free(state);
}

static const weft_plugin_t hello_plugin = {
    .abi = WEFT_PLUGIN_ABI, /* refused by a weft built with another ABI */
    .name = "hello",        /* loaded once per app: a second load is -EEXIST */
    .version = "1.0.0",
    .init = hello_init,
    .fini = hello_fini,
};

/* Exports weft_plugin_entry(), which the loader looks up. */
WEFT_PLUGIN_DEFINE(hello_plugin)
