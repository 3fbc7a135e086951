/*
 * logging.c - the weft command's log lines: one per event on stderr, with
 * a UTC timestamp to the millisecond and a level, written with one
 * write(2) so lines from every thread stay whole. The library's sink
 * (weft_log_set_handler) calls this from any thread, concurrently.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "logging.h"

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static char tag[32]; /* "worker 1234: " under a master, else "" */

void logging_tag_worker(void)
{
    snprintf(tag, sizeof(tag), "worker %ld: ", (long)getpid());
}

bool logging_parse_level(const char *name, weft_log_level_t *out)
{
    for (int i = WEFT_LOG_ERROR; i <= WEFT_LOG_DEBUG; i++)
        if (!strcmp(name, level_names[i])) {
            *out = (weft_log_level_t)i;
            return true;
        }
    return false;
}

static void write_line(weft_log_level_t level, const char *msg, void *arg)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char line[1200];
    size_t n = strftime(line, 32, "%Y-%m-%dT%H:%M:%S", &tm); /* digits only: locale-free */
    int m = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s: %s%s\n", ts.tv_nsec / 1000000,
                     level_names[level], tag, msg);
    if (m < 0)
        return;
    n += (size_t)m < sizeof(line) - n ? (size_t)m : sizeof(line) - n - 1;
    line[n - 1] = '\n'; /* a truncated message still ends its line */
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w; /* nowhere left to report a failed log write */
}

void logging_start(weft_log_level_t max)
{
    weft_log_set_handler(write_line, NULL, max);
}
