/* Unit tests for the proc layer's children: spawning the program itself
   (this test binary, which acts as the child when its first argument says
   so), descriptors and environment, reaping, signals, exit descriptions,
   the parent-death signal and restart intensity. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-support.h"
#include "weft/weft.h"

/* ---- the child's side ---------------------------------------------------- */

static void write_all(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            _exit(90);
        s += w;
        n -= (size_t)w;
    }
}

/* A grandchild asks to die with its parent, tells the test its pid (fd 3)
   and its parent that it is ready (fd 4), then waits. */
static int orphan_child(void)
{
    char buf[32];
    if (weft_proc_child_init(SIGKILL) < 0)
        return 3;
    snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    write_all(3, buf);
    close(3);
    write_all(4, "r");
    close(4);
    for (;;)
        pause();
}

/* A child that spawns a grandchild (passing its own fd 3 on), waits until
   it is ready, then exits without reaping it: it must die with us. */
static int parent_child(void)
{
    const char *argv[] = {"test-proc", "--child", "orphan", NULL};
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) < 0)
        return 4;
    int fds[] = {3, ready[1]};
    weft_spawn_options_t o = {.argv = argv, .fds = fds, .n_fds = 2};
    weft_proc_t *p;
    if (weft_proc_spawn(&o, &p) < 0)
        return 4;
    close(ready[1]);
    char c;
    if (read(ready[0], &c, 1) != 1)
        return 5;
    _exit(0);
}

static int run_child(const char *mode)
{
    if (!strcmp(mode, "exit7"))
        return 7;
    if (!strcmp(mode, "segv"))
        raise(SIGSEGV);
    if (!strcmp(mode, "sleep"))
        for (;;)
            pause();
    if (!strcmp(mode, "fds")) { /* fd 3: a pipe to write to; fd 4: a file to read */
        char buf[64] = {0};
        if (read(4, buf, sizeof(buf) - 1) <= 0 || fcntl(5, F_GETFD) >= 0)
            return 5;
        write_all(3, buf);
        return 0;
    }
    if (!strcmp(mode, "env")) {
        const char *a = getenv("WEFT_TEST_A"), *b = getenv("WEFT_TEST_B");
        char buf[128];
        snprintf(buf, sizeof(buf), "%s|%s|%d", a ? a : "-", b ? b : "-", weft_proc_child_init(0));
        write_all(3, buf);
        return 0;
    }
    if (!strcmp(mode, "mask")) { /* what the parent blocked or ignored is not here */
        sigset_t mask;
        sigprocmask(SIG_BLOCK, NULL, &mask);
        return !sigismember(&mask, SIGTERM) && signal(SIGPIPE, SIG_DFL) == SIG_DFL ? 0 : 6;
    }
    if (!strcmp(mode, "orphan"))
        return orphan_child();
    if (!strcmp(mode, "parent"))
        return parent_child();
    return 99;
}

/* ---- helpers --------------------------------------------------------------- */

static weft_proc_t *spawn(const char *mode, const int *fds, unsigned n, const char *const *env)
{
    const char *argv[] = {"test-proc", "--child", mode, NULL};
    weft_spawn_options_t o = {.argv = argv, .fds = fds, .n_fds = n, .env = env};
    weft_proc_t *p = NULL;
    assert_int_equal(weft_proc_spawn(&o, &p), 0);
    assert_non_null(p);
    return p;
}

static int reap(weft_proc_t *p)
{
    int status = -1;
    assert_int_equal(weft_proc_reap(p, weft_test_ms(10000), &status), 0);
    return status;
}

static void read_to_end(int fd, char *buf, size_t n)
{
    size_t used = 0;
    ssize_t r;
    while (used < n - 1 && (r = read(fd, buf + used, n - 1 - used)) > 0)
        used += (size_t)r;
    buf[used] = '\0';
}

/* ---- tests ------------------------------------------------------------------- */

static void exit_status_and_description(void **state)
{
    char buf[64];
    weft_proc_t *p = spawn("exit7", NULL, 0, NULL);
    assert_true(weft_proc_pid(p) > 0);
    int st = reap(p);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 7);
    assert_string_equal(weft_proc_describe(st, buf, sizeof(buf)), "exited with status 7");
    assert_true(weft_proc_reaped(p));
    assert_int_equal(weft_proc_reap(p, 0, &st), 0); /* again: the same */
    assert_int_equal(weft_proc_signal(p, SIGTERM), -ESRCH);
    weft_proc_free(p);
}

static void a_crash_is_a_signal(void **state)
{
    char buf[64];
    const char *env[] = {"ASAN_OPTIONS=handle_segv=0", "TSAN_OPTIONS=handle_segv=0",
                         NULL}; /* a crash stays a signal under the sanitizers */
    weft_proc_t *p = spawn("segv", NULL, 0, env);
    int st = reap(p);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    assert_non_null(strstr(weft_proc_describe(st, buf, sizeof(buf)), "killed by SIGSEGV"));
    weft_proc_free(p);
}

static void signal_reap_timeout_and_free(void **state)
{
    weft_proc_t *p = spawn("sleep", NULL, 0, NULL);
    int st;
    assert_int_equal(weft_proc_reap(p, 0, &st), -ETIMEDOUT);
    assert_int_equal(weft_proc_reap(p, 50, &st), -ETIMEDOUT);
    assert_int_equal(weft_proc_signal(p, SIGTERM), 0);
    st = reap(p);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    weft_proc_free(p);
    /* free kills and reaps one still running: no zombie left */
    p = spawn("sleep", NULL, 0, NULL);
    pid_t pid = weft_proc_pid(p);
    weft_proc_free(p);
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static void descriptors_land_on_3_and_up(void **state)
{
    int pipefd[2];
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    FILE *f = tmpfile();
    fputs("from fd 4", f);
    fflush(f);
    rewind(f);
    int filefd = fcntl(fileno(f), F_DUPFD_CLOEXEC, 3);
    /* Given in an order where a naive dup2 list would clobber a source. */
    int fds[] = {pipefd[1], filefd};
    weft_proc_t *p = spawn("fds", fds, 2, NULL);
    close(pipefd[1]);
    char buf[64];
    read_to_end(pipefd[0], buf, sizeof(buf));
    assert_string_equal(buf, "from fd 4");
    int st = reap(p);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    weft_proc_free(p);
    close(pipefd[0]);
    close(filefd);
    fclose(f);
}

static void environment_changes(void **state)
{
    setenv("WEFT_TEST_B", "removed", 1);
    const char *env[] = {"WEFT_TEST_A=set", "WEFT_TEST_B", NULL};
    int pipefd[2];
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    weft_proc_t *p = spawn("env", &pipefd[1], 1, env);
    close(pipefd[1]);
    char buf[128];
    read_to_end(pipefd[0], buf, sizeof(buf));
    assert_string_equal(buf, "set|-|0"); /* and its parent is us */
    reap(p);
    weft_proc_free(p);
    close(pipefd[0]);
    unsetenv("WEFT_TEST_B");
    assert_int_equal(weft_proc_child_init(0), -ENOENT); /* we were not spawned so */
}

static void clean_signal_state(void **state)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    void (*was)(int) = signal(SIGPIPE, SIG_IGN);
    weft_proc_t *p = spawn("mask", NULL, 0, NULL);
    int st = reap(p);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    weft_proc_free(p);
    signal(SIGPIPE, was);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* The grandchild asked for SIGKILL when its parent dies: as the subreaper
   we inherit it and see it killed. */
static void dies_with_its_parent(void **state)
{
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int pipefd[2];
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    weft_proc_t *p = spawn("parent", &pipefd[1], 1, NULL);
    close(pipefd[1]);
    char buf[32];
    read_to_end(pipefd[0], buf, sizeof(buf)); /* EOF once the grandchild died */
    pid_t orphan = (pid_t)strtol(buf, NULL, 10);
    assert_true(orphan > 0);
    int st = reap(p);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    weft_proc_free(p);
    assert_int_equal(waitpid(orphan, &st, 0), orphan);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    close(pipefd[0]);
    prctl(PR_SET_CHILD_SUBREAPER, 0);
}

static void bad_arguments(void **state)
{
    weft_proc_t *p = (weft_proc_t *)1;
    weft_spawn_options_t o = {0};
    assert_int_equal(weft_proc_spawn(&o, &p), -EINVAL);
    assert_null(p);
    const char *argv[] = {"x", NULL};
    int fd = 999;
    o = (weft_spawn_options_t){.argv = argv, .fds = &fd, .n_fds = 1};
    assert_int_equal(weft_proc_spawn(&o, &p), -EBADF);
}

static void restart_intensity(void **state)
{
    weft_restarts_t r;
    weft_restart_policy_t pol = {
        .intensity = 3, .period_ms = 1000, .backoff_ms = 100, .max_backoff_ms = 350};
    weft_restarts_init(&r, &pol);
    assert_int_equal(weft_restarts_next(&r, 0), 0);
    assert_int_equal(weft_restarts_next(&r, 10), 0);
    assert_int_equal(weft_restarts_next(&r, 20), 0);
    assert_int_equal(weft_restarts_recent(&r, 30), 3);
    assert_int_equal(weft_restarts_next(&r, 30), 100); /* over: backoff doubles */
    assert_int_equal(weft_restarts_next(&r, 140), 200);
    assert_int_equal(weft_restarts_next(&r, 350), 350); /* capped */
    assert_int_equal(weft_restarts_next(&r, 710), 350);
    /* a whole quiet period: immediate again, backoff back to its start */
    assert_int_equal(weft_restarts_next(&r, 5000), 0);
    assert_int_equal(weft_restarts_recent(&r, 5000), 1);
    weft_restarts_t z = {0}; /* zeroed is the defaults */
    for (int i = 0; i < 5; i++)
        assert_int_equal(weft_restarts_next(&z, i), 0);
    assert_int_equal(weft_restarts_next(&z, 5), 100);
}

int main(int argc, char **argv)
{
    if (argc > 2 && !strcmp(argv[1], "--child"))
        return run_child(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exit_status_and_description),
        cmocka_unit_test(a_crash_is_a_signal),
        cmocka_unit_test(signal_reap_timeout_and_free),
        cmocka_unit_test(descriptors_land_on_3_and_up),
        cmocka_unit_test(environment_changes),
        cmocka_unit_test(clean_signal_state),
        cmocka_unit_test(dies_with_its_parent),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(restart_intensity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
