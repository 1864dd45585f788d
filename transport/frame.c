/*
 * transport/frame.c - frame headers and the incremental frame reader.
 *
 * Wire layout (docs/wire.md): a 4-byte big-endian length L that counts the
 * 36 header bytes and the body, then version, kind, flags, a zero byte,
 * the destination and source addresses (node, id: 8 bytes each,
 * big-endian), then L - 36 body bytes.
 */
#include "transport/frame.h"

#include <errno.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/endian.h"

/* A reader's first buffer; it grows to its full size when needed. */
#define START_CAP ((size_t)4 << 10)

int
ax__frame_decode(const uint8_t *p, size_t max_frame, ax_frame_hdr *h,
                 size_t *body_len)
{
    uint32_t len = ax__load32(p);

    if (len < AX_FRAME_HEADER) {
        return ax__fail(AX_EPROTO, "frame length %u shorter than its header",
                        (unsigned)len);
    }
    if (p[4] != AX_FRAME_VERSION || p[7] != 0) {
        return ax__fail(AX_EPROTO,
                        "malformed frame header (version %u, reserved %u)",
                        p[4], p[7]);
    }
    if (len - AX_FRAME_HEADER > max_frame) {
        return ax__fail(AX_EMSGSIZE, "frame body of %u bytes over max %zu",
                        (unsigned)(len - AX_FRAME_HEADER), max_frame);
    }
    h->kind = p[5];
    h->flags = p[6];
    h->dst.node = ax__load64(p + 8);
    h->dst.id = ax__load64(p + 16);
    h->src.node = ax__load64(p + 24);
    h->src.id = ax__load64(p + 32);
    *body_len = len - AX_FRAME_HEADER;
    return 0;
}

void *
ax_frame_take(ax_frame *f)
{
    void *copy;

    AX_REQUIRE(f != NULL && (f->body != NULL || f->len == 0),
               "ax_frame_take: no frame body to take");
    if (f->own != NULL) {
        copy = f->own;
        f->own = NULL;
    } else {
        copy = ax__alloc(f->len ? f->len : 1);
        if (copy == NULL) {
            return NULL;
        }
        memcpy(copy, f->body, f->len);
    }
    f->body = NULL;
    return copy;
}

int
ax__reader_init(ax_reader *r, size_t cap, size_t max_frame)
{
    memset(r, 0, sizeof(*r));
    /* Start small (a quiet channel costs 4 KiB: with ten thousand process
     * actors, 64 KiB each made a sparse heap of 640 MiB whose page tables
     * every fork copied); grow to cap once reads fill the buffer or a
     * frame needs the room. */
    r->cap = cap < START_CAP ? cap : START_CAP;
    r->max_cap = cap;
    r->buf = ax__alloc(r->cap);
    if (r->buf == NULL) {
        return AX_ENOMEM;
    }
    r->max_frame = max_frame;
    /* Frames below direct_min are parsed in the buffer, where they always
     * fit; larger bodies get a buffer of their own (no copy for a taker). */
    r->direct_min = cap / 2;
    return 0;
}

void
ax__reader_fini(ax_reader *r)
{
    ax__free(r->buf);
    ax__free(r->big);
    r->buf = NULL;
    r->big = NULL;
}

/* Hand a finished direct body to the sink; free it unless it was taken. */
static bool
deliver_big(ax_reader *r, ax_deliver_fn deliver, void *ud)
{
    ax_frame f = {r->big_hdr, r->big, r->big_len, r->big};
    bool more;

    r->big = NULL;
    more = deliver(ud, &f);
    ax__free_sized(f.own, f.len);
    return more;
}

/*
 * Start reading a large body straight into its own buffer, taking the part
 * of it that is already buffered.
 */
static int
begin_big(ax_reader *r, const ax_frame_hdr *h, size_t body_len)
{
    size_t avail = r->end - r->start - AX_FRAME_OVERHEAD;
    size_t have = avail < body_len ? avail : body_len;

    r->big = ax__alloc(body_len);
    if (r->big == NULL) {
        return ax__fail(AX_ENOMEM, "no memory for a frame of %zu bytes",
                        body_len);
    }
    memcpy(r->big, r->buf + r->start + AX_FRAME_OVERHEAD, have);
    r->big_len = body_len;
    r->big_got = have;
    r->big_hdr = *h;
    r->start += AX_FRAME_OVERHEAD + have;
    return 0;
}

int
ax__reader_deliver(ax_reader *r, ax_deliver_fn deliver, void *ud)
{
    ax_frame f;
    size_t body_len;
    int rc;

    while (r->big == NULL && r->end - r->start >= AX_FRAME_OVERHEAD) {
        const uint8_t *p = r->buf + r->start;

        rc = ax__frame_decode(p, r->max_frame, &f.hdr, &body_len);
        if (rc < 0) {
            return rc;
        }
        if (body_len >= r->direct_min) {
            rc = begin_big(r, &f.hdr, body_len);
            if (rc < 0) {
                return rc;
            }
            if (r->big_got < r->big_len) {
                break;
            }
            if (!deliver_big(r, deliver, ud)) {
                return 1;
            }
            continue;
        }
        if (r->end - r->start < AX_FRAME_OVERHEAD + body_len) {
            break;
        }
        r->start += AX_FRAME_OVERHEAD + body_len;
        f.body = p + AX_FRAME_OVERHEAD;
        f.len = body_len;
        f.own = NULL;
        if (!deliver(ud, &f)) {
            return 1;
        }
    }
    if (r->start == r->end) {
        r->start = r->end = 0;
    }
    return 0;
}

/* Grow the buffer to max_cap; on failure go on with the small one, unless
 * the frame at hand cannot fit in it. */
static int
grow(ax_reader *r)
{
    uint8_t *n = ax__realloc(r->buf, r->max_cap);

    if (n == NULL) {
        return r->end - r->start >= r->cap / 2 ? AX_ENOMEM : 0;
    }
    r->buf = n;
    r->cap = r->max_cap;
    return 0;
}

/* One read into the buffer or the direct body. Returns bytes, 0, -errno. */
static ssize_t
read_some(ax_reader *r, ax_read_fn rd, void *ctx, size_t *asked)
{
    uint8_t *dst;
    ssize_t n;

    if (r->big != NULL) {
        dst = r->big + r->big_got;
        *asked = r->big_len - r->big_got;
    } else {
        /* Move the partial frame to the front only when the room behind
         * it runs short: a frame is at most cap / 2, so it then fits. */
        if (r->start > 0 && r->cap - r->end < r->cap / 4) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
        }
        if (r->cap < r->max_cap &&
            (r->filled || r->end - r->start >= r->cap / 2) && grow(r) < 0) {
            return AX_ENOMEM;
        }
        dst = r->buf + r->end;
        *asked = r->cap - r->end;
    }
    do {
        n = rd(ctx, dst, *asked);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -errno;
    }
    if (r->big != NULL) {
        r->big_got += (size_t)n;
    } else {
        r->end += (size_t)n;
    }
    r->filled = (size_t)n == *asked;
    r->reads += n > 0;
    r->bytes += (size_t)n;
    return n;
}

int
ax__reader_pump(ax_reader *r, ax_read_fn rd, void *ctx, ax_deliver_fn deliver,
                void *ud)
{
    size_t asked;
    ssize_t n;
    int rc;

    for (;;) {
        rc = ax__reader_deliver(r, deliver, ud);
        if (rc != 0) {
            return rc;
        }
        n = read_some(r, rd, ctx, &asked);
        if (n == -EAGAIN || n == -EWOULDBLOCK) {
            return 0;
        }
        if (n < 0) {
            return ax__fail((int)n, "read failed: %s", ax_strerror((int)n));
        }
        if (n == 0) {
            bool clean = r->big == NULL && r->start == r->end;

            return clean ? AX_EOF
                         : ax__fail(AX_ETRUNCATED, "stream ended mid-frame");
        }
        if (r->big != NULL && r->big_got == r->big_len &&
            !deliver_big(r, deliver, ud)) {
            return 1;
        }
        if ((size_t)n < asked) { /* the source is drained for now */
            rc = ax__reader_deliver(r, deliver, ud);
            return rc;
        }
    }
}
