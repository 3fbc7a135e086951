/*
 * base.h - what every module of libweft shares: assertions, panics, the
 * allocator hook, container_of and branch hints. Private: never included by
 * a public header.
 *
 * Assertions (STYLE.md example 6): WEFT_ASSERT checks an invariant and, if
 * broken, prints expr, file and line through the log sink and aborts. It is
 * on unless WEFT_NDEBUG is defined; the checks are cheap (a compare on data
 * already in cache) and the sanitizer suites exercise them. WEFT_NEVER(c)
 * marks a state that "cannot happen" but must be handled if it does: it
 * asserts in debug builds and evaluates to c in release builds, so the
 * caller's graceful path runs. weft_panic is for states the code cannot
 * continue from, never for bad input.
 *
 * Allocation goes through weft__malloc and friends so tests can inject
 * failures (weft__alloc_fail_after) and count what a constructor left
 * behind (weft__alloc_live) in the out-of-memory sweep.
 */
#ifndef WEFT_BASE_H
#define WEFT_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "weft/error.h"

#define weft_likely(x)   __builtin_expect(!!(x), 1)
#define weft_unlikely(x) __builtin_expect(!!(x), 0)

#define weft_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#define WEFT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Internal symbols shared between files: hidden by -fvisibility=hidden. */
#define WEFT_INTERNAL __attribute__((visibility("hidden")))

WEFT_NORETURN void weft__assert_fail(const char *expr, const char *file, int line) WEFT_INTERNAL;
WEFT_NORETURN void weft_panic_at(const char *file, int line, const char *fmt, ...)
    WEFT_PRINTF(3, 4) WEFT_INTERNAL;
#define weft_panic(...) weft_panic_at(__FILE__, __LINE__, __VA_ARGS__)

#ifndef WEFT_NDEBUG
#define WEFT_ASSERT(expr)                                                                          \
    ((void)(weft_likely(expr) ? 0 : (weft__assert_fail(#expr, __FILE__, __LINE__), 0)))
#define WEFT_NEVER(cond) ((cond) ? (weft__assert_fail("!(" #cond ")", __FILE__, __LINE__), 1) : 0)
#else
#define WEFT_ASSERT(expr) ((void)0)
#define WEFT_NEVER(cond)  (cond)
#endif

/* Which lock guards a field: documentation for readers. (Clang's
   -Wthread-safety would need annotated mutex types, which pthreads are
   not, so this expands to nothing.) */
#define WEFT_GUARDED_BY(x)

/* ---- allocation -------------------------------------------------------- */

void *weft__malloc(size_t size) WEFT_INTERNAL;
void *weft__calloc(size_t n, size_t size) WEFT_INTERNAL;
void *weft__realloc(void *p, size_t size) WEFT_INTERNAL;
void weft__free(void *p) WEFT_INTERNAL;
/* Zeroed memory aligned to `align` (a power of two, multiple of
   sizeof(void *)), for structures laid out on cache lines; weft__free. */
void *weft__calloc_aligned(size_t align, size_t size) WEFT_INTERNAL;
char *weft__strdup(const char *s) WEFT_INTERNAL;

/*
 * Test hooks. weft__alloc_fail_after(n): the allocation n calls from now
 * (0 = the next one) and every one after it fails, until
 * weft__alloc_fail_after(-1) disarms the hook. While armed, every
 * allocation and free through weft__* is counted; weft__alloc_live() is
 * allocations minus frees since it was armed. Not thread-safe against
 * concurrent arming; the counting itself is atomic.
 */
void weft__alloc_fail_after(long n) WEFT_INTERNAL;
long weft__alloc_live(void) WEFT_INTERNAL;

#endif /* WEFT_BASE_H */
