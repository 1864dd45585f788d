/*
 * transport/chan_ring.c - a channel's frames through shared-memory rings,
 * with its pipes as doorbells (chan_internal.h says why).
 *
 * Writing: a frame goes straight into the ring and is committed before
 * the send returns; a frame too large for the ring goes through the write
 * queue, piece by piece as room comes. When the ring is full, the writer
 * says it waits (ax__ring_wait_room) and the reader rings when it has
 * read.
 *
 * Reading: the read watcher (the doorbell pipe) and, before the loop
 * blocks, the `poll` prepare watcher both read the ring; the prepare
 * watcher then says the reader sleeps (ax__ring_sleep), and the `awake`
 * check watcher takes it back after the poll, so a writer rings only the
 * first time after the reader went to sleep. Frames read in the poll are
 * delivered there, in a prepare callback, and the loop may block right
 * after: an owner acts on a frame in on_frame, not in a check watcher.
 * A channel whose polls found
 * nothing COLD_POLLS times in a row stops polling and stays asleep until
 * a doorbell comes, so a loop iteration costs the same with ten thousand
 * quiet channels (and writes nothing to them: a forked child keeps
 * sharing their pages). The pipe ends when the peer
 * has written its last: everything committed before is read first, then
 * the end is reported (AX_EOF, or AX_ETRUNCATED mid-frame).
 */
#include "transport/chan_internal.h"

#include <errno.h>
#include <unistd.h>

#include "base/error.h"

/* Empty polls in a row after which a channel sleeps until a doorbell. */
#define COLD_POLLS 4

/* Ring the peer (it sleeps, or it waits for room). A full pipe is a
 * doorbell already rung. Returns 0 or -errno. */
static int
bell(ax_chan *ch)
{
    static const uint8_t b = AX_BELL;
    ssize_t w;

    if (ch->wfd < 0) {
        return 0; /* shut down: the peer learns the end instead */
    }
    do {
        w = write(ch->wfd, &b, 1);
    } while (w < 0 && errno == EINTR);
    return w == 1 || errno == EAGAIN ? 0 : -errno;
}

/* Read the doorbells rung so far; at the pipe's end, stop watching it.
 * Returns 0, or AX_EPROTO for a byte that is not a doorbell. */
static int
take_bells(ax_chan *ch)
{
    uint8_t buf[64];
    ssize_t n;

    for (;;) {
        n = read(ch->rfd, buf, sizeof(buf));
        if (n > 0) {
            for (ssize_t i = 0; i < n; i++) {
                if (buf[i] != AX_BELL) {
                    return ax__fail(AX_EPROTO,
                                    "channel: byte 0x%02x on a "
                                    "doorbell pipe",
                                    buf[i]);
                }
            }
            if ((size_t)n < sizeof(buf)) {
                return 0; /* all read: no read(2) just for its EAGAIN (an
                             end after it wakes the watcher again) */
            }
            continue;
        }
        if (n == 0) {
            ch->ring->eof = true;
            ev_io_stop(ch->loop, &ch->rio);
        } else if (errno == EINTR) {
            continue;
        }
        return 0;
    }
}

/*
 * A commit found the reader asleep. Its doorbell waits for the flush at
 * the end of the scheduler's turn (or before the loop blocks): the frames
 * are already where the reader finds them, even if this process dies
 * first, and one doorbell then wakes the reader for the whole turn.
 */
/* Inside a ring's poll (a prepare callback), which may forward frames to
 * other channels. */
static int polling;

static void
owe_bell(ax_chan *ch)
{
    ch->ring->owed = true;
    ax__chan_flusher_start(ch);
    if (polling > 0) {     /* a prepare watcher started now would only run */
        ax__chan_kick(ch); /* after the loop blocked */
    }
}

int
ax__chan_ring_put(ax_chan *ch, const uint8_t *head, const void *body,
                  size_t len)
{
    struct iovec v[2] = {{(void *)head, AX_FRAME_OVERHEAD},
                         {(void *)body, len}};
    int rc;

    if (AX_FRAME_OVERHEAD + len > ch->ring->tx.cap) {
        return 0; /* the caller queues it: it goes in piece by piece */
    }
    if ((rc = ax__ring_put(&ch->ring->tx, v, 2)) == AX_EAGAIN) {
        return 0; /* no room (an urgent frame): the caller queues it */
    }
    if (rc < 0) {
        return rc;
    }
    ch->st.frames_out++;
    ch->st.bytes_out += AX_FRAME_OVERHEAD + len;
    ch->st.writes++;
    if (ax__ring_commit(&ch->ring->tx)) {
        owe_bell(ch);
    }
    return 1;
}

bool
ax__chan_ring_fits(ax_chan *ch, size_t len)
{
    size_t need = AX_FRAME_OVERHEAD + len;
    long room;

    if (ch->wq.queued > 0) {
        return false; /* behind a large frame still going in */
    }
    if (need > ch->ring->tx.cap) {
        return true; /* goes in piece by piece */
    }
    room = ax__ring_room(&ch->ring->tx);
    return room < 0 || (size_t)room >= need || /* an error shows at the put */
           !ax__ring_wait_room(&ch->ring->tx, need);
}

ssize_t
ax__chan_ring_sink(void *ctx, const struct iovec *iov, int n)
{
    ax_chan *ch = ctx;
    long w = ax__ring_write(&ch->ring->tx, iov, n);

    if (w < 0) {
        errno = EPROTO;
        return -1;
    }
    if (ax__ring_commit(&ch->ring->tx)) {
        owe_bell(ch);
    }
    return w;
}

int
ax__chan_ring_flushed(ax_chan *ch, bool full)
{
    int rc;

    if (ch->ring->owed) {
        ch->ring->owed = false;
        if ((rc = bell(ch)) < 0) {
            return ax__fail(rc, "channel: doorbell: %s", ax_strerror(rc));
        }
    }
    if (!full) {
        return 0;
    }
    if (ch->ring->eof) { /* full, and the peer can no longer say it read */
        return ax__fail(AX_EPIPE, "channel: the peer is gone, its ring full");
    }
    return ax__ring_wait_room(&ch->ring->tx, 1) ? 0 : 1;
}

/* The ring as the frame reader's source: like read(2) on a nonblocking
 * pipe, ending once the peer's pipe ended and the ring is empty. */
static ssize_t
read_ring(void *ctx, void *buf, size_t n)
{
    ax_chan *ch = ctx;
    bool wake;
    long k = ax__ring_read(&ch->ring->rx, buf, n, &wake);

    if (wake) {
        bell(ch); /* an error shows at the next write */
    }
    if (k < 0) {
        errno = EPROTO;
        return -1;
    }
    if (k == 0 && !ch->ring->eof) {
        errno = EAGAIN;
        return -1;
    }
    return k;
}

static void
pump(ax_chan *ch)
{
    int rc = ax__reader_pump(&ch->rd, read_ring, ch, ax__chan_deliver, ch);

    if (rc < 0 && !ch->closing) {
        ax__chan_read_failed(ch, rc);
    }
}

static bool
reading(const ax_chan *ch)
{
    return !ch->closing && !ch->read_paused && ch->rerr == 0;
}

/* Poll before every loop iteration again (a doorbell came). */
static void
warm_up(ax_chan *ch)
{
    ax_chan_ring *r = ch->ring;

    r->quiet = 0;
    if (r->cold) {
        r->cold = false;
        ev_prepare_start(ch->loop, &r->poll);
        ev_check_start(ch->loop, &r->awake);
    }
}

/* Nothing came for a while: stop polling; asleep, the reader is rung. */
static void
cool_down(ax_chan *ch)
{
    ax_chan_ring *r = ch->ring;

    r->cold = true;
    ev_prepare_stop(ch->loop, &r->poll);
    ev_check_stop(ch->loop, &r->awake);
}

void
ax__chan_ring_readable(ax_chan *ch)
{
    int rc;

    warm_up(ch);
    ch->busy++;
    rc = take_bells(ch);
    if (rc < 0) {
        ax__chan_read_failed(ch, rc);
    }
    ax__chan_flush_now(ch); /* room may have come: write, then on_drain */
    if (reading(ch)) {
        pump(ch);
    }
    ax__chan_leave(ch);
}

static void
on_poll(struct ev_loop *loop, ev_prepare *w, int revents)
{
    ax_chan *ch = w->data;
    uint64_t before;

    (void)loop;
    (void)revents;
    if (!reading(ch)) {
        return;
    }
    ch->busy++;
    polling++;
    before = ch->rd.bytes;
    pump(ch); /* what came while this loop was busy: no syscall */
    polling--;
    if (reading(ch) && !ch->ring->eof) {
        if (!ax__ring_sleep(&ch->ring->rx)) {
            ch->ring->quiet = 0;
            ax__chan_kick(ch); /* bytes came: no block */
        } else if (ch->rd.bytes != before) {
            ch->ring->quiet = 0;
        } else if (++ch->ring->quiet >= COLD_POLLS) {
            cool_down(ch); /* asleep from now on, until a doorbell */
        }
    }
    ax__chan_leave(ch);
}

static void
on_awake(struct ev_loop *loop, ev_check *w, int revents)
{
    ax_chan *ch = w->data;

    (void)loop;
    (void)revents;
    ax__ring_awake(&ch->ring->rx);
}

void
ax__chan_use_ring(ax_chan *ch, ax_ring_map *m, int side)
{
    ax_chan_ring *r = &ch->ring_store;

    r->map = m;
    ax__ring_open(m, side, &r->tx, &r->rx);
    ev_prepare_init(&r->poll, on_poll);
    ev_check_init(&r->awake, on_awake);
    r->poll.data = r->awake.data = ch;
    ch->ring = r;
    /* Cold: asleep (a new map's readers already are), so the first frame
     * that comes rings, and its doorbell starts the polls. Nothing runs
     * for a channel that stays quiet, and no watcher needs to run before
     * this iteration blocks (it may be an actor's spawn, inside a prepare
     * callback). Bytes already there (a ring reopened): hot at once. */
    r->cold = true;
    if (!ax__ring_sleep(&r->rx)) {
        warm_up(ch);
        ax__chan_kick(ch); /* poll before blocking */
    }
    ch->grow_pipe = false; /* doorbells need no room */
}

void
ax__chan_ring_stop(ax_chan *ch)
{
    if (ch->ring != NULL) {
        ev_prepare_stop(ch->loop, &ch->ring->poll);
        ev_check_stop(ch->loop, &ch->ring->awake);
    }
}

uint64_t
ax__chan_sent_mark(const ax_chan *ch)
{
    /* What is queued (the ring was full) goes in after what is in it. */
    return ch->ring != NULL ? ch->ring->tx.committed + ch->wq.queued : 0;
}

bool
ax__chan_peer_read(const ax_chan *ch, uint64_t mark)
{
    return mark == 0 || ch->ring == NULL ||
           ax__ring_read_past(&ch->ring->tx, mark);
}

void
ax__chan_ring_free(ax_chan *ch)
{
    if (ch->ring != NULL) {
        ax__ring_map_free(ch->ring->map);
        ch->ring = NULL;
    }
}
