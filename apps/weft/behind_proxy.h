/* behind_proxy.h - --trust-proxy and --proxy-protocol (behind_proxy.c). */
#ifndef WEFT_APP_BEHIND_PROXY_H
#define WEFT_APP_BEHIND_PROXY_H

#include "cli.h"

/* Checks a --trust-proxy list: 0, or 2 after one line on stderr naming
   the bad entry. */
int behind_proxy_check(const char *list);

/* Applies the flags to srv: the trusted proxies, and the PROXY protocol
   on its first n_public listeners (the public ones; not the admin one).
   0, or 2 after one line on stderr. */
int behind_proxy_apply(weft_server_t *srv, const struct cli *cli, unsigned n_public);

#endif
