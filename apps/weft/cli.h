/* cli.h - the weft command's options and their parsing (cli.c). */
#ifndef WEFT_APP_CLI_H
#define WEFT_APP_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/weft.h"

#define WEFT_CLI_MAX_PLUGINS 16

struct cli {
    const char *host;
    uint16_t port;
    const char *dir;    /* serve this directory instead of the demo app */
    bool listing;       /* with dir: HTML listings of directories without an index */
    uint32_t max_age_s; /* with dir: Cache-Control max-age; 0: none */
    const char *plugins[WEFT_CLI_MAX_PLUGINS]; /* --plugin, in order */
    unsigned n_plugins;
    weft_server_options_t server;
    weft_pool_options_t pool;
    const char *access_log; /* NULL: none; "-": standard output */
    weft_log_level_t log_level;
    const char *user, *group; /* --user, --group: dropped to once listening */
    const char *admin_host;   /* --admin H:P; NULL: no admin listener */
    uint16_t admin_port;
    int64_t shutdown_delay_ms; /* --shutdown-delay: /healthz 503 while serving on */
    unsigned workers;          /* --workers M: a master and M worker processes */
    int worker_slot;           /* --worker-slot K: a worker's (internal); -1 */
    int64_t worker_timeout_ms; /* --worker-timeout: a silent worker is killed; 0: never */
    bool help, version;
    const char *trust_proxy[WEFT_CLI_MAX_PLUGINS]; /* --trust-proxy lists, in order */
    unsigned n_trust_proxy;
    bool proxy_protocol; /* --proxy-protocol: on the public listeners */
};

/* Parses argv into *cli. Returns 0, or 2 after printing one line on stderr
   (the command's exit status for bad usage). */
int weft_cli_parse(int argc, char **argv, struct cli *cli);

void weft_cli_usage(FILE *out);

#endif
