/*
 * proxy.c - the server's settings for running behind proxies: trusted
 * proxies (whose X-Forwarded-For is believed) and the listeners whose
 * connections start with a PROXY protocol header; their figures.
 *
 * Both settings live in each listener's http_site, which every loop reads
 * without locks once the server has started, so they can only change
 * before that. The trusted set belongs to the server (freed with it); the
 * sites point at it, and each change re-points them all (realloc moves it).
 *
 * Threading: the setters on the managing thread before start; the stats
 * from any thread.
 */
#include <errno.h>
#include <string.h>

#include "server/server-int.h"

int weft_server_trust_proxies(weft_server_t *srv, const char *cidrs)
{
    if (srv->started)
        return -EBUSY;
    int r = weft__cidrs_add(&srv->trusted, cidrs);
    if (r < 0)
        return r;
    for (struct listener *l = srv->listeners; l; l = l->next)
        l->site.trusted = srv->trusted;
    return 0;
}

int weft_server_listener_set_proxy_protocol(weft_server_t *srv, unsigned i, bool on)
{
    if (srv->started)
        return -EBUSY;
    struct listener *l = srv->listeners;
    for (; l && i > 0; l = l->next, i--)
        ;
    if (!l)
        return -ENOENT;
    l->site.proxy_protocol = on;
    return 0;
}

void weft_server_proxy_stats(weft_server_t *srv, weft_proxy_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < srv->threads; i++) {
        struct http_loop *hl = srv->loops[i];
        if (!hl || !hl->fig)
            continue;
        /* with worker processes: every worker's, from the shared slots */
        out->headers += weft__figures_sum(&srv->figures, &hl->fig->proxy_headers);
        out->rejected += weft__figures_sum(&srv->figures, &hl->fig->proxy_rejected);
    }
}
