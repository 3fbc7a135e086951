/*
 * behind_proxy.c - the weft command behind a proxy (docs/deployment.md):
 * --trust-proxy CIDR[,CIDR] (repeatable) and --proxy-protocol, applied to
 * the server once its public listeners exist and before the admin one is
 * added, so the admin listener never expects a PROXY header (load balancers
 * check it directly).
 *
 * Each list is handed to the library one entry at a time, so a bad entry
 * is named on its own in the error line.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "behind_proxy.h"

static int trust_list(weft_server_t *srv, const char *list)
{
    char entry[128];
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        snprintf(entry, sizeof(entry), "%.*s", (int)len, p);
        int r = len < sizeof(entry) ? weft_server_trust_proxies(srv, entry) : -EINVAL;
        if (r < 0) {
            fprintf(stderr, "weft: --trust-proxy: not an IP address or CIDR range: '%.*s'\n",
                    (int)len, p);
            return 2;
        }
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

int behind_proxy_apply(weft_server_t *srv, const struct cli *cli)
{
    for (unsigned i = 0; i < cli->n_trust_proxy; i++) {
        int r = trust_list(srv, cli->trust_proxy[i]);
        if (r)
            return r;
    }
    for (unsigned i = 0; cli->proxy_protocol && weft_server_port(srv, i); i++)
        weft_server_listener_set_proxy_protocol(srv, i, true);
    return 0;
}
