/* access_log.h - the combined log format, as an after hook (access_log.c). */
#ifndef WEFT_APP_ACCESS_LOG_H
#define WEFT_APP_ACCESS_LOG_H

#include "weft/weft.h"

struct access_log;

/* Opens path for appending ("-": standard output). NULL with errno. */
struct access_log *access_log_open(const char *path);

/* Installs the log as an after hook of app. 0 or -errno. */
int access_log_attach(struct access_log *log, weft_app_t *app);

/* Reopens the file (logrotate moved it away). 0 or -errno. */
int access_log_reopen(struct access_log *log);

void access_log_close(struct access_log *log);

#endif
