/* admin.h - the admin listener's app (--admin H:P): /healthz, /metrics. */
#ifndef WEFT_APP_ADMIN_H
#define WEFT_APP_ADMIN_H

#include <stdatomic.h>

#include "weft/weft.h"

struct admin {
    weft_server_t *srv;
    weft_pool_t *pool;
    weft_app_t *app;      /* the public app: its requests by route */
    atomic_bool draining; /* /healthz answers 503 from the first stop signal */
};

/* The admin app over a (its fields set; borrowed for the app's life).
   NULL with errno on failure. */
weft_app_t *admin_app_new(struct admin *a);

#endif
