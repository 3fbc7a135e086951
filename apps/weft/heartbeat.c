/*
 * heartbeat.c - beats only while every loop is alive: each period the
 * heartbeat thread checks that every loop ran the post it sent the round
 * before, then posts the next. A loop stuck in a handler never runs its
 * post, so the beats stop; whoever listens for them (systemd's watchdog,
 * the master of --workers) restarts the process. The posts cost one loop
 * wake-up per period.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heartbeat.h"

struct loop_ack {
    _Atomic uint64_t round; /* the last round this loop answered */
};

struct heartbeat {
    weft_server_t *srv;
    unsigned loops;
    int64_t period_ns;
    void (*beat)(void *arg);
    void *arg;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    struct loop_ack *acks;
    uint64_t round;
};

struct ack_post {
    struct loop_ack *ack;
    uint64_t round;
};

static void ack(void *arg)
{
    struct ack_post *p = arg;
    atomic_store_explicit(&p->ack->round, p->round, memory_order_release);
    free(p);
}

/* Every loop answered the previous round; then the next round is posted. */
static bool all_alive(struct heartbeat *hb)
{
    bool alive = true;
    for (unsigned i = 0; i < hb->loops; i++)
        if (atomic_load_explicit(&hb->acks[i].round, memory_order_acquire) != hb->round)
            alive = false;
    if (!alive)
        return false; /* no new round until the stuck one answers */
    hb->round++;
    for (unsigned i = 0; i < hb->loops; i++) {
        struct ack_post *p = malloc(sizeof(*p));
        if (!p)
            return true; /* this round's beats still hold; the next will tell */
        *p = (struct ack_post){&hb->acks[i], hb->round};
        if (weft_loop_post(weft_server_loop(hb->srv, i), ack, p) < 0)
            free(p); /* stopping: the main thread is about to stop us */
    }
    return true;
}

static void *heartbeat_main(void *arg)
{
    struct heartbeat *hb = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the main thread's */
    pthread_mutex_lock(&hb->lock);
    while (!hb->stopping) {
        if (all_alive(hb))
            hb->beat(hb->arg);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        int64_t ns = until.tv_nsec + hb->period_ns;
        until.tv_sec += ns / 1000000000;
        until.tv_nsec = ns % 1000000000;
        while (!hb->stopping && pthread_cond_timedwait(&hb->wake, &hb->lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&hb->lock);
    return NULL;
}

struct heartbeat *heartbeat_start(weft_server_t *srv, unsigned loops, int64_t period_ns,
                                  void (*beat)(void *arg), void *arg)
{
    if (!loops || period_ns <= 0)
        return NULL;
    struct heartbeat *hb = calloc(1, sizeof(*hb));
    if (hb)
        hb->acks = calloc(loops, sizeof(*hb->acks));
    if (!hb || !hb->acks) {
        weft_log(WEFT_LOG_ERROR, "heartbeat: out of memory: no beats");
        free(hb);
        return NULL;
    }
    *hb = (struct heartbeat){.srv = srv,
                             .loops = loops,
                             .period_ns = period_ns,
                             .beat = beat,
                             .arg = arg,
                             .acks = hb->acks};
    pthread_mutex_init(&hb->lock, NULL);
    pthread_cond_init(&hb->wake, NULL);
    int r = pthread_create(&hb->thread, NULL, heartbeat_main, hb);
    if (r) {
        weft_log(WEFT_LOG_ERROR, "heartbeat: %s: no beats", strerror(r));
        free(hb->acks);
        free(hb);
        return NULL;
    }
    return hb;
}

void heartbeat_stop(struct heartbeat *hb)
{
    if (!hb)
        return;
    pthread_mutex_lock(&hb->lock);
    hb->stopping = true;
    pthread_cond_signal(&hb->wake);
    pthread_mutex_unlock(&hb->lock);
    pthread_join(hb->thread, NULL);
    pthread_cond_destroy(&hb->wake);
    pthread_mutex_destroy(&hb->lock);
    free(hb->acks);
    free(hb);
}
