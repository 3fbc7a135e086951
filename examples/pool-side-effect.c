/*
 * pool-side-effect.c - Django's "send the e-mail after the response":
 * the caller hands a side effect to the pool as a detached job and returns
 * at once; closing the pool drains it, so nothing is lost at exit.
 *
 * usage: pool-side-effect [FILE]   (default: a file in /tmp)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <weft/weft.h>

static void write_file(weft_job_t *job, void *arg)
{
    const char *path = arg;
    struct timespec slow = {0, 200 * 1000 * 1000}; /* an SMTP server, say */
    nanosleep(&slow, NULL);
    FILE *f = fopen(path, "w");
    if (!f) {
        weft_job_fail(job, -1, "cannot open the file");
        return;
    }
    fputs("welcome e-mail sent\n", f);
    fclose(f);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The "request handler": answers at once, leaves the e-mail to the pool. */
static int handle_signup(weft_pool_t *pool, const char *path)
{
    return weft_pool_try_submit(pool, write_file, (void *)path, NULL);
}

int main(int argc, char **argv)
{
    char path[256];
    snprintf(path, sizeof(path), "%s", argc > 1 ? argv[1] : "/tmp/weft-side-effect.txt");
    unlink(path);
    weft_pool_t *pool = weft_pool_new(NULL);
    if (!pool)
        return 1;

    double start = now_ms();
    int r = handle_signup(pool, path);
    double answered = now_ms() - start;
    printf("signup answered in %.2f ms (%s); the e-mail is still being sent\n", answered,
           weft_strerror(r));
    int pending = access(path, F_OK) != 0;

    weft_pool_close(pool, -1); /* drains the detached job */
    weft_pool_free(pool);
    int written = access(path, F_OK) == 0;
    printf("after close: %s\n", written ? "the e-mail was sent" : "the e-mail was LOST");
    unlink(path);
    return r == 0 && pending && written && answered < 100 ? 0 : 1;
}
