/*
 * static.c - weft_app_static: the files under a directory, served so that
 * nothing outside it is ever reached and no file call stalls a loop.
 *
 * Confinement. The request path is decoded here, strictly: an encoded
 * slash, backslash or NUL, a control byte, or a "." or ".." segment is a
 * 404 before any system call. What remains is opened relative to the
 * directory with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): the
 * kernel refuses any resolution that would leave the directory (a symlink
 * to "/etc" or to "../..", an absolute link), atomically with the open,
 * so there is no window between a check and the use.
 *
 * Where blocking calls run. Looking a path up may read directory blocks
 * from disk, and so may reading a file; neither may happen on a loop.
 *   - The open is first tried on the loop with RESOLVE_CACHED: the kernel
 *     completes it only from the dentry cache, else says EAGAIN, and then
 *     the open runs on the app's pool.
 *   - fstat of an open file never waits for the disk (its inode is in
 *     memory), so it runs on the loop.
 *   - The body goes out with sendfile on the loop (zero-copy; the engine's
 *     weft_response_send_file) only when cachestat(2) says every page of
 *     the range is in the page cache. Otherwise a pool job reads the range
 *     first (which leaves it cached) and the loop sends it afterwards.
 *     A cold body above 8 MiB is not read whole first: it streams, a pool
 *     job reading 256 KiB at a time as the output drains.
 *     A body of up to 32 KiB is read on the loop with preadv2(RWF_NOWAIT),
 *     which fails instead of waiting, and goes out in the same write as
 *     the head; a short read falls back to the path above.
 *   - A directory listing reads the directory on the pool.
 * Without a pool (weft_app_set_pool) those steps run on the loop.
 *
 * A pool job owns its record (struct file_req) from submission: it hands
 * it back as its result, with a destructor, so a result nobody waits for
 * any more (the loop stopped) is still freed. The response is finished
 * only by the continuation, so the request outlives every job of its own.
 */
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "app/app-int.h"
#include "app/static-int.h"

#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif

#define WARM_CHUNK   (256 * 1024)      /* bytes a warming job reads per pread */
#define SMALL_BODY   (32 * 1024)       /* bodies up to this size are read, not sendfile'd */
#define STREAM_ABOVE (8 * 1024 * 1024) /* cold bodies above this stream from pool reads */
#define STREAM_CHUNK (256 * 1024)      /* bytes a pool read gives the stream at a time */
#define LISTING_MAX  10000             /* entries shown in a directory listing */

struct static_site {
    int root; /* O_PATH descriptor of the directory */
    size_t prefix_len;
    char *index; /* NULL: no index file */
    bool listing;
    uint32_t max_age_s;
};

struct file_req;

/* One request's file work. rel (NUL-terminated, relative to the root)
   lives at the end of the record. */
typedef void (*file_step_fn)(struct file_req *fr);

struct file_req {
    struct static_site *site;
    file_step_fn next; /* what the loop does once the job is done */
    weft_request_t *req;
    weft_response_t *res;
    int fd;
    int err; /* a job's failure (negative errno) */
    struct stat st;
    bool trailing_slash, is_index;
    uint64_t first, len; /* the body range */
    char *listing;       /* a job's HTML listing */
    size_t listing_len;
    char *chunk; /* a streamed body's buffer (STREAM_CHUNK), and its bytes */
    size_t chunk_len;
    uint64_t streamed; /* bytes of the range streamed so far */
    size_t rel_len;
    char rel[];
};

/* The kernel's cachestat(2) structures (Linux 6.5; glibc 2.36 has no
   wrapper and Debian 12's headers no definitions). */
struct cachestat_range {
    uint64_t off, len;
};
struct cachestat {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

static void serve_open(struct file_req *fr);
static void serve_path(struct file_req *fr);

/* ---- records ------------------------------------------------------------------ */

static void file_req_free(void *p)
{
    struct file_req *fr = p;
    if (fr->fd >= 0)
        close(fr->fd);
    free(fr->listing);
    free(fr->chunk);
    weft__free(fr);
}

/* Sends an error answer (or, once a streamed body began, closes the
   connection) and frees the record. */
static void fail(struct file_req *fr, int status)
{
    if (fr->chunk)
        weft_response_abort(fr->res);
    else
        weft_response_send_error(fr->res, status, NULL);
    file_req_free(fr);
}

/* ---- the path -------------------------------------------------------------------- */

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char)(ch | 0x20);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Appends one decoded segment to out; false if it is not allowed. */
static bool add_segment(const char *seg, size_t n, char *out, size_t *olen)
{
    if (n == 0)
        return true; /* "//": nothing */
    if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
        return false;
    if (*olen)
        out[(*olen)++] = '/';
    memcpy(out + *olen, seg, n);
    *olen += n;
    return true;
}

/* Decodes the path after the route's prefix into out (at least raw.len + 2
   bytes): segments joined by '/', "." for the directory itself. false for
   anything that could name a file by a second spelling or leave the
   directory. */
static bool decode_path(weft_slice_t raw, char *out, size_t *olen)
{
    char seg[256 * 3];
    size_t n = 0;
    *olen = 0;
    for (size_t i = 0; i <= raw.len; i++) {
        if (i == raw.len || raw.ptr[i] == '/') {
            if (!add_segment(seg, n, out, olen))
                return false;
            n = 0;
            continue;
        }
        int ch = (unsigned char)raw.ptr[i];
        if (ch == '%') {
            int hi = i + 2 < raw.len ? hex_value(raw.ptr[i + 1]) : -1;
            int lo = hi >= 0 ? hex_value(raw.ptr[i + 2]) : -1;
            if (lo < 0)
                return false;
            ch = hi * 16 + lo;
            i += 2;
            if (ch == '/')
                return false; /* an encoded slash names nothing here */
        }
        if (ch < 0x20 || ch == 0x7f || ch == '\\' || n == sizeof(seg) - 1)
            return false;
        seg[n++] = (char)ch;
    }
    if (*olen == 0)
        out[(*olen)++] = '.';
    out[*olen] = '\0';
    return true;
}

/* ---- opening beneath the root ------------------------------------------------- */

static int open_beneath(int root, const char *rel, bool cached_only)
{
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, /* a FIFO must not block */
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | (cached_only ? RESOLVE_CACHED : 0),
    };
    long fd = syscall(SYS_openat2, root, rel, &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

/* The answer for a failed open. */
static int open_status(int err)
{
    return err == -EACCES || err == -EPERM ? 403 : err == -EMFILE || err == -ENFILE ? 503 : 404;
}

/* ---- pool jobs ------------------------------------------------------------------ */

/* A job's end: the record goes back with the result (without a pool the
   job ran inline, and the caller still holds it). */
static void job_return(weft_job_t *job, struct file_req *fr)
{
    if (job)
        weft_job_return_ptr(job, fr, file_req_free);
}

static void job_open(weft_job_t *job, void *arg)
{
    struct file_req *fr = arg;
    fr->fd = open_beneath(fr->site->root, fr->rel, false);
    if (fr->fd < 0)
        fr->err = fr->fd;
    else if (fstat(fr->fd, &fr->st) < 0)
        fr->err = -errno;
    job_return(job, fr);
}

/* Reads the body's range once, so that sendfile on the loop finds it in
   the page cache. */
static void job_warm(weft_job_t *job, void *arg)
{
    struct file_req *fr = arg;
    char *buf = malloc(WARM_CHUNK);
    fr->err = buf ? 0 : -ENOMEM;
    for (uint64_t done = 0; buf && done < fr->len;) {
        size_t want = fr->len - done < WARM_CHUNK ? (size_t)(fr->len - done) : WARM_CHUNK;
        ssize_t n = pread(fr->fd, buf, want, (off_t)(fr->first + done));
        if (n <= 0) {
            fr->err = n < 0 && errno != EINTR ? -errno : n == 0 ? -EIO : 0;
            if (fr->err)
                break;
            continue;
        }
        done += (uint64_t)n;
    }
    free(buf);
    job_return(job, fr);
}

static void job_listing(weft_job_t *job, void *arg);

/* A job that never ran (pool full or closed): the record is still ours. */
static void job_refused(struct file_req *fr, int err)
{
    if (err == -EAGAIN)
        weft_response_header(fr->res, "Retry-After", "1");
    fail(fr, 503);
}

/* The continuation of every job, back on the request's loop. arg is the
   record, but it is ours again only through the future: a job that ran
   handed it back as its result. */
static void job_done(weft_future_t *f, int status, void *arg)
{
    if (status < 0)
        return; /* the loop stopped: the result's destructor frees the record
                   (one whose job never runs is lost: the process is stopping) */
    if (weft_future_state(f) != WEFT_FUTURE_FULFILLED) {
        job_refused(arg, weft_future_error(f)); /* rejected before it ran */
        return;
    }
    struct file_req *fr = weft_future_take_ptr(f);
    fr->next(fr);
}

/* Runs fn(fr) on the app's pool and next(fr) on the loop afterwards; on
   the loop itself when the app has no pool. */
static void run_job(struct file_req *fr, weft_job_fn fn, file_step_fn next)
{
    weft_pool_t *pool = weft_app_pool(weft_request_app(fr->req));
    if (!pool) {
        fn(NULL, fr);
        next(fr);
        return;
    }
    fr->next = next;
    /* No deadline: a job abandoned at one would still hold the record. */
    weft_job_options_t opts = {.deadline_ms = -1, .nonblocking = true};
    weft_future_t *f = NULL;
    int r = weft_pool_submit_ex(pool, fn, fr, &opts, &f);
    if (r < 0) {
        job_refused(fr, r);
        return;
    }
    r = weft_future_then(f, weft_request_loop(fr->req), job_done, fr);
    weft_future_unref(f);
    if (r < 0)
        weft_log(WEFT_LOG_ERROR, "static: continuing a file job: %s", weft_strerror(r));
}

/* ---- answering ----------------------------------------------------------------- */

/* Whether every page of [first, first + len) is in the page cache. */
static bool range_cached(int fd, uint64_t first, uint64_t len)
{
    static atomic_bool unsupported; /* kernels before 6.5 */
    if (atomic_load_explicit(&unsupported, memory_order_relaxed))
        return false;
    long page = sysconf(_SC_PAGESIZE);
    struct cachestat_range range = {first, len};
    struct cachestat cs;
    if (syscall(SYS_cachestat, fd, &range, &cs, 0) < 0) {
        if (errno == ENOSYS)
            atomic_store_explicit(&unsupported, true, memory_order_relaxed);
        return false;
    }
    uint64_t pages = (first + len + (uint64_t)page - 1) / (uint64_t)page - first / (uint64_t)page;
    return cs.nr_cache >= pages;
}

static void send_body(struct file_req *fr)
{
    if (fr->err) {
        fail(fr, 500);
        return;
    }
    int fd = fr->fd;
    fr->fd = -1; /* the engine's now */
    weft_response_send_file(fr->res, fd, fr->first, fr->len);
    file_req_free(fr);
}

/* A small body is read into the loop's stack with RWF_NOWAIT (which fails
   rather than wait for the disk) and joins the head in one write: one
   system call instead of cachestat + sendfile. false when some page is not
   cached (or the file system cannot say): then the general path runs. */
static bool send_small(struct file_req *fr)
{
    char buf[SMALL_BODY];
    struct iovec iov = {buf, (size_t)fr->len};
    ssize_t n = preadv2(fr->fd, &iov, 1, (off_t)fr->first, RWF_NOWAIT);
    if (n != (ssize_t)fr->len)
        return false;
    weft_response_send(fr->res, buf, (size_t)fr->len);
    file_req_free(fr);
    return true;
}

/* ---- large cold bodies: pooled buffers -------------------------------------- */

/* A cold body too large to read in one go before sending (it could evict
   itself, and would hold the client until it is all read) streams: a pool
   job reads STREAM_CHUNK bytes into the record's buffer, the loop queues
   them (weft_response_write), and the next read starts once the output
   drains. Memory per stream: one chunk plus the connection's queue. */
static void stream_next(struct file_req *fr);

static void job_read_chunk(weft_job_t *job, void *arg)
{
    struct file_req *fr = arg;
    uint64_t left = fr->len - fr->streamed;
    size_t want = left < STREAM_CHUNK ? (size_t)left : STREAM_CHUNK;
    fr->chunk_len = 0;
    while (fr->chunk_len < want && !fr->err) {
        ssize_t n = pread(fr->fd, fr->chunk + fr->chunk_len, want - fr->chunk_len,
                          (off_t)(fr->first + fr->streamed + fr->chunk_len));
        if (n > 0)
            fr->chunk_len += (size_t)n;
        else if (n == 0 || errno != EINTR)
            fr->err = n == 0 ? -EIO : -errno; /* shrank under us, or a read error */
    }
    job_return(job, fr);
}

static void stream_drained(weft_response_t *res, void *arg)
{
    struct file_req *fr = arg;
    if (weft_response_client_gone(res))
        fail(fr, 0);
    else
        stream_next(fr);
}

static void stream_write(struct file_req *fr)
{
    if (fr->err) {
        fail(fr, 0); /* the head is out: the connection closes short */
        return;
    }
    int r = weft_response_write(fr->res, fr->chunk, fr->chunk_len);
    fr->streamed += fr->chunk_len;
    if (r == 1)
        r = weft_response_on_drain(fr->res, stream_drained, fr);
    else if (r == 0)
        stream_next(fr);
    if (r < 0)
        fail(fr, 0);
}

static void stream_next(struct file_req *fr)
{
    if (fr->streamed == fr->len) {
        weft_response_end(fr->res);
        file_req_free(fr);
        return;
    }
    run_job(fr, job_read_chunk, stream_write);
}

static void stream_begin(struct file_req *fr)
{
    fr->chunk = malloc(STREAM_CHUNK);
    if (!fr->chunk) {
        fail(fr, 503);
        return;
    }
    if (weft_response_begin(fr->res, (int64_t)fr->len) < 0) {
        fail(fr, 0);
        return;
    }
    stream_next(fr);
}

static void add_validators(struct file_req *fr, const char *etag)
{
    char date[32], cc[40];
    weft__http_date_format(fr->st.st_mtim.tv_sec, date);
    weft_response_header(fr->res, "ETag", etag);
    weft_response_header(fr->res, "Last-Modified", date);
    if (fr->site->max_age_s) {
        snprintf(cc, sizeof(cc), "max-age=%u", (unsigned)fr->site->max_age_s);
        weft_response_header(fr->res, "Cache-Control", cc);
    }
}

/* If-Match, else If-Unmodified-Since (RFC 9110 13.2.2): true when the
   client's precondition fails (412: it meant to act on another version). */
static bool precondition_failed(struct file_req *fr, const char *etag, size_t etag_len)
{
    weft_slice_t v;
    if (weft_request_header(fr->req, "If-Match", &v))
        return !weft__etag_list_matches(v, etag, etag_len, true);
    time_t since;
    return weft_request_header(fr->req, "If-Unmodified-Since", &v) &&
           weft__http_date_parse(v, &since) && fr->st.st_mtim.tv_sec > since;
}

/* If-None-Match, else If-Modified-Since (RFC 9110 13.2.2): true when the
   client's copy is current. */
static bool not_modified(struct file_req *fr, const char *etag, size_t etag_len)
{
    weft_slice_t v;
    if (weft_request_header(fr->req, "If-None-Match", &v))
        return weft__etag_list_matches(v, etag, etag_len, false);
    time_t since;
    return weft_request_header(fr->req, "If-Modified-Since", &v) &&
           weft__http_date_parse(v, &since) && fr->st.st_mtim.tv_sec <= since;
}

/* Chooses the body's range (and the status for it); false when answered
   already (416). */
static bool choose_range(struct file_req *fr, const char *etag, size_t etag_len)
{
    uint64_t size = (uint64_t)fr->st.st_size;
    fr->first = 0;
    fr->len = size;
    weft_slice_t v, ir;
    if (!weft_request_header(fr->req, "Range", &v) ||
        !weft_slice_eq(weft_request_method(fr->req), "GET"))
        return true;
    if (weft_request_header(fr->req, "If-Range", &ir) &&
        !weft__if_range_holds(ir, etag, etag_len, fr->st.st_mtim.tv_sec))
        return true;
    char cr[64];
    uint64_t first, len;
    switch (weft__range_parse(v, size, &first, &len)) {
    case WEFT__RANGE_ONE:
        snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)first,
                 (unsigned long long)(first + len - 1), (unsigned long long)size);
        weft_response_status(fr->res, 206);
        weft_response_header(fr->res, "Content-Range", cr);
        fr->first = first;
        fr->len = len;
        return true;
    case WEFT__RANGE_UNSATISFY:
        snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)size);
        weft_response_header(fr->res, "Content-Range", cr);
        fail(fr, 416);
        return false;
    default: /* none, malformed, or several: the whole file */
        return true;
    }
}

static void serve_file(struct file_req *fr)
{
    char etag[WEFT__ETAG_MAX];
    size_t etag_len = weft__etag(&fr->st, etag);
    add_validators(fr, etag);
    if (precondition_failed(fr, etag, etag_len)) {
        fail(fr, 412);
        return;
    }
    if (not_modified(fr, etag, etag_len)) {
        weft_response_status(fr->res, 304);
        weft_response_send(fr->res, NULL, 0);
        file_req_free(fr);
        return;
    }
    weft_response_header(fr->res, "Accept-Ranges", "bytes");
    weft_response_header(fr->res, "Content-Type", weft__mime_type(fr->rel, strlen(fr->rel)));
    if (!choose_range(fr, etag, etag_len))
        return;
    bool head = weft_slice_eq(weft_request_method(fr->req), "HEAD");
    if (!head && fr->len <= SMALL_BODY && send_small(fr))
        return;
    if (head || fr->len == 0 || range_cached(fr->fd, fr->first, fr->len))
        send_body(fr);
    else if (fr->len > STREAM_ABOVE)
        stream_begin(fr);
    else
        run_job(fr, job_warm, send_body);
}

/* ---- directories --------------------------------------------------------------- */

/* "/docs" names a directory: send the client to "/docs/" so that its
   relative links resolve inside it. */
static void redirect_to_slash(struct file_req *fr)
{
    weft_slice_t path = weft_request_path(fr->req), query = weft_request_query(fr->req);
    size_t n = path.len + 2 + query.len + 1;
    char *loc = weft_request_alloc(fr->req, n);
    if (!loc) {
        fail(fr, 500);
        return;
    }
    snprintf(loc, n, "%.*s/%s%.*s", (int)path.len, path.ptr, query.len ? "?" : "", (int)query.len,
             query.ptr);
    weft_response_redirect(fr->res, 301, loc);
    file_req_free(fr);
}

/* A growing text buffer for the listing; its error sticks. */
struct text {
    char *p;
    size_t len, cap;
    bool failed;
};

static void text_add(struct text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap < t->len + n)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->failed = true;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
}

static void text_str(struct text *t, const char *s)
{
    text_add(t, s, strlen(s));
}

/* name as HTML text, or (as_href) percent-encoded for a relative link. */
static void text_name(struct text *t, const char *name, size_t len, bool as_href)
{
    for (const unsigned char *c = (const unsigned char *)name;
         c < (const unsigned char *)name + len; c++) {
        char esc[8];
        bool plain = as_href ? (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                                   (*c >= '0' && *c <= '9') || strchr("-._~", *c)
                             : !strchr("&<>\"'", *c);
        if (plain)
            text_add(t, (const char *)c, 1);
        else
            text_add(t, esc, (size_t)snprintf(esc, sizeof(esc), as_href ? "%%%02X" : "&#%d;", *c));
    }
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the directory, sorted, directories with a trailing '/';
   at most LISTING_MAX. NULL with *err on failure. */
static char **read_names(int dirfd, size_t *count, int *err)
{
    DIR *d = fdopendir(dirfd);
    if (!d) {
        *err = -errno;
        close(dirfd);
        return NULL;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; n < LISTING_MAX && (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        bool dir =
            e->d_type == DT_DIR || (e->d_type == DT_UNKNOWN &&
                                    fstatat(dirfd, e->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode));
        if (n == cap) {
            char **grown = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));
            if (!grown)
                break;
            names = grown;
        }
        size_t len = strlen(e->d_name);
        if (!(names[n] = malloc(len + 2)))
            break;
        memcpy(names[n], e->d_name, len);
        strcpy(names[n++] + len, dir ? "/" : "");
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), name_cmp);
    *count = n;
    return names;
}

/* Reads the directory fr->rel and writes its listing (on the pool). */
static void job_listing(weft_job_t *job, void *arg)
{
    struct file_req *fr = arg;
    int fd = open_beneath(fr->site->root, fr->rel, false), err = 0;
    size_t n = 0;
    char **names = fd >= 0 ? read_names(fd, &n, &err) : NULL;
    fr->err = fd < 0 ? fd : err;
    struct text t = {0};
    text_str(&t, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index</title>"
                 "</head>\n<body><h1>Index</h1>\n<ul>\n");
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        bool dir = names[i][len - 1] == '/'; /* the mark read_names added */
        text_str(&t, "<li><a href=\"");
        text_name(&t, names[i], len - dir, true);
        text_str(&t, dir ? "/\">" : "\">");
        text_name(&t, names[i], len, false);
        text_str(&t, "</a></li>\n");
        free(names[i]);
    }
    free(names);
    text_str(&t, "</ul>\n</body></html>\n");
    if (t.failed && !fr->err)
        fr->err = -ENOMEM;
    fr->listing = t.p;
    fr->listing_len = t.len;
    job_return(job, fr);
}

static void send_listing(struct file_req *fr)
{
    if (fr->err) {
        fail(fr, open_status(fr->err));
        return;
    }
    weft_response_header(fr->res, "Content-Type", "text/html; charset=utf-8");
    weft_response_send(fr->res, fr->listing, fr->listing_len);
    file_req_free(fr);
}

/* The directory at fr->rel has no index: a listing if asked for, else 404. */
static void serve_dir_without_index(struct file_req *fr)
{
    if (fr->fd >= 0)
        close(fr->fd);
    fr->fd = -1;
    if (!fr->site->listing) {
        fail(fr, 404);
        return;
    }
    fr->rel[fr->rel_len] = '\0'; /* drop the index name again */
    run_job(fr, job_listing, send_listing);
}

/* A directory: its index (rel + "/" + index, opened like any file), or
   what serve_dir_without_index says. */
static void serve_dir(struct file_req *fr)
{
    if (!fr->trailing_slash) {
        redirect_to_slash(fr);
        return;
    }
    fr->is_index = true;
    if (!fr->site->index) {
        serve_dir_without_index(fr);
        return;
    }
    close(fr->fd);
    fr->fd = -1;
    /* rel has room for "/" and the index name (see static_handler). */
    fr->rel[fr->rel_len] = '/';
    strcpy(fr->rel + fr->rel_len + 1, fr->site->index);
    serve_path(fr);
}

/* ---- the flow ------------------------------------------------------------------ */

/* fr->fd is open (or fr->err says why not) and fr->st filled. */
static void serve_open(struct file_req *fr)
{
    if (fr->err) {
        if (fr->is_index && (fr->err == -ENOENT || fr->err == -ENOTDIR))
            serve_dir_without_index(fr);
        else
            fail(fr, open_status(fr->err));
        return;
    }
    if (S_ISDIR(fr->st.st_mode) && !fr->is_index)
        serve_dir(fr);
    else if (S_ISREG(fr->st.st_mode))
        serve_file(fr);
    else
        fail(fr, 404); /* devices, FIFOs, sockets, a directory called index.html */
}

/* Opens fr->rel: on the loop when the dentry cache has every step, else on
   the pool. */
static void serve_path(struct file_req *fr)
{
    fr->err = 0;
    fr->fd = open_beneath(fr->site->root, fr->rel, true);
    if (fr->fd == -EAGAIN || fr->fd == -EINVAL) { /* not cached; EINVAL: no RESOLVE_CACHED */
        fr->fd = -1;
        run_job(fr, job_open, serve_open);
        return;
    }
    if (fr->fd < 0)
        fr->err = fr->fd;
    else if (fstat(fr->fd, &fr->st) < 0)
        fr->err = -errno;
    serve_open(fr);
}

static void static_handler(weft_request_t *req, weft_response_t *res, void *arg)
{
    struct static_site *site = arg;
    weft_slice_t path = weft_request_path(req);
    if (path.len < site->prefix_len) { /* the router matched it: cannot happen */
        weft_response_send_error(res, 404, NULL);
        return;
    }
    weft_slice_t raw = {path.ptr + site->prefix_len, path.len - site->prefix_len};
    size_t room = raw.len + 2 + (site->index ? strlen(site->index) + 1 : 0);
    struct file_req *fr = weft__malloc(sizeof(*fr) + room);
    if (!fr) {
        weft_response_send_error(res, 503, NULL);
        return;
    }
    *fr = (struct file_req){.site = site, .req = req, .res = res, .fd = -1};
    if (!decode_path(raw, fr->rel, &fr->rel_len)) {
        fail(fr, 404);
        return;
    }
    fr->trailing_slash = raw.len > 0 && raw.ptr[raw.len - 1] == '/';
    serve_path(fr);
}

/* ---- set-up -------------------------------------------------------------------- */

static void site_free(void *arg)
{
    struct static_site *site = arg;
    close(site->root);
    weft__free(site->index);
    weft__free(site);
}

/* The site for dir, or NULL with *err. */
static struct static_site *site_new(const char *dir, const weft_static_options_t *opts, int *err)
{
    const char *index = opts && opts->index ? opts->index : "index.html";
    if (strchr(index, '/') || strcmp(index, ".") == 0 || strcmp(index, "..") == 0) {
        *err = -EINVAL;
        return NULL;
    }
    struct static_site *site = weft__calloc(1, sizeof(*site));
    if (!site || (index[0] && !(site->index = weft__strdup(index)))) {
        weft__free(site);
        *err = -ENOMEM;
        return NULL;
    }
    site->listing = opts && opts->listing;
    site->max_age_s = opts ? opts->max_age_s : 0;
    site->root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int probe = site->root < 0 ? -errno : open_beneath(site->root, ".", false);
    if (probe < 0) {
        *err = probe == -ENOSYS || probe == -EINVAL ? -ENOSYS : probe;
        if (site->root >= 0)
            close(site->root);
        site->root = -1;
        weft__free(site->index);
        weft__free(site);
        return NULL;
    }
    close(probe);
    return site;
}

int weft_app_static(weft_app_t *app, const char *prefix, const char *dir,
                    const weft_static_options_t *opts)
{
    if (!app || !prefix || !dir || prefix[0] != '/')
        return -EINVAL;
    if (weft_app_frozen(app))
        return -EBUSY;
    size_t plen = strlen(prefix);
    while (plen > 0 && prefix[plen - 1] == '/')
        plen--; /* "/" and "/assets/" as "" and "/assets" */
    char *pattern = weft__malloc(plen + sizeof("/*path"));
    if (!pattern)
        return -ENOMEM;
    memcpy(pattern, prefix, plen);
    strcpy(pattern + plen, "/*path");
    int r = 0;
    struct static_site *site = site_new(dir, opts, &r);
    if (site) {
        site->prefix_len = plen;
        r = weft__app_on_free(app, site_free, site); /* first: a route may use it */
        if (r < 0)
            site_free(site);
        else
            r = weft_app_route(app, "GET", pattern, static_handler, site);
    }
    weft__free(pattern);
    return r;
}
