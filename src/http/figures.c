/*
 * figures.c - where counters live: private memory, or a slot of an area
 * shared by processes (weft_server_share_figures), summed by readers.
 *
 * A process replaced by its supervisor must not take its counts with it:
 * with a shared area each process counts in its own slot of memory that
 * outlives it, the next process in that slot continues from what is there,
 * and a reader adds the same counter over every slot. Nothing is locked:
 * each counter has one writing process at a time (per-loop counters one
 * writing thread), readers only load.
 *
 * Addresses: every process with the same program and configuration makes
 * the same allocations in the same order, so a counter sits at the same
 * offset in every slot. Each slot's head holds a hash of that sequence
 * (sizes and names): a reader adds only slots laid out like its own, and a
 * process taking a slot laid out differently clears it first.
 */
#include <errno.h>
#include <string.h>

#include "http/http-int.h"

#define SLOT_HEAD 64 /* bytes before a slot's counters: its layout */

struct slot_head {
    _Atomic uint64_t layout;
};

static struct slot_head *head_of(const struct figures_area *a, unsigned k)
{
    return (struct slot_head *)(a->base + (size_t)k * a->slot_size);
}

int weft__figures_area_init(struct figures_area *a, void *base, size_t slot_size, unsigned n_slots,
                            unsigned slot)
{
    if (!base || slot >= n_slots || slot_size < 4096 || slot_size % 64 ||
        slot_size > SIZE_MAX / n_slots)
        return -EINVAL;
    *a = (struct figures_area){.base = base,
                               .slot_size = slot_size,
                               .n_slots = n_slots,
                               .slot = slot,
                               .layout = 1469598103934665603ull};
    return 0;
}

static void hash_bytes(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ b[i]) * 1099511628211ull; /* FNV-1a */
}

void *weft__figures_alloc(struct figures_area *a, size_t size, const char *what)
{
    size = (size + 63) & ~(size_t)63; /* each on its own cache lines */
    if (!a->base)
        return weft__calloc_aligned(64, size);
    if (size > a->slot_size - SLOT_HEAD - a->used)
        return NULL;
    void *p = a->base + (size_t)a->slot * a->slot_size + SLOT_HEAD + a->used;
    a->used += size;
    hash_bytes(&a->layout, &size, sizeof(size));
    hash_bytes(&a->layout, what, strlen(what));
    return p;
}

void weft__figures_free(const struct figures_area *a, void *p)
{
    if (!a->base)
        weft__free(p); /* shared ones stay: the next process continues them */
}

void weft__figures_seal(struct figures_area *a)
{
    if (!a->base)
        return;
    if (a->layout == 0)
        a->layout = 1; /* 0 marks a slot nobody laid out */
    struct slot_head *h = head_of(a, a->slot);
    if (atomic_load_explicit(&h->layout, memory_order_acquire) != a->layout) {
        atomic_store_explicit(&h->layout, 0, memory_order_release); /* readers skip it */
        memset((char *)h + SLOT_HEAD, 0, a->slot_size - SLOT_HEAD);
        atomic_store_explicit(&h->layout, a->layout, memory_order_release);
    }
}

uint64_t weft__figures_sum(const struct figures_area *a, const _Atomic uint64_t *p)
{
    if (!a || !a->base)
        return atomic_load_explicit(p, memory_order_relaxed);
    size_t off = (size_t)((const char *)p - (a->base + (size_t)a->slot * a->slot_size));
    uint64_t sum = 0;
    for (unsigned k = 0; k < a->n_slots; k++) {
        const struct slot_head *h = head_of(a, k);
        if (atomic_load_explicit(&h->layout, memory_order_acquire) != a->layout)
            continue;
        sum += atomic_load_explicit((const _Atomic uint64_t *)((const char *)h + off),
                                    memory_order_relaxed);
    }
    return sum;
}
