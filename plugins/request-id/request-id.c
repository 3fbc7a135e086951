/*
 * request-id.c - the request-id plugin: every response carries an
 * X-Request-Id, so a client, a proxy and the server's logs can name the
 * same request.
 *
 * A before hook takes the client's (or a proxy's) X-Request-Id when it is
 * sane -- 1 to 64 token characters (RFC 9110 tchar), nothing a log line or
 * a header could be confused by -- and otherwise makes one:
 *
 *   [<prefix>-]<16 hex digits, random per app>-<counter in hex>
 *
 * The random part (getrandom at init) keeps ids of two processes, or of a
 * restarted one, apart; the counter keeps ids of one app apart. The hook
 * adds the id to the response at once: headers added before the handler
 * runs stay on whatever answer follows (a handler's, a 404, an error).
 * Handlers that want the id read the request's X-Request-Id when the client
 * sent a sane one; a generated one is only on the response.
 *
 * Config: NULL, "" or "prefix=NAME" (NAME: 1 to 32 token characters, e.g.
 * the host's name, so ids of a fleet are told apart). Per-app state (the
 * prefix, the seed, the counter) is allocated by init: the .so's globals
 * would be shared by every app loading it.
 *
 * Load: weft serve --plugin weft-request-id.so, or
 * weft_app_load_plugin(app, ".../weft-request-id.so", "prefix=web1").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <weft/plugin.h>

#define MAX_INCOMING 64
#define MAX_PREFIX   32

struct rid_state {
    char prefix[MAX_PREFIX + 2]; /* "NAME-" or "" */
    uint64_t seed;
    _Atomic uint64_t counter; /* loops of the app share it */
};

/* RFC 9110 tchar: what an id may contain. */
static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_token(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

static weft_future_t *add_request_id(weft_request_t *req, weft_response_t *res, void *arg)
{
    struct rid_state *st = arg;
    weft_slice_t in;
    if (weft_request_header(req, "X-Request-Id", &in) && is_token(in.ptr, in.len, MAX_INCOMING)) {
        weft_response_header_n(res, "X-Request-Id", 12, in.ptr, in.len);
        return NULL;
    }
    uint64_t n = atomic_fetch_add_explicit(&st->counter, 1, memory_order_relaxed) + 1;
    char id[MAX_PREFIX + 48];
    snprintf(id, sizeof(id), "%s%016" PRIx64 "-%" PRIx64, st->prefix, st->seed, n);
    weft_response_header(res, "X-Request-Id", id);
    return NULL; /* go on: the handler answers */
}

/* "prefix=NAME" (or nothing) into st; -EINVAL for anything else. */
static int parse_config(struct rid_state *st, const char *config)
{
    if (!config || !config[0])
        return 0;
    const char *key = "prefix=";
    if (strncmp(config, key, strlen(key)) != 0)
        return -EINVAL;
    const char *name = config + strlen(key);
    if (!is_token(name, strlen(name), MAX_PREFIX))
        return -EINVAL;
    snprintf(st->prefix, sizeof(st->prefix), "%s-", name);
    return 0;
}

static int rid_init(weft_app_t *app, const char *config, void **state)
{
    struct rid_state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    int r = parse_config(st, config);
    if (r == 0) {
        ssize_t got = getrandom(&st->seed, sizeof(st->seed), 0);
        r = got == (ssize_t)sizeof(st->seed) ? 0 : got < 0 ? -errno : -EIO;
    }
    if (r == 0)
        r = weft_app_before(app, add_request_id, st); /* st: the hook's arg */
    if (r < 0) {
        free(st);
        return r;
    }
    *state = st;
    return 0;
}

static void rid_fini(weft_app_t *app, void *state)
{
    free(state);
}

static const weft_plugin_t request_id = {
    .abi = WEFT_PLUGIN_ABI,
    .name = "request-id",
    .version = "1.0.0",
    .init = rid_init,
    .fini = rid_fini,
};
WEFT_PLUGIN_DEFINE(request_id)
