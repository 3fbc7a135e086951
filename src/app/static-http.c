/*
 * static-http.c - the HTTP rules a file server follows (RFC 9110), as pure
 * functions: MIME types by extension, validators, conditional requests,
 * byte ranges and HTTP dates. Nothing here depends on the locale (dates
 * are formatted and parsed by hand: strftime's day names follow
 * setlocale).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app/static-int.h"

/* ---- MIME types ------------------------------------------------------------ */

struct mime {
    const char *ext, *type;
};

/* Sorted by extension (bsearch). Text types say their charset, as nginx's
   charset directive would; the rest is what browsers need to render or
   run the file. */
static const struct mime mimes[] = {
    {"7z", "application/x-7z-compressed"},
    {"avif", "image/avif"},
    {"bin", "application/octet-stream"},
    {"bmp", "image/bmp"},
    {"css", "text/css; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"htm", "text/html; charset=utf-8"},
    {"html", "text/html; charset=utf-8"},
    {"ico", "image/vnd.microsoft.icon"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"md", "text/markdown; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"svg", "image/svg+xml"},
    {"tar", "application/x-tar"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain; charset=utf-8"},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json"},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xml", "application/xml"},
    {"zip", "application/zip"},
};

static int mime_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct mime *)elem)->ext);
}

const char *weft__mime_type(const char *path, size_t len)
{
    size_t dot = len;
    while (dot > 0 && path[dot - 1] != '.' && path[dot - 1] != '/')
        dot--;
    size_t ext_len = len - dot;
    if (dot == 0 || path[dot - 1] != '.' || ext_len == 0 || ext_len > 15)
        return "application/octet-stream";
    char ext[16];
    for (size_t i = 0; i < ext_len; i++) {
        char ch = path[dot + i];
        ext[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    ext[ext_len] = '\0';
    const struct mime *m =
        bsearch(ext, mimes, sizeof(mimes) / sizeof(mimes[0]), sizeof(mimes[0]), mime_cmp);
    return m ? m->type : "application/octet-stream";
}

/* ---- validators ------------------------------------------------------------ */

size_t weft__etag(const struct stat *st, char *out)
{
    /* The inode too: a deploy that renames a new file of the same size
       over the old one within a second must change the tag. */
    uint64_t mtime_ns = (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec;
    int n = snprintf(out, WEFT__ETAG_MAX, "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"",
                     (uint64_t)st->st_ino, (uint64_t)st->st_size, mtime_ns);
    return n > 0 ? (size_t)n : 0;
}

static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void weft__http_date_format(time_t t, char *out)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    char text[64]; /* roomy: the compiler cannot bound the fields */
    snprintf(text, sizeof(text), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
             tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
    memcpy(out, text, 29);
    out[29] = '\0';
}

static int month_index(const char *s)
{
    for (int i = 0; i < 12; i++)
        if (memcmp(s, months[i], 3) == 0)
            return i;
    return -1;
}

/* The three forms of RFC 9110 5.6.7, each with a fixed layout. */
bool weft__http_date_parse(weft_slice_t s, time_t *t)
{
    char buf[64], mon[4], tz[4], day[16];
    if (s.len == 0 || s.len >= sizeof(buf))
        return false;
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = '\0';
    struct tm tm = {0};
    int consumed = 0;
    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    if (sscanf(buf, "%3s, %2d %3s %4d %2d:%2d:%2d %3s%n", day, &tm.tm_mday, mon, &tm.tm_year,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, tz, &consumed) == 8 &&
        (size_t)consumed == s.len && strcmp(tz, "GMT") == 0)
        goto done;
    /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT (two-digit years: 19xx/20xx
       by the 50-year rule) */
    consumed = 0;
    if (sscanf(buf, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d %3s%n", day, &tm.tm_mday, mon,
               &tm.tm_year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, tz, &consumed) == 8 &&
        (size_t)consumed == s.len && strcmp(tz, "GMT") == 0) {
        tm.tm_year += tm.tm_year < 50 ? 2000 : 1900;
        goto done;
    }
    /* asctime: Sun Nov  6 08:49:37 1994 */
    consumed = 0;
    if (sscanf(buf, "%3s %3s %2d %2d:%2d:%2d %4d%n", day, mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &tm.tm_year, &consumed) == 7 &&
        (size_t)consumed == s.len)
        goto done;
    return false;
done:
    tm.tm_mon = month_index(mon);
    if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60 || tm.tm_year < 1900)
        return false;
    tm.tm_year -= 1900;
    *t = timegm(&tm);
    return *t != (time_t)-1;
}

/* ---- conditional requests -------------------------------------------------- */

static bool is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* The next entity tag of a list at *pos: its opaque part (quotes
   included) and whether it was weak; false at the end or on bad syntax. */
static bool next_etag(weft_slice_t list, size_t *pos, weft_slice_t *opaque, bool *weak)
{
    size_t i = *pos;
    while (i < list.len && (is_ows(list.ptr[i]) || list.ptr[i] == ','))
        i++;
    if (i == list.len)
        return false;
    *weak = list.len - i >= 2 && list.ptr[i] == 'W' && list.ptr[i + 1] == '/';
    if (*weak)
        i += 2;
    if (i == list.len || list.ptr[i] != '"')
        return false;
    const char *end = memchr(list.ptr + i + 1, '"', list.len - i - 1);
    if (!end)
        return false;
    *opaque = (weft_slice_t){list.ptr + i, (size_t)(end - list.ptr) - i + 1};
    *pos = (size_t)(end - list.ptr) + 1;
    return true;
}

static weft_slice_t trim(weft_slice_t s)
{
    while (s.len && is_ows(s.ptr[0]))
        s.ptr++, s.len--;
    while (s.len && is_ows(s.ptr[s.len - 1]))
        s.len--;
    return s;
}

bool weft__etag_list_matches(weft_slice_t list, const char *etag, size_t etag_len, bool strong)
{
    list = trim(list);
    if (list.len == 1 && list.ptr[0] == '*')
        return true;
    size_t pos = 0;
    weft_slice_t opaque;
    bool weak;
    while (next_etag(list, &pos, &opaque, &weak))
        if (!(strong && weak) && opaque.len == etag_len && memcmp(opaque.ptr, etag, etag_len) == 0)
            return true;
    return false;
}

bool weft__if_range_holds(weft_slice_t value, const char *etag, size_t etag_len, time_t mtime)
{
    value = trim(value);
    if (value.len && (value.ptr[0] == '"' || value.ptr[0] == 'W')) {
        size_t pos = 0;
        weft_slice_t opaque;
        bool weak;
        return next_etag(value, &pos, &opaque, &weak) && !weak && opaque.len == etag_len &&
               memcmp(opaque.ptr, etag, etag_len) == 0;
    }
    time_t t;
    return weft__http_date_parse(value, &t) && t == mtime;
}

/* ---- byte ranges ----------------------------------------------------------- */

/* Digits at *i as a number; false if none or on overflow. */
static bool parse_u64(weft_slice_t s, size_t *i, uint64_t *out)
{
    size_t start = *i;
    uint64_t v = 0;
    while (*i < s.len && s.ptr[*i] >= '0' && s.ptr[*i] <= '9') {
        unsigned d = (unsigned)(s.ptr[*i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        (*i)++;
    }
    *out = v;
    return *i > start;
}

/* One range-spec at *i ("a-b", "a-" or "-n"), resolved against size:
   1 satisfiable (*first, *len set), 0 unsatisfiable, -1 malformed. */
static int parse_spec(weft_slice_t s, size_t *i, uint64_t size, uint64_t *first, uint64_t *len)
{
    uint64_t a, b;
    if (*i < s.len && s.ptr[*i] == '-') { /* the last n bytes */
        (*i)++;
        if (!parse_u64(s, i, &b))
            return -1;
        if (b == 0 || size == 0)
            return 0;
        *len = b < size ? b : size;
        *first = size - *len;
        return 1;
    }
    if (!parse_u64(s, i, &a) || *i == s.len || s.ptr[(*i)++] != '-')
        return -1;
    bool open_end = !parse_u64(s, i, &b);
    if (!open_end && b < a)
        return -1;
    if (a >= size)
        return 0;
    uint64_t last = open_end || b >= size ? size - 1 : b;
    *first = a;
    *len = last - a + 1;
    return 1;
}

enum weft__range_kind weft__range_parse(weft_slice_t value, uint64_t size, uint64_t *first,
                                        uint64_t *len)
{
    value = trim(value);
    if (value.len < 6 || strncasecmp(value.ptr, "bytes=", 6) != 0)
        return WEFT__RANGE_NONE;
    size_t i = 6;
    unsigned specs = 0, satisfiable = 0;
    while (i < value.len) {
        while (i < value.len && is_ows(value.ptr[i]))
            i++;
        uint64_t f = 0, l = 0;
        int r = parse_spec(value, &i, size, &f, &l);
        if (r < 0)
            return WEFT__RANGE_NONE; /* a malformed Range is ignored */
        specs++;
        if (r == 1 && satisfiable++ == 0)
            *first = f, *len = l;
        while (i < value.len && is_ows(value.ptr[i]))
            i++;
        if (i < value.len && value.ptr[i++] != ',')
            return WEFT__RANGE_NONE;
    }
    if (specs == 0)
        return WEFT__RANGE_NONE;
    if (satisfiable == 0)
        return WEFT__RANGE_UNSATISFY;
    return specs == 1 ? WEFT__RANGE_ONE : WEFT__RANGE_MANY;
}
