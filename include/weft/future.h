/*
 * weft/future.h - promises and futures.
 *
 * A future is a refcounted slot that is settled exactly once: fulfilled
 * with a value (int64, double or an owned pointer), rejected with a
 * negative errno and an optional message, or cancelled. Whoever produces
 * the value holds the promise side (weft_promise_new returns a future; the
 * producer fulfils it); consumers wait with a timeout from any thread, run
 * a callback on the settling thread (weft_future_on_settle), combine
 * futures (all/any), or continue on a loop's thread (weft_future_then, in
 * loop.h).
 *
 * References. weft_promise_new returns one reference. weft_future_ref adds
 * one, weft_future_unref drops one; the last unref frees the future, and if
 * it is still pending it is cancelled first (so a producer watching
 * on_cancel learns that nobody wants the result). Functions that take a
 * future borrow the caller's reference unless they say otherwise.
 *
 * Values and ownership. A pointer value belongs to the future from the
 * call that passes it (weft_future_fulfill_ptr, even when that call fails);
 * the future calls its destructor when freed, unless a consumer moved it
 * out with weft_future_take_ptr. weft_future_ptr only borrows it (valid
 * while the caller holds a reference and nobody takes it).
 *
 * Thread-safety: every function here may be called from any thread on a
 * future the caller holds a reference to. Callbacks run on the thread that
 * settles the future (or the registering thread, if already settled), in
 * registration order, with no weft lock held.
 */
#ifndef WEFT_FUTURE_H
#define WEFT_FUTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "weft/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_future weft_future_t;
typedef struct weft_loop weft_loop_t; /* loop.h */

typedef enum {
    WEFT_FUTURE_PENDING,
    WEFT_FUTURE_FULFILLED,
    WEFT_FUTURE_REJECTED,
    WEFT_FUTURE_CANCELLED
} weft_state_t;

/* weft_promise_new - a pending future with refcount 1. Returns NULL with
   errno ENOMEM. */
WEFT_API weft_future_t *weft_promise_new(void);

/* weft_future_fulfill_int / _double - settle f with a value. Returns 0, or
   -EALREADY if f was already settled (f is unchanged). */
WEFT_API int weft_future_fulfill_int(weft_future_t *f, int64_t value);
WEFT_API int weft_future_fulfill_double(weft_future_t *f, double value);

/* weft_future_fulfill_ptr - settle f with a pointer it takes ownership of:
   dtor(ptr) runs when f is freed (dtor may be NULL). If the call fails
   (-EALREADY), dtor(ptr) has run before it returns. */
WEFT_API int weft_future_fulfill_ptr(weft_future_t *f, void *ptr, void (*dtor)(void *));

/* weft_future_reject - settle f as failed with err (negative errno; 0 or a
   positive value is taken as -EINVAL) and an optional message, which is
   copied (a message that cannot be copied for lack of memory is dropped;
   the rejection itself never fails for lack of memory). Returns 0, or
   -EALREADY. */
WEFT_API int weft_future_reject(weft_future_t *f, int err, const char *msg);

/* weft_future_cancel - settle f as cancelled (error -ECANCELED) and run
   its on_cancel callbacks, then its settle callbacks. Returns 0, or
   -EALREADY if already settled. */
WEFT_API int weft_future_cancel(weft_future_t *f);

/* weft_future_on_cancel - for producers: fn(arg) runs once if f is
   cancelled, or at once (in the caller) if it already is. Returns 0;
   -EALREADY if f settled otherwise (and if f settles otherwise later, fn
   never runs: arg stays the producer's); -ENOMEM. */
WEFT_API int weft_future_on_cancel(weft_future_t *f, void (*fn)(void *), void *arg);

/* weft_future_wait - wait until f is settled. Returns 0 (settled, in any
   state) or -ETIMEDOUT (still pending). On a loop thread any timeout but 0
   returns -EDEADLK. A worker of a pool waiting here runs queued jobs of
   its own pool meanwhile, so waiting cannot starve the pool. Waiters spin
   briefly before they sleep. */
WEFT_API int weft_future_wait(weft_future_t *f, int64_t timeout_ms);

/* The state and the result; each a snapshot. */
WEFT_API weft_state_t weft_future_state(const weft_future_t *f);
WEFT_API bool weft_future_is_done(const weft_future_t *f);

/* weft_future_int / _double / _ptr - the value if f was fulfilled with
   that kind of value, else 0 / 0.0 / NULL. A future fulfilled by a job
   that returned nothing holds int 0. weft_future_ptr borrows. */
WEFT_API int64_t weft_future_int(const weft_future_t *f);
WEFT_API double weft_future_double(const weft_future_t *f);
WEFT_API void *weft_future_ptr(const weft_future_t *f);

/* weft_future_take_ptr - move the pointer value out: the caller owns it
   (and must destroy it), the future no longer does. NULL if there is none
   or it was taken already. */
WEFT_API void *weft_future_take_ptr(weft_future_t *f);

/* weft_future_error - 0 (pending or fulfilled), the rejection's negative
   errno, or -ECANCELED when cancelled. */
WEFT_API int weft_future_error(const weft_future_t *f);

/* weft_future_message - the rejection message, or NULL if none. Borrowed:
   valid while the caller holds a reference. */
WEFT_API const char *weft_future_message(const weft_future_t *f);

/* weft_future_ref - returns f with one more reference. */
WEFT_API weft_future_t *weft_future_ref(weft_future_t *f);

/* weft_future_unref - drop one reference; NULL is fine. Dropping the last
   reference to a pending future cancels it first. */
WEFT_API void weft_future_unref(weft_future_t *f);

/* A settle callback: f is borrowed for the call. */
typedef void (*weft_settle_fn)(weft_future_t *f, void *arg);

/* weft_future_on_settle - fn(f, arg) runs once when f settles, on the
   settling thread, or at once in the caller if f already settled. Several
   run in registration order. For code that has no loop; on a loop use
   weft_future_then. Returns 0 or -ENOMEM (fn will not run). */
WEFT_API int weft_future_on_settle(weft_future_t *f, weft_settle_fn fn, void *arg);

/* weft_future_all - a new future fulfilled with int n when every input is
   fulfilled; rejected as soon as one input fails, with that input's error
   and message (a cancelled input gives -ECANCELED); n == 0: fulfilled at
   once. weft_future_any - fulfilled with the int index of the first input
   to fulfil; when every input has failed, rejected with input 0's error;
   n == 0: rejected with -EINVAL. The inputs are borrowed (the result takes
   its own references). Cancelling the result cancels the inputs still
   pending. Returns NULL with errno ENOMEM (or EINVAL for fs NULL with
   n > 0). */
WEFT_API weft_future_t *weft_future_all(weft_future_t *const *fs, size_t n);
WEFT_API weft_future_t *weft_future_any(weft_future_t *const *fs, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_FUTURE_H */
