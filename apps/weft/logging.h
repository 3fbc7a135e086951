/* logging.h - the weft command's handler for the library's log sink. */
#ifndef WEFT_APP_LOGGING_H
#define WEFT_APP_LOGGING_H

#include <stdbool.h>

#include "weft/weft.h"

/* "error", "warn", "info" or "debug" as a level: true and *out set. */
bool logging_parse_level(const char *name, weft_log_level_t *out);

/* Route the library's messages up to max to stderr, one line each:
   "2026-11-23T21:30:00.123Z warn: message". */
void logging_start(weft_log_level_t max);

/* From now on every line names its process after the level ("info: worker
   1234: message"): a worker's lines, beside its master's on one stderr.
   Before any thread logs. */
void logging_tag_worker(void);

#endif
