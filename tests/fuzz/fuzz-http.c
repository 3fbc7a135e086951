/*
 * fuzz-http.c - the connection engine under libFuzzer, as h2o's harness
 * does it: an input is fed to a real server loop through a socketpair, in
 * the pieces the h2o corpus marks with "\n--MARK--\n", and everything the
 * server answers is read back until it closes.
 *
 * Each input runs twice: written whole, and written piece by piece (each
 * piece read by the server before the next is sent). The two runs must
 * give the same answers (Date headers aside): how bytes are split across
 * reads must never change a verdict. A crash, a sanitizer report, a hang
 * (no close within 10 s) or a difference aborts.
 *
 * Built two ways: with clang -fsanitize=fuzzer for `make fuzz`, and as
 * fuzz-http-replay (WEFT_FUZZ_REPLAY) with a main() that replays files and
 * directories of seeds, which CTest runs under ASan+UBSan.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http-test.h"

#define MARK       "\n--MARK--\n"
#define ANSWER_MAX (1 << 20)

static struct http_test_server server;

/* A few routes so the fuzzer reaches every way of answering. */
static void answer_later(void *arg)
{
    weft_response_send(arg, "later", 5);
}

static void handler(weft_request_t *req, weft_response_t *res, void *arg)
{
    weft_slice_t path = weft_request_path(req), body = weft_request_body(req);
    if (weft_slice_eq(path, "/echo")) {
        weft_response_send(res, body.ptr, body.len);
    } else if (weft_slice_eq(path, "/async")) {
        if (weft_loop_post(weft_request_loop(req), answer_later, res) < 0)
            weft_response_send_error(res, 503, NULL);
    } else if (weft_slice_eq(path, "/stream")) {
        weft_response_begin(res, -1);
        weft_response_write(res, "one,", 4);
        weft_response_write(res, "two", 3);
        weft_response_end(res);
    } else if (weft_slice_eq(path, "/empty")) {
        weft_response_status(res, 204);
        weft_response_send(res, NULL, 0);
    } else {
        char text[64];
        int n = snprintf(text, sizeof(text), "%zu %zu %zu\n", weft_request_header_count(req),
                         path.len, body.len);
        weft_response_send(res, text, (size_t)n);
    }
}

static void start_once(void)
{
    if (server.srv)
        return;
    weft_log_set_handler(NULL, NULL, WEFT_LOG_ERROR);
    if (http_test_start(&server, NULL, handler, NULL) < 0)
        abort();
}

/* Waits until the server has read everything we wrote. */
static void wait_consumed(int fd)
{
    for (int i = 0; i < 100000; i++) {
        int queued = 0;
        if (ioctl(fd, SIOCOUTQ, &queued) < 0 || queued == 0)
            return;
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
}

/* Sends the input, whole (the pieces joined, one write) or one piece at a
   time (each read by the server before the next), and returns what the
   server answered before closing. */
static size_t run(const uint8_t *data, size_t size, bool split, char *out, uint8_t *joined)
{
    int fd = http_test_pair(&server);
    if (fd < 0)
        abort();
    const size_t mark = strlen(MARK);
    const uint8_t *p = data, *end = data + size;
    size_t n_joined = 0;
    for (;;) {
        const uint8_t *m = memmem(p, (size_t)(end - p), MARK, mark);
        const uint8_t *stop = m ? m : end;
        if (split) {
            if (stop > p && http_test_write(fd, p, (size_t)(stop - p)) < 0)
                break;
            wait_consumed(fd);
        } else {
            memcpy(joined + n_joined, p, (size_t)(stop - p));
            n_joined += (size_t)(stop - p);
        }
        if (!m)
            break;
        p = m + mark;
    }
    if (!split)
        http_test_write(fd, joined, n_joined);
    shutdown(fd, SHUT_WR);
    ssize_t n = http_test_read_all(fd, out, ANSWER_MAX, 10000);
    close(fd);
    if (n == -ETIMEDOUT) {
        fprintf(stderr, "fuzz-http: the server never closed (%s)\n", split ? "split" : "whole");
        abort();
    }
    return n < 0 ? 0 : (size_t)n;
}

/* Blanks the Date header values: they may differ between the runs. */
static void blank_dates(char *buf, size_t len)
{
    for (char *p = buf; (p = memmem(p, len - (size_t)(p - buf), "\r\nDate: ", 8));) {
        p += 8;
        for (; p < buf + len && *p != '\r'; p++)
            *p = '#';
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *whole, *split;
    start_once();
    if (!whole && !(whole = malloc(ANSWER_MAX)))
        abort();
    if (!split && !(split = malloc(ANSWER_MAX)))
        abort();
    uint8_t *joined = malloc(size + 1);
    if (!joined)
        abort();
    size_t a = run(data, size, false, whole, joined);
    size_t b = run(data, size, true, split, joined);
    free(joined);
    blank_dates(whole, a);
    blank_dates(split, b);
    if (a != b || memcmp(whole, split, a)) {
        fprintf(stderr,
                "fuzz-http: answers differ, whole (%zu bytes):\n%.*s\n--- split (%zu):\n%.*s\n", a,
                (int)(a < 2000 ? a : 2000), whole, b, (int)(b < 2000 ? b : 2000), split);
        abort();
    }
    return 0;
}

#ifdef WEFT_FUZZ_REPLAY
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned files = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            fprintf(stderr, "fuzz-http-replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            files += replay_file(argv[i]) == 0;
            continue;
        }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            char path[4096];
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
            files += replay_file(path) == 0;
        }
        if (d)
            closedir(d);
    }
    if (server.srv)
        http_test_stop(&server);
    printf("fuzz-http-replay: %u inputs, every answer the same whole and split\n", files);
    return files ? 0 : 1;
}
#endif
