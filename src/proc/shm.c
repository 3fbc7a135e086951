/*
 * shm.c - memory shared with child processes: memfd segments.
 *
 * A memfd has no name in any file system, so a SIGKILLed owner leaves
 * nothing behind (a shm_open segment would stay in /dev/shm). Sealing the
 * size keeps a child from shrinking it under the others' mappings (which
 * would turn their reads into SIGBUS).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weft/proc.h"

void *weft_shm_create(const char *name, size_t size, int *fd)
{
    if (!size || !fd) {
        errno = EINVAL;
        return NULL;
    }
    int mfd = memfd_create(name ? name : "weft", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0)
        return NULL;
    if (ftruncate(mfd, (off_t)size) < 0 ||
        fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
        goto fail;
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    if (mem == MAP_FAILED)
        goto fail;
    *fd = mfd;
    return mem;
fail:;
    int err = errno;
    close(mfd);
    errno = err;
    return NULL;
}

void *weft_shm_map(int fd, size_t *size)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return NULL;
    int seals = fcntl(fd, F_GET_SEALS);
    if (st.st_size <= 0 || seals < 0 || !(seals & F_SEAL_SHRINK)) {
        errno = EINVAL; /* not one of ours: it could shrink under us */
        return NULL;
    }
    void *mem = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mem == MAP_FAILED)
        return NULL;
    if (size)
        *size = (size_t)st.st_size;
    return mem;
}

void weft_shm_unmap(void *mem, size_t size)
{
    if (mem && size)
        munmap(mem, size);
}
