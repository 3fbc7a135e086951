/*
 * transport.c - the plain TCP transport: read, writev, sendfile, shutdown
 * and the unacknowledged byte count on the connection's non-blocking
 * socket, retried on EINTR, errors as -errno. A TLS transport would keep
 * the same entry points (the connection engine never calls the socket
 * directly).
 */
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http-int.h"

static ssize_t tcp_read(struct http_conn *c, void *buf, size_t len)
{
    ssize_t n;
    do
        n = read(c->fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : n;
}

static ssize_t tcp_writev(struct http_conn *c, const struct iovec *iov, int n)
{
    ssize_t w;
    do
        w = writev(c->fd, iov, n);
    while (w < 0 && errno == EINTR);
    return w < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : w;
}

/* The file's pages go from the page cache to the socket without a copy
   through user space. A TLS transport cannot hand the kernel plaintext
   this way (short of kTLS): it would implement this entry with pread into
   a buffer, encrypt, and write, returning what it wrote. */
static ssize_t tcp_sendfile(struct http_conn *c, int fd, int64_t off, size_t len)
{
    off_t pos = (off_t)off; /* sendfile advances pos, not the file's offset */
    ssize_t w;
    do
        w = sendfile(c->fd, fd, &pos, len);
    while (w < 0 && errno == EINTR);
    return w < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : w;
}

static void tcp_cork(struct http_conn *c, bool on)
{
    int v = on;
    setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v)); /* a hint: failure is harmless */
}

static int tcp_shutdown_write(struct http_conn *c)
{
    return shutdown(c->fd, SHUT_WR) < 0 ? -errno : 0;
}

static ssize_t tcp_unacked(struct http_conn *c)
{
    int n;
    return ioctl(c->fd, SIOCOUTQ, &n) < 0 ? -errno : n;
}

const struct weft_transport weft__tcp_transport = {
    .read = tcp_read,
    .writev = tcp_writev,
    .shutdown_write = tcp_shutdown_write,
    .unacked = tcp_unacked,
    .cork = tcp_cork,
    .sendfile = tcp_sendfile,
};
