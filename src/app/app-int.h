/* app-int.h - the app's layout, shared with the server that serves it. */
#ifndef WEFT_APP_INT_H
#define WEFT_APP_INT_H

#include <stdbool.h>

#include "error/base.h"
#include "weft/app.h"

struct weft_app {
    weft_handler_fn handler;
    void *handler_arg;
    void *state;
    bool frozen;
};

/* The handler a server installs for an app's listeners (arg: the app). */
void weft__app_dispatch(weft_request_t *req, weft_response_t *res, void *arg) WEFT_INTERNAL;

#endif /* WEFT_APP_INT_H */
