/*
 * proxy-int.h - weft behind a proxy: the client's address.
 *
 *   addr.c     IP addresses as text, and sets of CIDR ranges (the trusted
 *              proxies) matched against an address
 *   proxy.c    the PROXY protocol v1 header, parsed in the connection
 *              engine before the HTTP parser on listeners configured for it
 *   client.c   the client address rule (weft_request_client): the PROXY
 *              header's source, then X-Forwarded-For's right-most untrusted
 *              hop while the hop before it is a trusted proxy
 *
 * Threading: a CIDR set is built before the server starts and only read
 * afterwards (by every loop, without locks); the rest runs on the loop
 * thread of its connection.
 */
#ifndef WEFT_HTTP_PROXY_INT_H
#define WEFT_HTTP_PROXY_INT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "error/base.h"

struct http_conn;
struct http_loop;
struct weft_request;

/* An IPv4 or IPv6 socket address; sa_family AF_UNSPEC when none. */
union weft__addr {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
};

/* ---- addr.c ------------------------------------------------------------- */

/* Parses len bytes of s as a numeric IPv4 or IPv6 address (nothing else:
   no port, no brackets, no spaces) into *out with port 0. 0 or -EINVAL. */
int weft__addr_parse(const char *s, size_t len, union weft__addr *out) WEFT_INTERNAL;

/* A set of address ranges. NULL is the empty set. */
struct weft__cidrs;

/* Adds every range of list ("10.0.0.0/8, 127.0.0.1,::1/128": commas, with
   optional spaces around them; an address alone is a single host) to
   *set, growing it. Bits past the prefix are ignored (10.1.2.3/8 is
   10.0.0.0/8). All or nothing: -EINVAL (an empty list or entry, an entry
   that is not an address, a prefix length out of range) or -ENOMEM leave
   *set as it was. */
int weft__cidrs_add(struct weft__cidrs **set, const char *list) WEFT_INTERNAL;

/* Whether sa (AF_INET or AF_INET6; an IPv4-mapped IPv6 address counts as
   its IPv4 address) is in the set. false for NULL or another family. */
bool weft__cidrs_match(const struct weft__cidrs *set, const struct sockaddr *sa) WEFT_INTERNAL;

void weft__cidrs_free(struct weft__cidrs *set) WEFT_INTERNAL;

/* ---- proxy.c ------------------------------------------------------------ */

/* The longest v1 header, CRLF included (the specification's 107). */
#define WEFT__PROXY_V1_MAX 107

/*
 * Parses a PROXY protocol v1 header at the start of buf[0..len):
 *   "PROXY TCP4 <src> <dst> <sport> <dport>\r\n" (TCP6 likewise), or
 *   "PROXY UNKNOWN[ anything]\r\n".
 * Returns the header's length (> 0; *src holds the source address and
 * port, AF_UNSPEC for UNKNOWN), 0 when buf is a valid beginning of a
 * header that is not complete yet, or -EPROTO as soon as the bytes cannot
 * be one (a wrong first byte is enough: a header is never guessed). Strict:
 * single spaces, numeric addresses of the protocol's family, decimal ports
 * 0..65535 without leading zeros, printable ASCII only, CRLF within 107
 * bytes.
 */
int weft__proxy_v1_parse(const char *buf, size_t len, union weft__addr *src) WEFT_INTERNAL;

/* Whether buf begins like a PROXY header (on a listener not configured for
   one, such a line is a bad request, 400, not an unknown method). */
bool weft__proxy_v1_prefix(const char *buf, size_t len) WEFT_INTERNAL;

/* For a connection of a proxy-protocol listener that has not sent its
   header yet (CF_PROXY_WAIT), after a read: takes the header out of the
   read buffer. true when HTTP bytes may follow now; false while more of
   the header is needed, or when the connection was closed (a malformed
   header, or the client's end inside it: counted, logged once per
   episode). */
bool weft__conn_take_proxy(struct http_conn *c) WEFT_INTERNAL;

/* The head timer fired before the header was complete: counted if any
   byte of it came; the caller closes. */
void weft__proxy_timed_out(struct http_conn *c) WEFT_INTERNAL;

/* ---- client.c ----------------------------------------------------------- */

/* Works out r's client address (weft_request_client) from its connection
   and headers; at the exchange's creation. */
void weft__request_resolve_client(struct weft_request *r, const struct http_conn *c) WEFT_INTERNAL;

#endif /* WEFT_HTTP_PROXY_INT_H */
