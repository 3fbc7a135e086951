/*
 * client.c - who the client is, behind proxies (weft_request_client).
 *
 * The rule, the one nginx's realip module follows with recursion on:
 *   1. Start from the nearest hop: the source address of the PROXY header
 *      on a listener configured for the PROXY protocol (TCP4 or TCP6; for
 *      UNKNOWN, the TCP peer), else the TCP peer.
 *   2. While that hop is a trusted proxy (weft_server_trust_proxies), step
 *      to the address it forwarded for: the next X-Forwarded-For entry,
 *      read from the right (the last header's last entry first, since each
 *      proxy appends). An entry that is not a bare IP address ("unknown",
 *      a port, garbage) stops the walk where it is.
 *   3. The client is the hop the walk stopped at: the right-most untrusted
 *      one, or the left-most entry if every hop was trusted.
 * So X-Forwarded-For is only believed as far as a chain of trusted hops
 * vouches for it, and without trusted proxies it is never read. Ports:
 * the PROXY header's or the peer's; an address from X-Forwarded-For has
 * port 0.
 *
 * Threading: the request's loop thread, once per request when its
 * exchange is created (only requests from a trusted hop read a header).
 */
#include <string.h>

#include "http/http-int.h"

#define MAX_HOPS 64 /* entries walked at most: the header is bounded anyway */

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* The walk over one X-Forwarded-For value, right to left: false once it
   must stop (an untrusted hop reached, a bad entry, too many hops). */
static bool walk_value(const struct weft__cidrs *trusted, const char *v, size_t len,
                       union weft__addr *hop, unsigned *hops)
{
    size_t end = len;
    for (;;) {
        size_t start = end;
        while (start > 0 && v[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && is_ows(v[a]))
            a++;
        while (b > a && is_ows(v[b - 1]))
            b--;
        union weft__addr next;
        if (++*hops > MAX_HOPS || weft__addr_parse(v + a, b - a, &next) < 0)
            return false;
        *hop = next;
        if (!weft__cidrs_match(trusted, &hop->sa))
            return false;
        if (start == 0)
            return true;
        end = start - 1;
    }
}

void weft__request_resolve_client(struct weft_request *r, const struct http_conn *c)
{
    const struct weft__cidrs *trusted = c->site->trusted;
    const union weft__addr *nearest = (c->flags & CF_PROXIED) ? &c->proxied : &c->peer;
    if (!weft__cidrs_match(trusted, &nearest->sa)) {
        r->has_client = (c->flags & CF_PROXIED) != 0;
        if (r->has_client)
            r->client = c->proxied;
        return;
    }
    union weft__addr hop = *nearest;
    unsigned hops = 0;
    const char *data = r->in->data;
    for (unsigned i = r->n_fields; i-- > 0;) {
        const struct field *f = &r->fields[i];
        weft_slice_t name = {data + f->name.off, f->name.len};
        if (weft_slice_ieq(name, "X-Forwarded-For") &&
            !walk_value(trusted, data + f->value.off, f->value.len, &hop, &hops))
            break;
    }
    r->client = hop;
    r->has_client = true;
}

const struct sockaddr *weft_request_client(const weft_request_t *r)
{
    return r->has_client ? &r->client.sa : &r->peer.sa;
}
