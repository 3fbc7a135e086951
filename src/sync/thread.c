/*
 * thread.c - the per-thread record, monotonic condvars, and thread start
 * with signals blocked and a name.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include "sync/clock.h"
#include "sync/thread.h"

__thread struct weft__thread weft__self;

int weft__cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int r = pthread_condattr_init(&attr);
    if (r)
        return -r;
    r = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (!r)
        r = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return -r;
}

int weft__cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mu, int64_t deadline_ns)
{
    if (deadline_ns == WEFT_FOREVER) {
        pthread_cond_wait(cond, mu);
        return 0;
    }
    struct timespec ts = weft__timespec(deadline_ns);
    int r = pthread_cond_timedwait(cond, mu, &ts);
    return r == ETIMEDOUT ? -ETIMEDOUT : 0;
}

int weft__mutex_init(pthread_mutex_t *mu)
{
#ifndef WEFT_NDEBUG
    pthread_mutexattr_t attr;
    int r = pthread_mutexattr_init(&attr);
    if (r)
        return -r;
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
    r = pthread_mutex_init(mu, &attr);
    pthread_mutexattr_destroy(&attr);
    return -r;
#else
    return -pthread_mutex_init(mu, NULL);
#endif
}

static void async_signal_set(sigset_t *set)
{
    sigfillset(set);
    /* Synchronous signals must stay deliverable to the faulting thread. */
    static const int sync_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS};
    for (size_t i = 0; i < WEFT_ARRAY_SIZE(sync_signals); i++)
        sigdelset(set, sync_signals[i]);
}

void weft__block_async_signals(void)
{
    sigset_t set;
    async_signal_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int weft__thread_start(pthread_t *out, void *(*fn)(void *), void *arg, bool detached)
{
    /* Block in the creator around pthread_create: the new thread inherits
       the mask, so no signal can land on it before it could block them. */
    sigset_t set, old;
    async_signal_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, &old);

    pthread_attr_t attr;
    int r = pthread_attr_init(&attr);
    if (!r) {
        if (detached)
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        r = pthread_create(out, &attr, fn, arg);
        pthread_attr_destroy(&attr);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -r;
}

void weft__thread_set_name(const char *name)
{
    char buf[16];
    strncpy(buf, name, sizeof(buf) - 1);
    buf[sizeof(buf) - 1] = '\0';
    prctl(PR_SET_NAME, buf); /* cosmetic: a failure changes nothing else */
}
