/*
 * transport/wqueue.h - the write queue of a channel (internal).
 *
 * A list of segments written in order with writev(2). Small frames are
 * copied back to back into chunks, so one iovec carries hundreds of them;
 * a borrowed body (ax_chan_send_owned) is a segment of its own that points
 * at the caller's bytes, so large frames are never copied.
 */
#ifndef AXON_TRANSPORT_WQUEUE_H
#define AXON_TRANSPORT_WQUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct ax_wseg;

typedef struct ax_wqueue {
    struct ax_wseg *head;  /* next segment to write */
    struct ax_wseg *tail;  /* where copies are appended */
    size_t head_off;       /* bytes of head already written */
    size_t queued;         /* bytes not written yet */
    struct ax_wseg *spare; /* one empty standard chunk kept for reuse */
} ax_wqueue;

void ax__wq_init(ax_wqueue *q);

/*
 * ax__wq_copy - append a and b (either may be empty) as copies.
 * Returns 0 or AX_ENOMEM (nothing appended).
 */
int ax__wq_copy(ax_wqueue *q, const void *a, size_t alen, const void *b,
                size_t blen);

/*
 * ax__wq_copy_borrow - append hdr as a copy and body as a borrowed segment;
 * release(ud, status) is called once the body is written or dropped.
 * Returns 0 or AX_ENOMEM (nothing appended, release not called).
 */
int ax__wq_copy_borrow(ax_wqueue *q, const void *hdr, size_t hlen,
                       const void *body, size_t blen,
                       void (*release)(void *ud, int status), void *ud);

/*
 * ax__wq_write - write as much as fd takes with one writev(2).
 * *full is set when the fd took less than was offered: it is full now, and
 * trying again would only return EAGAIN.
 * Returns the bytes written (0 if the queue is empty), or -errno
 * (-EAGAIN when the fd is full).
 */
long ax__wq_write(ax_wqueue *q, int fd, int *full);

/* A sink like writev(2): returns the bytes it took, or -1 with errno. */
typedef ssize_t (*ax_writev_fn)(void *ctx, const struct iovec *iov, int n);

/* ax__wq_write_to - ax__wq_write into any sink (a shared-memory ring). */
long ax__wq_write_to(ax_wqueue *q, ax_writev_fn wv, void *ctx, int *full);

/* ax__wq_drop - release every segment (borrowed ones get status). */
void ax__wq_drop(ax_wqueue *q, int status);

/* ax__wq_forget - free every segment without calling a release (for a
 * queue inherited by a forked child) and the spare chunk. */
void ax__wq_forget(ax_wqueue *q);

/* ax__wq_fini - drop with AX_ECANCELED and free the spare chunk. */
void ax__wq_fini(ax_wqueue *q);

#endif /* AXON_TRANSPORT_WQUEUE_H */
