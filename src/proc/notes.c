/*
 * notes.c - crash notes: what each thread of a process is doing, kept in
 * shared memory so the supervisor can read it after the process died.
 *
 * The area is a header and one slot per thread. A thread claims a free
 * slot with its first note (a compare-and-swap of the owner field) and
 * gives it back when it exits (a pthread key's destructor). A note is the
 * text, then its length stored with release order; nothing is read while
 * the writer lives, except by this process, so there is no lock to leave
 * locked and nothing torn for the reader that matters.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "weft/proc.h"

#define NOTES_MAGIC 0x5745464eu /* "WEFN" */

struct note_slot {
    _Atomic pid_t owner; /* the thread's tid, 0 when free */
    _Atomic uint32_t len;
    char text[WEFT_PROC_NOTE_SIZE];
};

struct notes_area {
    uint32_t magic;
    uint32_t slots;
    struct note_slot slot[];
};

static _Atomic(struct notes_area *) attached;
static __thread struct note_slot *my_slot;
static __thread bool slot_tried;
static pthread_key_t release_key;
static pthread_once_t release_once = PTHREAD_ONCE_INIT;

size_t weft_proc_notes_size(unsigned threads)
{
    return sizeof(struct notes_area) + (size_t)threads * sizeof(struct note_slot);
}

void weft_proc_notes_init(void *area, size_t size)
{
    struct notes_area *a = area;
    if (!a || size < sizeof(*a))
        return;
    memset(area, 0, size);
    a->slots = (uint32_t)((size - sizeof(*a)) / sizeof(struct note_slot));
    a->magic = NOTES_MAGIC;
}

static bool area_valid(const struct notes_area *a, size_t size)
{
    return a && size >= sizeof(*a) && a->magic == NOTES_MAGIC &&
           a->slots <= (size - sizeof(*a)) / sizeof(struct note_slot);
}

static void release_slot(void *slot)
{
    struct note_slot *s = slot;
    atomic_store_explicit(&s->len, 0, memory_order_relaxed);
    atomic_store_explicit(&s->owner, 0, memory_order_release);
}

static void make_key(void)
{
    pthread_key_create(&release_key, release_slot);
}

int weft_proc_notes_attach(void *area, size_t size)
{
    if (!area_valid(area, size))
        return -EINVAL;
    pthread_once(&release_once, make_key);
    atomic_store_explicit(&attached, (struct notes_area *)area, memory_order_release);
    return 0;
}

static struct note_slot *claim_slot(void)
{
    slot_tried = true;
    struct notes_area *a = atomic_load_explicit(&attached, memory_order_acquire);
    if (!a)
        return NULL;
    pid_t tid = gettid();
    for (uint32_t i = 0; i < a->slots; i++) {
        pid_t free_owner = 0;
        if (atomic_compare_exchange_strong(&a->slot[i].owner, &free_owner, tid)) {
            pthread_setspecific(release_key, &a->slot[i]);
            return &a->slot[i];
        }
    }
    return NULL; /* every slot taken: this thread goes unnoted */
}

void weft_proc_note(const char *what)
{
    struct note_slot *s = my_slot;
    if (!s) {
        /* One claim per thread: one that found every slot taken goes
           unnoted rather than scan the slots again on every note. */
        if (!what || slot_tried || !atomic_load_explicit(&attached, memory_order_relaxed) ||
            !(s = claim_slot()))
            return;
        my_slot = s;
    }
    if (!what) {
        atomic_store_explicit(&s->len, 0, memory_order_release);
        return;
    }
    size_t n = strnlen(what, WEFT_PROC_NOTE_SIZE - 1);
    atomic_store_explicit(&s->len, 0, memory_order_relaxed);
    memcpy(s->text, what, n);
    s->text[n] = '\0';
    atomic_store_explicit(&s->len, (uint32_t)n, memory_order_release);
}

unsigned weft_proc_notes_read(const void *area, size_t size, char *buf, size_t n)
{
    const struct notes_area *a = area;
    unsigned found = 0;
    size_t used = 0;
    if (buf && n)
        buf[0] = '\0';
    if (!area_valid(a, size))
        return 0;
    for (uint32_t i = 0; i < a->slots; i++) {
        uint32_t len = atomic_load_explicit(&a->slot[i].len, memory_order_acquire);
        if (!len || len >= WEFT_PROC_NOTE_SIZE)
            continue;
        found++;
        if (!buf || used + len + 3 > n)
            continue; /* counted, no room to show it */
        if (used) {
            memcpy(buf + used, "; ", 2);
            used += 2;
        }
        memcpy(buf + used, a->slot[i].text, len);
        used += len;
        buf[used] = '\0';
    }
    return found;
}
