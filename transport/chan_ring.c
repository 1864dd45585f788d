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
 * delivered there, in a prepare callback; the loop then polls its fds
 * without blocking (see delivered()). Channels that were active a moment
 * ago spin before the loop blocks (see "spin"). A channel whose polls found
 * nothing COLD_POLLS times in a row stops polling and stays asleep until
 * a doorbell comes, so a loop iteration costs the same with ten thousand
 * quiet channels (and writes nothing to them: a forked child keeps
 * sharing their pages). The pipe ends when the peer
 * has written its last: everything committed before is read first, then
 * the end is reported (AX_EOF, or AX_ETRUNCATED mid-frame).
 */
#include "transport/chan_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"

/* Empty polls in a row after which a channel sleeps until a doorbell. */
#define COLD_POLLS 4

/* Spinning before sleeping (see "spin" below). */
#define SPIN_MAX_DEFAULT 20e-6 /* seconds a reader may spin */
#define SPIN_MIN 0.5e-6        /* a budget below it is none */
#define ACTIVE_WINDOW 1e-3     /* a frame came or went within it: spin */
#define SPIN_TOTAL 1e-3        /* the longest one spin keeps the loop */
#define SPIN_MEMBERS 64        /* channels one spin looks at, at most */

static double spin_max = -1;     /* -1: AXON_SPIN_US not read yet */
static ax_chan *spin_set;        /* channels that spin before this block */
static bool (*owner_busy)(void); /* ax__chans_spin_hooks */
static void (*owner_turn)(void);

static void spin_leave(ax_chan *ch);

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
 * A frame was published: the reader finds it where it is, even if this
 * process dies at the next instruction. Whether the reader sleeps and
 * must be rung is looked at once, at the flush at the end of the
 * scheduler's turn (or before the loop blocks): one fence and at most one
 * doorbell for the whole turn, not one fence per frame.
 */
/* Inside a ring's poll (a prepare callback), which may forward frames to
 * other channels. */
static int polling;

static void
published(ax_chan *ch)
{
    ch->ring->sent = true;
    ch->ring->expect = true;
    if (!ch->ring->unchecked) {
        ch->ring->unchecked = true;
        ax__chan_flusher_start(ch); /* inside a poll: flushed after it */
    }
}

/* Count a frame of `bytes` put in, and publish it. */
static void
put_done(ax_chan *ch, size_t bytes)
{
    ch->st.frames_out++;
    ch->st.bytes_out += bytes;
    ch->st.writes++;
    if (ax__ring_publish(&ch->ring->tx)) {
        published(ch);
    }
}

bool
ax__chan_ring_put_fast(ax_chan *ch, const ax_frame_hdr *hdr, const void *body,
                       size_t len)
{
    size_t need = AX_FRAME_OVERHEAD + len;
    uint8_t *p = ax__ring_claim(&ch->ring->tx, need);

    if (p == NULL) {
        return false;
    }
    ax__frame_encode(p, hdr, len);
    if (len > 0) {
        memcpy(p + AX_FRAME_OVERHEAD, body, len);
    }
    ax__ring_claimed(&ch->ring->tx, need);
    put_done(ch, need);
    return true;
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
    put_done(ch, AX_FRAME_OVERHEAD + len);
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
    room = ax__ring_room_for(&ch->ring->tx, need);
    if (room < 0 || (size_t)room >= need || /* an error shows at the put */
        !ax__ring_wait_room(&ch->ring->tx, need)) {
        return true;
    }
    ch->ring->need = need; /* a spin may see the room come */
    return false;
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
    if (ax__ring_publish(&ch->ring->tx)) {
        published(ch);
    }
    return w;
}

int
ax__chan_ring_flushed(ax_chan *ch, bool full)
{
    int rc;

    if (ch->ring->unchecked) {
        ch->ring->unchecked = false;
        if (ax__ring_reader_asleep(&ch->ring->tx) && (rc = bell(ch)) < 0) {
            return ax__fail(rc, "channel: doorbell: %s", ax_strerror(rc));
        }
    }
    if (!full) {
        return 0;
    }
    if (ch->ring->eof) { /* full, and the peer can no longer say it read */
        return ax__fail(AX_EPIPE, "channel: the peer is gone, its ring full");
    }
    if (!ax__ring_wait_room(&ch->ring->tx, 1)) {
        return 1;
    }
    ch->ring->need = 1;
    return 0;
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

static bool
reading(const ax_chan *ch)
{
    return !ch->closing && !ch->read_paused && ch->rerr == 0;
}

/* A frame read from the ring for the owner; false when delivery stops. */
static bool
on_frame(void *ud, ax_frame *f)
{
    ax_chan *ch = ud;

    ch->st.frames_in++;
    ch->ring->expect = false; /* until it sends again */
    ch->cbs.on_frame(ch, f, ch->ud);
    return reading(ch);
}

static void
pump(ax_chan *ch)
{
    int rc = ax__reader_pump(&ch->rd, read_ring, ch, on_frame, ch);

    if (rc < 0 && !ch->closing) {
        ax__chan_read_failed(ch, rc);
    }
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
        ev_prepare_start(ch->loop, &r->spin);
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
    ev_prepare_stop(ch->loop, &r->spin);
    ev_check_stop(ch->loop, &r->awake);
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Nothing more for ch to do before the loop blocks: say it sleeps, or,
 * if bytes came meanwhile, keep the loop from blocking. */
static void
settle(ax_chan *ch)
{
    ax_chan_ring *r = ch->ring;

    if (!reading(ch) || r->eof) {
        return;
    }
    if (!ax__ring_sleep(&r->rx)) {
        r->quiet = 0;
        ax__chan_kick(ch); /* bytes came: no block */
        return;
    }
    if (r->budget < SPIN_MIN) {
        r->slept_at = now_s(); /* a frame soon after: spinning would pay */
    }
    if (ch->rd.bytes != r->polled_bytes) {
        r->quiet = 0;
    } else if (++r->quiet >= COLD_POLLS) {
        cool_down(ch); /* asleep from now on, until a doorbell */
    }
}

void
ax__chan_ring_readable(ax_chan *ch)
{
    ax_chan_ring *r = ch->ring;
    int rc;

    if (r->budget < SPIN_MIN && now_s() - r->slept_at < spin_max) {
        r->budget = spin_max; /* woken right after it slept */
    }
    r->need = 0; /* room may have come: the flush below looks */
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

/* --- spin ---------------------------------------------------------------
 *
 * A reader that had a frame come or go a moment ago (ACTIVE_WINDOW)
 * expects the next one soon: an answer to what it sent, the next of a
 * stream. Waking from the loop's poll costs tens of microseconds on a VM;
 * finding bytes in a ring one watches costs nothing. So before the loop
 * blocks, such channels spin: the last prepare watcher (EV_MINPRI: after
 * the scheduler's turn and every flush) watches their rings for up to
 * their budget, without saying they sleep (writers ring no doorbell
 * meanwhile). What comes is delivered there; then the owner's turn hook
 * runs what it made runnable (the actor runtime: one scheduler turn,
 * whose end flushes what its actors sent), and the spin goes on. A round
 * trip between two busy processes so makes no syscall at all.
 *
 * Bounds: nobody spins while the owner or a channel has work that keeps
 * the loop from blocking (owner_busy, a kick), one spin keeps the loop at
 * most SPIN_TOTAL before it polls its fds, and a spin that finds nothing
 * halves the channels' budgets, down to none (then they sleep at once);
 * a frame that comes within the longest spin after a reader slept gives
 * it its budget back. An idle process never spins.
 */

void
ax__chans_spin_hooks(bool (*busy)(void), void (*turn)(void))
{
    owner_busy = busy;
    owner_turn = turn;
}

double
ax__chans_spin_max(void)
{
    if (spin_max < 0) {
        const char *s = getenv("AXON_SPIN_US");

        spin_max = s != NULL && *s != '\0' ? atof(s) * 1e-6 : SPIN_MAX_DEFAULT;
        if (!(spin_max >= 0)) {
            spin_max = 0;
        }
    }
    return spin_max;
}

void
ax__chans_ring_forget(void)
{
    spin_set = NULL; /* its channels are forsaken */
}

static void
spin_join(ax_chan *ch)
{
    ax_chan_ring *r = ch->ring;

    if (r->spin_link != NULL) {
        return;
    }
    r->spin_next = spin_set;
    r->spin_link = &spin_set;
    if (spin_set != NULL) {
        spin_set->ring->spin_link = &r->spin_next;
    }
    spin_set = ch;
}

static void
spin_leave(ax_chan *ch)
{
    ax_chan_ring *r = ch->ring;

    if (r == NULL || r->spin_link == NULL) {
        return;
    }
    *r->spin_link = r->spin_next;
    if (r->spin_next != NULL) {
        r->spin_next->ring->spin_link = r->spin_link;
    }
    r->spin_next = NULL;
    r->spin_link = NULL;
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield" ::: "memory");
#endif
}

/*
 * Frames were delivered, or the room a writer waited for came, in a
 * prepare callback (a poll or a spin), after which libev would block. An
 * owner with a turn hook (the actor runtime) acts on them in its turn; any
 * other owner gets the loop iteration end without blocking, as after a
 * frame or a doorbell read from a pipe: an owner that runs the loop once
 * at a time and looks at what on_frame did or whether its send now fits
 * (ev_run with EVRUN_ONCE) sees it at once, and does not wait in the poll
 * for a doorbell that will never come.
 */
static void
delivered(ax_chan *ch)
{
    if (owner_turn == NULL) {
        ax__chan_kick(ch);
    }
}

/* Whether the loop will not block anyway: then nobody spins. */
static bool
vetoed(void)
{
    return ax__chans_kicked() || (owner_busy != NULL && owner_busy());
}

static bool
member(const ax_chan *ch)
{
    return ch->ring->spin_link != NULL && reading(ch) && !ch->ring->eof;
}

/* Whether the room ch's writer waits for came (a bad position counts:
 * the flush reports it). */
static bool
room_came(ax_chan *ch)
{
    ax_chan_ring *r = ch->ring;
    long room;

    if (r->need == 0) {
        return false;
    }
    room = ax__ring_room(&r->tx);
    return room < 0 || (size_t)room >= r->need;
}

/* What a member waits for came: bytes to read, or the room its writer
 * waits for. */
static bool
came(ax_chan *ch)
{
    return member(ch) && (ax__ring_pending(&ch->ring->rx) > 0 || room_came(ch));
}

/* Watch the members' rings until one's wait is over (true) or `until`. */
static bool
wait_came(ax_chan **m, int n, double until)
{
    for (unsigned i = 0;; i++) {
        for (int k = 0; k < n; k++) {
            if (came(m[k])) {
                return true;
            }
        }
        if ((i & 31) == 31 && now_s() >= until) {
            return false;
        }
        cpu_relax();
    }
}

/* Deliver what came to the members; the longest budget among them. */
static double
deliver(ax_chan **m, int n)
{
    double most = 0;

    for (int k = 0; k < n; k++) {
        ax_chan_ring *r = m[k]->ring;

        if (!came(m[k])) {
            most = r->budget > most ? r->budget : most;
            continue;
        }
        r->budget = spin_max;
        if (room_came(m[k])) {
            r->need = 0;
            ax__chan_flush_now(m[k]); /* write on, then on_drain */
            delivered(m[k]); /* the room is news, as a doorbell would be */
        }
        if (member(m[k]) && ax__ring_pending(&r->rx) > 0) {
            polling++;
            pump(m[k]);
            polling--;
            delivered(m[k]);
        }
        most = r->budget > most ? r->budget : most;
    }
    return most;
}

/* The members of loop's spin: held, out of the set once done. Members
 * past SPIN_MEMBERS settle at once. Returns how many. */
static int
collect(struct ev_loop *loop, ax_chan **m, double *most)
{
    int n = 0;

    *most = 0;
    for (ax_chan *ch = spin_set, *next; ch != NULL; ch = next) {
        next = ch->ring->spin_next;
        if (ch->loop != loop) {
            continue;
        }
        if (n == SPIN_MEMBERS) {
            spin_leave(ch);
            settle(ch);
            continue;
        }
        ch->busy++;
        m[n++] = ch;
        if (ch->ring->need > 0) { /* it watches: the reader need not ring */
            ax__ring_unwait(&ch->ring->tx);
        }
        *most = ch->ring->budget > *most ? ch->ring->budget : *most;
    }
    return n;
}

/* A writer that watched for room during the spin waits for the
 * reader's doorbell again, unless the room came meanwhile. */
static void
rewait(ax_chan *ch)
{
    ax_chan_ring *r = ch->ring;

    if (r->need > 0 && !ax__ring_wait_room(&r->tx, r->need)) {
        r->need = 0;
        ax__chan_flush_now(ch);
        ax__chan_kick(ch);
    }
}

static void
spin(struct ev_loop *loop)
{

    ax_chan *m[SPIN_MEMBERS];
    double most, t0, end;
    bool found = false;
    int n = collect(loop, m, &most);

    t0 = now_s();
    end = t0 + SPIN_TOTAL;
    while (!vetoed() && (found = wait_came(m, n, t0 + most))) {
        most = deliver(m, n);
        if (owner_turn != NULL) {
            owner_turn(); /* its actors run; the turn's end flushes */
        } else {
            ax__chans_flush_pending();
        }
        if ((t0 = now_s()) >= end) {
            break;
        }
    }
    for (int k = 0; k < n; k++) {
        ax_chan *ch = m[k];
        bool reads = member(ch);

        spin_leave(ch);
        if (!ch->closing) {
            rewait(ch); /* found or not, its writer is rung for room */
        }
        if (!reads) {
            /* paused, failed or at its end: nothing to settle */
        } else if (found) { /* awake: the kick makes the loop poll again */
            ax__chan_kick(ch);
        } else {
            if (!vetoed()) {
                ch->ring->budget /= 2; /* nothing came in its budget */
                if (ch->ring->budget < SPIN_MIN) {
                    ch->ring->budget = 0;
                }
            }
            settle(ch);
        }
        ax__chan_leave(ch);
    }
}

static void
on_spin(struct ev_loop *loop, ev_prepare *w, int revents)
{
    ax_chan *ch = w->data;

    (void)revents;
    if (ch->ring->spin_link != NULL) {
        spin(loop); /* the first of this loop's spinners spins for all */
    }
}

static void
on_poll(struct ev_loop *loop, ev_prepare *w, int revents)
{
    ax_chan *ch = w->data;
    ax_chan_ring *r = ch->ring;

    (void)revents;
    if (!reading(ch)) {
        return;
    }
    ch->busy++;
    polling++;
    r->polled_bytes = ch->rd.bytes;
    pump(ch); /* what came while this loop was busy: no syscall */
    polling--;
    if (ch->rd.bytes != r->polled_bytes) {
        ax__chans_flush_pending(); /* what on_frame sent, now */
        delivered(ch);
    }
    if (ch->rd.bytes != r->polled_bytes || r->sent) {
        r->sent = false;
        r->active_at = ev_now(loop);
    }
    if (reading(ch) && !r->eof) {
        if (spin_max > 0 && r->budget >= SPIN_MIN &&
            (r->expect || r->need > 0 || owner_turn != NULL) &&
            ev_now(loop) - r->active_at < ACTIVE_WINDOW) {
            spin_join(ch); /* the spin, last before the block, settles it */
        } else {
            settle(ch);
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
    ev_prepare_init(&r->spin, on_spin);
    ev_set_priority(&r->spin, EV_MINPRI);
    ev_check_init(&r->awake, on_awake);
    r->poll.data = r->awake.data = r->spin.data = ch;
    r->budget = ax__chans_spin_max();
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
        spin_leave(ch);
        ev_prepare_stop(ch->loop, &ch->ring->poll);
        ev_prepare_stop(ch->loop, &ch->ring->spin);
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
