/*
 * output.c - getting answers onto the socket: the per-loop batch, and a
 * connection's queue for what the socket would not take.
 *
 * The batch. While a connection's read is being answered (or one response
 * is being finished), its answers go into the loop's batch: bytes copied
 * into one growing buffer and borrowed bodies referenced in place (small
 * ones are copied too: an iovec per tiny body costs the kernel more than
 * the copy), as a list of pieces. The batch is written with one writev when the work is
 * done, so the answers to 16 pipelined requests cost one system call. Only
 * one connection owns the batch at a time; another connection answered
 * meanwhile (a handler finishing someone else's response) queues directly.
 *
 * The queue. What writev did not take moves to the connection's own queue
 * (copied bytes are copied again into owned segments; borrowed pieces stay
 * borrowed), and the connection polls for writability. A connection with
 * queued output appends behind it, so answers never overtake each other.
 * Borrowed bytes are released (their callback called) once written, or when
 * the connection drops them.
 *
 * Files. A file body is a queue segment of its own, sent with the
 * transport's sendfile (no copy through user space). It cannot be a batch
 * piece (writev cannot send it), so appending one first empties the batch
 * (written, or queued behind the queue), and everything answered after it
 * queues behind it: nothing overtakes or interleaves with a file. At most
 * FILE_BUDGET file bytes go per flush, so one connection cannot hold the
 * loop; the rest waits for the next writable event, as queued bytes do.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "http/http-int.h"

#define BATCH_PIECES 64
#define BATCH_START  (16 * 1024)
#define COPY_BELOW   512           /* borrowed bodies this small join the batch's bytes */
#define FILE_BUDGET  (1024 * 1024) /* file bytes per flush */

struct piece {
    const char *ext; /* borrowed bytes, or NULL: bytes in the batch buffer */
    size_t off, len; /* off into the batch buffer when ext is NULL */
    void (*release)(void *arg);
    void *arg;
};

/* The loop's batch: one set per loop thread (a connection is only ever
   touched by its loop's thread, and a thread runs one loop). */
static __thread struct piece pieces[BATCH_PIECES];
static __thread unsigned n_pieces;

/* A file segment counts its remaining bytes in full, though they take no
   memory: above the high-water mark the connection stops reading, so no
   further pipelined request is read and answered (each could hold another
   open file, or bytes queued behind the file) until the file is nearly
   sent, as HTTP/1.1 servers serve one answer at a time anyway. That
   cannot deadlock: the file drains on writable events alone, never
   waiting for a read, and a client that does not read until we read is
   closed by the send timeout, as with any large answer. A streaming
   answer queued behind a file likewise waits for its drain until the
   file is almost out, which bounds what it queues behind it. */
size_t weft__out_queued(const struct http_conn *c)
{
    size_t n = c->out ? c->out->bytes : 0;
    if (c->hl->batch_owner == c) /* not written yet either */
        for (unsigned i = 0; i < n_pieces; i++)
            n += pieces[i].len;
    return n;
}

/* ---- the connection's queue ---------------------------------------------- */

static void link_seg(struct outq *q, struct out_seg *s)
{
    if (q->tail)
        q->tail->next = s;
    else
        q->head = s;
    q->tail = s;
    q->bytes += s->len;
}

static int queue_seg(struct http_conn *c, const char *ptr, size_t len, bool copy,
                     void (*release)(void *), void *arg)
{
    if (!c->out) {
        c->out = weft__calloc(1, sizeof(*c->out));
        if (!c->out)
            goto fail;
    }
    struct out_seg *s = weft__malloc(sizeof(*s) + (copy ? len : 0));
    if (!s)
        goto fail;
    s->next = NULL;
    s->len = len;
    s->release = release;
    s->arg = arg;
    s->fd = -1;
    if (copy) {
        memcpy(s->own, ptr, len);
        s->ptr = s->own;
    } else {
        s->ptr = ptr;
    }
    link_seg(c->out, s);
    return 0;
fail:
    if (release)
        release(arg);
    return -ENOMEM;
}

/* Takes fd: a file segment of len > 0 bytes from off. */
static int queue_file(struct http_conn *c, int fd, int64_t off, size_t len)
{
    struct out_seg *s = NULL;
    if (c->out || (c->out = weft__calloc(1, sizeof(*c->out))))
        s = weft__malloc(sizeof(*s));
    if (!s) {
        close(fd);
        return -ENOMEM;
    }
    s->next = NULL;
    s->file_off = off;
    s->len = len;
    s->release = NULL;
    s->arg = NULL;
    s->fd = fd;
    link_seg(c->out, s);
    return 0;
}

static void progressed(struct http_conn *c)
{
    if (c->timer.list == TL_SEND)
        weft__timer_arm(c, TL_SEND, c->hl->limits->send_timeout_ms);
}

/* The queue's head is a file: one sendfile of at most *budget bytes.
   Returns 1 when the segment is done, 0 to wait for the next writable
   event (the socket is full, or the budget is spent: the poll is level
   triggered, so a writable socket brings us back on the next turn, after
   the other connections), or -errno. */
static int write_file(struct http_conn *c, struct outq *q, size_t *budget)
{
    struct out_seg *s = q->head;
    size_t want = s->len < *budget ? s->len : *budget;
    if (want == 0)
        return 0;
    ssize_t w = c->tp->sendfile(c, s->fd, s->file_off, want);
    if (w == 0)
        return -EIO; /* the file shrank: the Content-Length cannot be kept */
    if (w < 0)
        return w == -EAGAIN ? 0 : (int)w;
    s->file_off += w;
    s->len -= (size_t)w;
    q->bytes -= (size_t)w;
    *budget -= (size_t)w;
    progressed(c);
    if (s->len)
        return 0;
    q->head = s->next;
    if (!q->head)
        q->tail = NULL;
    close(s->fd);
    weft__free(s);
    c->tp->cork(c, false); /* push the file's last partial segment */
    return 1;
}

/* Writes as much of the queue as the socket takes (and the file budget
   allows). Returns 0, or -errno for a dead connection. */
static int write_queue(struct http_conn *c)
{
    struct outq *q = c->out;
    size_t budget = FILE_BUDGET;
    while (q && q->head) {
        if (q->head->fd >= 0) {
            int r = write_file(c, q, &budget);
            if (r <= 0)
                return r;
            continue;
        }
        struct iovec iov[64];
        int n = 0; /* the bytes up to the next file */
        for (struct out_seg *s = q->head; s && n < 64 && s->fd < 0; s = s->next)
            iov[n++] = (struct iovec){(void *)s->ptr, s->len};
        ssize_t w = c->tp->writev(c, iov, n);
        if (w < 0)
            return w == -EAGAIN ? 0 : (int)w;
        q->bytes -= (size_t)w;
        while (w > 0) {
            struct out_seg *s = q->head;
            if ((size_t)w < s->len) {
                s->ptr += w;
                s->len -= (size_t)w;
                break;
            }
            w -= (ssize_t)s->len;
            q->head = s->next;
            if (!q->head)
                q->tail = NULL;
            if (s->release)
                s->release(s->arg);
            weft__free(s);
        }
        progressed(c);
    }
    return 0;
}

void weft__out_drop(struct http_conn *c)
{
    struct outq *q = c->out;
    if (!q)
        return;
    for (struct out_seg *s = q->head, *next; s; s = next) {
        next = s->next;
        if (s->release)
            s->release(s->arg);
        if (s->fd >= 0)
            close(s->fd);
        weft__free(s);
    }
    weft__free(q);
    c->out = NULL;
}

/* ---- the batch ----------------------------------------------------------- */

static bool owns_batch(const struct http_conn *c)
{
    return c->hl->batch_owner == c;
}

void weft__out_batch_begin(struct http_conn *c)
{
    struct http_loop *hl = c->hl;
    if (!hl->batch_owner && !(c->out && c->out->head)) {
        hl->batch_owner = c;
        hl->batch_len = 0;
        n_pieces = 0;
    }
}

static int batch_reserve(struct http_loop *hl, size_t more)
{
    if (hl->batch_len + more <= hl->batch_cap)
        return 0;
    size_t cap = hl->batch_cap ? hl->batch_cap : BATCH_START;
    while (cap < hl->batch_len + more)
        cap *= 2;
    char *b = weft__realloc(hl->batch, cap);
    if (!b)
        return -ENOMEM;
    hl->batch = b; /* pieces hold offsets, so nothing dangles */
    hl->batch_cap = cap;
    return 0;
}

/* Moves the batch (all of it, or what is left after `written` bytes) into
   the connection's queue. */
static int batch_to_queue(struct http_conn *c, size_t written)
{
    struct http_loop *hl = c->hl;
    int err = 0;
    for (unsigned i = 0; i < n_pieces; i++) {
        struct piece *p = &pieces[i];
        size_t skip = written < p->len ? written : p->len;
        written -= skip;
        const char *ptr = (p->ext ? p->ext : hl->batch + p->off) + skip;
        if (skip == p->len) { /* fully written */
            if (p->release)
                p->release(p->arg);
            continue;
        }
        int r = queue_seg(c, ptr, p->len - skip, p->ext == NULL, p->release, p->arg);
        if (r < 0)
            err = r; /* keep going: every borrowed piece must be released */
    }
    n_pieces = 0;
    hl->batch_len = 0;
    return err;
}

static int batch_write(struct http_conn *c)
{
    struct http_loop *hl = c->hl;
    struct iovec iov[BATCH_PIECES];
    size_t total = 0;
    for (unsigned i = 0; i < n_pieces; i++) {
        const char *ptr = pieces[i].ext ? pieces[i].ext : hl->batch + pieces[i].off;
        iov[i] = (struct iovec){(void *)ptr, pieces[i].len};
        total += pieces[i].len;
    }
    ssize_t w = n_pieces ? c->tp->writev(c, iov, (int)n_pieces) : 0;
    if (w < 0 && w != -EAGAIN) {
        batch_to_queue(c, total); /* releases everything */
        return (int)w;
    }
    return batch_to_queue(c, w < 0 ? 0 : (size_t)w);
}

/* Makes room in a full batch: written now, or behind a queue already
   there (answers must not overtake each other). */
static int batch_spill(struct http_conn *c)
{
    return c->out && c->out->head ? batch_to_queue(c, 0) : batch_write(c);
}

int weft__out_append(struct http_conn *c, const void *ptr, size_t len)
{
    struct http_loop *hl = c->hl;
    if (len == 0)
        return 0;
    if (!owns_batch(c))
        return queue_seg(c, ptr, len, true, NULL, NULL);
    if (batch_reserve(hl, len) < 0)
        return -ENOMEM;
    memcpy(hl->batch + hl->batch_len, ptr, len);
    struct piece *last = n_pieces ? &pieces[n_pieces - 1] : NULL;
    if (last && !last->ext && last->off + last->len == hl->batch_len) {
        last->len += len; /* contiguous with the last copy */
    } else {
        if (n_pieces == BATCH_PIECES && batch_spill(c) < 0)
            return -EPIPE;
        pieces[n_pieces++] = (struct piece){NULL, hl->batch_len, len, NULL, NULL};
    }
    hl->batch_len += len;
    return 0;
}

int weft__out_append_borrowed(struct http_conn *c, const void *ptr, size_t len,
                              void (*release)(void *), void *arg)
{
    if (!owns_batch(c))
        return queue_seg(c, ptr, len, false, release, arg);
    if (len <= COPY_BELOW) { /* cheaper copied than as an iovec of its own */
        int r = weft__out_append(c, ptr, len);
        if (release)
            release(arg);
        return r;
    }
    if (n_pieces == BATCH_PIECES && batch_spill(c) < 0) {
        if (release)
            release(arg);
        return -EPIPE;
    }
    pieces[n_pieces++] = (struct piece){ptr, 0, len, release, arg};
    return 0;
}

/* A file behind everything answered before it: the batch goes first
   (written now, or queued behind a queue already there); what is answered
   after it then queues behind it, since the queue is no longer empty.
   Takes fd (closed on failure). 0, -ECONNRESET, -ENOMEM. */
int weft__out_append_file(struct http_conn *c, int fd, int64_t off, size_t len)
{
    /* Corked until the file is out: the head joins the body's first
       segment, and a socket that frees a little space at a time still
       gets full-sized segments (a client pays per segment; nginx's
       tcp_nopush does the same). */
    c->tp->cork(c, true);
    if (owns_batch(c) && n_pieces) {
        int r = batch_spill(c);
        if (r < 0) {
            close(fd);
            return r == -ENOMEM ? r : -ECONNRESET; /* the connection closes */
        }
    }
    int r = queue_file(c, fd, off, len);
    if (r < 0)
        c->tp->cork(c, false); /* what was queued before must not wait */
    return r;
}

/* Writes the batch (if c owns it) and the queue. Returns 0 (possibly with
   output still queued: the caller polls for writability), or -errno when
   the connection is dead (the output has been dropped). */
int weft__out_flush(struct http_conn *c)
{
    struct http_loop *hl = c->hl;
    int r = 0;
    if (owns_batch(c)) {
        hl->batch_owner = NULL;
        r = batch_spill(c);
    }
    if (r == 0)
        r = write_queue(c);
    if (r < 0)
        weft__out_drop(c);
    else if (c->out && !c->out->head)
        weft__free(c->out), c->out = NULL;
    return r;
}
