/*
 * tests/fuzz/fuzz_frame.c - libFuzzer target for the frame reader
 * (transport/frame.c), the code that parses a peer's bytes.
 *
 * Input: 4 control bytes, then the byte stream a peer would write.
 *   [0] bits 0-2: how the stream is cut into chunks (what one read(2) of a
 *       pipe would return); bit 3: a 256 KiB read buffer instead of 64 KiB;
 *       bits 4-5: how often the source says EAGAIN between chunks; bit 6:
 *       EINTR before some reads; bit 7: lower the reader's direct_min to a
 *       small value picked by [2] bits 5-7
 *   [1] max_frame, 0 to 1 MiB: small limits reach AX_EMSGSIZE with small
 *       inputs
 *   [2] bits 0-1: when deliver takes the body (ax_frame_take); bits 2-3:
 *       when it pauses (returns false); bit 4: resume a pause with
 *       ax__reader_deliver rather than the next pump; bits 5-7: see [0]
 *   [3] seed of the generator behind every "sometimes" above
 *
 * A model of the wire format (docs/wire.md), written here independently of
 * the reader, predicts every frame and how the stream ends. The run aborts
 * on any difference (invariant 6 of DESIGN.md): a frame over max_frame, a
 * header or body that is not the bytes at its place in the stream, frames
 * out of order or past what was fed, a complete frame held back when the
 * source blocks, an end other than the model's, a read that makes no
 * progress.
 *
 * Bodies of direct_min bytes or more (half the read buffer) are read into
 * a buffer of their own. Lowering direct_min (only ever lowering it: every
 * frame below it still fits the buffer) takes that path with small inputs,
 * which libFuzzer finds far more easily than 32 KiB bodies.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <axon.h>

#include "transport/frame.h"

#define CONTROL_BYTES 4

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: fuzz_frame: check failed: %s\n", __FILE__, \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* What a correct reader does with the whole stream. */
struct model {
    size_t frames; /* frames delivered */
    size_t end;    /* stream offset just past the last of them */
    int rc;        /* how the stream ends */
};

/* The source of bytes and the sink of frames, in one. */
struct feed {
    const uint8_t *s;   /* the stream (the input after the control bytes) */
    size_t n;           /* its length */
    size_t fed;         /* bytes handed to the reader so far */
    size_t chunk_left;  /* bytes of the current chunk not read yet */
    bool blocked;       /* EAGAIN already said at this chunk boundary */
    unsigned chunking;  /* control [0] bits 0-2 */
    unsigned eagain;    /* control [0] bits 4-5 */
    bool eintr;         /* control [0] bit 6 */
    unsigned fixed;     /* chunk size of the fixed pattern: control [3] + 1 */
    unsigned take;      /* control [2] bits 0-1 */
    unsigned pause;     /* control [2] bits 2-3 */
    bool resume_direct; /* control [2] bit 4 */
    uint32_t rng;       /* xorshift32 state, never 0 */
    size_t max_frame;   /* the reader's limit, from control [1] */
    size_t pos;         /* stream offset where the next frame must start */
    size_t frames;      /* frames delivered so far */
    struct model model; /* what must happen, from model_stream */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t
rnd(struct feed *fd)
{
    uint32_t x = fd->rng;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    fd->rng = x;
    return x;
}

/* A 2-bit frequency: never, always, one time in 4, one time in 2. */
static bool
sometimes(struct feed *fd, unsigned freq)
{
    switch (freq) {
    case 0:
        return false;
    case 1:
        return true;
    case 2:
        return rnd(fd) % 4 == 0;
    default:
        return rnd(fd) % 2 == 0;
    }
}

static size_t
max_frame_of(uint8_t sel)
{
    /* Small values, the direct_min values (direct_min_of, 32 KiB and
     * 128 KiB for the two buffers) and their neighbours. */
    static const size_t table[] = {
        0,     1,     7,     8,     16,     100,    1024,   4096,
        32767, 32768, 32769, 65536, 131071, 131072, 131073, 1 << 20,
    };

    if (sel < sizeof(table) / sizeof(table[0])) {
        return table[sel];
    }
    return (size_t)sel * 4111; /* up to 1 MiB */
}

/* The lowered direct_min of control [2] bits 5-7. */
static size_t
direct_min_of(uint8_t sel)
{
    static const size_t table[] = {1, 16, 40, 100, 256, 1024, 4096, 16384};

    return table[(sel >> 5) & 7];
}

/* The header at p as docs/wire.md defines it: 0 with *body set, or why not. */
static int
model_header(const uint8_t *p, size_t max_frame, size_t *body)
{
    uint32_t len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                   (uint32_t)p[2] << 8 | p[3];

    if (len < AX_FRAME_HEADER || p[4] != AX_FRAME_VERSION || p[7] != 0) {
        return AX_EPROTO;
    }
    *body = len - AX_FRAME_HEADER;
    return *body > max_frame ? AX_EMSGSIZE : 0;
}

static void
model_stream(const uint8_t *s, size_t n, size_t max_frame, struct model *m)
{
    size_t pos = 0;
    size_t body;

    m->frames = 0;
    for (;;) {
        size_t left = n - pos;

        if (left == 0) {
            m->rc = AX_EOF;
            break;
        }
        if (left < AX_FRAME_OVERHEAD) {
            m->rc = AX_ETRUNCATED;
            break;
        }
        m->rc = model_header(s + pos, max_frame, &body);
        if (m->rc < 0) {
            break;
        }
        if (left - AX_FRAME_OVERHEAD < body) {
            m->rc = AX_ETRUNCATED;
            break;
        }
        pos += AX_FRAME_OVERHEAD + body;
        m->frames++;
    }
    m->end = pos;
}

/* The size of the next chunk the pipe holds, at least 1. */
static size_t
next_chunk(struct feed *fd)
{
    static const size_t odd[] = {1, 3, 39, 40, 41, 4096, 16424, 65535};

    switch (fd->chunking) {
    case 0:
        return fd->n; /* everything at once */
    case 1:
        return 1;
    case 2:
        return fd->fixed;
    case 3:
        return 1 + rnd(fd) % 64;
    case 4:
        return AX_FRAME_OVERHEAD;
    case 5:
        return odd[rnd(fd) % (sizeof(odd) / sizeof(odd[0]))];
    case 6:
        return 1 + rnd(fd) % 8192;
    default:
        return 1 + rnd(fd) % (fd->n + 1);
    }
}

/* ax_read_fn: the stream in chunks, EAGAIN between some, 0 at the end. */
static ssize_t
feed_read(void *ctx, void *buf, size_t n)
{
    struct feed *fd = ctx;
    size_t len;

    CHECK(n > 0);
    if (fd->eintr && rnd(fd) % 8 == 0) {
        errno = EINTR;
        return -1;
    }
    if (fd->chunk_left == 0) {
        if (!fd->blocked && sometimes(fd, fd->eagain)) {
            fd->blocked = true;
            errno = EAGAIN;
            return -1;
        }
        fd->blocked = false;
        if (fd->fed == fd->n) {
            return 0;
        }
        fd->chunk_left = next_chunk(fd);
        if (fd->chunk_left > fd->n - fd->fed) {
            fd->chunk_left = fd->n - fd->fed;
        }
    }
    len = n < fd->chunk_left ? n : fd->chunk_left;
    memcpy(buf, fd->s + fd->fed, len);
    fd->fed += len;
    fd->chunk_left -= len;
    return (ssize_t)len;
}

static void
take_body(ax_frame *f, const uint8_t *expect)
{
    size_t len = f->len;
    void *copy = ax_frame_take(f);

    CHECK(copy != NULL);
    CHECK(f->body == NULL);
    CHECK(memcmp(copy, expect, len) == 0);
    ax_free(copy);
}

/* ax_deliver_fn: the frame must be the next one of the stream, exactly. */
static bool
check_frame(void *ud, ax_frame *f)
{
    struct feed *fd = ud;
    const uint8_t *at = fd->s + fd->pos;
    uint8_t hdr[AX_FRAME_OVERHEAD];

    CHECK(f->len <= fd->max_frame);
    CHECK(f->body != NULL);
    CHECK(fd->frames < fd->model.frames);
    CHECK(fd->fed - fd->pos >= AX_FRAME_OVERHEAD + f->len);
    ax__frame_encode(hdr, &f->hdr, f->len);
    CHECK(memcmp(hdr, at, sizeof(hdr)) == 0);
    CHECK(memcmp(f->body, at + AX_FRAME_OVERHEAD, f->len) == 0);
    if (sometimes(fd, fd->take)) {
        take_body(f, at + AX_FRAME_OVERHEAD);
    }
    fd->pos += AX_FRAME_OVERHEAD + f->len;
    fd->frames++;
    return !sometimes(fd, fd->pause);
}

/*
 * The source would block: whatever was fed past the last frame delivered
 * must be the start of a frame still incomplete (a complete frame held
 * back could wait forever; a complete bad header must have failed).
 */
static void
check_idle(struct feed *fd)
{
    size_t left = fd->fed - fd->pos;
    size_t body;

    if (left >= AX_FRAME_OVERHEAD) {
        CHECK(model_header(fd->s + fd->pos, fd->max_frame, &body) == 0);
        CHECK(left - AX_FRAME_OVERHEAD < body);
    }
}

/* Pump until the stream ends or fails; resume every pause. */
static int
drive(ax_reader *r, struct feed *fd)
{
    /* Each call reads a byte, says EAGAIN once per chunk or pauses once
     * per frame: more calls than this is a reader that makes no progress. */
    size_t budget = 4 * fd->n + 64;
    int rc;

    for (;;) {
        CHECK(budget-- > 0);
        rc = ax__reader_pump(r, feed_read, fd, check_frame, fd);
        CHECK(r->bytes == fd->fed);
        if (rc == 0) {
            check_idle(fd);
        }
        while (rc == 1 && !fd->resume_direct) {
            CHECK(budget-- > 0);
            rc = ax__reader_deliver(r, check_frame, fd);
        }
        if (rc < 0) {
            return rc;
        }
        CHECK(rc == 0 || rc == 1);
    }
}

static void
setup(struct feed *fd, const uint8_t *data, size_t size,
      uint8_t ctl[CONTROL_BYTES])
{
    if (size > 0) {
        memcpy(ctl, data, size < CONTROL_BYTES ? size : CONTROL_BYTES);
    }
    memset(fd, 0, sizeof(*fd));
    if (size > CONTROL_BYTES) {
        fd->s = data + CONTROL_BYTES;
        fd->n = size - CONTROL_BYTES;
    }
    fd->chunking = ctl[0] & 7;
    fd->eagain = (ctl[0] >> 4) & 3;
    fd->eintr = (ctl[0] & 0x40) != 0;
    fd->max_frame = max_frame_of(ctl[1]);
    fd->take = ctl[2] & 3;
    fd->pause = (ctl[2] >> 2) & 3;
    fd->resume_direct = (ctl[2] & 0x10) != 0;
    fd->fixed = 1u + ctl[3];
    fd->rng = 0x9e3779b9u ^ ((uint32_t)ctl[2] << 8 | ctl[3]);
    model_stream(fd->s, fd->n, fd->max_frame, &fd->model);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t ctl[CONTROL_BYTES] = {0};
    struct feed fd;
    ax_reader r;
    int rc;

    setup(&fd, data, size, ctl);
    CHECK(ax__reader_init(&r, ctl[0] & 8 ? 256 * 1024 : 64 * 1024,
                          fd.max_frame) == 0);
    if ((ctl[0] & 0x80) && direct_min_of(ctl[2]) < r.direct_min) {
        r.direct_min = direct_min_of(ctl[2]);
    }
    rc = drive(&r, &fd);
    CHECK(rc == AX_EOF || rc == AX_ETRUNCATED || rc == AX_EPROTO ||
          rc == AX_EMSGSIZE);
    CHECK(rc == fd.model.rc);
    CHECK(fd.frames == fd.model.frames);
    CHECK(fd.pos == fd.model.end);
    CHECK(rc == AX_EOF || ax_error_detail()[0] != '\0');
    ax__reader_fini(&r);
    return 0;
}
