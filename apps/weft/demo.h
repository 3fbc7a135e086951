/* demo.h - the demo app of the weft command (demo.c). */
#ifndef WEFT_APP_DEMO_H
#define WEFT_APP_DEMO_H

#include <pthread.h>
#include <stdatomic.h>

#include "weft/weft.h"

/* What the demo's routes reach: the pool its jobs run on, the server
   whose figures /stats shows (set once the server exists), and the
   process pool its isolated jobs run on -- started by the first /isolated
   request, so its workers are spawned with the credentials the server
   serves with (after --user), never as the root that bound the port;
   free it with weft_procpool_free after the server. */
struct demo {
    weft_pool_t *pool;
    weft_server_t *srv;
    _Atomic(weft_procpool_t *) procs;
    pthread_mutex_t procs_lock; /* starting it */
};

/* Registers the demo's process-pool jobs (demo.fib, demo.crash): call
   first thing in main, before weft_procpool_child_main (procpool.h). */
void weft_demo_register_jobs(void);

/* A new demo app over d (borrowed for the app's life), or NULL with
   errno. */
weft_app_t *weft_demo_app_new(struct demo *d);

#endif
