/*
 * app.c - an application: a handler and user state, frozen once served.
 *
 * A server calls weft__app_dispatch for every request that reaches one of
 * the app's listeners, on that connection's loop. Freezing (when a server
 * starts) makes the app read-only, so any number of loops read it without
 * locks; set-up calls afterwards fail with -EBUSY.
 */
#include <errno.h>

#include "app/app-int.h"

weft_app_t *weft_app_new(void)
{
    return weft__calloc(1, sizeof(struct weft_app));
}

int weft_app_set_handler(weft_app_t *app, weft_handler_fn fn, void *arg)
{
    if (app->frozen)
        return -EBUSY;
    app->handler = fn;
    app->handler_arg = arg;
    return 0;
}

int weft_app_set_state(weft_app_t *app, void *state)
{
    if (app->frozen)
        return -EBUSY;
    app->state = state;
    return 0;
}

void *weft_app_state(const weft_app_t *app)
{
    return app->state;
}

void weft_app_freeze(weft_app_t *app)
{
    app->frozen = true;
}

bool weft_app_frozen(const weft_app_t *app)
{
    return app->frozen;
}

void weft_app_free(weft_app_t *app)
{
    weft__free(app);
}

void weft__app_dispatch(weft_request_t *req, weft_response_t *res, void *arg)
{
    const struct weft_app *app = arg;
    if (app->handler)
        app->handler(req, res, app->handler_arg);
    else
        weft_response_send_error(res, 404, NULL);
}
