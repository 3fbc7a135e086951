/*
 * date.c - the Date header (RFC 9110 6.6.1), formatted once per second per
 * loop: every response of that second copies the same line. Formatted by
 * hand, not with strftime, whose day and month names follow the locale a
 * program may have set. CLOCK_REALTIME_COARSE: the second is all we need.
 */
#include <stdio.h>
#include <time.h>

#include "http/http-int.h"

static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

const char *weft__http_date(struct http_loop *hl, size_t *len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != hl->date_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        int n =
            snprintf(hl->date, sizeof(hl->date), "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n",
                     days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
        hl->date_len = n > 0 ? (size_t)n : 0;
        hl->date_sec = ts.tv_sec;
    }
    *len = hl->date_len;
    return hl->date;
}
