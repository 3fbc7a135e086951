/*
 * weft/app.h - an application: what a server runs for the requests that
 * reach one of its listeners.
 *
 * An app is set up before serving (its handler, its user state) and is
 * frozen when a server starts serving it: from then on every loop reads it
 * without locks, and changing it fails with -EBUSY (Wookie's rule). The
 * same app may be served by many loops and listeners; different apps on
 * different ports share nothing.
 *
 * Thread-safety: set-up calls are not thread-safe (one thread, before
 * serving); once frozen, an app is read-only and safe on every loop.
 */
#ifndef WEFT_APP_H
#define WEFT_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "weft/error.h"
#include "weft/http.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_app weft_app_t;

/* weft_app_new - an empty app: every request gets 404 until a handler is
   set. NULL with errno ENOMEM. */
WEFT_API weft_app_t *weft_app_new(void);

/* weft_app_set_handler - the handler for every request the app's routes do
   not take (all of them, for an app without routes). arg is borrowed for
   the app's life. -EBUSY once frozen. */
WEFT_API int weft_app_set_handler(weft_app_t *app, weft_handler_fn fn, void *arg);

/* weft_app_set_state / weft_app_state - per-app user state, borrowed for the
   app's life; freed by the user after weft_app_free. set: -EBUSY once
   frozen. */
WEFT_API int weft_app_set_state(weft_app_t *app, void *state);
WEFT_API void *weft_app_state(const weft_app_t *app);

/* weft_app_freeze - freeze now (a server does it when it starts serving).
   Idempotent. */
WEFT_API void weft_app_freeze(weft_app_t *app);
WEFT_API bool weft_app_frozen(const weft_app_t *app);

/* weft_app_free - after every server serving it is freed. NULL is fine. */
WEFT_API void weft_app_free(weft_app_t *app);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_APP_H */
