/*
 * bench-procpool - the process pool against the thread pool, in one run,
 * rounds interleaved (each round runs both, in rotating order), medians of
 * the rounds quoted (issue 13).
 *
 * Both pools get the same number of workers, T (--threads; default: the
 * CPUs this process may run on).
 *   (a) empty-job round trip, one job at a time: submit, wait, unref --
 *       weft_pool_submit of an empty function against
 *       weft_procpool_submit of an empty job (no argument, empty result):
 *       p50, p99 and process CPU time per round trip (the workers' CPU is
 *       in their own processes: their share is measured from
 *       /proc/PID/stat and added in);
 *   (b) throughput with 4 KiB arguments and 4 KiB results: --jobs jobs
 *       submitted, then all waited. The thread pool's job copies its 4 KiB
 *       argument into a new 4 KiB result, as the worker process does.
 * Target: (a) within 3x of the thread pool's p50.
 *
 * This program is also the process pool's worker (weft_procpool_child_main
 * first thing in main).
 */
#include "bench-common.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft/error.h"
#include "weft/future.h"
#include "weft/pool.h"
#include "weft/procpool.h"

#define MAX_ROUNDS 100
#define PAYLOAD    4096

enum { C_THREADS, C_PROCS, C_COUNT };
static const char *const c_name[C_COUNT] = {"thread pool (weft_pool)",
                                            "process pool (weft_procpool)"};

static struct {
    unsigned rounds, threads;
    uint64_t iterations, jobs, warmup;
} opt;

static weft_pool_t *tpool;
static weft_procpool_t *ppool;
static unsigned char payload[PAYLOAD];

/* ---- the jobs, both sides --------------------------------------------------- */

static void empty_proc_job(weft_procjob_t *job, const void *arg, size_t len)
{
}

static void echo_proc_job(weft_procjob_t *job, const void *arg, size_t len)
{
    weft_procjob_return(job, arg, len);
}

static void empty_thread_job(weft_job_t *job, void *arg)
{
}

static void echo_thread_job(weft_job_t *job, void *arg)
{
    void *r = malloc(PAYLOAD);
    if (r)
        memcpy(r, arg, PAYLOAD);
    weft_job_return_ptr(job, r, free);
}

/* ---- the workers' CPU ------------------------------------------------------------ */

/* utime + stime of the process pool's workers so far, seconds. Workers
   replaced meanwhile would be missed; none are in these runs. */
static double workers_cpu(void)
{
    pid_t pids[64];
    unsigned n = weft_procpool_pids(ppool, pids, 64);
    double total = 0;
    long hz = sysconf(_SC_CLK_TCK);
    for (unsigned i = 0; i < n && i < 64; i++) {
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pids[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t got = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[got] = '\0';
        char *p = strrchr(buf, ')');
        unsigned long ut = 0, st = 0;
        /* after the name: state, then 10 fields, then utime and stime */
        if (p &&
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
            total += (double)(ut + st) / (double)hz;
    }
    return total;
}

/* ---- one run of each scenario ------------------------------------------------------ */

static weft_future_t *submit_one(int c, bool payload_job)
{
    if (c == C_THREADS)
        return weft_pool_submit(tpool, payload_job ? echo_thread_job : empty_thread_job, payload);
    return payload_job ? weft_procpool_submit(ppool, "echo", payload, PAYLOAD)
                       : weft_procpool_submit(ppool, "empty", NULL, 0);
}

static void settle_one(weft_future_t *f)
{
    if (weft_future_wait(f, -1) < 0 || weft_future_state(f) != WEFT_FUTURE_FULFILLED) {
        fprintf(stderr, "bench-procpool: a job failed: %s\n", weft_strerror(weft_future_error(f)));
        exit(1);
    }
    weft_future_unref(f);
}

typedef struct {
    double p50, p99, cpu, rate;
} sample_t;

static void roundtrip(int c, uint64_t n, sample_t *out)
{
    double *lat = malloc(n * sizeof(*lat));
    if (!lat)
        exit(1);
    bench_meas_t m;
    double w0 = c == C_PROCS ? workers_cpu() : 0;
    bench_meas_begin(&m);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t t0 = bench_now_ns();
        settle_one(submit_one(c, false));
        lat[i] = (double)(bench_now_ns() - t0) / 1e9;
    }
    bench_meas_end(&m);
    double w = c == C_PROCS ? workers_cpu() - w0 : 0;
    bench_sort(lat, n);
    out->p50 = bench_percentile_sorted(lat, n, 50);
    out->p99 = bench_percentile_sorted(lat, n, 99);
    out->cpu = (m.cpu + w) / (double)n;
    out->rate = (double)n / m.wall;
    free(lat);
}

static void throughput(int c, uint64_t n, sample_t *out)
{
    weft_future_t **fs = malloc(n * sizeof(*fs));
    if (!fs)
        exit(1);
    bench_meas_t m;
    double w0 = c == C_PROCS ? workers_cpu() : 0;
    bench_meas_begin(&m);
    for (uint64_t i = 0; i < n; i++)
        fs[i] = submit_one(c, true);
    for (uint64_t i = 0; i < n; i++)
        settle_one(fs[i]);
    bench_meas_end(&m);
    double w = c == C_PROCS ? workers_cpu() - w0 : 0;
    *out = (sample_t){.cpu = (m.cpu + w) / (double)n, .rate = (double)n / m.wall};
    free(fs);
}

/* ---- rounds and tables ------------------------------------------------------------- */

static double median_of(sample_t *s, size_t n, size_t field)
{
    double v[MAX_ROUNDS];
    for (size_t i = 0; i < n; i++)
        v[i] = *(double *)((char *)&s[i] + field);
    return bench_median(v, n);
}

static sample_t rt[C_COUNT][MAX_ROUNDS], tp[C_COUNT][MAX_ROUNDS];

static void run_rounds(void)
{
    sample_t ignored;
    for (int c = 0; c < C_COUNT; c++) /* warm-up, not recorded */
        roundtrip(c, opt.warmup, &ignored);
    for (unsigned r = 0; r < opt.rounds; r++) {
        for (int k = 0; k < C_COUNT; k++) {
            int c = (int)((r + (unsigned)k) % C_COUNT);
            roundtrip(c, opt.iterations, &rt[c][r]);
            throughput(c, opt.jobs, &tp[c][r]);
        }
        fprintf(stderr, "round %u/%u done\n", r + 1, opt.rounds);
    }
}

static void print_tables(void)
{
    char a[32], b[32], d[32], e[32];
    static const char *const hl[] = {"scenario", "pool", "p50", "p99", "CPU/op", "vs threads"};
    static const char *const ht[] = {"scenario", "pool", "jobs/s", "CPU/job", "vs threads"};
    bench_table_t *lat =
        bench_table_new("(a) empty-job round trip (medians of rounds)", "llrrrr", hl);
    bench_table_t *thr =
        bench_table_new("(b) 4 KiB argument and result (medians of rounds)", "llrrr", ht);
    double base = median_of(rt[C_THREADS], opt.rounds, offsetof(sample_t, p50));
    double base_rate = median_of(tp[C_THREADS], opt.rounds, offsetof(sample_t, rate));
    for (int c = 0; c < C_COUNT; c++) {
        double p50 = median_of(rt[c], opt.rounds, offsetof(sample_t, p50));
        double rate = median_of(tp[c], opt.rounds, offsetof(sample_t, rate));
        char ratio[32], ratio2[32];
        snprintf(ratio, sizeof(ratio), "%.2fx", p50 / base);
        snprintf(ratio2, sizeof(ratio2), "%.2fx", base_rate / rate);
        bench_table_rowv(
            lat, "round trip", c_name[c], bench_fmt_time(p50, a, sizeof(a)),
            bench_fmt_time(median_of(rt[c], opt.rounds, offsetof(sample_t, p99)), b, sizeof(b)),
            bench_fmt_time(median_of(rt[c], opt.rounds, offsetof(sample_t, cpu)), d, sizeof(d)),
            ratio);
        bench_table_rowv(
            thr, "4 KiB in, 4 KiB out", c_name[c], bench_fmt_rate(rate, a, sizeof(a)),
            bench_fmt_time(median_of(tp[c], opt.rounds, offsetof(sample_t, cpu)), e, sizeof(e)),
            ratio2);
    }
    bench_table_print_text(lat, stdout);
    printf("\n");
    bench_table_print_text(thr, stdout);
    printf("\nmarkdown:\n\n");
    bench_table_print_markdown(lat, stdout);
    printf("\n");
    bench_table_print_markdown(thr, stdout);
    double ratio = median_of(rt[C_PROCS], opt.rounds, offsetof(sample_t, p50)) / base;
    printf("\ntargets:\n  empty-job round trip within 3x of the thread pool's: %s (%.2fx)\n",
           ratio <= 3.0 ? "met" : "MISSED", ratio);
    bench_table_free(lat);
    bench_table_free(thr);
}

/* ---- options ------------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out, "usage: bench-procpool [--rounds N] [--iterations N] [--jobs N] [--threads T]"
                 " [--quick]\n"
                 "  (a) empty-job round trips, --iterations per round (default 5,000)\n"
                 "  (b) 4 KiB jobs, --jobs per round (default 20,000)\n"
                 "  --threads: workers of each pool (default: the CPUs allowed)\n");
}

static void parse(int argc, char **argv)
{
    enum { O_ROUNDS = 1, O_ITER, O_JOBS, O_THREADS, O_QUICK };
    static const struct option longopts[] = {
        {"rounds", required_argument, NULL, O_ROUNDS},
        {"iterations", required_argument, NULL, O_ITER},
        {"jobs", required_argument, NULL, O_JOBS},
        {"threads", required_argument, NULL, O_THREADS},
        {"quick", no_argument, NULL, O_QUICK},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t v;
    opt = (typeof(opt)){
        .rounds = 9, .threads = bench_cpus(), .iterations = 5000, .jobs = 20000, .warmup = 1000};
    for (int ch; (ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        if (ch == 'h') {
            usage(stdout);
            exit(0);
        }
        if (ch == O_QUICK) {
            opt.rounds = 3, opt.iterations = 500, opt.jobs = 2000, opt.warmup = 100;
            continue;
        }
        if (ch == '?' || !optarg || bench_parse_count(optarg, &v) < 0 || v == 0) {
            usage(stderr);
            exit(2);
        }
        if (ch == O_ROUNDS)
            opt.rounds = v > MAX_ROUNDS ? MAX_ROUNDS : (unsigned)v;
        else if (ch == O_ITER)
            opt.iterations = v;
        else if (ch == O_JOBS)
            opt.jobs = v;
        else if (ch == O_THREADS)
            opt.threads = v > 64 ? 64 : (unsigned)v;
    }
}

int main(int argc, char **argv)
{
    weft_procpool_register("empty", empty_proc_job);
    weft_procpool_register("echo", echo_proc_job);
    weft_procpool_child_main(argc, argv);
    parse(argc, argv);
    bench_print_machine(stdout, "bench-procpool");
    printf("workers: %u per pool; rounds: %u; round trips: %llu per round; 4 KiB jobs: %llu "
           "per round\n\n",
           opt.threads, opt.rounds, (unsigned long long)opt.iterations,
           (unsigned long long)opt.jobs);
    for (size_t i = 0; i < PAYLOAD; i++)
        payload[i] = (unsigned char)i;
    tpool = weft_pool_new(&(weft_pool_options_t){.threads = opt.threads});
    ppool = weft_procpool_new(&(weft_procpool_options_t){.workers = opt.threads});
    if (!tpool || !ppool) {
        fprintf(stderr, "bench-procpool: cannot start the pools: %s\n", weft_strerror(-errno));
        return 1;
    }
    run_rounds();
    print_tables();
    weft_pool_free(tpool);
    weft_procpool_free(ppool);
    return 0;
}
