/* status.h - the admin listener's live status page (status.c): /status
   and the /status.json it polls. */
#ifndef WEFT_APP_STATUS_H
#define WEFT_APP_STATUS_H

#include "admin.h"

/* Adds GET /status and GET /status.json over a (borrowed for the app's
   life) to app. 0 or -errno. One admin app per process. */
int status_routes(weft_app_t *app, struct admin *a);

#endif
