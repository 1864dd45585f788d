/*
 * transport/wqueue.c - segments, chunks and writev batching.
 */
#include "transport/wqueue.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "base/alloc.h"
#include "base/error.h"

/* Size of a standard copy chunk: thousands of small frames, or a few
 * 64 KiB ones, per iovec; reused as the spare, so steady streaming does not
 * call malloc. */
#define CHUNK_SIZE ((size_t)256 * 1024)
/* iovecs per writev call. */
#define MAX_IOV 64

struct ax_wseg {
    struct ax_wseg *next;
    const uint8_t *base; /* bytes to write: data[] or a borrowed body */
    size_t len;          /* bytes at base */
    size_t cap;          /* bytes of data[] (a chunk); 0 for a borrowed body */
    void (*release)(void *ud, int status); /* borrowed body only */
    void *ud;
    uint8_t data[];
};

void
ax__wq_init(ax_wqueue *q)
{
    memset(q, 0, sizeof(*q));
}

static void
append(ax_wqueue *q, struct ax_wseg *s)
{
    s->next = NULL;
    if (q->tail != NULL) {
        q->tail->next = s;
    } else {
        q->head = s;
        q->head_off = 0;
    }
    q->tail = s;
}

/* A chunk at the tail with room for need more bytes. */
static struct ax_wseg *
room(ax_wqueue *q, size_t need)
{
    struct ax_wseg *s = q->tail;
    size_t cap;

    if (s != NULL && s->cap != 0 && s->cap - s->len >= need) {
        return s;
    }
    if (q->spare != NULL && need <= CHUNK_SIZE) {
        s = q->spare;
        q->spare = NULL;
    } else {
        cap = need > CHUNK_SIZE ? need : CHUNK_SIZE;
        s = ax__alloc(sizeof(*s) + cap);
        if (s == NULL) {
            return NULL;
        }
        s->cap = cap;
    }
    s->base = s->data;
    s->len = 0;
    s->release = NULL;
    append(q, s);
    return s;
}

int
ax__wq_copy(ax_wqueue *q, const void *a, size_t alen, const void *b,
            size_t blen)
{
    struct ax_wseg *s = room(q, alen + blen);

    if (s == NULL) {
        return AX_ENOMEM;
    }
    memcpy(s->data + s->len, a, alen);
    if (blen > 0) {
        memcpy(s->data + s->len + alen, b, blen);
    }
    s->len += alen + blen;
    q->queued += alen + blen;
    return 0;
}

int
ax__wq_copy_borrow(ax_wqueue *q, const void *hdr, size_t hlen, const void *body,
                   size_t blen, void (*release)(void *ud, int status), void *ud)
{
    struct ax_wseg *b = ax__alloc(sizeof(*b));

    if (b == NULL) {
        return AX_ENOMEM;
    }
    if (ax__wq_copy(q, hdr, hlen, NULL, 0) < 0) {
        ax__free(b);
        return AX_ENOMEM;
    }
    b->base = body;
    b->len = blen;
    b->cap = 0;
    b->release = release;
    b->ud = ud;
    append(q, b);
    q->queued += blen;
    return 0;
}

/* Release one segment: keep a standard chunk as the spare, free the rest. */
static void
release_seg(ax_wqueue *q, struct ax_wseg *s, int status)
{
    if (s->cap == 0) {
        if (s->release != NULL) {
            s->release(s->ud, status);
        }
        ax__free(s);
    } else if (s->cap == CHUNK_SIZE && q->spare == NULL) {
        q->spare = s;
    } else {
        ax__free(s);
    }
}

/*
 * Remove written bytes from the front of the queue. Written borrowed bodies
 * are released last, once the queue is consistent again: a release callback
 * may close the channel, which drops what is still queued.
 */
static void
consume(ax_wqueue *q, size_t n)
{
    struct ax_wseg *done = NULL, **last = &done, *s;

    q->queued -= n;
    while (n > 0) {
        size_t left;

        s = q->head;
        left = s->len - q->head_off;
        if (n < left) {
            q->head_off += n;
            break;
        }
        n -= left;
        q->head = s->next;
        q->head_off = 0;
        if (q->head == NULL) {
            q->tail = NULL;
        }
        if (s->cap != 0) {
            release_seg(q, s, 0); /* a chunk: no callback */
        } else {
            s->next = NULL;
            *last = s;
            last = &s->next;
        }
    }
    while (done != NULL) {
        s = done;
        done = s->next;
        release_seg(q, s, 0);
    }
}

static ssize_t
writev_fd(void *ctx, const struct iovec *iov, int n)
{
    ssize_t w;

    do {
        w = writev(*(int *)ctx, iov, n);
    } while (w < 0 && errno == EINTR);
    return w;
}

long
ax__wq_write(ax_wqueue *q, int fd, int *full)
{
    return ax__wq_write_to(q, writev_fd, &fd, full);
}

long
ax__wq_write_to(ax_wqueue *q, ax_writev_fn wv, void *ctx, int *full)
{
    struct iovec iov[MAX_IOV];
    struct ax_wseg *s = q->head;
    size_t off = q->head_off;
    size_t offered = 0;
    int n = 0;
    ssize_t w;

    for (; s != NULL && n < MAX_IOV; s = s->next, off = 0) {
        if (s->len > off) {
            iov[n].iov_base = (void *)(s->base + off);
            iov[n].iov_len = s->len - off;
            offered += iov[n].iov_len;
            n++;
        }
    }
    *full = 0;
    if (n == 0) {
        return 0;
    }
    w = wv(ctx, iov, n);
    if (w < 0) {
        *full = errno == EAGAIN || errno == EWOULDBLOCK;
        return -errno;
    }
    *full = (size_t)w < offered;
    consume(q, (size_t)w);
    return (long)w;
}

void
ax__wq_drop(ax_wqueue *q, int status)
{
    while (q->head != NULL) {
        struct ax_wseg *s = q->head;

        q->head = s->next;
        release_seg(q, s, status);
    }
    q->tail = NULL;
    q->head_off = 0;
    q->queued = 0;
}

void
ax__wq_fini(ax_wqueue *q)
{
    ax__wq_drop(q, AX_ECANCELED);
    ax__free(q->spare);
    q->spare = NULL;
}

void
ax__wq_forget(ax_wqueue *q)
{
    while (q->head != NULL) {
        struct ax_wseg *s = q->head;

        q->head = s->next;
        ax__free(s);
    }
    ax__free(q->spare);
    ax__wq_init(q);
}
