/*
 * weft/sync.h - the threading toolkit: queues, events, semaphores, wait
 * groups, a recursive lock with an owner check, and scoped locks.
 *
 * Conventions (DESIGN.md): a timeout_ms below 0 waits forever, 0 does not
 * wait, anything else waits at most that many milliseconds and then
 * returns -ETIMEDOUT. Errors are negative errno values. Constructors return
 * NULL and set errno (ENOMEM). Every _free accepts NULL.
 *
 * Loop threads must never block: a call below that takes a timeout returns
 * -EDEADLK when made on a loop thread with a timeout other than 0, whether
 * or not it would actually have had to wait, so the mistake shows up on
 * the first run, not under load. (weft_rlock_lock is the exception: it is
 * meant for short critical sections, which loop threads may enter.)
 *
 * All objects here are opaque, heap-allocated and safe to use from any
 * thread; each _free requires that no other thread is still inside a call
 * on the object.
 */
#ifndef WEFT_SYNC_H
#define WEFT_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <pthread.h>

#include "weft/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_queue weft_queue_t;
typedef struct weft_event weft_event_t;
typedef struct weft_sem weft_sem_t;
typedef struct weft_waitgroup weft_waitgroup_t;
typedef struct weft_rlock weft_rlock_t;

/* ---- queue ---------------------------------------------------------------
 * A FIFO of void pointers (NULL items are allowed) for any number of
 * producers and consumers. Bounded (Pike's Fifo: push waits while full) or
 * unbounded (capacity 0, Pike's Queue: push never waits). Closing stops
 * intake and lets consumers drain what is left. The queue never owns its
 * items: whatever is still inside at free is the caller's to reclaim.
 */

/* weft_queue_new - a queue holding at most `capacity` items, or any number
   when capacity is 0 (0 means unbounded, not a rendezvous). Storage grows
   on demand. Returns NULL with errno ENOMEM. Thread-safety: any thread. */
WEFT_API weft_queue_t *weft_queue_new(size_t capacity);

/* weft_queue_push - append item, waiting while a bounded queue is full.
   Returns 0, -ETIMEDOUT (still full), -EPIPE (closed, also when closed
   while waiting), -ENOMEM (storage could not grow), or -EDEADLK on a loop
   thread with a timeout other than 0 on a bounded queue (an unbounded push
   never waits, so it is allowed anywhere). On error the queue is
   unchanged and item stays the caller's. Thread-safety: any thread. */
WEFT_API int weft_queue_push(weft_queue_t *q, void *item, int64_t timeout_ms);

/* weft_queue_try_push - push without waiting: 0, -EAGAIN (full), -EPIPE,
   -ENOMEM. Thread-safety: any thread. */
WEFT_API int weft_queue_try_push(weft_queue_t *q, void *item);

/* weft_queue_pop - take the oldest item into *item, waiting while empty.
   Returns 0, -ETIMEDOUT (still empty), -EPIPE (closed and drained), or
   -EDEADLK (loop thread, timeout other than 0). *item is untouched on
   error. Thread-safety: any thread. */
WEFT_API int weft_queue_pop(weft_queue_t *q, void **item, int64_t timeout_ms);

/* weft_queue_pop_batch - wait for at least one item, then take up to max
   without waiting more (Pike's read_array), oldest first, into items[].
   Returns the count (>= 1), -ETIMEDOUT, -EPIPE (closed and drained),
   -EINVAL (max 0 or items NULL), -EDEADLK (loop thread, timeout other
   than 0). Thread-safety: any thread. */
WEFT_API ssize_t weft_queue_pop_batch(weft_queue_t *q, void **items, size_t max,
                                      int64_t timeout_ms);

/* weft_queue_close - stop intake: pushes (and waiting pushers) get -EPIPE;
   pops take what is left, then get -EPIPE. Idempotent. Thread-safety: any
   thread. */
WEFT_API void weft_queue_close(weft_queue_t *q);

/* weft_queue_is_closed - whether weft_queue_close was called. */
WEFT_API bool weft_queue_is_closed(const weft_queue_t *q);

/* weft_queue_len - the number of items inside: a snapshot, stale as soon
   as it returns. Thread-safety: any thread. */
WEFT_API size_t weft_queue_len(const weft_queue_t *q);

/* weft_queue_capacity - the capacity given to weft_queue_new (0:
   unbounded). */
WEFT_API size_t weft_queue_capacity(const weft_queue_t *q);

/* weft_queue_free - free the queue. It should be closed and drained, with
   no thread inside a call on it; items still inside are not touched. NULL
   is fine. */
WEFT_API void weft_queue_free(weft_queue_t *q);

/* ---- event ---------------------------------------------------------------
 * A flag threads can wait for (newLISP's Event, Win32's events). A manual
 * reset event stays set until weft_event_reset and releases every waiter
 * (every thread waiting when it is set, even if a reset follows at once);
 * an auto reset event releases exactly one waiter per set and is clear
 * again as that waiter returns (a set with no waiter stays pending for the
 * next one; sets do not accumulate).
 */

/* weft_event_new - NULL with errno ENOMEM. Thread-safety: any thread. */
WEFT_API weft_event_t *weft_event_new(bool manual_reset, bool initially_set);

/* weft_event_set - set the event, releasing waiters as described above.
   Thread-safety: any thread. */
WEFT_API void weft_event_set(weft_event_t *ev);

/* weft_event_reset - clear the event. Thread-safety: any thread. */
WEFT_API void weft_event_reset(weft_event_t *ev);

/* weft_event_is_set - a snapshot of the flag. */
WEFT_API bool weft_event_is_set(const weft_event_t *ev);

/* weft_event_wait - wait until the event is set (consuming it if auto
   reset). Returns 0, -ETIMEDOUT or -EDEADLK (loop thread, timeout other
   than 0). Thread-safety: any thread. */
WEFT_API int weft_event_wait(weft_event_t *ev, int64_t timeout_ms);

/* weft_event_free - no thread may be waiting. NULL is fine. */
WEFT_API void weft_event_free(weft_event_t *ev);

/* ---- semaphore -----------------------------------------------------------
 * A counting semaphore: post adds one, wait takes one, waiting while none.
 */

/* weft_sem_new - a semaphore holding `initial` units. NULL with errno
   ENOMEM. Thread-safety: any thread. */
WEFT_API weft_sem_t *weft_sem_new(unsigned initial);

/* weft_sem_post - add one unit and wake one waiter. Returns 0, or
   -EOVERFLOW if the count is at UINT_MAX (unchanged). Thread-safety: any
   thread. */
WEFT_API int weft_sem_post(weft_sem_t *s);

/* weft_sem_wait - take one unit, waiting while there is none. Returns 0,
   -ETIMEDOUT, or -EDEADLK (loop thread, timeout other than 0); with
   timeout 0 this is a try-wait. Thread-safety: any thread. */
WEFT_API int weft_sem_wait(weft_sem_t *s, int64_t timeout_ms);

/* weft_sem_value - the units available now: a snapshot. */
WEFT_API unsigned weft_sem_value(const weft_sem_t *s);

/* weft_sem_free - no thread may be waiting. NULL is fine. */
WEFT_API void weft_sem_free(weft_sem_t *s);

/* ---- wait group ----------------------------------------------------------
 * A counter of outstanding tasks (Go's sync.WaitGroup): add before
 * starting a task, done when it ends, wait until the count is zero.
 */

/* weft_waitgroup_new - count 0. NULL with errno ENOMEM. */
WEFT_API weft_waitgroup_t *weft_waitgroup_new(void);

/* weft_waitgroup_add - add delta (may be negative) to the count. Returns 0,
   or -EINVAL if the count would drop below zero or overflow (unchanged).
   Reaching zero releases every waiter. Thread-safety: any thread. */
WEFT_API int weft_waitgroup_add(weft_waitgroup_t *wg, int delta);

/* weft_waitgroup_done - weft_waitgroup_add(wg, -1). */
WEFT_API int weft_waitgroup_done(weft_waitgroup_t *wg);

/* weft_waitgroup_wait - wait until the count is zero. Returns 0,
   -ETIMEDOUT, or -EDEADLK (loop thread, timeout other than 0).
   Thread-safety: any thread. */
WEFT_API int weft_waitgroup_wait(weft_waitgroup_t *wg, int64_t timeout_ms);

/* weft_waitgroup_count - a snapshot of the count. */
WEFT_API unsigned weft_waitgroup_count(const weft_waitgroup_t *wg);

/* weft_waitgroup_free - no thread may be waiting. NULL is fine. */
WEFT_API void weft_waitgroup_free(weft_waitgroup_t *wg);

/* ---- recursive lock ------------------------------------------------------
 * A mutex the holding thread may lock again (newLISP's RLock); it is
 * released when unlocked as many times as locked. Unlike a pthread
 * recursive mutex, unlocking from a thread that does not hold it is a
 * reported error, never undefined behaviour.
 */

/* weft_rlock_new - NULL with errno ENOMEM. */
WEFT_API weft_rlock_t *weft_rlock_new(void);

/* weft_rlock_lock - acquire (or re-acquire) the lock, waiting as long as
   it takes. For short critical sections; allowed on loop threads. Returns
   0, or -EAGAIN if the recursion count would overflow. Thread-safety: any
   thread. */
WEFT_API int weft_rlock_lock(weft_rlock_t *rl);

/* weft_rlock_timedlock - acquire with a timeout: 0, -ETIMEDOUT (held by
   another thread all along), -EAGAIN, or -EDEADLK (loop thread, timeout
   other than 0 and the lock held by another thread). Thread-safety: any
   thread. */
WEFT_API int weft_rlock_timedlock(weft_rlock_t *rl, int64_t timeout_ms);

/* weft_rlock_unlock - release one level. Returns 0, or -EPERM if the
   calling thread does not hold the lock (nothing changes). Thread-safety:
   any thread. */
WEFT_API int weft_rlock_unlock(weft_rlock_t *rl);

/* weft_rlock_held - whether the calling thread holds the lock. */
WEFT_API bool weft_rlock_held(const weft_rlock_t *rl);

/* weft_rlock_free - the lock must not be held. NULL is fine. */
WEFT_API void weft_rlock_free(weft_rlock_t *rl);

/* ---- scoped locks --------------------------------------------------------
 * Pike's MutexKey, newLISP's with-lock-held: the lock is released on every
 * way out of the scope: falling off its end, return, break, goto, and the
 * unwinding of pthread_exit or cancellation when the code is compiled with
 * -fexceptions (weft_job_exit relies on this). They use the cleanup
 * attribute of GCC and Clang.
 *
 *   WEFT_SCOPED_LOCK(&mu);     pthread_mutex_t *: held to the end of the
 *                              enclosing block
 *   WEFT_SCOPED_RLOCK(rl);     weft_rlock_t *: likewise
 *   WEFT_WITH_LOCK(&mu) {...}  held for the block that follows; a break
 *                              or continue inside leaves that block
 *   WEFT_WITH_RLOCK(rl) {...}  likewise for a weft_rlock_t
 *
 * Locking a pthread mutex here cannot fail for a valid, initialised mutex
 * that the thread does not already hold; weft_rlock_lock can only fail on
 * recursion overflow (2^32 levels), which aborts here.
 */
WEFT_API void weft__scoped_mutex_unlock(pthread_mutex_t **mu);
WEFT_API void weft__scoped_rlock_unlock(weft_rlock_t **rl);
WEFT_API pthread_mutex_t *weft__scoped_mutex_lock(pthread_mutex_t *mu);
WEFT_API weft_rlock_t *weft__scoped_rlock_lock(weft_rlock_t *rl);

#define WEFT__CAT2(a, b) a##b
#define WEFT__CAT(a, b)  WEFT__CAT2(a, b)

#define WEFT_SCOPED_LOCK(mu)                                                                       \
    pthread_mutex_t *WEFT__CAT(weft__guard_, __LINE__)                                             \
        __attribute__((cleanup(weft__scoped_mutex_unlock), unused)) = weft__scoped_mutex_lock(mu)

#define WEFT_SCOPED_RLOCK(rl)                                                                      \
    weft_rlock_t *WEFT__CAT(weft__guard_, __LINE__)                                                \
        __attribute__((cleanup(weft__scoped_rlock_unlock), unused)) = weft__scoped_rlock_lock(rl)

#define WEFT_WITH_LOCK(mu)                                                                         \
    for (pthread_mutex_t * WEFT__CAT(weft__guard_, __LINE__) __attribute__((                       \
                               cleanup(weft__scoped_mutex_unlock))) = weft__scoped_mutex_lock(mu), \
                *WEFT__CAT(weft__once_, __LINE__) = WEFT__CAT(weft__guard_, __LINE__);             \
         WEFT__CAT(weft__once_, __LINE__); WEFT__CAT(weft__once_, __LINE__) = NULL)

#define WEFT_WITH_RLOCK(rl)                                                                        \
    for (weft_rlock_t * WEFT__CAT(weft__guard_, __LINE__) __attribute__((                          \
                            cleanup(weft__scoped_rlock_unlock))) = weft__scoped_rlock_lock(rl),    \
             *WEFT__CAT(weft__once_, __LINE__) = WEFT__CAT(weft__guard_, __LINE__);                \
         WEFT__CAT(weft__once_, __LINE__); WEFT__CAT(weft__once_, __LINE__) = NULL)

#ifdef __cplusplus
}
#endif

#endif /* WEFT_SYNC_H */
