/*
 * bench-common.c - clocks, statistics, machine facts, formatting and tables
 * for the benchmarks (see bench-common.h).
 */
#include "bench-common.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* ---- clocks ------------------------------------------------------------- */

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double bench_now(void)
{
    return (double)bench_now_ns() / 1e9;
}

double bench_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

void bench_meas_begin(bench_meas_t *m)
{
    m->cpu0 = bench_cpu();
    m->wall0 = bench_now();
}

void bench_meas_end(bench_meas_t *m)
{
    m->wall = bench_now() - m->wall0;
    m->cpu = bench_cpu() - m->cpu0;
}

/* ---- threads released together ------------------------------------------- */

struct launch {
    void *(*fn)(void *);
    void *arg;
    pthread_barrier_t *go;
};

static void *launch_main(void *p)
{
    struct launch *l = p;
    pthread_barrier_wait(l->go);
    return l->fn(l->arg);
}

void bench_run_threads(unsigned n, void *(*fn)(void *), void *parts, size_t stride, bench_meas_t *m)
{
    if (n == 1) {
        bench_meas_begin(m);
        fn(parts);
        return;
    }
    if (n == 0 || n > BENCH_MAX_THREADS) {
        fprintf(stderr, "bench: %u threads requested, at most %d\n", n, BENCH_MAX_THREADS);
        exit(1);
    }
    pthread_barrier_t go;
    pthread_t th[BENCH_MAX_THREADS];
    struct launch l[BENCH_MAX_THREADS];
    pthread_barrier_init(&go, NULL, n + 1);
    for (unsigned i = 0; i < n; i++) {
        l[i] = (struct launch){fn, (char *)parts + i * stride, &go};
        if (pthread_create(&th[i], NULL, launch_main, &l[i]) != 0) {
            fprintf(stderr, "bench: pthread_create failed\n");
            exit(1);
        }
    }
    bench_meas_begin(m);
    pthread_barrier_wait(&go);
    for (unsigned i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
}

/* ---- statistics --------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_sort(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
}

double bench_median(const double *v, size_t n)
{
    if (n == 0)
        return 0;
    double *c = malloc(n * sizeof *c);
    if (!c)
        abort();
    memcpy(c, v, n * sizeof *c);
    bench_sort(c, n);
    double m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
    free(c);
    return m;
}

double bench_percentile_sorted(const double *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    /* nearest rank: the smallest value with at least p% of values <= it */
    double rank = p / 100.0 * (double)n;
    size_t k = (size_t)rank;
    if ((double)k < rank)
        k++;
    if (k == 0)
        k = 1;
    if (k > n)
        k = n;
    return sorted[k - 1];
}

double bench_min(const double *v, size_t n)
{
    double m = n ? v[0] : 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] < m)
            m = v[i];
    return m;
}

double bench_max(const double *v, size_t n)
{
    double m = n ? v[0] : 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] > m)
            m = v[i];
    return m;
}

/* ---- the machine -------------------------------------------------------- */

unsigned bench_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return (unsigned)n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

const char *bench_cpu_model(char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return buf;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0)
            continue;
        const char *p = strchr(line, ':');
        if (!p)
            continue;
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        snprintf(buf, len, "%s", p);
        buf[strcspn(buf, "\n")] = '\0';
        break;
    }
    fclose(f);
    return buf;
}

void bench_print_machine(FILE *out, const char *program)
{
    char model[256];
    struct utsname u;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    fprintf(out, "%s: run with nothing else busy on this machine.\n", program);
    fprintf(out, "machine: nproc %u (online %ld), CPU %s, %s %s %s\n", bench_cpus(), online,
            bench_cpu_model(model, sizeof model), u.sysname, u.release, u.machine);
}

int bench_pin_self(unsigned index)
{
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
        return -errno;
    int count = CPU_COUNT(&allowed);
    if (count <= 0)
        return -EINVAL;
    int want = (int)(index % (unsigned)count);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed) || want-- > 0)
            continue;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        return -pthread_setaffinity_np(pthread_self(), sizeof one, &one);
    }
    return -EINVAL;
}

/* ---- formatting --------------------------------------------------------- */

const char *bench_fmt_time(double s, char *buf, size_t len)
{
    if (s < 1e-8)
        snprintf(buf, len, "%.2f ns", s * 1e9);
    else if (s < 1e-7)
        snprintf(buf, len, "%.1f ns", s * 1e9);
    else if (s < 1e-6)
        snprintf(buf, len, "%.0f ns", s * 1e9);
    else if (s < 1e-3)
        snprintf(buf, len, "%.2f us", s * 1e6);
    else if (s < 1)
        snprintf(buf, len, "%.1f ms", s * 1e3);
    else
        snprintf(buf, len, "%.2f s", s);
    return buf;
}

const char *bench_fmt_rate(double r, char *buf, size_t len)
{
    if (r >= 1e9)
        snprintf(buf, len, "%.2f G/s", r / 1e9);
    else if (r >= 1e6)
        snprintf(buf, len, "%.2f M/s", r / 1e6);
    else if (r >= 1e3)
        snprintf(buf, len, "%.1f k/s", r / 1e3);
    else
        snprintf(buf, len, "%.0f /s", r);
    return buf;
}

const char *bench_fmt_count(uint64_t n, char *buf, size_t len)
{
    char digits[32];
    int d = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t o = 0;
    for (int i = 0; i < d && o + 1 < len; i++) {
        if (i > 0 && (d - i) % 3 == 0 && o + 2 < len)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

int bench_parse_count(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    unsigned long long mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1000, end++;
    else if (*end == 'm' || *end == 'M')
        mul = 1000000, end++;
    else if (*end == 'g' || *end == 'G')
        mul = 1000000000, end++;
    if (*end != '\0')
        return -1;
    *out = v * mul;
    return 0;
}

/* ---- tables ------------------------------------------------------------- */

struct bench_table {
    char *title;
    size_t ncols;
    char *align;
    char **cells; /* nrows * ncols; a row of NULLs is a gap */
    size_t nrows, cap;
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "bench: out of memory\n");
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

bench_table_t *bench_table_new(const char *title, const char *align, const char *const *headers)
{
    bench_table_t *t = xmalloc(sizeof *t);
    t->title = xstrdup(title);
    t->ncols = strlen(align);
    t->align = xstrdup(align);
    t->cells = NULL;
    t->nrows = t->cap = 0;
    bench_table_row(t, headers);
    return t;
}

static char **new_row(bench_table_t *t)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, t->cap * t->ncols * sizeof *c);
        if (!c) {
            fprintf(stderr, "bench: out of memory\n");
            abort();
        }
        t->cells = c;
    }
    return &t->cells[t->nrows++ * t->ncols];
}

void bench_table_row(bench_table_t *t, const char *const *cells)
{
    char **row = new_row(t);
    for (size_t c = 0; c < t->ncols; c++)
        row[c] = xstrdup(cells[c] ? cells[c] : "");
}

void bench_table_rowv(bench_table_t *t, ...)
{
    char **row = new_row(t);
    va_list ap;
    va_start(ap, t);
    for (size_t c = 0; c < t->ncols; c++) {
        const char *s = va_arg(ap, const char *);
        row[c] = xstrdup(s ? s : "");
    }
    va_end(ap);
}

void bench_table_gap(bench_table_t *t)
{
    char **row = new_row(t);
    for (size_t c = 0; c < t->ncols; c++)
        row[c] = NULL;
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void pad(FILE *out, size_t n)
{
    while (n--)
        fputc(' ', out);
}

void bench_table_print_text(const bench_table_t *t, FILE *out)
{
    size_t w[32] = {0};
    size_t nc = t->ncols < 32 ? t->ncols : 32;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < nc; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (s && width(s) > w[c])
                w[c] = width(s);
        }
    fprintf(out, "%s\n", t->title);
    for (size_t r = 0; r < t->nrows; r++) {
        char *const *row = &t->cells[r * t->ncols];
        if (!row[0]) {
            fputc('\n', out);
            continue;
        }
        size_t last = nc; /* no trailing blanks: stop after the last non-empty cell */
        while (last > 1 && row[last - 1][0] == '\0')
            last--;
        for (size_t c = 0; c < last; c++) {
            size_t gap = w[c] - width(row[c]);
            if (c > 0)
                fputs("  ", out);
            if (t->align[c] == 'r')
                pad(out, gap);
            fputs(row[c], out);
            if (t->align[c] != 'r' && c + 1 < last)
                pad(out, gap);
        }
        fputc('\n', out);
        if (r == 0) {
            size_t total = 0;
            for (size_t c = 0; c < nc; c++)
                total += w[c] + (c > 0 ? 2 : 0);
            for (size_t i = 0; i < total; i++)
                fputc('-', out);
            fputc('\n', out);
        }
    }
}

void bench_table_print_markdown(const bench_table_t *t, FILE *out)
{
    fprintf(out, "**%s**\n\n", t->title);
    for (size_t r = 0; r < t->nrows; r++) {
        char *const *row = &t->cells[r * t->ncols];
        if (!row[0])
            continue;
        fputc('|', out);
        for (size_t c = 0; c < t->ncols; c++)
            fprintf(out, " %s |", row[c]);
        fputc('\n', out);
        if (r == 0) {
            fputc('|', out);
            for (size_t c = 0; c < t->ncols; c++)
                fputs(t->align[c] == 'r' ? "---:|" : "---|", out);
            fputc('\n', out);
        }
    }
}

void bench_table_free(bench_table_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->align);
    free(t->title);
    free(t);
}
