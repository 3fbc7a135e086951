/*
 * bench-routing - issue 9: what a big route table costs a request, in
 * instructions counted by callgrind, and (with --serve, for
 * bench/offload.py) a /fib server whose CPU-bound handler runs inline or
 * on the app's pool.
 *
 * Routing cost (the default mode). The same request,
 *     GET /api/v1/users/12345/posts/678 HTTP/1.1, Host only,
 * against an app holding only its route, GET /api/v1/users/:id/posts/:post,
 * and one holding 500 routes (what a REST service has: 3 API versions x 20
 * resources x list/search/new/:id/:id/<sub>/:<sub> under several methods,
 * plus /, /health, three files under /static beside a catch-all "*asset"
 * there, a catch-all "*path" under /files, /admin/..., /docs/:page). So
 * only the table differs: the requested route sits five levels deep, and
 * in the big table every level has siblings to search (11 statics at the
 * root, 21 under /api/v1, 3 under /api/v1/users beside :id) and the last
 * node's route list holds DELETE before GET.
 *
 * One measured process (--client ROUTES N DEPTH) serves that app with
 * weft_server (1 loop, 127.0.0.1, port 0) and its main thread drives N
 * requests over one keep-alive connection: DEPTH requests per write
 * (1: one at a time, as a browser; 16: pipelined, as TechEmpower's
 * plaintext), reading and checking every answer (200, the route's body).
 * The whole request path is measured: the read, llhttp, routing, the
 * handler, the response head and the write, and libuv's polling.
 *
 * The driver runs that process under
 *     valgrind --tool=callgrind --separate-threads=yes
 * for each table size at two counts N1 < N2, and takes
 *     (Ir(N2) - Ir(N1)) / (N2 - N1)
 * of the loop thread as its instructions per request: start-up (the
 * server, the first-call costs of the dynamic linker, the connection) and
 * shutdown are the same in both runs and cancel. Why per-thread files
 * rather than --toggle-collect on the loop's entry: the client thread's
 * instructions (building requests, parsing answers) must not count, and a
 * per-thread total needs no assumption about which functions the loop
 * calls; the loop thread is recognised as the one that called
 * weft__router_match (the only one that routes). From the same file: the
 * router alone, the inclusive instructions of weft__router_match over its
 * calls (callgrind's calls= counts). Kernel time is not counted by
 * callgrind: these are user-space instructions. callgrind serialises the
 * threads, so the counts repeat run to run.
 *
 * Target: 500 routes cost less than 5% more instructions per request than 1.
 */
#include "bench-common.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft/app.h"
#include "weft/server.h"

#define MAX_ROUNDS    100
#define MAX_SIZES     8
#define FULL_TABLE    500
#define REQUEST_PATH  "/api/v1/users/12345/posts/678"
#define REQUEST_ROUTE "/api/v1/users/:id/posts/:post"
#define BODY          "Hello, World!"
#define FIB_MAX       40

/* ---- the route table -------------------------------------------------------- */

struct route_spec {
    char method[8];
    char pattern[64];
};

static const char *const resources[] = {
    "users",     "orders",  "products",   "invoices", "customers", "carts",    "payments",
    "shipments", "reviews", "categories", "tags",     "sessions",  "tokens",   "teams",
    "projects",  "tasks",   "comments",   "webhooks", "reports",   "settings",
};
#define N_RESOURCES (sizeof resources / sizeof resources[0])

static const char *const subs[][2] = {
    {"posts", "post"}, {"items", "item"}, {"events", "event"}, {"notes", "note"}};

static const char *const extras[][2] = {
    {"GET", "/"},
    {"GET", "/health"},
    {"GET", "/metrics"},
    {"POST", "/login"},
    {"POST", "/logout"},
    {"GET", "/static/css/app.css"},
    {"GET", "/static/js/app.js"},
    {"GET", "/static/img/logo.png"},
    {"GET", "/static/*asset"},
    {"GET", "/files/*path"},
    {"PUT", "/files/*path"},
    {"GET", "/admin"},
    {"GET", "/admin/users"},
    {"GET", "/admin/users/:id"},
    {"POST", "/admin/users/:id/ban"},
    {"GET", "/docs"},
    {"GET", "/docs/:page"},
    {"GET", "/robots.txt"},
    {"GET", "/favicon.ico"},
    {"GET", "/api/v1/status"},
};

/* The 500 routes, the requested one first: 3 versions x 20 resources x 8,
   then 20 others. Returns how many were written into out. */
static size_t full_table(struct route_spec *out)
{
    size_t n = 0;
    snprintf(out[n].method, sizeof out[n].method, "GET");
    snprintf(out[n].pattern, sizeof out[n].pattern, "%s", REQUEST_ROUTE);
    n++;
    for (int v = 1; v <= 3; v++)
        for (size_t r = 0; r < N_RESOURCES; r++) {
            const char *res = resources[r], *sub = subs[r % 4][0], *sp = subs[r % 4][1];
            const char *m[8] = {"GET", "GET", "POST", "GET", "PUT", "DELETE", "GET", "DELETE"};
            char p[8][64];
            snprintf(p[0], 64, "/api/v%d/%s/list", v, res);
            snprintf(p[1], 64, "/api/v%d/%s/search", v, res);
            snprintf(p[2], 64, "/api/v%d/%s/new", v, res);
            snprintf(p[3], 64, "/api/v%d/%s/:id", v, res);
            snprintf(p[4], 64, "/api/v%d/%s/:id", v, res);
            snprintf(p[5], 64, "/api/v%d/%s/:id", v, res);
            snprintf(p[6], 64, "/api/v%d/%s/:id/%s/:%s", v, res, sub, sp);
            snprintf(p[7], 64, "/api/v%d/%s/:id/%s/:%s", v, res, sub, sp);
            for (int i = 0; i < 8; i++) {
                if (!strcmp(m[i], "GET") && !strcmp(p[i], REQUEST_ROUTE))
                    continue; /* already first */
                snprintf(out[n].method, sizeof out[n].method, "%s", m[i]);
                snprintf(out[n].pattern, sizeof out[n].pattern, "%.63s", p[i]);
                n++;
            }
        }
    for (size_t i = 0; i < sizeof extras / sizeof extras[0]; i++) {
        snprintf(out[n].method, sizeof out[n].method, "%s", extras[i][0]);
        snprintf(out[n].pattern, sizeof out[n].pattern, "%s", extras[i][1]);
        n++;
    }
    return n;
}

static void requested_route(weft_request_t *req, weft_response_t *res, void *arg)
{
    weft_response_header(res, "Content-Type", "text/plain");
    weft_response_send_borrowed(res, BODY, sizeof BODY - 1, NULL, NULL);
}

static void other_route(weft_request_t *req, weft_response_t *res, void *arg)
{
    weft_response_send_error(res, 500, "the wrong route answered");
}

/* An app with the first `routes` of the table (the requested one first). */
static weft_app_t *routing_app(unsigned routes)
{
    static struct route_spec table[FULL_TABLE];
    size_t n = full_table(table);
    if (n != FULL_TABLE || routes == 0 || routes > n) {
        fprintf(stderr, "bench-routing: %u routes: between 1 and %zu\n", routes, n);
        exit(2);
    }
    weft_app_t *app = weft_app_new();
    if (!app)
        return NULL;
    for (unsigned i = 0; i < routes; i++) {
        int r = weft_app_route(app, table[i].method, table[i].pattern,
                               i == 0 ? requested_route : other_route, NULL);
        if (r < 0) {
            fprintf(stderr, "bench-routing: %s %s: %s\n", table[i].method, table[i].pattern,
                    weft_strerror(r));
            exit(1);
        }
    }
    return app;
}

/* ---- a blocking HTTP/1.1 client ---------------------------------------------- */

struct client {
    int fd;
    char buf[64 * 1024];
    size_t len, consumed; /* bytes in buf; of them, the answers already read */
};

static int client_connect(struct client *c, uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    c->len = c->consumed = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        return -errno;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EPIPE;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one Content-Length-framed response: 0 with its status and body
   (pointing into c->buf, valid until the next call), or -1 and why. */
static int read_response(struct client *c, int *status, const char **body, size_t *body_len,
                         const char **why)
{
    memmove(c->buf, c->buf + c->consumed, c->len - c->consumed);
    c->len -= c->consumed;
    c->consumed = 0;
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (end) {
            size_t head = (size_t)(end - c->buf) + 4;
            char *cl = memmem(c->buf, head, "\r\nContent-Length: ", 18);
            if (c->len < 12 || memcmp(c->buf, "HTTP/1.1 ", 9) || !cl) {
                *why = "not an HTTP/1.1 response with Content-Length";
                return -1;
            }
            size_t blen = strtoul(cl + 18, NULL, 10);
            if (c->len >= head + blen) {
                *status = atoi(c->buf + 9);
                *body = c->buf + head;
                *body_len = blen;
                c->consumed = head + blen;
                return 0;
            }
        }
        if (c->len == sizeof c->buf) {
            *why = "response too large";
            return -1;
        }
        ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            *why = r == 0 ? "the server closed the connection" : strerror(errno);
            return -1;
        }
        c->len += (size_t)r;
    }
}

/* ---- --client: one measured process ------------------------------------------ */

static int client_main(unsigned routes, uint64_t n, unsigned depth)
{
    weft_app_t *app = routing_app(routes);
    weft_server_t *srv = app ? weft_server_new(&(weft_server_options_t){.threads = 1}) : NULL;
    int r = srv ? weft_server_listen(srv, "127.0.0.1", 0, app) : -ENOMEM;
    if (r == 0)
        r = weft_server_start(srv);
    if (r < 0) {
        fprintf(stderr, "bench-routing: starting the server: %s\n", weft_strerror(r));
        return 1;
    }
    static struct client c;
    if ((r = client_connect(&c, weft_server_port(srv, 0))) < 0) {
        fprintf(stderr, "bench-routing: connect: %s\n", strerror(-r));
        return 1;
    }
    static const char one[] = "GET " REQUEST_PATH " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    size_t len = (sizeof one - 1) * depth;
    char *batch = malloc(len);
    if (!batch)
        return 1;
    for (unsigned i = 0; i < depth; i++)
        memcpy(batch + i * (sizeof one - 1), one, sizeof one - 1);
    uint64_t done = 0;
    const char *why = NULL;
    while (done < n && !why) {
        if ((r = write_all(c.fd, batch, len)) < 0) {
            why = strerror(-r);
            break;
        }
        for (unsigned i = 0; i < depth && !why; i++) {
            int status;
            const char *body;
            size_t blen;
            if (read_response(&c, &status, &body, &blen, &why) < 0)
                break;
            if (status != 200 || blen != sizeof BODY - 1 || memcmp(body, BODY, blen))
                why = "an answer other than 200 " BODY;
            else
                done++;
        }
    }
    close(c.fd);
    free(batch);
    weft_server_stop(srv);
    weft_server_wait(srv);
    weft_server_free(srv);
    weft_app_free(app);
    if (why) {
        fprintf(stderr, "bench-routing: request %llu: %s\n", (unsigned long long)done + 1, why);
        return 1;
    }
    printf("ok %llu\n", (unsigned long long)done);
    return 0;
}

/* ---- reading callgrind's per-thread files ------------------------------------- */

/* The functions whose inclusive cost is reported: the trie walk and the
   method lookup on the node it found (src/app/router.c). */
enum { F_MATCH, F_METHOD, F_COUNT };
static const char *const fn_names[F_COUNT] = {"weft__router_match", "weft__router_method"};

struct thread_cost {
    uint64_t total;          /* Ir of the thread */
    uint64_t incl[F_COUNT];  /* inclusive Ir of fn_names[i] */
    uint64_t calls[F_COUNT]; /* calls to it, from outside itself */
};

/* Function names, by callgrind's compression id ("fn=(12) name"). */
struct names {
    char **v;
    size_t n;
};

/* The name a fn=/cfn= value refers to, registering "(id) name". */
static const char *fn_name(struct names *t, const char *val)
{
    if (val[0] != '(')
        return val;
    char *end;
    unsigned long id = strtoul(val + 1, &end, 10);
    if (*end != ')' || id > 1000000)
        return "";
    if (id >= t->n) {
        size_t n = id + 1 > 2 * t->n ? id + 1 : 2 * t->n;
        char **v = realloc(t->v, n * sizeof *v);
        if (!v)
            return "";
        memset(v + t->n, 0, (n - t->n) * sizeof *v);
        t->v = v;
        t->n = n;
    }
    if (end[1] == ' ' && !t->v[id])
        t->v[id] = strdup(end + 2);
    return t->v[id] ? t->v[id] : "";
}

/* Which of fn_names a symbol is (a compiler clone "name.part.0" too), or -1. */
static int which_fn(const char *name)
{
    for (int i = 0; i < F_COUNT; i++) {
        size_t n = strlen(fn_names[i]);
        if (!strncmp(name, fn_names[i], n) &&
            (name[n] == '\0' || name[n] == '.' || name[n] == ' ' || name[n] == '\''))
            return i;
    }
    return -1;
}

/*
 * Parses one callgrind output file (one thread). Inclusive cost of f: the
 * sum of every cost line inside f's "fn=" blocks, its own lines and the
 * lines after "calls=" that give each call's inclusive cost (neither
 * function recurses, so nothing is counted twice). 0, or -1.
 */
static int parse_callgrind(const char *path, struct thread_cost *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    struct names names = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int in_fn = -1, call_to = -1;
    *out = (struct thread_cost){0};
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        char c = line[0];
        if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '*') {
            /* a cost line, "position Ir" (the only event collected) */
            const char *sp = strchr(line, ' ');
            if (in_fn >= 0 && sp)
                out->incl[in_fn] += strtoull(sp + 1, NULL, 10);
        } else if (!strncmp(line, "fn=", 3)) {
            in_fn = which_fn(fn_name(&names, line + 3));
        } else if (!strncmp(line, "cfn=", 4)) {
            call_to = which_fn(fn_name(&names, line + 4));
        } else if (!strncmp(line, "calls=", 6)) {
            if (call_to >= 0 && call_to != in_fn)
                out->calls[call_to] += strtoull(line + 6, NULL, 10);
        } else if (!strncmp(line, "summary:", 8) || !strncmp(line, "totals:", 7)) {
            out->total = strtoull(strchr(line, ':') + 1, NULL, 10);
        }
    }
    free(line);
    for (size_t i = 0; i < names.n; i++)
        free(names.v[i]);
    free(names.v);
    fclose(f);
    return 0;
}

/* ---- the driver ------------------------------------------------------------------ */

static struct {
    unsigned rounds;
    uint64_t n1, n2;
    unsigned sizes[MAX_SIZES], n_sizes;
    unsigned depths[2], n_depths;
    const char *valgrind;
    char self[PATH_MAX];
    char tmp[64];
} opt;

typedef struct {
    double per_req;           /* Ir per request, loop thread */
    double per_call[F_COUNT]; /* inclusive Ir per call */
} sample_t;

typedef struct {
    unsigned n;
    sample_t s[MAX_ROUNDS];
    char why[200];
} result_t;

/* One callgrind run: the loop thread's costs. 0, or -1 with why. */
static int callgrind_run(unsigned routes, uint64_t n, unsigned depth, struct thread_cost *loop,
                         char *why, size_t why_len)
{
    char outfile[128], logfile[128], stdout_file[128], routes_s[16], n_s[32], depth_s[16];
    snprintf(outfile, sizeof outfile, "%s/cg.out", opt.tmp);
    snprintf(logfile, sizeof logfile, "%s/valgrind.log", opt.tmp);
    snprintf(stdout_file, sizeof stdout_file, "%s/client.out", opt.tmp);
    snprintf(routes_s, sizeof routes_s, "%u", routes);
    snprintf(n_s, sizeof n_s, "%llu", (unsigned long long)n);
    snprintf(depth_s, sizeof depth_s, "%u", depth);
    char out_arg[160], log_arg[160];
    snprintf(out_arg, sizeof out_arg, "--callgrind-out-file=%s", outfile);
    snprintf(log_arg, sizeof log_arg, "--log-file=%s", logfile);
    char *const argv[] = {(char *)opt.valgrind,
                          "--tool=callgrind",
                          "--separate-threads=yes",
                          out_arg,
                          log_arg,
                          opt.self,
                          "--client",
                          routes_s,
                          n_s,
                          depth_s,
                          NULL};
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_len, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        if (!freopen(stdout_file, "w", stdout))
            _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    char ok[64] = "";
    FILE *f = fopen(stdout_file, "r");
    if (f) {
        if (!fgets(ok, sizeof ok, f))
            ok[0] = '\0';
        fclose(f);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || strncmp(ok, "ok ", 3)) {
        snprintf(why, why_len, "valgrind ... --client %u %llu %u failed (status %d; see %.100s)",
                 routes, (unsigned long long)n, depth, status, logfile);
        return -1;
    }
    /* callgrind names the per-thread files cg.out-01, cg.out-02, ... */
    int found = 0;
    for (int t = 1; t < 100; t++) {
        char path[160];
        struct thread_cost tc;
        snprintf(path, sizeof path, "%s-%02d", outfile, t);
        if (access(path, R_OK) != 0)
            continue;
        if (parse_callgrind(path, &tc) == 0 && tc.calls[F_MATCH] > 0) {
            *loop = tc;
            found++;
        }
        unlink(path);
    }
    unlink(outfile); /* callgrind leaves it empty */
    if (found != 1) {
        snprintf(why, why_len, "%d threads called %s, not 1", found, fn_names[F_MATCH]);
        return -1;
    }
    if (loop->calls[F_MATCH] < n || loop->calls[F_METHOD] < n) {
        snprintf(why, why_len, "the router was called %llu and %llu times for %llu requests",
                 (unsigned long long)loop->calls[F_MATCH],
                 (unsigned long long)loop->calls[F_METHOD], (unsigned long long)n);
        return -1;
    }
    return 0;
}

/* One round for (routes, depth): Ir per request and per router call. */
static int measure(unsigned routes, unsigned depth, sample_t *out, char *why, size_t why_len)
{
    struct thread_cost a, b;
    if (callgrind_run(routes, opt.n1, depth, &a, why, why_len) < 0 ||
        callgrind_run(routes, opt.n2, depth, &b, why, why_len) < 0)
        return -1;
    out->per_req = ((double)b.total - (double)a.total) / (double)(opt.n2 - opt.n1);
    for (int i = 0; i < F_COUNT; i++)
        out->per_call[i] =
            ((double)b.incl[i] - (double)a.incl[i]) / ((double)b.calls[i] - (double)a.calls[i]);
    return 0;
}

static const char *fmt_ir(double v, char *buf, size_t len)
{
    return bench_fmt_count((uint64_t)(v + 0.5), buf, len);
}

/* The median over rounds of a sample field: what < 0 is per_req, else per_call[what]. */
static double median_of(const result_t *r, int what)
{
    double v[MAX_ROUNDS];
    for (unsigned i = 0; i < r->n; i++)
        v[i] = what < 0 ? r->s[i].per_req : r->s[i].per_call[what];
    return bench_median(v, r->n);
}

static void report(result_t res[][MAX_SIZES])
{
    char title[200];
    snprintf(title, sizeof title,
             "Instructions per request on the loop thread (callgrind: (Ir(%llu) - Ir(%llu)) / "
             "%llu requests), median of %u rounds",
             (unsigned long long)opt.n2, (unsigned long long)opt.n1,
             (unsigned long long)(opt.n2 - opt.n1), opt.rounds);
    bench_table_t *t = bench_table_new(
        title, "lrrrrrrr",
        (const char *const[]){"scenario", "routes", "Ir/request", "min..max", "vs 1 route",
                              "match Ir/call", "method Ir/call", "routing share"});
    char targets[1024] = "", notes[1024] = "";
    size_t at = 0, nt = 0;
    for (unsigned d = 0; d < opt.n_depths; d++) {
        char label[48];
        if (opt.depths[d] == 1)
            snprintf(label, sizeof label, "keep-alive, 1 in flight");
        else
            snprintf(label, sizeof label, "pipelined, %u per write", opt.depths[d]);
        if (d)
            bench_table_gap(t);
        double base = 0;
        for (unsigned s = 0; s < opt.n_sizes; s++) {
            result_t *r = &res[d][s];
            char b[8][48], rs[16];
            snprintf(rs, sizeof rs, "%u", opt.sizes[s]);
            if (r->n == 0) {
                bench_table_rowv(t, s ? "" : label, rs, "n/a", "", "", "", "", "");
                nt += (size_t)snprintf(notes + nt, sizeof notes - nt, "  n/a: %s, %u routes: %s\n",
                                       label, opt.sizes[s], r->why);
                if (opt.sizes[s] > 1 && s == opt.n_sizes - 1)
                    at += (size_t)snprintf(targets + at, sizeof targets - at,
                                           "- %s: %u routes < 1.05x the instructions per request "
                                           "of 1 route: n/a\n",
                                           label, opt.sizes[s]);
                continue;
            }
            double m = median_of(r, -1), match = median_of(r, F_MATCH);
            double method = median_of(r, F_METHOD);
            double lo = r->s[0].per_req, hi = lo;
            for (unsigned i = 1; i < r->n; i++) {
                lo = r->s[i].per_req < lo ? r->s[i].per_req : lo;
                hi = r->s[i].per_req > hi ? r->s[i].per_req : hi;
            }
            if (opt.sizes[s] == 1)
                base = m;
            char range[100], ratio[32] = "-", share[32];
            snprintf(range, sizeof range, "%s..%s", fmt_ir(lo, b[1], 48), fmt_ir(hi, b[2], 48));
            if (base > 0)
                snprintf(ratio, sizeof ratio, "%.4fx", m / base);
            snprintf(share, sizeof share, "%.1f%%", 100.0 * (match + method) / m);
            bench_table_rowv(t, s ? "" : label, rs, fmt_ir(m, b[0], 48), range, ratio,
                             fmt_ir(match, b[3], 48), fmt_ir(method, b[4], 48), share);
            if (opt.sizes[s] > 1 && s == opt.n_sizes - 1) {
                const char *verdict = base > 0 ? (m / base < 1.05 ? "met" : "MISSED") : "n/a";
                char fig[96] = "n/a";
                if (base > 0)
                    snprintf(fig, sizeof fig, "%.4fx: %s %s Ir", m / base,
                             fmt_ir(m >= base ? m - base : base - m, b[5], 48),
                             m >= base ? "more" : "fewer");
                at += (size_t)snprintf(targets + at, sizeof targets - at,
                                       "- %s: %u routes < 1.05x the instructions per request of "
                                       "1 route (%s): %s\n",
                                       label, opt.sizes[s], fig, verdict);
            }
        }
    }
    static const char legend[] =
        "match Ir/call: inclusive instructions per call of weft__router_match (the trie walk:\n"
        "  a hash of each segment, a lookup in its node's table); method Ir/call: of\n"
        "  weft__router_method (the node's route list); routing share: both, of a request's.\n"
        "Not counted: the kernel (callgrind sees user space only) and the client thread.\n";
    printf("\n");
    bench_table_print_text(t, stdout);
    printf("\n%s%s\nTargets\n%s", notes, legend, targets);
    printf("\n---- markdown ----\n\n");
    bench_table_print_markdown(t, stdout);
    printf("\n%s\nTargets:\n\n%s", legend, targets);
    bench_table_free(t);
}

static int driver_main(void)
{
    char a[32], b[32], load[64] = "unknown";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        double l1, l5, l15;
        if (fscanf(f, "%lf %lf %lf", &l1, &l5, &l15) == 3)
            snprintf(load, sizeof load, "%.2f %.2f %.2f", l1, l5, l15);
        fclose(f);
    }
    bench_print_machine(stdout, "bench-routing");
    printf("versions: weft %s; load average now: %s (callgrind counts do not depend on it)\n",
           weft_version_string(), load);
    printf("settings: %u rounds; requests per run %s and %s; GET %s against the route %s "
           "among 1 and %u routes; 1 loop, 1 keep-alive connection\n",
           opt.rounds, bench_fmt_count(opt.n1, a, sizeof a), bench_fmt_count(opt.n2, b, sizeof b),
           REQUEST_PATH, REQUEST_ROUTE, FULL_TABLE);
    fflush(stdout);
    static result_t res[2][MAX_SIZES];
    if (!opt.valgrind) {
        printf("\nvalgrind not found (apt-get install valgrind): instruction counts n/a\n");
        printf("\nTargets\n- 500 routes < 1.05x the instructions per request of 1 route: n/a\n");
        printf("\n---- markdown ----\n\nTargets:\n\n- 500 routes < 1.05x the instructions per "
               "request of 1 route: n/a (no valgrind)\n");
        return 0;
    }
    snprintf(opt.tmp, sizeof opt.tmp, "/tmp/weft-bench-routing-XXXXXX");
    if (!mkdtemp(opt.tmp)) {
        fprintf(stderr, "bench-routing: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    int status = 0;
    for (unsigned round = 0; round < opt.rounds; round++)
        for (unsigned d = 0; d < opt.n_depths; d++)
            for (unsigned k = 0; k < opt.n_sizes; k++) {
                unsigned s = (k + round) % opt.n_sizes; /* rotate the order */
                result_t *r = &res[d][s];
                fprintf(stderr, "bench-routing: round %u/%u, %u routes, depth %u\n", round + 1,
                        opt.rounds, opt.sizes[s], opt.depths[d]);
                if (measure(opt.sizes[s], opt.depths[d], &r->s[r->n], r->why, sizeof r->why) == 0)
                    r->n++;
                else {
                    fprintf(stderr, "bench-routing: %s\n", r->why);
                    status = 1;
                }
            }
    char path[160];
    const char *left[] = {"valgrind.log", "client.out"};
    for (size_t i = 0; i < 2 && !status; i++) {
        snprintf(path, sizeof path, "%s/%s", opt.tmp, left[i]);
        unlink(path);
    }
    if (!status)
        rmdir(opt.tmp);
    report(res);
    return status;
}

/* ---- --serve: the /fib server for bench/offload.py --------------------------------- */

/* Out of line and the same in both modes: the work a CPU-bound handler does. */
__attribute__((noinline)) static uint64_t fib(unsigned n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static void fib_job(weft_job_t *job, void *arg)
{
    weft_job_return_int(job, (int64_t)fib((unsigned)(uintptr_t)arg));
}

static bool fib_arg(weft_request_t *req, weft_response_t *res, unsigned *n)
{
    weft_slice_t v;
    unsigned long x = 0;
    bool ok = weft_request_param(req, "n", &v) && v.len > 0 && v.len < 3;
    for (size_t i = 0; ok && i < v.len; i++) {
        ok = v.ptr[i] >= '0' && v.ptr[i] <= '9';
        x = x * 10 + (unsigned long)(v.ptr[i] - '0');
    }
    if (!ok || x > FIB_MAX) {
        weft_response_send_error(res, 400, "n must be a number up to 40");
        return false;
    }
    *n = (unsigned)x;
    return true;
}

/* The same answer as weft_offload's default for an int result. */
static void fib_inline(weft_request_t *req, weft_response_t *res, void *arg)
{
    unsigned n;
    if (!fib_arg(req, res, &n))
        return;
    char text[32];
    int len = snprintf(text, sizeof text, "%lld\n", (long long)fib(n));
    weft_response_header(res, "Content-Type", "text/plain; charset=utf-8");
    weft_response_send(res, text, (size_t)len);
}

static void fib_offload(weft_request_t *req, weft_response_t *res, void *arg)
{
    unsigned n;
    if (fib_arg(req, res, &n))
        weft_offload(req, res, fib_job, (void *)(uintptr_t)n, NULL, NULL);
}

static int serve_main(bool offload, unsigned loops, unsigned pool_threads)
{
    /* Blocked here, so every thread inherits it; sigwait takes it below. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    weft_pool_t *pool = NULL;
    if (pool_threads) {
        pool = weft_pool_new(&(weft_pool_options_t){.threads = pool_threads, .name = "bench-fib"});
        if (!pool) {
            fprintf(stderr, "bench-routing: weft_pool_new: %s\n", strerror(errno));
            return 1;
        }
    }
    weft_app_t *app = weft_app_new();
    int r = app ? 0 : -ENOMEM;
    if (r == 0)
        r = weft_app_route(app, "GET", "/plaintext", requested_route, NULL);
    if (r == 0)
        r = weft_app_route(app, "GET", "/fib/:n", offload ? fib_offload : fib_inline, NULL);
    if (r == 0 && pool)
        r = weft_app_set_pool(app, pool);
    weft_server_t *srv = NULL;
    if (r == 0) {
        srv = weft_server_new(&(weft_server_options_t){
            .threads = loops, .idle_timeout_ms = 600000, .max_connections = 20000});
        r = srv ? weft_server_listen(srv, "127.0.0.1", 0, app) : -errno;
    }
    if (r == 0)
        r = weft_server_start(srv);
    if (r < 0) {
        fprintf(stderr, "bench-routing: serving: %s\n", weft_strerror(r));
        return 1;
    }
    printf("listening on http://127.0.0.1:%u/\n", weft_server_port(srv, 0));
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    weft_server_stop(srv);
    weft_server_wait(srv);
    weft_server_free(srv);
    if (pool) {
        weft_pool_close(pool, 5000);
        weft_pool_free(pool);
    }
    weft_app_free(app);
    return 0;
}

/* ---- main ---------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out, "usage: bench-routing [--rounds N] [--requests N1,N2] [--routes LIST]\n"
                 "                     [--depths LIST] [--quick] [--valgrind PATH]\n"
                 "       bench-routing --client ROUTES N DEPTH\n"
                 "       bench-routing --serve inline|offload --loops N --pool N\n"
                 "  --rounds N         rounds, sizes in rotating order; medians (default 3)\n"
                 "  --requests N1,N2   requests in the two runs differenced (default 2k,12k)\n"
                 "  --routes LIST      table sizes, 1 to 500 (default 1,500)\n"
                 "  --depths LIST      requests per write: 1 and/or 16 (default 1,16)\n"
                 "  --quick            1 round of 400 and 1,600 requests\n"
                 "  --valgrind PATH    the valgrind to run (default: valgrind on PATH)\n"
                 "  --client           one measured process (what the driver runs)\n"
                 "  --serve MODE       serve GET /plaintext and GET /fib/:n on 127.0.0.1, a free\n"
                 "                     port (printed), /fib computed on the loop (inline) or on a\n"
                 "                     pool of --pool threads (offload); --loops loops; stops on\n"
                 "                     SIGTERM (bench/offload.py)\n");
}

static const char *find_in_path(const char *name)
{
    static char buf[PATH_MAX];
    const char *path = getenv("PATH");
    if (!path)
        return NULL;
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, name);
        if (n && access(buf, X_OK) == 0)
            return buf;
        path += n + (path[n] == ':');
    }
    return NULL;
}

static unsigned parse_list(const char *s, unsigned *out, unsigned max, uint64_t hi)
{
    unsigned n = 0;
    char *copy = strdup(s), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        uint64_t v;
        if (n == max || bench_parse_count(tok, &v) < 0 || v == 0 || v > hi) {
            n = 0;
            break;
        }
        out[n++] = (unsigned)v;
    }
    free(copy);
    return n;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "--client")) {
        uint64_t routes, n, depth;
        if (bench_parse_count(argv[2], &routes) < 0 || bench_parse_count(argv[3], &n) < 0 ||
            bench_parse_count(argv[4], &depth) < 0 || depth == 0 || depth > 64 || n == 0) {
            usage(stderr);
            return 2;
        }
        return client_main((unsigned)routes, (n + depth - 1) / depth * depth, (unsigned)depth);
    }
    enum { O_ROUNDS = 256, O_REQ, O_ROUTES, O_DEPTHS, O_QUICK, O_VG, O_SERVE, O_LOOPS, O_POOL };
    static const struct option longopts[] = {
        {"rounds", required_argument, NULL, O_ROUNDS},
        {"requests", required_argument, NULL, O_REQ},
        {"routes", required_argument, NULL, O_ROUTES},
        {"depths", required_argument, NULL, O_DEPTHS},
        {"quick", no_argument, NULL, O_QUICK},
        {"valgrind", required_argument, NULL, O_VG},
        {"serve", required_argument, NULL, O_SERVE},
        {"loops", required_argument, NULL, O_LOOPS},
        {"pool", required_argument, NULL, O_POOL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t rounds = 0, v;
    unsigned req[2] = {0}, loops = 1, pool = 0;
    bool quick = false, have_req = false;
    const char *serve = NULL;
    opt.n_sizes = 2;
    opt.sizes[0] = 1;
    opt.sizes[1] = FULL_TABLE;
    opt.n_depths = 2;
    opt.depths[0] = 1;
    opt.depths[1] = 16;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case O_ROUNDS:
            if (bench_parse_count(optarg, &rounds) < 0 || rounds == 0)
                goto bad;
            break;
        case O_REQ:
            if (parse_list(optarg, req, 2, UINT32_MAX) != 2 || req[0] >= req[1])
                goto bad;
            have_req = true;
            break;
        case O_ROUTES:
            if (!(opt.n_sizes = parse_list(optarg, opt.sizes, MAX_SIZES, FULL_TABLE)))
                goto bad;
            for (unsigned i = 1; i < opt.n_sizes; i++) /* ascending: 1 is the base */
                for (unsigned j = i; j > 0 && opt.sizes[j - 1] > opt.sizes[j]; j--) {
                    unsigned x = opt.sizes[j];
                    opt.sizes[j] = opt.sizes[j - 1];
                    opt.sizes[j - 1] = x;
                }
            break;
        case O_DEPTHS:
            if (!(opt.n_depths = parse_list(optarg, opt.depths, 2, 64)))
                goto bad;
            break;
        case O_QUICK:
            quick = true;
            break;
        case O_VG:
            opt.valgrind = optarg;
            break;
        case O_SERVE:
            serve = optarg;
            if (strcmp(serve, "inline") && strcmp(serve, "offload"))
                goto bad;
            break;
        case O_LOOPS:
        case O_POOL:
            if (bench_parse_count(optarg, &v) < 0 || v > 256 || (ch == O_LOOPS && v == 0))
                goto bad;
            *(ch == O_LOOPS ? &loops : &pool) = (unsigned)v;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc)
        goto bad;
    if (serve) {
        if (!strcmp(serve, "offload") && pool == 0) {
            fprintf(stderr, "bench-routing: --serve offload needs --pool N (N >= 1)\n");
            return 2;
        }
        return serve_main(!strcmp(serve, "offload"), loops, pool);
    }
    opt.rounds = rounds ? (rounds > MAX_ROUNDS ? MAX_ROUNDS : (unsigned)rounds) : quick ? 1 : 3;
    opt.n1 = have_req ? req[0] : quick ? 400 : 2000;
    opt.n2 = have_req ? req[1] : quick ? 1600 : 12000;
    for (unsigned d = 0; d < opt.n_depths; d++) { /* whole batches in both runs */
        if (opt.n1 % opt.depths[d] || opt.n2 % opt.depths[d]) {
            fprintf(stderr, "bench-routing: --requests must be multiples of every depth\n");
            return 2;
        }
    }
    if (!opt.valgrind)
        opt.valgrind = find_in_path("valgrind");
    ssize_t n = readlink("/proc/self/exe", opt.self, sizeof opt.self - 1);
    if (n <= 0) {
        fprintf(stderr, "bench-routing: /proc/self/exe: %s\n", strerror(errno));
        return 1;
    }
    opt.self[n] = '\0';
    return driver_main();
bad:
    fprintf(stderr, "bench-routing: bad arguments\n");
    usage(stderr);
    return 2;
}
