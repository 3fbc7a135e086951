/* heartbeat.h - a beat every period while every loop of a server is alive
   (heartbeat.c): systemd's watchdog pings, a worker's "alive" to its
   master. */
#ifndef WEFT_APP_HEARTBEAT_H
#define WEFT_APP_HEARTBEAT_H

#include <stdint.h>

#include "weft/weft.h"

struct heartbeat;

/* A thread that, every period_ns, calls beat(arg) if each of the first
   `loops` loops of srv ran the post it sent the round before, then posts
   the next round. A loop stuck in a handler never runs its post: the
   beats stop until it returns. NULL on error (logged). beat runs on the
   heartbeat's thread. */
struct heartbeat *heartbeat_start(weft_server_t *srv, unsigned loops, int64_t period_ns,
                                  void (*beat)(void *arg), void *arg);

/* Stops and joins the thread; NULL is fine. Before the server is freed. */
void heartbeat_stop(struct heartbeat *hb);

#endif
