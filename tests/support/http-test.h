/*
 * http-test.h - an in-process HTTP server and a raw client for tests and
 * the fuzzer: start a weft_server on 127.0.0.1:0 with a handler, talk to
 * it over TCP or over a socketpair adopted by one of its loops, and read
 * answers until the server closes.
 */
#ifndef WEFT_HTTP_TEST_H
#define WEFT_HTTP_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "weft/weft.h"

struct http_test_server {
    weft_server_t *srv;
    weft_app_t *app;
    uint16_t port;
};

/* Starts a server (opts may be NULL) serving handler(arg); 0 or -errno. */
int http_test_start(struct http_test_server *ts, const weft_server_options_t *opts,
                    weft_handler_fn handler, void *arg);
void http_test_stop(struct http_test_server *ts);

/* A blocking TCP connection to the server, or -errno. */
int http_test_connect(const struct http_test_server *ts);

/* A socketpair whose other end loop 0 serves; returns our end or -errno. */
int http_test_pair(struct http_test_server *ts);

/* Writes all of buf (retrying short writes). 0 or -errno. */
int http_test_write(int fd, const void *buf, size_t len);

/* Reads until the peer closes, the buffer is full, or timeout_ms passes
   without a byte: the bytes read, or -errno (-ETIMEDOUT). */
ssize_t http_test_read_all(int fd, char *buf, size_t cap, int timeout_ms);

/* Reads until `n` complete responses arrived (Content-Length or chunked
   framing), for keep-alive tests: the bytes read, or -errno. */
ssize_t http_test_read_responses(int fd, char *buf, size_t cap, unsigned n, int timeout_ms);

/* One GET of path on a fresh connection to 127.0.0.1:port (with extra
   header lines, each ending in CRLF; may be NULL), read until the server
   closes: the status (0 if none came), the body NUL-terminated in buf
   (cap bytes). Never blocks longer than timeout_ms without a byte. */
int http_test_get(uint16_t port, const char *path, const char *extra_headers, char *buf, size_t cap,
                  int timeout_ms);

/* Counts "HTTP/1.1 <status>" status lines in buf; *statuses gets up to max
   of them. */
unsigned http_test_statuses(const char *buf, size_t len, int *statuses, unsigned max);

#endif
