/*
 * router.c - routes in a trie of path segments.
 *
 * Each node is one segment; its children are static segments, at most one
 * ":param" child and at most one "*rest" child. Matching walks the path
 * segment by segment, trying the static child first, then the parameter,
 * then the rest, and backs up when a branch dead-ends (so /users/new and
 * /users/:id/edit both work).
 *
 * The static children are found through a small hash table per node
 * (open addressing, at most half full), keyed by the segment's FNV-1a
 * hash, which the walk computes in the same pass that finds the segment's
 * end. So a lookup costs one hash of the segment and usually one
 * comparison, with 1 route or 500: the cost grows with the path's depth,
 * never with the number of routes (bench-routing counts it). The sorted
 * array beside the table serves the set-up and the Allow header.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app/app-int.h"

/* ---- building ------------------------------------------------------------ */

static int cmp_label(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

/* The static child with this label: its index, or where it would go. */
static size_t find_static(const struct rnode *n, const char *label, size_t len, bool *found)
{
    size_t lo = 0, hi = n->n_statics;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const struct rnode *c = n->statics[mid];
        int d = cmp_label(c->label, c->label_len, label, len);
        if (d == 0) {
            *found = true;
            return mid;
        }
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

#define FNV_OFFSET 2166136261u
#define FNV_PRIME  16777619u

static uint32_t hash_label(const char *s, size_t len)
{
    uint32_t h = FNV_OFFSET;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
    return h;
}

/* Rebuilds n's hash index for its statics; set-up time only. */
static int reindex(struct rnode *n)
{
    size_t size = 4;
    while (size < 2 * n->n_statics)
        size *= 2;
    struct rnode **index = weft__calloc(size, sizeof(*index));
    if (!index)
        return -ENOMEM;
    for (size_t i = 0; i < n->n_statics; i++) {
        size_t at = n->statics[i]->label_hash & (size - 1);
        while (index[at])
            at = (at + 1) & (size - 1);
        index[at] = n->statics[i];
    }
    weft__free(n->index);
    n->index = index;
    n->index_mask = (uint32_t)(size - 1);
    return 0;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = weft__malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static struct rnode *static_child(struct rnode *n, const char *label, size_t len)
{
    bool found;
    size_t i = find_static(n, label, len, &found);
    if (found)
        return n->statics[i];
    struct rnode *c = weft__calloc(1, sizeof(*c));
    struct rnode **v = weft__realloc(n->statics, (n->n_statics + 1) * sizeof(*v));
    if (v)
        n->statics = v;
    if (!c || !v || !(c->label = dup_n(label, len))) {
        weft__free(c);
        return NULL;
    }
    c->label_len = len;
    c->label_hash = hash_label(label, len);
    memmove(v + i + 1, v + i, (n->n_statics - i) * sizeof(*v));
    v[i] = c;
    n->n_statics++;
    if (reindex(n) < 0) { /* take it out again: the trie stays as it was */
        memmove(v + i, v + i + 1, (n->n_statics - i - 1) * sizeof(*v));
        n->n_statics--;
        weft__free(c->label);
        weft__free(c);
        return NULL;
    }
    return c;
}

/* The ":name" or "*name" child; the same name again is fine, another name
   at the same place is -EINVAL (which would a handler read?). */
static int named_child(struct rnode **slot, char **name_slot, const char *name, size_t len,
                       struct rnode **out)
{
    if (len == 0)
        return -EINVAL;
    if (*slot) {
        if (strlen(*name_slot) != len || memcmp(*name_slot, name, len))
            return -EINVAL;
        *out = *slot;
        return 0;
    }
    struct rnode *c = weft__calloc(1, sizeof(*c));
    char *nm = dup_n(name, len);
    if (!c || !nm) {
        weft__free(c);
        weft__free(nm);
        return -ENOMEM;
    }
    *slot = c;
    *name_slot = nm;
    *out = c;
    return 0;
}

static int add_route(struct rnode *n, const char *method, const char *pattern,
                     weft_handler_fn handler, void *arg, const weft_route_options_t *opts)
{
    const char *m = strcmp(method, "*") ? method : "";
    for (struct route *r = n->routes; r; r = r->next)
        if (!strcmp(r->method, m))
            return -EEXIST;
    struct route *r = weft__calloc(1, sizeof(*r));
    if (r && !(r->pattern = weft__strdup(pattern))) {
        weft__free(r);
        r = NULL;
    }
    if (!r)
        return -ENOMEM;
    snprintf(r->method, sizeof(r->method), "%s", m);
    r->method_len = strlen(r->method);
    snprintf(r->note, sizeof(r->note), "%s %s", method, pattern);
    r->handler = handler;
    r->arg = arg;
    r->opts = opts ? *opts : (weft_route_options_t){0};
    r->next = n->routes;
    n->routes = r;
    return 0;
}

static bool valid_method(const char *m)
{
    size_t n = strlen(m);
    if (!strcmp(m, "*"))
        return true;
    if (n == 0 || n >= 16)
        return false;
    for (size_t i = 0; i < n; i++)
        if (m[i] < 'A' || m[i] > 'Z')
            return false;
    return true;
}

int weft__router_add(struct rnode *root, const char *method, const char *pattern,
                     weft_handler_fn handler, void *arg, const weft_route_options_t *opts)
{
    if (!method || !pattern || !handler || pattern[0] != '/' || !valid_method(method))
        return -EINVAL;
    struct rnode *n = root;
    const char *p = pattern + 1;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int r = 0;
        if (p[0] == ':') {
            r = named_child(&n->param, &n->param_name, p + 1, len - 1, &n);
        } else if (p[0] == '*') {
            if (end)
                return -EINVAL; /* the rest must be the last segment */
            r = named_child(&n->rest, &n->rest_name, p + 1, len - 1, &n);
        } else {
            if (len == 0 && end)
                return -EINVAL; /* "//" */
            n = static_child(n, p, len);
            r = n ? 0 : -ENOMEM;
        }
        if (r < 0)
            return r;
        p += len + (end ? 1 : 0);
        if (end && !*p)
            n = static_child(n, "", 0); /* a trailing slash is a segment */
        if (!n)
            return -ENOMEM;
    }
    return add_route(n, method, pattern, handler, arg, opts);
}

/* ---- matching ------------------------------------------------------------ */

static bool push_param(struct app_req *ar, const char *name, const char *at, size_t len)
{
    if (ar->n_params == WEFT__MAX_PARAMS)
        return false;
    ar->params[ar->n_params++] = (struct param){name, {at, len}};
    return true;
}

/* The static child of n labelled p[0, len) with that hash, or NULL. */
static const struct rnode *lookup_static(const struct rnode *n, const char *p, size_t len,
                                         uint32_t hash)
{
    if (!n->index)
        return NULL;
    for (uint32_t at = hash & n->index_mask;; at = (at + 1) & n->index_mask) {
        const struct rnode *c = n->index[at];
        if (!c)
            return NULL;
        if (c->label_hash == hash && c->label_len == len && !memcmp(c->label, p, len))
            return c;
    }
}

/* Matches the segments from p (just after a '/') to end. */
static const struct rnode *walk(const struct rnode *n, const char *p, const char *end,
                                struct app_req *ar)
{
    if (p > end)
        return n->routes ? n : NULL;
    uint32_t hash = FNV_OFFSET; /* the segment's end and hash in one pass */
    const char *seg_end = p;
    while (seg_end < end && *seg_end != '/')
        hash = (hash ^ (unsigned char)*seg_end++) * FNV_PRIME;
    size_t len = (size_t)(seg_end - p);
    const char *next = seg_end + 1;
    const struct rnode *child = lookup_static(n, p, len, hash);
    const struct rnode *hit = child ? walk(child, next, end, ar) : NULL;
    if (hit)
        return hit;
    unsigned saved = ar->n_params;
    if (n->param && len > 0 && push_param(ar, n->param_name, p, len)) {
        if ((hit = walk(n->param, next, end, ar)))
            return hit;
        ar->n_params = saved;
    }
    if (n->rest && n->rest->routes && push_param(ar, n->rest_name, p, (size_t)(end - p)))
        return n->rest;
    return NULL;
}

const struct rnode *weft__router_match(const struct rnode *root, weft_slice_t path,
                                       struct app_req *ar)
{
    ar->n_params = 0;
    if (path.len == 0 || path.ptr[0] != '/')
        return NULL;
    if (path.len == 1)
        return root->routes ? root : walk(root, path.ptr + 1, path.ptr + 1, ar);
    return walk(root, path.ptr + 1, path.ptr + path.len, ar);
}

const struct route *weft__router_method(const struct rnode *node, weft_slice_t method)
{
    const struct route *any = NULL;
    for (const struct route *r = node->routes; r; r = r->next) {
        if (!r->method_len)
            any = r;
        else if (r->method_len == method.len && r->method[0] == method.ptr[0] &&
                 !memcmp(r->method, method.ptr, method.len))
            return r;
    }
    if (!any && weft_slice_eq(method, "HEAD"))
        return weft__router_method(node, (weft_slice_t){"GET", 3}); /* HEAD from GET */
    return any;
}

size_t weft__router_allow(const struct rnode *node, char *out, size_t cap)
{
    size_t n = 0;
    bool get = false, head = false;
    for (const struct route *r = node->routes; r; r = r->next) {
        get |= !strcmp(r->method, "GET");
        head |= !strcmp(r->method, "HEAD");
    }
    for (const struct route *r = node->routes; r; r = r->next)
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s", n ? ", " : "", r->method);
    if (get && !head)
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, ", HEAD");
    return n < cap ? n : cap - 1;
}

void weft__router_free(struct rnode *n)
{
    for (size_t i = 0; i < n->n_statics; i++) {
        weft__router_free(n->statics[i]);
        weft__free(n->statics[i]);
    }
    weft__free(n->statics);
    weft__free(n->index);
    if (n->param) {
        weft__router_free(n->param);
        weft__free(n->param);
    }
    if (n->rest) {
        weft__router_free(n->rest);
        weft__free(n->rest);
    }
    weft__free(n->param_name);
    weft__free(n->rest_name);
    weft__free(n->label);
    for (struct route *r = n->routes, *next; r; r = next) {
        next = r->next;
        weft__free(r->pattern);
        weft__free(r); /* its counts belong to the app's figures */
    }
}
