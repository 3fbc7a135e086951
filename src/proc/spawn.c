/*
 * spawn.c - children: posix_spawn of /proc/self/exe, pidfds, reaping.
 *
 * Why posix_spawn and not fork: a forked child of a threaded process gets
 * copies of locks other threads held (the allocator's among them) and may
 * only call async-signal-safe functions until it execs. glibc's
 * posix_spawn uses clone(CLONE_VM | CLONE_VFORK), which also costs nothing
 * for a large parent.
 *
 * Descriptors: fds[i] must land on 3 + i. A plain dup2(fds[i], 3 + i)
 * list can overwrite a later source, and dup2 onto itself keeps the
 * close-on-exec flag. So the sources are first duplicated above the
 * target range in the parent, and the child's actions dup2 from those.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error/base.h"
#include "sync/thread.h"
#include "weft/proc.h"

#define MAX_FDS 1024

extern char **environ;

struct weft_proc {
    pid_t pid;
    int pidfd;
    bool reaped;
    int status;
};

/* ---- the child's environment ---------------------------------------------- */

static size_t name_len(const char *entry)
{
    const char *eq = strchr(entry, '=');
    return eq ? (size_t)(eq - entry) : strlen(entry);
}

static bool overridden(const char *entry, const char *const *env)
{
    size_t n = name_len(entry);
    for (; env && *env; env++)
        if (name_len(*env) == n && !strncmp(*env, entry, n))
            return true;
    return false;
}

/* environ minus what env changes, plus env's settings and WEFT_PARENT_PID.
   One allocation: the pointer array, then the parent-pid string. */
static char **child_environ(const char *const *env)
{
    size_t n = 0, extra = 0;
    while (environ[n])
        n++;
    while (env && env[extra])
        extra++;
    char **out = weft__malloc((n + extra + 2) * sizeof(char *) + 32);
    if (!out)
        return NULL;
    char *pid_entry = (char *)(out + n + extra + 2);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "WEFT_PARENT_PID=", 16) && !overridden(environ[i], env))
            out[k++] = environ[i];
    for (size_t i = 0; i < extra; i++)
        if (strchr(env[i], '='))
            out[k++] = (char *)env[i];
    snprintf(pid_entry, 32, "WEFT_PARENT_PID=%ld", (long)getpid());
    out[k++] = pid_entry;
    out[k] = NULL;
    return out;
}

/* ---- spawning -------------------------------------------------------------- */

static int pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Copies of fds above 3 + n, so no dup2 in the child clobbers a source. */
static int lift_fds(const int *fds, unsigned n, int *lifted)
{
    for (unsigned i = 0; i < n; i++) {
        lifted[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3 + (int)n);
        if (lifted[i] < 0) {
            int err = -errno;
            while (i--)
                close(lifted[i]);
            return err;
        }
    }
    return 0;
}

static int set_attributes(posix_spawnattr_t *attr, bool new_group)
{
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (new_group)
        flags |= POSIX_SPAWN_SETPGROUP;
    int r = posix_spawnattr_setflags(attr, flags);
    if (!r)
        r = posix_spawnattr_setsigmask(attr, &none); /* loop threads block signals */
    if (!r)
        r = posix_spawnattr_setsigdefault(attr, &all); /* ignored SIGPIPE too */
    if (!r && new_group)
        r = posix_spawnattr_setpgroup(attr, 0);
    return -r;
}

static int spawn_with(const weft_spawn_options_t *o, const int *lifted, char **envp, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int r = -posix_spawn_file_actions_init(&fa);
    if (r)
        return r;
    if ((r = -posix_spawnattr_init(&attr))) {
        posix_spawn_file_actions_destroy(&fa);
        return r;
    }
    for (unsigned i = 0; !r && i < o->n_fds; i++)
        r = -posix_spawn_file_actions_adddup2(&fa, lifted[i], 3 + (int)i);
    if (!r) /* nothing else leaks in, close-on-exec or not */
        r = -posix_spawn_file_actions_addclosefrom_np(&fa, 3 + (int)o->n_fds);
    if (!r)
        r = set_attributes(&attr, o->new_group);
    if (!r)
        r = -posix_spawn(pid, "/proc/self/exe", &fa, &attr, (char *const *)o->argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return r;
}

int weft_proc_spawn(const weft_spawn_options_t *o, weft_proc_t **out)
{
    *out = NULL;
    if (!o || !o->argv || !o->argv[0] || o->n_fds > MAX_FDS || (o->n_fds && !o->fds))
        return -EINVAL;
    struct weft_proc *p = weft__calloc(1, sizeof(*p));
    int *lifted = weft__calloc(o->n_fds + 1, sizeof(int));
    char **envp = child_environ(o->env);
    int r = p && lifted && envp ? lift_fds(o->fds, o->n_fds, lifted) : -ENOMEM;
    if (r == 0) {
        r = spawn_with(o, lifted, envp, &p->pid);
        for (unsigned i = 0; i < o->n_fds; i++)
            close(lifted[i]);
    }
    if (r == 0 && (p->pidfd = pidfd_open(p->pid)) < 0) {
        r = -errno; /* cannot watch it: take it back down */
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    weft__free(envp);
    weft__free(lifted);
    if (r < 0) {
        weft__free(p);
        return r;
    }
    *out = p;
    return 0;
}

/* ---- watching and reaping ---------------------------------------------------- */

pid_t weft_proc_pid(const weft_proc_t *p)
{
    return p->pid;
}

int weft_proc_fd(const weft_proc_t *p)
{
    return p->pidfd;
}

bool weft_proc_reaped(const weft_proc_t *p)
{
    return p->reaped;
}

int weft_proc_signal(weft_proc_t *p, int sig)
{
    if (!p || sig < 0 || sig >= NSIG)
        return -EINVAL;
    if (p->reaped)
        return -ESRCH;
    return syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the pidfd polls readable: the child has exited. */
static bool wait_exit(const struct weft_proc *p, int64_t timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    for (;;) {
        int left = deadline < 0 ? -1 : (int)(deadline - now_ms() > 0 ? deadline - now_ms() : 0);
        struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
        int n = poll(&pfd, 1, left);
        if (n > 0)
            return true;
        if (n == 0 || (n < 0 && errno != EINTR))
            return false;
    }
}

int weft_proc_reap(weft_proc_t *p, int64_t timeout_ms, int *status)
{
    if (!p)
        return -EINVAL;
    if (!p->reaped) {
        if (weft__would_block_loop(timeout_ms))
            return -EDEADLK;
        if (timeout_ms != 0 && !wait_exit(p, timeout_ms))
            return -ETIMEDOUT;
        pid_t r;
        while ((r = waitpid(p->pid, &p->status, WNOHANG)) < 0 && errno == EINTR)
            ;
        if (r == 0)
            return -ETIMEDOUT;
        if (r < 0)
            return -errno; /* ECHILD: somebody else reaped it */
        p->reaped = true;
        close(p->pidfd);
        p->pidfd = -1;
    }
    if (status)
        *status = p->status;
    return 0;
}

void weft_proc_free(weft_proc_t *p)
{
    if (!p)
        return;
    if (!p->reaped) {
        weft_proc_signal(p, SIGKILL);
        while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        close(p->pidfd);
    }
    weft__free(p);
}

/* ---- in words ------------------------------------------------------------------ */

const char *weft_proc_describe(int status, char *buf, size_t size)
{
    if (!buf || !size)
        return buf;
    if (WIFEXITED(status)) {
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *name = sigabbrev_np(sig), *core = WCOREDUMP(status) ? " (core dumped)" : "";
        if (name)
            snprintf(buf, size, "killed by SIG%s%s", name, core);
        else
            snprintf(buf, size, "killed by signal %d%s", sig, core);
    } else {
        snprintf(buf, size, "stopped (status 0x%x)", (unsigned)status);
    }
    return buf;
}

/* ---- in the child ------------------------------------------------------------------ */

int weft_proc_child_init(int death_signal)
{
    const char *s = getenv("WEFT_PARENT_PID");
    if (!s || !*s)
        return -ENOENT;
    long parent = strtol(s, NULL, 10);
    if (death_signal > 0 && prctl(PR_SET_PDEATHSIG, death_signal) < 0)
        return -errno;
    /* The parent may have died before the request: then we were adopted
       by init (or a subreaper) and no death signal will ever come. */
    return getppid() == (pid_t)parent ? 0 : -ESRCH;
}
