/*
 * stress-proc.c - the proc layer's races, repeated:
 *  - 4 threads spawn children at once, each passing its own pipe as fd 3
 *    (the descriptors are lifted and mapped per spawn: no child may get
 *    another thread's pipe), and reap them with timeouts;
 *  - 8 threads at a time start, note, and exit against a notes area with
 *    fewer slots than threads, round after round: with all of them parked
 *    every slot holds one thread's note, no note appears twice (a slot
 *    owned twice), and once they exited every slot is free again.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-support.h"
#include "weft/weft.h"

#if defined(WEFT_UNDER_TSAN) || defined(__SANITIZE_THREAD__)
#define SPAWNS_PER_THREAD 15
#define NOTE_ROUNDS       150
#else
#define SPAWNS_PER_THREAD 40
#define NOTE_ROUNDS       600
#endif
#define SPAWNERS   4
#define NOTERS     8
#define NOTE_SLOTS 5

static atomic_long errors;

/* ---- spawning at once ----------------------------------------------------------- */

static void *spawner(void *arg)
{
    long id = (long)(intptr_t)arg;
    for (int i = 0; i < SPAWNS_PER_THREAD; i++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0) {
            errors++;
            continue;
        }
        char tag[32];
        snprintf(tag, sizeof(tag), "%ld-%d", id, i);
        const char *argv[] = {"stress-proc", "--child", tag, NULL};
        weft_spawn_options_t o = {.argv = argv, .fds = &p[1], .n_fds = 1};
        weft_proc_t *proc;
        int r = weft_proc_spawn(&o, &proc);
        close(p[1]);
        if (r < 0) {
            errors++;
            close(p[0]);
            continue;
        }
        char buf[32] = {0};
        ssize_t n = read(p[0], buf, sizeof(buf) - 1);
        int st;
        if (n <= 0 || strcmp(buf, tag) || weft_proc_reap(proc, 10000, &st) < 0 || !WIFEXITED(st) ||
            WEXITSTATUS(st) != 0)
            errors++;
        weft_proc_free(proc);
        close(p[0]);
    }
    return NULL;
}

static void spawning_at_once(void)
{
    pthread_t t[SPAWNERS];
    for (long i = 0; i < SPAWNERS; i++)
        pthread_create(&t[i], NULL, spawner, (void *)(intptr_t)i);
    for (int i = 0; i < SPAWNERS; i++)
        pthread_join(t[i], NULL);
}

/* ---- notes --------------------------------------------------------------------------- */

static char area[8192];
static pthread_barrier_t noted, checked;

/* Claims and gives back a slot many times, racing the others for too few
   slots, then holds a note while the main thread looks. */
static void *noter(void *arg)
{
    char mine[WEFT_PROC_NOTE_SIZE];
    snprintf(mine, sizeof(mine), "thread %ld", (long)(intptr_t)arg);
    weft_proc_note(mine);
    weft_proc_note(NULL);
    weft_proc_note(mine);
    pthread_barrier_wait(&noted);
    pthread_barrier_wait(&checked);
    return NULL; /* exits noted: the slot's release clears it */
}

/* With every noter parked: exactly NOTE_SLOTS notes, all different (a
   note seen twice would be a slot owned twice). */
static void check_notes(size_t size)
{
    char buf[1024], *notes[NOTE_SLOTS + 1], *save = NULL;
    unsigned n = weft_proc_notes_read(area, size, buf, sizeof(buf)), seen = 0;
    for (char *s = strtok_r(buf, ";", &save); s && seen <= NOTE_SLOTS;
         s = strtok_r(NULL, ";", &save)) {
        s += *s == ' ';
        if (strncmp(s, "thread ", 7))
            errors++; /* a note that is nobody's text */
        for (unsigned k = 0; k < seen; k++)
            if (!strcmp(notes[k], s))
                errors++;
        notes[seen++] = s;
    }
    if (n != NOTE_SLOTS || seen != n)
        errors++;
}

static void notes_racing(void)
{
    size_t size = weft_proc_notes_size(NOTE_SLOTS);
    weft_proc_notes_init(area, size);
    if (weft_proc_notes_attach(area, size) < 0)
        errors++;
    pthread_barrier_init(&noted, NULL, NOTERS + 1);
    pthread_barrier_init(&checked, NULL, NOTERS + 1);
    for (int round = 0; round < NOTE_ROUNDS; round++) {
        pthread_t t[NOTERS];
        for (long i = 0; i < NOTERS; i++)
            pthread_create(&t[i], NULL, noter, (void *)(intptr_t)(round * NOTERS + i));
        pthread_barrier_wait(&noted);
        check_notes(size);
        pthread_barrier_wait(&checked);
        for (int i = 0; i < NOTERS; i++)
            pthread_join(t[i], NULL);
        char buf[256];
        if (weft_proc_notes_read(area, size, buf, sizeof(buf)) != 0)
            errors++; /* every slot came back */
    }
    pthread_barrier_destroy(&noted);
    pthread_barrier_destroy(&checked);
}

int main(int argc, char **argv)
{
    if (argc > 2 && !strcmp(argv[1], "--child")) {
        ssize_t w = write(3, argv[2], strlen(argv[2]));
        return w == (ssize_t)strlen(argv[2]) ? 0 : 1;
    }
    spawning_at_once();
    long spawn_errors = atomic_load(&errors);
    notes_racing();
    printf("spawn errors %ld, note errors %ld\n", spawn_errors,
           atomic_load(&errors) - spawn_errors);
    return atomic_load(&errors) ? 1 : 0;
}
