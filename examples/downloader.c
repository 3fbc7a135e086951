/*
 * downloader.c - "download" 500 files with at most 4 downloads in flight.
 *
 * The classic Python downloader: a producer starts a thread per file and
 * puts it into a Queue(maxsize); a consumer takes the threads out in order
 * and joins them. There the queue only roughly bounds the downloads (a
 * thread is already running when put blocks, and another while the
 * consumer joins). Here the bound is exact: a bounded weft queue of
 * capacity 4 holds one token per download in flight. The producer pushes a
 * token before it starts a download, waiting while 4 are out; the consumer
 * pops one only after it has joined a finished download. Started downloads
 * travel to the consumer, in order, on a second (unbounded) queue, which
 * the producer closes when it is done.
 *
 * A download is a short sleep. The program tracks how many were in flight
 * at once and exits with status 1 if that ever exceeds 4.
 *
 *   usage: downloader [fetch-microseconds]   (default 2000)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <weft/weft.h>

#define FILES      500
#define MAX_FLIGHT 4

struct download {
    int id;
    long fetch_us;
    size_t bytes; /* set by the download's thread before it ends */
    pthread_t thread;
};

struct downloader {
    weft_queue_t *slots;   /* capacity MAX_FLIGHT: one token per download in flight */
    weft_queue_t *started; /* downloads in the order they started */
    long fetch_us;
    atomic_int in_flight;
    int max_in_flight; /* written by the producer only */
    int failed;        /* likewise */
};

static void sleep_us(long us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void *fetch(void *arg)
{
    struct download *d = arg;
    sleep_us(d->fetch_us);
    d->bytes = 1000 + (size_t)d->id; /* what a download would have brought */
    return NULL;
}

/* Takes a slot, then starts the download. 0, or -1 on failure. */
static int start_download(struct downloader *dl, int id)
{
    struct download *d = malloc(sizeof(*d));
    if (!d)
        return -1;
    *d = (struct download){.id = id, .fetch_us = dl->fetch_us};
    int r = weft_queue_push(dl->slots, NULL, -1); /* waits while 4 are out */
    if (r) {
        fprintf(stderr, "downloader: taking a slot: %s\n", weft_strerror(r));
        free(d);
        return -1;
    }
    int n = atomic_fetch_add(&dl->in_flight, 1) + 1;
    if (n > dl->max_in_flight)
        dl->max_in_flight = n;
    if (pthread_create(&d->thread, NULL, fetch, d) != 0) {
        fprintf(stderr, "downloader: cannot start a download thread\n");
        free(d);
        return -1;
    }
    /* The thread id is written before the push, so the consumer sees it. */
    r = weft_queue_push(dl->started, d, -1);
    if (r) {
        fprintf(stderr, "downloader: handing over: %s\n", weft_strerror(r));
        pthread_join(d->thread, NULL);
        free(d);
        return -1;
    }
    return 0;
}

static void *producer(void *arg)
{
    struct downloader *dl = arg;
    for (int id = 0; id < FILES; id++) {
        if (start_download(dl, id) != 0) {
            dl->failed = 1;
            break;
        }
    }
    weft_queue_close(dl->started); /* the consumer drains, then sees -EPIPE */
    return NULL;
}

/* Joins every download in start order and gives its slot back. Returns
   the number collected; *bytes is their total size. */
static int consume(struct downloader *dl, size_t *bytes)
{
    int done = 0;
    void *item;
    while (weft_queue_pop(dl->started, &item, -1) == 0) {
        struct download *d = item;
        pthread_join(d->thread, NULL);
        *bytes += d->bytes;
        free(d);
        done++;
        atomic_fetch_sub(&dl->in_flight, 1);
        weft_queue_pop(dl->slots, &item, 0); /* a token is there: ours */
    }
    return done;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    struct downloader dl = {.fetch_us = argc > 1 ? atol(argv[1]) : 2000};
    if (dl.fetch_us < 0 || dl.fetch_us > 10000000) {
        fprintf(stderr, "usage: %s [fetch-microseconds]\n", argv[0]);
        return 2;
    }
    dl.slots = weft_queue_new(MAX_FLIGHT);
    dl.started = weft_queue_new(0);
    if (!dl.slots || !dl.started) {
        perror("downloader: weft_queue_new");
        return 1;
    }
    double t0 = now_s();
    pthread_t prod;
    if (pthread_create(&prod, NULL, producer, &dl) != 0) {
        fprintf(stderr, "downloader: cannot start the producer\n");
        return 1;
    }
    size_t bytes = 0;
    int done = consume(&dl, &bytes);
    pthread_join(prod, NULL);
    weft_queue_free(dl.started);
    weft_queue_free(dl.slots);

    printf("downloader: %d of %d files, %zu bytes, at most %d in flight (limit %d), %.3f s\n", done,
           FILES, bytes, dl.max_in_flight, MAX_FLIGHT, now_s() - t0);
    return dl.failed || done != FILES || dl.max_in_flight > MAX_FLIGHT ? 1 : 0;
}
