/*
 * cli.c - the weft command's flags: `weft [serve] [DIR] [flags]`, flags
 * before or after DIR. Durations take a unit (500ms, 2s, 1m; a bare number
 * is seconds), sizes a suffix (k, m: KiB, MiB) or none (bytes), rates
 * bytes per second (B or B/s). Any mistake is one line on stderr and exit
 * status 2.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "behind_proxy.h"
#include "cli.h"
#include "logging.h"
#include "workers.h"

enum kind { K_FLAG, K_STRING, K_UINT, K_PORT, K_DURATION, K_SIZE, K_RATE };

struct option_def {
    const char *name;
    enum kind kind;
    const char *help;
};

static const struct option_def defs[] = {
    {"--host", K_STRING, "H        address to listen on (default 127.0.0.1)"},
    {"--port", K_PORT, "P        port (default 8080; 0 picks a free one)"},
    {"--threads", K_UINT, "N     event loops (default: CPUs available)"},
    {"--header-timeout", K_DURATION, "D  the whole request head must arrive within (10s)"},
    {"--body-min-rate", K_RATE, "B/s  slowest accepted request body (1024)"},
    {"--idle-timeout", K_DURATION, "D  keep-alive idle timeout (30s)"},
    {"--max-connections", K_UINT, "N  open connections, all loops (10000)"},
    {"--max-header-size", K_SIZE, "B  request line and headers (16k)"},
    {"--max-body-size", K_SIZE, "B    request body (1m)"},
    {"--max-pipeline", K_UINT, "N     requests answered per read before yielding (32)"},
    {"--pool", K_UINT, "N         threads of the job pool (default: CPUs available)"},
    {"--queue", K_UINT, "N        jobs waiting in the pool before 503 (1024)"},
    {"--access-log", K_STRING, "FILE|-  combined log format (default: none)"},
    {"--plugin", K_STRING, "PATH.so  load a plugin into the app (repeatable)"},
    {"--listing", K_FLAG, "       with DIR: list directories that have no index.html"},
    {"--max-age", K_DURATION, "D      with DIR: Cache-Control max-age for files (none)"},
    {"--admin", K_STRING, "H:P        /healthz, /metrics, /status on their own listener"},
    {"--drain-timeout", K_DURATION, "D  a graceful stop waits this long for requests (30s)"},
    {"--shutdown-delay", K_DURATION, "D  on SIGTERM, serve D more with /healthz at 503 (0)"},
    {"--log-level", K_STRING, "L     error, warn, info or debug (warn)"},
    {"--user", K_STRING, "U          run as this user once listening (name or uid)"},
    {"--group", K_STRING, "G         and this group (default: the user's)"},
    {"--workers", K_UINT, "M      worker processes under a master (default: none)"},
    {"--worker-timeout", K_DURATION,
     "D  with --workers: kill a worker whose loop is stuck this long (30s; 0: never)"},
    {"--worker-slot", K_UINT, NULL}, /* internal: the master's workers */
    {"--trust-proxy", K_STRING, "CIDR[,CIDR]  believe X-Forwarded-For from these (repeatable)"},
    {"--proxy-protocol", K_FLAG, "  the public port expects a PROXY protocol v1 header first"},
    {"--help", K_FLAG, "         this text"},
    {"--version", K_FLAG, "      the version"},
};

void weft_cli_usage(FILE *out)
{
    fprintf(out, "usage: weft [serve] [DIR] [flags]\n"
                 "Serves the demo app (or DIR) over HTTP/1.1. Durations: 500ms, 2s, 1m.\n");
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
        if (defs[i].help) /* internal flags have none */
            fprintf(out, "  %s %s\n", defs[i].name, defs[i].help);
}

static int bad(const char *flag, const char *what, const char *value)
{
    fprintf(stderr, "weft: %s: %s: '%s'\n", flag, what, value);
    return 2;
}

static bool parse_u64(const char *s, uint64_t *out, char **end)
{
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, end, 10);
    if (errno)
        return false;
    *out = v;
    return true;
}

static bool parse_duration(const char *s, int64_t *ms)
{
    uint64_t v;
    char *end;
    if (!parse_u64(s, &v, &end) || v > INT64_MAX / 60000)
        return false;
    if (!*end || !strcmp(end, "s"))
        *ms = (int64_t)v * 1000;
    else if (!strcmp(end, "ms"))
        *ms = (int64_t)v;
    else if (!strcmp(end, "m"))
        *ms = (int64_t)v * 60000;
    else
        return false;
    return true;
}

static bool parse_size(const char *s, uint64_t *bytes)
{
    uint64_t v;
    char *end;
    if (!parse_u64(s, &v, &end))
        return false;
    uint64_t unit = !*end                                    ? 1
                    : !strcmp(end, "k") || !strcmp(end, "K") ? 1024
                    : !strcmp(end, "m") || !strcmp(end, "M") ? 1024 * 1024
                                                             : 0;
    if (!unit || v > UINT64_MAX / unit)
        return false;
    *bytes = v * unit;
    return true;
}

static bool parse_rate(const char *s, uint64_t *rate)
{
    uint64_t v;
    char *end;
    if (!parse_u64(s, &v, &end) || (*end && strcmp(end, "/s") && strcmp(end, "B/s")))
        return false;
    *rate = v;
    return true;
}

/* --admin H:P, [V6]:P: the host (brackets dropped) and the port. */
static int parse_admin(struct cli *cli, const char *value)
{
    static char host[64];
    const char *colon = strrchr(value, ':');
    uint64_t n;
    char *end;
    if (!colon || colon == value || !parse_u64(colon + 1, &n, &end) || *end || n > 65535)
        return bad("--admin", "not HOST:PORT", value);
    const char *h = value;
    size_t len = (size_t)(colon - value);
    if (h[0] == '[' && len >= 2 && h[len - 1] == ']')
        h++, len -= 2;
    if (len == 0 || len >= sizeof(host))
        return bad("--admin", "not HOST:PORT", value);
    memcpy(host, h, len);
    host[len] = '\0';
    cli->admin_host = host;
    cli->admin_port = (uint16_t)n;
    return 0;
}

/* Stores a parsed value where the flag's option lives. */
static int apply(struct cli *cli, const char *flag, const char *value)
{
    weft_server_options_t *o = &cli->server;
    uint64_t n;
    int64_t ms;
    if (!strcmp(flag, "--host")) {
        cli->host = value;
    } else if (!strcmp(flag, "--workers") || !strcmp(flag, "--worker-slot")) {
        char *end;
        bool workers = !strcmp(flag, "--workers");
        uint64_t most = workers ? WORKERS_MAX : WORKERS_MAX * SLOTS_PER_WORKER - 1;
        if (!parse_u64(value, &n, &end) || *end || n > most)
            return bad(flag, workers ? "not a count from 0 to 64" : "not a slot", value);
        if (workers)
            cli->workers = (unsigned)n;
        else
            cli->worker_slot = (int)n;
    } else if (!strcmp(flag, "--port")) {
        char *end;
        if (!parse_u64(value, &n, &end) || *end || n > 65535)
            return bad(flag, "not a port number", value);
        cli->port = (uint16_t)n;
    } else if (!strcmp(flag, "--log-level")) {
        if (!logging_parse_level(value, &cli->log_level))
            return bad(flag, "not one of error, warn, info, debug", value);
    } else if (!strcmp(flag, "--user") || !strcmp(flag, "--group")) {
        if (!value[0])
            return bad(flag, "empty", value);
        *(!strcmp(flag, "--user") ? &cli->user : &cli->group) = value;
    } else if (!strcmp(flag, "--admin")) {
        return parse_admin(cli, value);
    } else if (!strcmp(flag, "--shutdown-delay")) {
        if (!parse_duration(value, &ms) || ms < 0)
            return bad(flag, "not a duration (500ms, 2s, 1m)", value);
        cli->shutdown_delay_ms = ms;
    } else if (!strcmp(flag, "--worker-timeout")) {
        if (!parse_duration(value, &ms) || ms < 0)
            return bad(flag, "not a duration (500ms, 2s, 1m)", value);
        cli->worker_timeout_ms = ms;
    } else if (!strcmp(flag, "--drain-timeout")) {
        if (!parse_duration(value, &ms) || ms <= 0)
            return bad(flag, "not a duration (500ms, 2s, 1m)", value);
        cli->server.drain_timeout_ms = ms;
    } else if (!strcmp(flag, "--plugin")) {
        if (cli->n_plugins == WEFT_CLI_MAX_PLUGINS)
            return bad(flag, "too many plugins", value);
        cli->plugins[cli->n_plugins++] = value;
    } else if (!strcmp(flag, "--max-age")) {
        if (!parse_duration(value, &ms) || ms < 0 || ms / 1000 > UINT32_MAX)
            return bad(flag, "not a duration (500ms, 2s, 1m)", value);
        cli->max_age_s = (uint32_t)(ms / 1000);
    } else if (!strcmp(flag, "--trust-proxy")) {
        if (cli->n_trust_proxy == WEFT_CLI_MAX_PLUGINS)
            return bad(flag, "given too many times", value);
        if (behind_proxy_check(value))
            return 2; /* the bad entry named */
        cli->trust_proxy[cli->n_trust_proxy++] = value;
    } else if (!strcmp(flag, "--access-log")) {
        cli->access_log = value;
    } else if (!strcmp(flag, "--queue")) {
        char *end;
        if (!parse_u64(value, &n, &end) || *end || n == 0 || n > 100000000)
            return bad(flag, "not a positive count", value);
        cli->pool.queue_capacity = (size_t)n;
    } else if (!strcmp(flag, "--threads") || !strcmp(flag, "--max-connections") ||
               !strcmp(flag, "--max-pipeline") || !strcmp(flag, "--pool")) {
        char *end;
        if (!parse_u64(value, &n, &end) || *end || n == 0 || n > 100000)
            return bad(flag, "not a positive count", value);
        *(!strcmp(flag, "--threads")           ? &o->threads
          : !strcmp(flag, "--max-connections") ? &o->max_connections
          : !strcmp(flag, "--pool")            ? &cli->pool.threads
                                               : &o->max_pipeline) = (unsigned)n;
    } else if (!strcmp(flag, "--header-timeout") || !strcmp(flag, "--idle-timeout")) {
        if (!parse_duration(value, &ms) || ms <= 0)
            return bad(flag, "not a duration (500ms, 2s, 1m)", value);
        *(!strcmp(flag, "--header-timeout") ? &o->header_timeout_ms : &o->idle_timeout_ms) = ms;
    } else if (!strcmp(flag, "--max-header-size") || !strcmp(flag, "--max-body-size")) {
        if (!parse_size(value, &n) || n == 0 || n > UINT32_MAX / 2)
            return bad(flag, "not a size (bytes, or with k or m)", value);
        *(!strcmp(flag, "--max-header-size") ? &o->max_header_size : &o->max_body_size) = n;
    } else if (!strcmp(flag, "--body-min-rate")) {
        if (!parse_rate(value, &n) || n == 0)
            return bad(flag, "not a rate in bytes per second", value);
        o->body_min_rate = n;
    }
    return 0;
}

static const struct option_def *find_def(const char *arg, const char **inline_value)
{
    *inline_value = NULL;
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        size_t n = strlen(defs[i].name);
        if (!strncmp(arg, defs[i].name, n) && (arg[n] == '\0' || arg[n] == '=')) {
            if (arg[n] == '=')
                *inline_value = arg + n + 1;
            return &defs[i];
        }
    }
    return NULL;
}

int weft_cli_parse(int argc, char **argv, struct cli *cli)
{
    memset(cli, 0, sizeof(*cli));
    cli->host = "127.0.0.1";
    cli->port = 8080;
    cli->pool.queue_capacity = 1024;
    cli->pool.name = "weft-job";
    cli->log_level = WEFT_LOG_WARN;
    cli->worker_slot = -1;
    cli->worker_timeout_ms = 30000;
    int i = 1;
    if (i < argc && !strcmp(argv[i], "serve"))
        i++;
    for (; i < argc; i++) {
        const char *arg = argv[i], *value;
        if (arg[0] != '-') {
            if (cli->dir)
                return bad("serve", "more than one directory", arg);
            cli->dir = arg;
            continue;
        }
        const struct option_def *d = find_def(arg, &value);
        if (!d) {
            fprintf(stderr, "weft: unknown flag '%s' (see weft --help)\n", arg);
            return 2;
        }
        if (d->kind == K_FLAG) {
            *(!strcmp(d->name, "--help")             ? &cli->help
              : !strcmp(d->name, "--listing")        ? &cli->listing
              : !strcmp(d->name, "--proxy-protocol") ? &cli->proxy_protocol
                                                     : &cli->version) = true;
            continue;
        }
        if (!value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "weft: %s needs a value\n", d->name);
                return 2;
            }
            value = argv[++i];
        }
        int r = apply(cli, d->name, value);
        if (r)
            return r;
    }
    return 0;
}
