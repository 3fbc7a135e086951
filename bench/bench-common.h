/*
 * bench-common.h - what every weft benchmark shares: wall and CPU clocks,
 * medians and percentiles, the machine line, number formatting, plain-text
 * and markdown tables, and CPU pinning (for the HTTP benchmarks; the pool
 * and loop benchmarks leave the scheduler free).
 *
 * Wall time is CLOCK_MONOTONIC. CPU time is getrusage(RUSAGE_SELF) user +
 * system time: every thread of the process, so spinning anywhere shows.
 * Not thread-safe unless a function says so.
 */
#ifndef WEFT_BENCH_COMMON_H
#define WEFT_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- clocks ------------------------------------------------------------- */

/* Monotonic wall clock, in nanoseconds and in seconds. Any thread. */
uint64_t bench_now_ns(void);
double bench_now(void);

/* CPU time (user + system) of the whole process so far, in seconds. Any
   thread. */
double bench_cpu(void);

/* A measured interval: wall and process CPU time between begin and end. */
typedef struct {
    double wall0, cpu0;
    double wall, cpu; /* results, seconds */
} bench_meas_t;

void bench_meas_begin(bench_meas_t *m);
void bench_meas_end(bench_meas_t *m);

/* Runs fn(parts + i * stride) for i < n (n <= BENCH_MAX_THREADS) and
   starts m's clock (bench_meas_begin; the caller ends it). With n == 1 the
   calling thread runs fn; otherwise n threads started beforehand are
   released together just after the clock starts. Returns when every fn has
   returned. Exits the process if a thread cannot be started. */
#define BENCH_MAX_THREADS 64
void bench_run_threads(unsigned n, void *(*fn)(void *), void *parts, size_t stride,
                       bench_meas_t *m);

/* ---- statistics --------------------------------------------------------- */

/* Sorts v in place, ascending. */
void bench_sort(double *v, size_t n);

/* The median of v (v is not changed; 0 for n == 0). */
double bench_median(const double *v, size_t n);

/* The p-th percentile (0..100, nearest rank) of an ascending array. */
double bench_percentile_sorted(const double *sorted, size_t n, double p);

double bench_min(const double *v, size_t n);
double bench_max(const double *v, size_t n);

/* ---- the machine -------------------------------------------------------- */

/* CPUs this process may run on (sched_getaffinity), at least 1. */
unsigned bench_cpus(void);

/* The CPU model from /proc/cpuinfo ("unknown" if none), into buf. */
const char *bench_cpu_model(char *buf, size_t len);

/* Prints the banner every benchmark starts with: a request for a quiet
   machine, nproc, the CPUs allowed, the CPU model and the kernel. */
void bench_print_machine(FILE *out, const char *program);

/* Pins the calling thread to the index-th CPU of the allowed set (modulo
   its size). Returns 0 or a negative errno. */
int bench_pin_self(unsigned index);

/* ---- formatting --------------------------------------------------------- */

/* Seconds as "812 ns", "3.41 us", "12.3 ms" or "1.23 s". */
const char *bench_fmt_time(double seconds, char *buf, size_t len);

/* A rate as "812 /s", "34.1 k/s", "8.12 M/s". */
const char *bench_fmt_rate(double per_second, char *buf, size_t len);

/* A count with thousands separators: "1,000,000". */
const char *bench_fmt_count(uint64_t n, char *buf, size_t len);

/* Parses a count: digits with an optional k, M or G suffix (x1000). Returns
   0, or -1 if s is not one. */
int bench_parse_count(const char *s, uint64_t *out);

/* ---- tables ------------------------------------------------------------- */

typedef struct bench_table bench_table_t;

/* A table with ncols columns; align is one letter per column, 'l' or 'r'.
   The headers are copied. Aborts when out of memory (a benchmark has no
   better answer). */
bench_table_t *bench_table_new(const char *title, const char *align, const char *const *headers);

/* Appends a row of ncols cells (copied). */
void bench_table_row(bench_table_t *t, const char *const *cells);

/* Appends a row whose cells are given as arguments. */
void bench_table_rowv(bench_table_t *t, ...);

/* Appends a separator (a blank line in text, nothing in markdown). */
void bench_table_gap(bench_table_t *t);

/* Prints the table with aligned columns. */
void bench_table_print_text(const bench_table_t *t, FILE *out);

/* Prints the table as GitHub markdown. */
void bench_table_print_markdown(const bench_table_t *t, FILE *out);

void bench_table_free(bench_table_t *t);

#endif /* WEFT_BENCH_COMMON_H */
