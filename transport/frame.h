/*
 * transport/frame.h - frame headers and the incremental frame reader
 * (internal).
 *
 * The reader is the channel's whole read path minus the fd: it takes its
 * bytes from a read function, so the fuzz target drives exactly the code
 * that parses a peer's bytes.
 */
#ifndef AXON_TRANSPORT_FRAME_H
#define AXON_TRANSPORT_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <axon/chan.h>

#include "base/endian.h"

/* ax__frame_encode - write the 40 bytes that precede a body of body_len
 * (inline: every frame sent passes here). */
static inline void
ax__frame_encode(uint8_t out[AX_FRAME_OVERHEAD], const ax_frame_hdr *h,
                 size_t body_len)
{
    ax__store32(out, (uint32_t)(AX_FRAME_HEADER + body_len));
    out[4] = AX_FRAME_VERSION;
    out[5] = h->kind;
    out[6] = h->flags;
    out[7] = 0;
    ax__store64(out + 8, h->dst.node);
    ax__store64(out + 16, h->dst.id);
    ax__store64(out + 24, h->src.node);
    ax__store64(out + 32, h->src.id);
}

/*
 * ax__frame_decode - parse the 40 bytes at p.
 * Returns 0 with *h and *body_len set, AX_EPROTO (malformed header) or
 * AX_EMSGSIZE (body over max_frame), with a detail.
 */
int ax__frame_decode(const uint8_t *p, size_t max_frame, ax_frame_hdr *h,
                     size_t *body_len);

/* Bytes source: like read(2); returns > 0, 0 at end, -1 with errno. */
typedef ssize_t (*ax_read_fn)(void *ctx, void *buf, size_t n);

/* Frame sink: returns false to stop delivering (paused or closed). */
typedef bool (*ax_deliver_fn)(void *ud, ax_frame *f);

typedef struct ax_reader {
    uint8_t *buf;      /* read buffer */
    size_t cap;        /* its size now */
    size_t max_cap;    /* the size it grows to */
    bool filled;       /* the last read filled what it asked for */
    size_t start, end; /* unparsed bytes are buf[start..end) */
    size_t direct_min; /* bodies this large are read into their own buffer */
    size_t max_frame;
    uint8_t *big;   /* body being read directly, or NULL */
    size_t big_len; /* its length */
    size_t big_got; /* bytes of it read so far */
    ax_frame_hdr big_hdr;
    uint64_t reads; /* read calls that returned data */
    uint64_t bytes; /* bytes read */
} ax_reader;

/* ax__reader_init - returns 0 or AX_ENOMEM. cap >= 64 KiB. */
int ax__reader_init(ax_reader *r, size_t cap, size_t max_frame);
void ax__reader_fini(ax_reader *r);

/*
 * ax__reader_deliver - deliver the complete frames already buffered.
 * Returns 1 if it stopped because deliver returned false, 0 when no complete
 * frame is left, or a frame error (AX_EPROTO, AX_EMSGSIZE, AX_ENOMEM).
 */
int ax__reader_deliver(ax_reader *r, ax_deliver_fn deliver, void *ud);

/*
 * ax__reader_pump - read and deliver until the source would block
 * (returns 0), deliver returns false (returns 1), or the stream fails:
 * AX_EOF, AX_ETRUNCATED, a frame error, or -errno of the read.
 */
int ax__reader_pump(ax_reader *r, ax_read_fn rd, void *ctx,
                    ax_deliver_fn deliver, void *ud);

#endif /* AXON_TRANSPORT_FRAME_H */
