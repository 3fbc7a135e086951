/* cli.h - the weft command's options and their parsing (cli.c). */
#ifndef WEFT_APP_CLI_H
#define WEFT_APP_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/weft.h"

struct cli {
    const char *host;
    uint16_t port;
    const char *dir; /* serve this directory instead of the demo app */
    weft_server_options_t server;
    weft_pool_options_t pool;
    const char *access_log; /* NULL: none; "-": standard output */
    bool help, version;
};

/* Parses argv into *cli. Returns 0, or 2 after printing one line on stderr
   (the command's exit status for bad usage). */
int weft_cli_parse(int argc, char **argv, struct cli *cli);

void weft_cli_usage(FILE *out);

#endif
