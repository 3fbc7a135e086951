/*
 * addr.c - IP addresses as text, and sets of CIDR ranges (the trusted
 * proxies of weft_server_trust_proxies).
 *
 * A set is one allocation: a count and an array of ranges, each the
 * address's bytes (4 or 16) with the bits past the prefix cleared, so a
 * match is a masked compare. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d,
 * what an IPv6 socket reports for an IPv4 client) are matched as the IPv4
 * address they carry. Sets are built before the server starts and read
 * without locks afterwards.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "http/proxy-int.h"

struct range {
    uint8_t len;  /* 4 or 16 bytes */
    uint8_t bits; /* prefix length */
    uint8_t addr[16];
};

struct weft__cidrs {
    size_t n;
    struct range r[];
};

int weft__addr_parse(const char *s, size_t len, union weft__addr *out)
{
    char text[INET6_ADDRSTRLEN];
    if (len == 0 || len >= sizeof(text))
        return -EINVAL;
    memcpy(text, s, len); /* inet_pton wants a C string; s may not be one */
    text[len] = '\0';
    if (memchr(text, '\0', len))
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, text, &out->in4.sin_addr) == 1) {
        out->in4.sin_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, &out->in6.sin6_addr) == 1) {
        out->in6.sin6_family = AF_INET6;
        return 0;
    }
    out->sa.sa_family = AF_UNSPEC;
    return -EINVAL;
}

/* The address bytes of sa, an IPv4-mapped IPv6 address as its IPv4 part:
   4 or 16, or 0 for another family. */
static size_t addr_bytes(const struct sockaddr *sa, const uint8_t **bytes)
{
    if (sa->sa_family == AF_INET) {
        *bytes = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        return 4;
    }
    if (sa->sa_family != AF_INET6)
        return 0;
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    *bytes = a6->s6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) {
        *bytes += 12;
        return 4;
    }
    return 16;
}

static void mask(struct range *r)
{
    for (unsigned i = 0; i < r->len; i++) {
        int keep = (int)r->bits - (int)i * 8; /* bits of byte i in the prefix */
        r->addr[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
    }
}

/* One entry, "a.b.c.d[/n]" or "v6[/n]", without surrounding spaces. */
static int parse_range(const char *s, size_t len, struct range *r)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    union weft__addr a;
    const uint8_t *bytes;
    if (weft__addr_parse(s, alen, &a) < 0)
        return -EINVAL;
    r->len = (uint8_t)addr_bytes(&a.sa, &bytes);
    memcpy(r->addr, bytes, r->len);
    r->bits = (uint8_t)(r->len * 8);
    if (slash) {
        const char *p = slash + 1, *end = s + len;
        unsigned bits = 0;
        if (p == end || end - p > 3)
            return -EINVAL;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9')
                return -EINVAL;
            bits = bits * 10 + (unsigned)(*p - '0');
        }
        /* A mapped address with a prefix: counted in IPv6 bits. */
        if (a.sa.sa_family == AF_INET6 && r->len == 4) {
            if (bits > 128 || bits < 96)
                return -EINVAL;
            bits -= 96;
        }
        if (bits > r->bits)
            return -EINVAL;
        r->bits = (uint8_t)bits;
    }
    mask(r);
    return 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Parses every entry of list into out (NULL: only counts). The count, or
   -EINVAL. */
static long parse_list(const char *list, struct range *out)
{
    long n = 0;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        while (p < end && is_space(*p))
            p++;
        const char *e = end;
        while (e > p && is_space(e[-1]))
            e--;
        struct range r;
        if (e == p || parse_range(p, (size_t)(e - p), &r) < 0)
            return -EINVAL;
        if (out)
            out[n] = r;
        n++;
        if (!comma)
            return n;
        p = comma + 1;
    }
}

int weft__cidrs_add(struct weft__cidrs **set, const char *list)
{
    if (!list)
        return -EINVAL;
    long n = parse_list(list, NULL);
    if (n < 0)
        return (int)n;
    size_t had = *set ? (*set)->n : 0;
    struct weft__cidrs *grown =
        weft__realloc(*set, sizeof(*grown) + (had + (size_t)n) * sizeof(struct range));
    if (!grown)
        return -ENOMEM;
    parse_list(list, grown->r + had);
    grown->n = had + (size_t)n;
    *set = grown;
    return 0;
}

bool weft__cidrs_match(const struct weft__cidrs *set, const struct sockaddr *sa)
{
    const uint8_t *bytes;
    size_t len = set ? addr_bytes(sa, &bytes) : 0;
    if (!len)
        return false;
    for (size_t i = 0; i < set->n; i++) {
        const struct range *r = &set->r[i];
        if (r->len != len)
            continue;
        struct range probe = {.len = r->len, .bits = r->bits};
        memcpy(probe.addr, bytes, len);
        mask(&probe);
        if (!memcmp(probe.addr, r->addr, len))
            return true;
    }
    return false;
}

void weft__cidrs_free(struct weft__cidrs *set)
{
    weft__free(set);
}
