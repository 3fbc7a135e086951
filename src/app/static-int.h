/*
 * static-int.h - the static file handler's pieces (weft_app_static):
 *
 *   static.c        the handler: the path, opening beneath DIR, what runs
 *                   on the pool, sending
 *   static-http.c   the HTTP rules for files, as pure functions: MIME
 *                   types, validators (ETag, Last-Modified), conditional
 *                   requests, byte ranges, HTTP dates
 *
 * The pure functions are internal (tests call them): nothing here touches
 * a request or a file descriptor.
 */
#ifndef WEFT_STATIC_INT_H
#define WEFT_STATIC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "error/base.h"
#include "weft/http.h"

/* "text/html; charset=utf-8" for "a/b.HTML": by the last extension, ASCII
   case ignored; "application/octet-stream" when unknown. */
const char *weft__mime_type(const char *path, size_t len) WEFT_INTERNAL;

/* A strong entity tag for a file: "inode-size-mtime" in hex, quoted.
   out holds at least WEFT__ETAG_MAX bytes; returns the length. */
#define WEFT__ETAG_MAX 64
size_t weft__etag(const struct stat *st, char *out) WEFT_INTERNAL;

/* An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", 29 bytes + NUL) for t,
   independent of the locale. out holds at least 30 bytes. */
void weft__http_date_format(time_t t, char *out) WEFT_INTERNAL;

/* Parse an HTTP-date in any of its three forms (IMF-fixdate, RFC 850,
   asctime): true and *t set, or false. */
bool weft__http_date_parse(weft_slice_t s, time_t *t) WEFT_INTERNAL;

/* If-None-Match (weak: W/ ignored on both sides) and If-Match (strong: a
   W/ tag never matches): true if the list, or "*", matches etag. */
bool weft__etag_list_matches(weft_slice_t list, const char *etag, size_t etag_len,
                             bool strong) WEFT_INTERNAL;

/* If-Range: true if the validator still holds, so the Range applies: an
   entity tag equal to etag by the strong comparison (never a W/ one), or a
   date equal to mtime. */
bool weft__if_range_holds(weft_slice_t value, const char *etag, size_t etag_len,
                          time_t mtime) WEFT_INTERNAL;

/* What a Range header asks of a representation of size bytes. */
enum weft__range_kind {
    WEFT__RANGE_NONE,     /* absent, malformed, or not bytes: the whole (200) */
    WEFT__RANGE_ONE,      /* one satisfiable range: 206 with [*first, *first + *len) */
    WEFT__RANGE_MANY,     /* several ranges: answered with the whole (200) */
    WEFT__RANGE_UNSATISFY /* none satisfiable: 416 */
};
enum weft__range_kind weft__range_parse(weft_slice_t value, uint64_t size, uint64_t *first,
                                        uint64_t *len) WEFT_INTERNAL;

#endif /* WEFT_STATIC_INT_H */
