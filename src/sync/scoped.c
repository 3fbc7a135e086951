/*
 * scoped.c - the helpers behind WEFT_SCOPED_LOCK, WEFT_SCOPED_RLOCK,
 * WEFT_WITH_LOCK and WEFT_WITH_RLOCK (sync.h).
 *
 * The macros declare a guard variable with the cleanup attribute: the lock
 * helper runs at the declaration, the unlock helper whenever the guard goes
 * out of scope, including the forced unwinding of pthread_exit and
 * cancellation in code built with -fexceptions. The helpers cannot report
 * an error to a declaration or a cleanup, so a failure, which only misuse
 * can cause (a mutex already held or unlocked by hand inside the scope, an
 * rlock recursion overflow), aborts through weft_panic.
 *
 * Threading: whatever the lock's own rules are; the helpers keep no state.
 */
#include <pthread.h>

#include "weft/sync.h"
#include "error/base.h"

pthread_mutex_t *weft__scoped_mutex_lock(pthread_mutex_t *mu)
{
    int r = pthread_mutex_lock(mu);
    if (r)
        weft_panic("scoped lock: pthread_mutex_lock: %s", weft_strerror(r));
    return mu;
}

void weft__scoped_mutex_unlock(pthread_mutex_t **mu)
{
    if (!*mu)
        return;
    int r = pthread_mutex_unlock(*mu);
    if (r)
        weft_panic("scoped lock: pthread_mutex_unlock: %s", weft_strerror(r));
}

weft_rlock_t *weft__scoped_rlock_lock(weft_rlock_t *rl)
{
    int r = weft_rlock_lock(rl);
    if (r)
        weft_panic("scoped rlock: weft_rlock_lock: %s", weft_strerror(r));
    return rl;
}

void weft__scoped_rlock_unlock(weft_rlock_t **rl)
{
    if (!*rl)
        return;
    int r = weft_rlock_unlock(*rl);
    if (r)
        weft_panic("scoped rlock: weft_rlock_unlock: %s", weft_strerror(r));
}
