/* Unit tests for shared memory and crash notes: a memfd segment seen by a
   child, sealed size, notes written by threads and read back, slots given
   back when threads exit, and a crashed child's notes read by its parent. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-support.h"
#include "weft/weft.h"

/* The child: fd 3 is the segment; bump its counter, note, and crash. */
static int run_child(void)
{
    size_t size;
    char *mem = weft_shm_map(3, &size);
    if (!mem)
        return 3;
    atomic_fetch_add((_Atomic uint64_t *)mem, 41);
    if (weft_proc_notes_attach(mem + 64, size - 64) < 0)
        return 4;
    weft_proc_note("GET /crash");
    raise(SIGSEGV);
    return 5;
}

static void segment_shared_with_a_child(void **state)
{
    int fd;
    size_t size = 64 + weft_proc_notes_size(8);
    char *mem = weft_shm_create("weft-test", size, &fd);
    assert_non_null(mem);
    atomic_store((_Atomic uint64_t *)mem, 1);
    weft_proc_notes_init(mem + 64, size - 64);
    const char *argv[] = {"test-proc-shared", "--child", NULL};
    const char *env[] = {"ASAN_OPTIONS=handle_segv=0", "TSAN_OPTIONS=handle_segv=0", NULL};
    weft_spawn_options_t o = {.argv = argv, .fds = &fd, .n_fds = 1, .env = env};
    weft_proc_t *p;
    assert_int_equal(weft_proc_spawn(&o, &p), 0);
    int st;
    assert_int_equal(weft_proc_reap(p, weft_test_ms(10000), &st), 0);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    assert_int_equal(atomic_load((_Atomic uint64_t *)mem), 42);
    char buf[256];
    assert_int_equal(weft_proc_notes_read(mem + 64, size - 64, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "GET /crash");
    weft_proc_free(p);
    /* the size is sealed: nobody can shrink it under the others */
    assert_int_equal(ftruncate(fd, 0), -1);
    assert_int_equal(errno, EPERM);
    size_t got;
    void *again = weft_shm_map(fd, &got);
    assert_non_null(again);
    assert_int_equal(got, size);
    weft_shm_unmap(again, got);
    close(fd);
    weft_shm_unmap(mem, size);
    assert_null(weft_shm_map(0, &got)); /* stdin is not a segment */
}

static char notes_area[4096]; /* attached for good: this process's notes */
static _Atomic int noted, release;

static void *noting_thread(void *arg)
{
    weft_proc_note(arg);
    noted++;
    while (!atomic_load(&release))
        usleep(1000);
    return NULL;
}

static void notes_from_threads(void **state)
{
    char *area = notes_area;
    size_t size = weft_proc_notes_size(3);
    char buf[512];
    assert_int_equal(weft_proc_notes_attach(area, size), -EINVAL); /* not laid out */
    weft_proc_notes_init(area, size);
    assert_int_equal(weft_proc_notes_attach(area, size), 0);
    weft_proc_note("main thread");
    weft_proc_note(NULL); /* idle again */
    char long_note[200];
    memset(long_note, 'x', sizeof(long_note) - 1);
    long_note[sizeof(long_note) - 1] = '\0';
    pthread_t t[3];
    const char *what[] = {"GET /a", long_note, "job fib"};
    noted = release = 0;
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, noting_thread, (void *)what[i]);
    while (noted < 3)
        usleep(1000);
    /* main holds one of 3 slots: one thread went unnoted */
    assert_int_equal(weft_proc_notes_read(area, size, buf, sizeof(buf)), 2);
    char too_long[WEFT_PROC_NOTE_SIZE + 1];
    memset(too_long, 'x', WEFT_PROC_NOTE_SIZE);
    too_long[WEFT_PROC_NOTE_SIZE] = '\0';
    assert_null(strstr(buf, too_long)); /* truncated to fit its slot */
    release = 1;
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(weft_proc_notes_read(area, size, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    /* exited threads gave their slots back: new ones can note */
    noted = release = 0;
    pthread_create(&t[0], NULL, noting_thread, (void *)"GET /b");
    pthread_create(&t[1], NULL, noting_thread, (void *)"GET /c");
    while (noted < 2)
        usleep(1000);
    assert_int_equal(weft_proc_notes_read(area, size, buf, sizeof(buf)), 2);
    assert_non_null(strstr(buf, "GET /b"));
    assert_non_null(strstr(buf, "; "));
    release = 1;
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
}

/* A pool job submitted with a note is noted while it runs (the crash
   report names it), and no longer once it returned. */
static void noted_job(weft_job_t *job, void *arg)
{
    noted = 1;
    while (!atomic_load(&release))
        usleep(1000);
}

static void a_job_is_noted_while_it_runs(void **state)
{
    size_t size = weft_proc_notes_size(3);
    char buf[256];
    weft_pool_options_t po = {.threads = 1};
    weft_pool_t *pool = weft_pool_new(&po);
    noted = release = 0;
    weft_job_options_t jo = {.note = "GET /fib/:n"};
    weft_future_t *f;
    assert_int_equal(weft_pool_submit_ex(pool, noted_job, NULL, &jo, &f), 0);
    while (!noted)
        usleep(1000);
    assert_int_equal(weft_proc_notes_read(notes_area, size, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "GET /fib/:n");
    release = 1;
    assert_int_equal(weft_future_wait(f, weft_test_ms(5000)), 0);
    weft_future_unref(f);
    weft_pool_free(pool);
    assert_int_equal(weft_proc_notes_read(notes_area, size, buf, sizeof(buf)), 0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--child"))
        return run_child();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(segment_shared_with_a_child),
        cmocka_unit_test(notes_from_threads),
        cmocka_unit_test(a_job_is_noted_while_it_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
