/*
 * access_log.c - one line per request in the combined log format:
 *   host - - [23/Nov/2026:21:30:00 +0000] "GET /x HTTP/1.1" 200 13 "ref" "agent"
 * written by an after hook once the response is finished.
 *
 * Each line goes out with one write(2) on a file opened O_APPEND, so lines
 * from every loop stay whole and in order of completion, with no lock; the
 * file is reopened in place (dup2) so a reopen never races a write. A
 * write to the page cache is short, and the log is off unless asked for.
 * Quotes, backslashes and control bytes in logged fields are escaped. The
 * host is the client's address (weft_request_client: behind a proxy, from
 * the PROXY header or a trusted X-Forwarded-For), not the proxy's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "access_log.h"

struct access_log {
    char *path; /* NULL for standard output */
    int fd;
};

static int open_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

struct access_log *access_log_open(const char *path)
{
    struct access_log *log = calloc(1, sizeof(*log));
    if (!log)
        return NULL;
    if (!strcmp(path, "-")) {
        log->fd = STDOUT_FILENO;
        return log;
    }
    log->path = strdup(path);
    log->fd = log->path ? open_file(path) : -1;
    if (log->fd < 0) {
        int err = errno;
        free(log->path);
        free(log);
        errno = err;
        return NULL;
    }
    return log;
}

int access_log_reopen(struct access_log *log)
{
    if (!log->path)
        return 0;
    int fd = open_file(log->path);
    if (fd < 0)
        return -errno;
    dup2(fd, log->fd); /* atomic: a concurrent write goes to one or the other */
    close(fd);
    return 0;
}

void access_log_close(struct access_log *log)
{
    if (!log)
        return;
    if (log->path)
        close(log->fd);
    free(log->path);
    free(log);
}

/* Appends s escaped for a quoted log field. */
static size_t put_escaped(char *out, size_t cap, weft_slice_t s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len && n + 4 < cap; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\')
            n += (size_t)snprintf(out + n, cap - n, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", c);
        else
            out[n++] = (char)c;
    }
    return n;
}

static size_t put_header(char *out, size_t cap, weft_request_t *req, const char *name)
{
    weft_slice_t v;
    if (!weft_request_header(req, name, &v))
        return (size_t)snprintf(out, cap, "\"-\"");
    size_t n = (size_t)snprintf(out, cap, "\"");
    n += put_escaped(out + n, cap - n - 1, v);
    return n + (size_t)snprintf(out + n, cap - n, "\"");
}

static void peer_text(const struct sockaddr *sa, char *out, size_t cap)
{
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)cap);
    else
        snprintf(out, cap, "-");
}

static void log_request(weft_request_t *req, weft_response_t *res, void *arg)
{
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct access_log *log = arg;
    char line[4096], host[64];
    peer_text(weft_request_client(req), host, sizeof(host)); /* behind proxies: the client */
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = (size_t)snprintf(line, sizeof(line), "%s - - [%02d/%s/%04d:%02d:%02d:%02d +0000] \"",
                                host, tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
                                tm.tm_min, tm.tm_sec);
    n += put_escaped(line + n, 1024, weft_request_method(req));
    line[n++] = ' ';
    n += put_escaped(line + n, 2048, weft_request_target(req));
    n += (size_t)snprintf(line + n, sizeof(line) - n, " HTTP/1.%u\" %d ",
                          weft_request_http_minor(req), weft_response_code(res));
    uint64_t bytes = weft_response_bytes(res);
    n += bytes ? (size_t)snprintf(line + n, sizeof(line) - n, "%llu ", (unsigned long long)bytes)
               : (size_t)snprintf(line + n, sizeof(line) - n, "- ");
    n += put_header(line + n, sizeof(line) - n - 600, req, "Referer");
    line[n++] = ' ';
    n += put_header(line + n, sizeof(line) - n - 2, req, "User-Agent");
    line[n++] = '\n';
    ssize_t w = write(log->fd, line, n); /* a lost log line is not worth more */
    (void)w;
}

int access_log_attach(struct access_log *log, weft_app_t *app)
{
    return weft_app_after(app, log_request, log);
}
