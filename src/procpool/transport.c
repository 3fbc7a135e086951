/*
 * transport.c - the messages between a pool and its workers.
 *
 * Messages (a request, its answer) sit in the control page at the start
 * of the worker's segment, one box each way (struct pp_box): the writer
 * fills the box and bumps its sequence number. A reader expecting one
 * soon spins on the number (PP_SPIN_NS), so back-to-back jobs cost no
 * system call on either side; otherwise it sleeps on the socket, and the
 * writer rings it (a DOORBELL packet). The socket is a SOCK_SEQPACKET
 * socketpair per worker: a packet is a message (no framing), a memfd
 * rides along with SCM_RIGHTS, and EOF says the other side is gone. Each
 * side has at most one message in flight to the other, so the socket
 * never fills, save with doorbells nobody needed (dropped then).
 *
 * Payloads (arguments, results) do not go through the socket: up to the
 * pool's shm_size they sit in the worker's segment, a memfd mapped by both
 * sides; larger ones go in a fresh sealed memfd passed with the message.
 * Why not a pipe for the large ones: a pipe holds 64 KiB, so both sides
 * would have to pump it concurrently (the supervisor would need per-worker
 * read state and a half-read result when the worker dies), while a memfd
 * is written whole, sized exactly, and vanishes with its last holder, a
 * crashed worker included.
 *
 * Everything read from a worker is checked: a worker may be broken (that
 * is why it is a process), and a malformed message fails its job, it
 * never aborts the pool.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "procpool/procpool-int.h"

int weft__pp_send(int sock, const struct pp_msg *m, const char *text, int fd)
{
    struct iovec iov[2] = {{(void *)m, sizeof(*m)}, {(void *)text, text ? m->text_len : 0}};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    if (fd >= 0) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t n;
    while ((n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        return -errno;
    return (size_t)n == sizeof(*m) + iov[1].iov_len ? 0 : -EPROTO;
}

/* The fd passed with a message, if any; closes any extra ones. */
static int passed_fd(struct msghdr *mh)
{
    int fd = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int got;
            memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (fd < 0)
                fd = got;
            else
                close(got);
        }
    }
    return fd;
}

static bool well_formed(const struct pp_msg *m, size_t got, bool truncated, int fd)
{
    if (truncated || got < sizeof(*m) || m->text_len != got - sizeof(*m))
        return false;
    if (m->type < PP_READY || m->type > PP_FD || m->text_len >= PP_MSG_MAX)
        return false;
    return (m->type == PP_FD) == (fd >= 0);
}

int weft__pp_recv(int sock, bool nonblocking, struct pp_msg *m, char *text, int *fd)
{
    char buf[PP_PACKET_MAX + 1];
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {buf, sizeof(buf)};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl)};
    ssize_t n;
    int flags = MSG_CMSG_CLOEXEC | (nonblocking ? MSG_DONTWAIT : 0);
    while ((n = recvmsg(sock, &mh, flags)) < 0 && errno == EINTR)
        ;
    *fd = -1;
    if (n < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    if (n == 0)
        return -EPIPE;
    int got_fd = passed_fd(&mh);
    memcpy(m, buf, (size_t)n < sizeof(*m) ? (size_t)n : sizeof(*m));
    if (!well_formed(m, (size_t)n, mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC), got_fd)) {
        if (got_fd >= 0)
            close(got_fd);
        return -EPROTO;
    }
    memcpy(text, buf + sizeof(*m), m->text_len);
    text[m->text_len] = '\0';
    *fd = got_fd;
    return 0;
}

int weft__pp_post(struct pp_box *box, int sock, const struct pp_msg *m, const char *text, int fd)
{
    int r;
    if (fd >= 0) { /* the memfd first: it is in the socket before the box fills */
        struct pp_msg pkt = {.type = PP_FD};
        if ((r = weft__pp_send(sock, &pkt, NULL, fd)) < 0)
            return r;
    }
    box->msg = *m;
    if (m->text_len)
        memcpy(box->text, text, m->text_len);
    atomic_fetch_add_explicit(&box->seq, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&box->spinning, memory_order_seq_cst))
        return 0; /* it will see seq move */
    struct pp_msg bell = {.type = PP_DOORBELL};
    r = weft__pp_send(sock, &bell, NULL, -1);
    return r == -EAGAIN ? 0 : r; /* full of doorbells already: rung */
}

/* The memfd sent ahead of a PP_IN_FD message: pending, or in the socket
   (already queued: it was sent before the box filled). */
static int ahead_fd(int sock, int *pending)
{
    int fd = *pending;
    *pending = -1;
    while (fd < 0) {
        struct pp_msg pkt;
        char text[PP_MSG_MAX];
        int r = weft__pp_recv(sock, true, &pkt, text, &fd);
        if (r < 0)
            return -EPROTO;
        if (pkt.type != PP_FD && pkt.type != PP_DOORBELL)
            return -EPROTO;
    }
    return fd;
}

int weft__pp_take(struct pp_box *box, uint32_t *seen, int sock, int *pending, struct pp_msg *m,
                  char *text, int *fd)
{
    *fd = -1;
    uint32_t seq = atomic_load_explicit(&box->seq, memory_order_acquire);
    if (seq == *seen)
        return 0;
    *seen = seq;
    *m = box->msg; /* a copy: the other side may be broken, check the copy */
    if (m->type < PP_REQUEST || m->type > PP_FAILED || m->text_len >= PP_MSG_MAX)
        return -EPROTO;
    memcpy(text, box->text, m->text_len);
    text[m->text_len] = '\0';
    if (m->flags & PP_IN_FD)
        return (*fd = ahead_fd(sock, pending)) < 0 ? -EPROTO : 1;
    return 1;
}

int weft__pp_memfd_with(const void *data, size_t len)
{
    int fd;
    void *mem = weft_shm_create(PP_SHM_NAME, len, &fd);
    if (!mem)
        return -errno;
    memcpy(mem, data, len);
    weft_shm_unmap(mem, len);
    return fd;
}
