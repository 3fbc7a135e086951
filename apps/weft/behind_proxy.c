/*
 * behind_proxy.c - the weft command behind a proxy (docs/deployment.md):
 * --trust-proxy CIDR[,CIDR] (repeatable) and --proxy-protocol.
 *
 * A --trust-proxy list is checked while the flags are parsed, before
 * anything starts (and in every process that parses them): each entry is
 * handed to the library on its own, on a scratch server, so a bad one is
 * named in the error line. The flags are applied to the real server once
 * its public listeners exist; the admin listener never expects a PROXY
 * header (load balancers check it directly).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "behind_proxy.h"

/* Hands each entry of list to weft_server_trust_proxies: 0, or the first
   error with *bad and *bad_len set to the entry. */
static int trust_each(weft_server_t *srv, const char *list, const char **bad, size_t *bad_len)
{
    char entry[128];
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        snprintf(entry, sizeof(entry), "%.*s", (int)len, p);
        int r = len < sizeof(entry) ? weft_server_trust_proxies(srv, entry) : -EINVAL;
        if (r < 0) {
            *bad = p;
            *bad_len = len;
            return r;
        }
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

int behind_proxy_check(const char *list)
{
    weft_server_t *scratch = weft_server_new(&(weft_server_options_t){.threads = 1});
    const char *bad = list;
    size_t bad_len = strlen(list);
    int r = scratch ? trust_each(scratch, list, &bad, &bad_len) : -ENOMEM;
    weft_server_free(scratch);
    if (r == -EINVAL)
        fprintf(stderr, "weft: --trust-proxy: not an IP address or CIDR range: '%.*s'\n",
                (int)bad_len, bad);
    else if (r < 0)
        fprintf(stderr, "weft: --trust-proxy: %s\n", weft_strerror(r));
    return r < 0 ? 2 : 0;
}

int behind_proxy_apply(weft_server_t *srv, const struct cli *cli, unsigned n_public)
{
    const char *bad;
    size_t bad_len;
    for (unsigned i = 0; i < cli->n_trust_proxy; i++) {
        int r = trust_each(srv, cli->trust_proxy[i], &bad, &bad_len);
        if (r < 0) { /* checked at parse time: out of memory */
            fprintf(stderr, "weft: --trust-proxy: %s\n", weft_strerror(r));
            return 2;
        }
    }
    for (unsigned i = 0; cli->proxy_protocol && i < n_public; i++)
        weft_server_listener_set_proxy_protocol(srv, i, true);
    return 0;
}
