/* behind_proxy.h - --trust-proxy and --proxy-protocol (behind_proxy.c). */
#ifndef WEFT_APP_BEHIND_PROXY_H
#define WEFT_APP_BEHIND_PROXY_H

#include "cli.h"

/* Applies the flags to srv, whose public listeners (and only those) are
   listening: the trusted proxies, and the PROXY protocol on every public
   listener. 0, or 2 after one line on stderr naming a bad CIDR. */
int behind_proxy_apply(weft_server_t *srv, const struct cli *cli);

#endif
