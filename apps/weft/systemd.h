/* systemd.h - systemd's protocols, written by hand: notifications, the
   watchdog, socket activation. */
#ifndef WEFT_APP_SYSTEMD_H
#define WEFT_APP_SYSTEMD_H

#include "heartbeat.h"
#include "weft/weft.h"

/* Send state ("READY=1", "STOPPING=1"...) to $NOTIFY_SOCKET; 0 when the
   variable is unset (not under systemd), else 0 or -errno. */
int sd_notify_send(const char *state);

/* If $WATCHDOG_USEC is set (and $WATCHDOG_PID, when set, is ours), a
   heartbeat (heartbeat.h) sends WATCHDOG=1 every half period while every
   loop of srv answers: a stuck loop stops the pings and systemd restarts
   the service. NULL when not asked for, or on error (logged). Stop it
   with heartbeat_stop. */
struct heartbeat *sd_watchdog_start(weft_server_t *srv, unsigned loops);

/* Half of $WATCHDOG_USEC in ns when the watchdog is asked of this process
   ($WATCHDOG_PID unset or ours), else 0: how often to send WATCHDOG=1. */
int64_t sd_watchdog_half_ns(void);

/* Socket activation: the number of sockets passed from fd 3 on
   ($LISTEN_FDS, when $LISTEN_PID is this process), 0 when none; the
   variables are removed so children do not take them. */
int sd_listen_fds(void);

#endif
