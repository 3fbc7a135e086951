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
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "http/http-int.h"

#define BATCH_PIECES 64
#define BATCH_START  (16 * 1024)
#define COPY_BELOW   512 /* borrowed bodies this small join the batch's bytes */

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

size_t weft__out_queued(const struct http_conn *c)
{
    size_t n = c->out ? c->out->bytes : 0;
    if (c->hl->batch_owner == c) /* not written yet either */
        for (unsigned i = 0; i < n_pieces; i++)
            n += pieces[i].len;
    return n;
}

/* ---- the connection's queue ---------------------------------------------- */

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
    if (copy) {
        memcpy(s->own, ptr, len);
        s->ptr = s->own;
    } else {
        s->ptr = ptr;
    }
    if (c->out->tail)
        c->out->tail->next = s;
    else
        c->out->head = s;
    c->out->tail = s;
    c->out->bytes += len;
    return 0;
fail:
    if (release)
        release(arg);
    return -ENOMEM;
}

/* Writes as much of the queue as the socket takes. Returns 0, or -errno
   for a dead connection. */
static int write_queue(struct http_conn *c)
{
    struct outq *q = c->out;
    while (q && q->head) {
        struct iovec iov[64];
        int n = 0;
        for (struct out_seg *s = q->head; s && n < 64; s = s->next)
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
        if (c->timer.list == TL_SEND)
            weft__timer_arm(c, TL_SEND, c->hl->limits->send_timeout_ms); /* progress */
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
