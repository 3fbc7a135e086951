/*
 * app-int.h - the app layer's private structures:
 *
 *   app.c      set-up, freezing, and the request pipeline (hooks, routing)
 *   router.c   the route trie
 *   params.c   route and query parameters, percent-decoding
 *   offload.c  weft_offload: jobs on the pool, answered on the loop
 *   respond.c  JSON and redirect answers
 *   plugin.c   plugins: weft_app_use, loading .so files, fini at free
 *   static.c   static files (static-int.h)
 *
 * Once frozen an app is read-only: every loop walks the same trie and hook
 * arrays without locks. Per-request state (struct app_req) lives in the
 * request's arena and dies with it.
 */
#ifndef WEFT_APP_INT_H
#define WEFT_APP_INT_H

#include <stdbool.h>

#include "error/base.h"
#include "http/http-int.h"
#include "weft/app.h"
#include "weft/proc.h"

#define WEFT__MAX_PARAMS 16

/* Responses by status class on one loop: a cache line of its own, so
   loops never write the same line. */
struct route_counts {
    _Alignas(64) _Atomic uint64_t by_class[6];
};

struct route {
    struct route *next;
    char *pattern;               /* as registered: the metrics' label */
    struct route_counts *counts; /* one row per loop, once served */
    char method[16];             /* "" for any method */
    size_t method_len;
    weft_handler_fn handler;
    void *arg;
    weft_route_options_t opts;
    char note[WEFT_PROC_NOTE_SIZE]; /* "GET /fib/:n": the crash note */
};

/* A trie node: one path segment. */
struct rnode {
    char *label; /* static segment text (not for the root) */
    size_t label_len;
    uint32_t label_hash;
    struct rnode **statics; /* sorted by label */
    size_t n_statics;
    struct rnode **index; /* the statics by hash, open addressing */
    uint32_t index_mask;  /* its size - 1 */
    struct rnode *param;  /* ":name" child */
    char *param_name;
    struct rnode *rest; /* "*name" child: takes the rest of the path */
    char *rest_name;
    struct route *routes; /* the handlers ending here, by method */
};

struct hook {
    void *fn;
    void *arg;
};

struct hooks {
    struct hook *v;
    size_t n;
};

struct weft_app {
    struct rnode root;
    weft_handler_fn fallback;
    void *fallback_arg;
    struct hooks before, after, error;
    void *state;
    weft_pool_t *pool;
    bool frozen;
    bool any_streamed;             /* a route has stream_body */
    struct http_site site;         /* what a server's listeners dispatch to */
    struct app_cleanup *cleanups;  /* run by weft_app_free, newest first */
    struct route_counts *unrouted; /* 404/405 and the fallback, per loop */
    unsigned stat_rows;            /* rows of every counts array (0: not yet) */
    struct figures_area figures;   /* where the rows live (base NULL: heap) */
    struct app_plugin *plugins;    /* plugin.c: newest first */
};

/* What an app owns for a set-up call (weft_app_static's directory). */
struct app_cleanup {
    struct app_cleanup *next;
    void (*fn)(void *arg);
    void *arg;
};

/* weft__app_prepare_stats - per-loop rows of response counts for every
   route, before serving with loops loops (a server's start, before it
   freezes the app), allocated from the server's figures area. Later
   servers with more loops share rows (index modulo the rows). 0, -ENOMEM,
   or -ENOSPC (the shared slot is full). Once the area is sealed,
   weft__app_figures_sealed tells the app where its rows' twins are. */
int weft__app_prepare_stats(weft_app_t *app, unsigned loops,
                            struct figures_area *area) WEFT_INTERNAL;
void weft__app_figures_sealed(weft_app_t *app, const struct figures_area *area) WEFT_INTERNAL;

/* weft__app_on_free - fn(arg) when the app is freed; -ENOMEM. */
int weft__app_on_free(weft_app_t *app, void (*fn)(void *arg), void *arg) WEFT_INTERNAL;

struct param {
    const char *name;
    weft_slice_t raw; /* as matched, still encoded */
};

struct offload;

/* Per request, in its arena. */
struct app_req {
    struct weft_app *app;
    const struct route *route;
    size_t next_hook;        /* the before hook to run next */
    struct offload *offload; /* the job the response waits for */
    unsigned n_params;
    struct param params[WEFT__MAX_PARAMS]; /* last: only n_params are set */
};

/* plugin.c: every plugin's fini, newest first, then dlclose */
void weft__plugins_fini(weft_app_t *app) WEFT_INTERNAL;

/* app.c */
struct app_req *weft__app_req(weft_request_t *req) WEFT_INTERNAL;
const struct http_site *weft__app_site(weft_app_t *app) WEFT_INTERNAL;

/* router.c */
int weft__router_add(struct rnode *root, const char *method, const char *pattern,
                     weft_handler_fn handler, void *arg,
                     const weft_route_options_t *opts) WEFT_INTERNAL;
/* Finds the node for path; params filled. NULL when no route's pattern
   matches the path. */
const struct rnode *weft__router_match(const struct rnode *root, weft_slice_t path,
                                       struct app_req *ar) WEFT_INTERNAL;
const struct route *weft__router_method(const struct rnode *node,
                                        weft_slice_t method) WEFT_INTERNAL;
size_t weft__router_allow(const struct rnode *node, char *out, size_t cap) WEFT_INTERNAL;
void weft__router_free(struct rnode *root) WEFT_INTERNAL;

/* offload.c: the engine's notifications, forwarded by app.c */
void weft__offload_response_done(struct app_req *ar) WEFT_INTERNAL;
void weft__offload_client_gone(struct app_req *ar, bool reset) WEFT_INTERNAL;

/* Runs the error hooks; if none answered, answers status. */
void weft__app_error(struct app_req *ar, weft_request_t *req, weft_response_t *res, int err,
                     const char *msg, int status) WEFT_INTERNAL;

#endif /* WEFT_APP_INT_H */
