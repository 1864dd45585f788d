/*
 * transport/chan.c - a framed channel over two fds on a libev loop.
 *
 * Writes are batched: a send only appends to the write queue and starts an
 * ev_prepare watcher, which flushes the whole queue with writev just before
 * the loop would block. So every frame sent during one loop iteration
 * leaves in one system call, and a round trip costs no extra syscall. Only
 * when the fd is full does the channel start its ev_io write watcher.
 *
 * Callbacks may close the channel: `busy` counts the callbacks running and
 * a close inside one only finishes when the outermost returns.
 */
#include "transport/chan_internal.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"

#define DEFAULT_MAX_FRAME ((size_t)64 << 20)
#define DEFAULT_HIGH_WATER ((size_t)1 << 20)
#define DEFAULT_READ_SIZE ((size_t)256 << 10)
#define MIN_READ_SIZE ((size_t)64 << 10)
#define MAX_FRAME_CEILING ((size_t)UINT32_MAX - AX_FRAME_HEADER)
/* A pipe found full this many times is grown to GROWN_PIPE_SIZE. */
#define GROW_AFTER_FULL 16
#define GROWN_PIPE_SIZE (1 << 20)
/* Owned bodies below this are copied: cheaper than a segment of their own */
#define BORROW_MIN ((size_t)16 << 10)

/* Every channel of this process, for the spawner's fd hygiene. */
static ax_chan *all_channels;
static ax_chan *pending; /* those whose flusher is active */

/* The fds of this process's channels, one bit each: a forked child closes
 * them in a few close_range(2) calls, without a look at each channel. */
static uint64_t *fd_bits;
static size_t fd_words;
static size_t fd_marked; /* bits set */

static int
fd_mark(int fd)
{
    size_t w = (size_t)fd / 64;

    if (w >= fd_words) {
        size_t n = w + 1 > 2 * fd_words ? w + 1 : 2 * fd_words;
        uint64_t *b = ax__realloc(fd_bits, n * sizeof(*b));

        if (b == NULL) {
            return AX_ENOMEM;
        }
        memset(b + fd_words, 0, (n - fd_words) * sizeof(*b));
        fd_bits = b;
        fd_words = n;
    }
    fd_marked += !(fd_bits[w] >> (fd % 64) & 1);
    fd_bits[w] |= (uint64_t)1 << (fd % 64);
    return 0;
}

size_t
ax__chan_fds(void)
{
    return fd_marked;
}

static void
fd_unmark(int fd)
{
    if (fd >= 0 && (size_t)fd / 64 < fd_words) {
        fd_marked -= fd_bits[fd / 64] >> (fd % 64) & 1;
        fd_bits[fd / 64] &= ~((uint64_t)1 << (fd % 64));
    }
}

static void
fd_close(int fd)
{
    fd_unmark(fd);
    close(fd);
}

/* Close every marked fd, a run of consecutive ones at a time. */
static void
close_marked(void)
{
    size_t n = fd_words * 64;

    for (size_t fd = 0; fd < n; fd++) {
        size_t end = fd;

        if (!(fd_bits[fd / 64] >> (fd % 64) & 1)) {
            if (fd_bits[fd / 64] >> (fd % 64) == 0) {
                fd = (fd / 64 + 1) * 64 - 1; /* the rest of the word */
            }
            continue;
        }
        while (end + 1 < n &&
               (fd_bits[(end + 1) / 64] >> ((end + 1) % 64) & 1)) {
            end++;
        }
        if (syscall(SYS_close_range, (unsigned)fd, (unsigned)end, 0u) != 0) {
            for (size_t k = fd; k <= end; k++) { /* no close_range */
                close((int)k);
            }
        }
        fd = end;
    }
}

static void flush_now(ax_chan *ch);
static void kick_stop(ax_chan *ch);

static void
ignore_sigpipe_once(void)
{
    static int done;
    struct sigaction sa;

    if (done) {
        return;
    }
    done = 1;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        signal(SIGPIPE, SIG_IGN);
    }
}

/* Finish a close once no callback of the channel is running. */
static void
destroy(ax_chan *ch)
{
    *ch->link = ch->next;
    if (ch->next != NULL) {
        ch->next->link = ch->link;
    }
    ax__reader_fini(&ch->rd);
    ax__chan_ring_free(ch);
    ax__free(ch);
}

/* ev_is_active is a watcher's index among the active ones: not 0 when
 * active. */
#define ACTIVE(w) (ev_is_active(w) ? 1u : 0u)

unsigned
ax__chan_loop_refs(const ax_chan *ch)
{
    const ax_chan_ring *r = ch->ring;
    unsigned n = ACTIVE(&ch->rio) + ACTIVE(&ch->wio) + ACTIVE(&ch->flusher) +
                 ACTIVE(&ch->kick);

    if (r != NULL) {
        n += ACTIVE(&r->poll) + ACTIVE(&r->spin) + ACTIVE(&r->awake);
    }
    return n;
}

void
ax__chan_leave(ax_chan *ch)
{
    if (--ch->busy == 0 && ch->closing) {
        destroy(ch);
    }
}

void
ax__chan_flusher_start(ax_chan *ch)
{
    if (ev_is_active(&ch->flusher)) {
        return;
    }
    ev_prepare_start(ch->loop, &ch->flusher);
    ch->pend_next = pending;
    ch->pend_link = &pending;
    if (pending != NULL) {
        pending->pend_link = &ch->pend_next;
    }
    pending = ch;
}

static void
flusher_stop(ax_chan *ch)
{
    ev_prepare_stop(ch->loop, &ch->flusher);
    if (ch->pend_link != NULL) {
        *ch->pend_link = ch->pend_next;
        if (ch->pend_next != NULL) {
            ch->pend_next->pend_link = ch->pend_link;
        }
        ch->pend_link = NULL;
    }
}

static void
stop_writing(ax_chan *ch)
{
    flusher_stop(ch);
    ev_io_stop(ch->loop, &ch->wio);
    kick_stop(ch);
}

static void
close_write_side(ax_chan *ch)
{
    stop_writing(ch);
    if (ch->wfd == ch->rfd) {
        shutdown(ch->wfd, SHUT_WR);
    } else if (ch->wfd >= 0) {
        fd_close(ch->wfd);
    }
    ch->wfd = -1;
}

static void
report(ax_chan *ch, int err)
{
    if (ch->cbs.on_error != NULL && !ch->closing) {
        ch->cbs.on_error(ch, err, ch->ud);
    }
}

static void
fail_write(ax_chan *ch, int err)
{
    ch->werr = err;
    stop_writing(ch);
    ax__wq_drop(&ch->wq, err);
    ax__fail(err, "channel write failed: %s", ax_strerror(err));
    report(ch, err);
}

static unsigned kicks; /* channels whose kick is active */

void
ax__chan_kick(ax_chan *ch)
{
    if (!ev_is_active(&ch->kick)) {
        ev_idle_start(ch->loop, &ch->kick);
        kicks++;
    }
}

static void
kick_stop(ax_chan *ch)
{
    if (ev_is_active(&ch->kick)) {
        ev_idle_stop(ch->loop, &ch->kick);
        kicks--;
    }
}

bool
ax__chans_kicked(void)
{
    return kicks > 0;
}

void
ax__chans_stop_kicks(void)
{
    for (ax_chan *ch = all_channels; ch != NULL && kicks > 0; ch = ch->next) {
        kick_stop(ch);
    }
}

/* The kick runs once and stops: its only job was to be active. */
static void
on_kick(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop;
    (void)revents;
    kick_stop(w->data);
}

/*
 * Tell the owner that the queue drained. This may run in the loop's prepare
 * phase, after which libev would block in poll even though the owner now
 * has work (a waiting sender, frames sent from on_drain). An active idle
 * watcher makes that poll return at once, so the next iteration runs.
 */
static void
maybe_drain(ax_chan *ch)
{
    /* A ring's write queue holds only a frame too large for the ring; its
     * sender waits until all of it is in (accepted means delivered). */
    if (ch->want_drain && ch->wq.queued <= (ch->ring != NULL ? 0 : ch->low)) {
        ch->want_drain = false;
        if (ch->cbs.on_drain != NULL && !ch->closing) {
            ax__chan_kick(ch);
            ch->cbs.on_drain(ch, ch->ud);
        }
    }
}

/*
 * A pipe that the reader cannot keep empty is grown once, so a stream
 * moves with fewer wake-ups; small talk never pays for a big pipe (and a
 * user's pipe pages are limited: /proc/sys/fs/pipe-user-pages-soft).
 */
static void
note_full(ax_chan *ch)
{
    if (ch->grow_pipe && ++ch->fulls == GROW_AFTER_FULL) {
        fcntl(ch->wfd, F_SETPIPE_SZ, GROWN_PIPE_SIZE); /* best effort */
    }
}

/*
 * Write what the fd takes. A short write means the fd is full: arm the
 * write watcher rather than try again into an EAGAIN.
 */
static void
flush_now(ax_chan *ch)
{
    int full = 0, rc;
    long w;

    for (;;) {
        while (ch->wq.queued > 0 && !full) {
            w = ch->ring != NULL
                    ? ax__wq_write_to(&ch->wq, ax__chan_ring_sink, ch, &full)
                    : ax__wq_write(&ch->wq, ch->wfd, &full);
            if (ch->closing) {
                return; /* a release callback closed the channel */
            }
            if (w < 0 && !full) {
                fail_write(ch, (int)w);
                return;
            }
            if (w > 0) {
                ch->st.bytes_out += (uint64_t)w;
                ch->st.writes++;
            }
        }
        if (ch->ring == NULL || (rc = ax__chan_ring_flushed(ch, full)) == 0) {
            break;
        }
        if (rc < 0) {
            fail_write(ch, rc);
            return;
        }
        full = 0; /* room came while the writer said it waits */
    }
    flusher_stop(ch);
    if (full && ch->ring != NULL) {
        /* the ring is full: the reader rings when it has read */
    } else if (full) {
        note_full(ch);
        ev_io_start(ch->loop, &ch->wio);
    } else {
        ev_io_stop(ch->loop, &ch->wio);
        if (ch->shutting) {
            close_write_side(ch);
        }
    }
    maybe_drain(ch);
}

/* The prepare watcher (before the loop blocks) and the write watcher (the
 * fd took more) both just flush; the callback may close the channel. */
static void
flush_from_loop(ax_chan *ch)
{
    ch->busy++;
    flush_now(ch);
    ax__chan_leave(ch);
}

static void
on_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    flush_from_loop(w->data);
}

static void
on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    flush_from_loop(w->data);
}

void
ax__chan_flush_now(ax_chan *ch)
{
    flush_now(ch);
}

bool
ax__chan_sent_whole(ax_chan *ch)
{
    if (ch->ring == NULL || ch->wq.queued == 0 || ch->werr < 0) {
        return true;
    }
    ch->want_drain = true; /* on_drain once the rest is in the ring */
    return false;
}

/* A frame read from the pipe (a ring channel delivers its own). */
static bool
deliver(void *ud, ax_frame *f)
{
    ax_chan *ch = ud;

    ch->st.frames_in++;
    ch->cbs.on_frame(ch, f, ch->ud);
    return !ch->closing && !ch->read_paused;
}

static ssize_t
read_fd(void *ctx, void *buf, size_t n)
{
    return read(*(int *)ctx, buf, n);
}

static void
on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    ax_chan *ch = w->data;
    int rc;

    (void)loop;
    (void)revents;
    if (ch->ring != NULL) {
        ax__chan_ring_readable(ch);
        return;
    }
    ch->busy++;
    rc = ax__reader_pump(&ch->rd, read_fd, &ch->rfd, deliver, ch);
    if (rc < 0 && !ch->closing) {
        ax__chan_read_failed(ch, rc);
    }
    ax__chan_leave(ch);
}

void
ax__chan_read_failed(ax_chan *ch, int rc)
{
    ch->rerr = rc;
    ev_io_stop(ch->loop, &ch->rio);
    report(ch, rc);
}

static int
set_fd_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    int fdfl = fcntl(fd, F_GETFD);

    if (fl < 0 || fdfl < 0) {
        return -errno;
    }
    /* Only what is missing: fds from ax_chan_pipes have both already. */
    if ((!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) ||
        (!(fdfl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)) {
        return -errno;
    }
    return 0;
}

static int
resolve_opts(const ax_chan_opts *in, ax_chan_opts *o)
{
    *o = in ? *in : (ax_chan_opts){0, 0, 0, 0, 0};
    o->max_frame = o->max_frame ? o->max_frame : DEFAULT_MAX_FRAME;
    o->high_water = o->high_water ? o->high_water : DEFAULT_HIGH_WATER;
    o->low_water = o->low_water ? o->low_water : o->high_water / 4;
    o->read_size = o->read_size ? o->read_size : DEFAULT_READ_SIZE;
    if (o->max_frame > MAX_FRAME_CEILING || o->low_water > o->high_water ||
        o->read_size < MIN_READ_SIZE) {
        return ax__fail(AX_EINVAL, "ax_chan_new: options out of range");
    }
    return 0;
}

static void
init_watchers(ax_chan *ch)
{
    ev_io_init(&ch->rio, on_readable, ch->rfd, EV_READ);
    ev_io_init(&ch->wio, on_writable, ch->wfd, EV_WRITE);
    ev_prepare_init(&ch->flusher, on_flush);
    ev_idle_init(&ch->kick, on_kick);
    /* At the top priority it runs at the next iteration even when events
     * are pending; else, in a busy loop, the kicks of every new channel
     * would stay active (and a forked child would have to stop them all,
     * writing over their pages). */
    ev_set_priority(&ch->kick, EV_MAXPRI);
    ch->rio.data = ch->wio.data = ch->flusher.data = ch->kick.data = ch;
    ev_io_start(ch->loop, &ch->rio);
}

int
ax_chan_new(struct ev_loop *loop, int rfd, int wfd, const ax_chan_opts *opts,
            const ax_chan_cbs *cbs, void *ud, ax_chan **out)
{
    ax_chan_opts o;
    ax_chan *ch;
    int rc;

    AX_REQUIRE(loop && cbs && cbs->on_frame && cbs->on_error && out,
               "ax_chan_new: loop, cbs, on_frame, on_error, out required");
    rc = resolve_opts(opts, &o);
    if (rc < 0) {
        return rc;
    }
    if (fcntl(rfd, F_GETFD) < 0 || fcntl(wfd, F_GETFD) < 0) {
        return ax__fail(AX_EBADF, "ax_chan_new: bad fd %d/%d", rfd, wfd);
    }
    ch = ax__calloc(1, sizeof(*ch));
    if (ch == NULL) {
        return AX_ENOMEM;
    }
    if (ax__reader_init(&ch->rd, o.read_size, o.max_frame) < 0) {
        ax__free(ch);
        return AX_ENOMEM;
    }
    if ((rc = set_fd_flags(rfd)) < 0 || (rc = set_fd_flags(wfd)) < 0 ||
        (rc = fd_mark(rfd)) < 0 || (rc = fd_mark(wfd)) < 0) {
        fd_unmark(rfd);
        ax__reader_fini(&ch->rd);
        ax__free(ch);
        return ax__fail(rc, "ax_chan_new: %s",
                        rc == AX_ENOMEM ? "out of memory" : ax_strerror(rc));
    }
    if (o.pipe_size) { /* best effort: not a pipe, or over the limits */
        fcntl(rfd, F_SETPIPE_SZ, (int)o.pipe_size);
        fcntl(wfd, F_SETPIPE_SZ, (int)o.pipe_size);
    }
    ch->grow_pipe = o.pipe_size == 0;
    ignore_sigpipe_once();
    ch->loop = loop;
    ch->rfd = rfd;
    ch->wfd = wfd;
    ch->cbs = *cbs;
    ch->ud = ud;
    ch->max_frame = o.max_frame;
    ch->high = o.high_water;
    ch->low = o.low_water;
    ax__wq_init(&ch->wq);
    init_watchers(ch);
    ch->next = all_channels;
    ch->link = &all_channels;
    if (all_channels != NULL) {
        all_channels->link = &ch->next;
    }
    all_channels = ch;
    *out = ch;
    return 0;
}

void
ax_chan_close(ax_chan *ch)
{
    if (ch == NULL || ch->closing) {
        return;
    }
    ch->closing = true;
    ev_io_stop(ch->loop, &ch->rio);
    stop_writing(ch);
    ax__chan_ring_stop(ch);
    ax__wq_fini(&ch->wq);
    if (ch->wfd >= 0 && ch->wfd != ch->rfd) {
        fd_close(ch->wfd);
    }
    fd_close(ch->rfd);
    ch->rfd = ch->wfd = -1;
    if (ch->busy == 0) {
        destroy(ch);
    }
}

/* Checks shared by every send. */
static int
can_send(ax_chan *ch, size_t len, bool urgent)
{
    AX_REQUIRE(!ch->closing, "ax_chan_send: channel is closed");
    if (ch->werr < 0) {
        return ch->werr;
    }
    if (ch->shutting) {
        return ax__fail(AX_EPIPE, "ax_chan_send: channel is shut down");
    }
    if (len > ch->max_frame) {
        return ax__fail(AX_EMSGSIZE, "ax_chan_send: %zu bytes over max %zu",
                        len, ch->max_frame);
    }
    if (!urgent && (ch->ring != NULL ? !ax__chan_ring_fits(ch, len)
                                     : ch->wq.queued >= ch->high)) {
        ch->want_drain = true;
        ch->st.refused++;
        return AX_EAGAIN;
    }
    return 0;
}

/* Bookkeeping after a frame was queued. */
static void
queued(ax_chan *ch)
{
    ch->st.frames_out++;
    if (ch->wq.queued > ch->st.queued_peak) {
        ch->st.queued_peak = ch->wq.queued;
    }
    if (ch->wq.queued >= ch->high) {
        ch->want_drain = true;
    }
    if (ch->ring != NULL) { /* write through: what fits goes in now */
        ch->busy++;
        flush_now(ch);
        ax__chan_leave(ch);
    } else if (!ev_is_active(&ch->wio)) {
        ax__chan_flusher_start(ch);
    }
}

static int
send_copy(ax_chan *ch, const ax_frame_hdr *hdr, const void *body, size_t len,
          bool urgent)
{
    uint8_t head[AX_FRAME_OVERHEAD];
    int rc;

    AX_REQUIRE(ch && hdr && (body || len == 0), "ax_chan_send: NULL argument");
    if (ch->ring != NULL && ch->wq.queued == 0 && ch->werr == 0 &&
        !ch->shutting && !ch->closing && len <= ch->max_frame &&
        ax__chan_ring_put_fast(ch, hdr, body, len)) {
        return 0; /* what can_send would have let through, in one piece */
    }
    rc = can_send(ch, len, urgent);
    if (rc < 0) {
        return rc;
    }
    ax__frame_encode(head, hdr, len);
    if (ch->ring != NULL && ch->wq.queued == 0 &&
        (rc = ax__chan_ring_put(ch, head, body, len)) != 0) {
        return rc < 0 ? rc : 0;
    }
    rc = ax__wq_copy(&ch->wq, head, sizeof(head), body, len);
    if (rc < 0) {
        return rc;
    }
    queued(ch);
    return 0;
}

int
ax_chan_send(ax_chan *ch, const ax_frame_hdr *hdr, const void *body, size_t len)
{
    return send_copy(ch, hdr, body, len, false);
}

int
ax_chan_send_urgent(ax_chan *ch, const ax_frame_hdr *hdr, const void *body,
                    size_t len)
{
    return send_copy(ch, hdr, body, len, true);
}

int
ax_chan_send_owned(ax_chan *ch, const ax_frame_hdr *hdr, const void *body,
                   size_t len, void (*release)(void *ud, int status), void *ud)
{
    uint8_t head[AX_FRAME_OVERHEAD];
    int rc;

    AX_REQUIRE(release != NULL, "ax_chan_send_owned: release is NULL");
    /* A small body is cheaper copied; a ring copies any body it holds. */
    if (len < BORROW_MIN || (ch != NULL && ch->ring != NULL &&
                             AX_FRAME_OVERHEAD + len <= ch->ring->tx.cap)) {
        rc = send_copy(ch, hdr, body, len, false);
        if (rc == 0) {
            release(ud, 0);
        }
        return rc;
    }
    AX_REQUIRE(ch && hdr && body, "ax_chan_send_owned: NULL argument");
    rc = can_send(ch, len, false);
    if (rc < 0) {
        return rc;
    }
    ax__frame_encode(head, hdr, len);
    rc =
        ax__wq_copy_borrow(&ch->wq, head, sizeof(head), body, len, release, ud);
    if (rc < 0) {
        return rc;
    }
    queued(ch);
    return 0;
}

/*
 * Flush now if the prepare watcher is waiting to: for a layer that queues
 * frames from its own prepare watcher (the actor scheduler), whose frames
 * would otherwise wait for the next loop iteration. A channel whose fd is
 * full (write watcher armed) is left to that watcher.
 */
void
ax__chan_flush_pending(ax_chan *ch)
{
    if (ev_is_active(&ch->flusher) && !ch->closing) {
        flush_from_loop(ch);
    }
}

void
ax__chans_flush_pending(void)
{
    size_t n = 0;

    for (ax_chan *ch = pending; ch != NULL; ch = ch->pend_next) {
        n++;
    }
    /* Each flush takes its channel off the list (and may close it, or
     * add others, which wait for their prepare watcher); one that stays
     * is taken off by hand, so this ends. */
    while (n-- > 0 && pending != NULL) {
        ax_chan *ch = pending;

        if (ch->closing) {
            flusher_stop(ch);
            continue;
        }
        flush_from_loop(ch);
        if (pending == ch) {
            flusher_stop(ch);
        }
    }
}

long
ax_chan_flush(ax_chan *ch)
{
    long rc;

    AX_REQUIRE(ch != NULL && !ch->closing, "ax_chan_flush: no channel");
    if (ch->werr < 0) {
        return ch->werr;
    }
    ch->busy++;
    flush_now(ch);
    /* Read the result before leave: a callback (on_error, on_drain) may
     * have closed the channel, and leave then frees it. */
    rc = ch->werr < 0 ? ch->werr : (long)ch->wq.queued;
    ax__chan_leave(ch);
    return rc;
}

int
ax_chan_shutdown(ax_chan *ch)
{
    AX_REQUIRE(ch != NULL && !ch->closing, "ax_chan_shutdown: no channel");
    if (ch->shutting) {
        return AX_EALREADY;
    }
    ch->shutting = true;
    if (ch->wq.queued == 0 && ch->werr == 0) {
        close_write_side(ch);
    }
    return 0;
}

void
ax_chan_read_stop(ax_chan *ch)
{
    AX_REQUIRE(ch != NULL && !ch->closing, "ax_chan_read_stop: no channel");
    ch->read_paused = true;
    if (ch->ring == NULL) { /* a ring's doorbells also say "room" */
        ev_io_stop(ch->loop, &ch->rio);
    }
}

void
ax_chan_read_start(ax_chan *ch)
{
    AX_REQUIRE(ch != NULL && !ch->closing, "ax_chan_read_start: no channel");
    if (!ch->read_paused || ch->rerr < 0) {
        return;
    }
    ch->read_paused = false;
    /* Frames buffered while paused go first, from the loop (never from
     * inside the caller): on_readable delivers them before reading. */
    if (ch->ring == NULL || !ch->ring->eof) {
        ev_io_start(ch->loop, &ch->rio);
    }
    ev_feed_event(ch->loop, &ch->rio, EV_READ);
}

size_t
ax_chan_queued(const ax_chan *ch)
{
    return ch->wq.queued;
}

bool
ax_chan_writable(const ax_chan *ch)
{
    if (ch->ring != NULL) {
        return ch->werr == 0 && !ch->shutting && ch->wq.queued == 0 &&
               ax__ring_room(&ch->ring->tx) > 0;
    }
    return ch->werr == 0 && !ch->shutting && ch->wq.queued < ch->high;
}

void
ax_chan_stats_get(const ax_chan *ch, ax_chan_stats *out)
{
    *out = ch->st;
    out->queued = ch->wq.queued;
    out->reads = ch->rd.reads;
    out->bytes_in = ch->rd.bytes;
}

void
ax_chan_fds(const ax_chan *ch, int *rfd, int *wfd)
{
    if (rfd != NULL) {
        *rfd = ch->rfd;
    }
    if (wfd != NULL) {
        *wfd = ch->wfd;
    }
}

/*
 * In a forked child: drop an inherited channel without touching its loop
 * (which is gone) and without writing a byte or calling a callback. Its
 * fds are closed; memory is freed; borrowed bodies are not released (they
 * belong to the parent's memory image and mean nothing here).
 */
void
ax__chans_forget(ax_ring_map *keep)
{
    close_marked();
    if (fd_bits != NULL) {
        memset(fd_bits, 0, fd_words * sizeof(*fd_bits));
    }
    fd_marked = 0;
    ax__ring_maps_forget(keep);
    ax__forsake(all_channels);
    all_channels = NULL;
    pending = NULL;
    ax__chans_ring_forget();
}

ax_chan *
ax__chan_first(void)
{
    return all_channels;
}

ax_chan *
ax__chan_next(const ax_chan *ch)
{
    return ch->next;
}

int
ax_chan_pipes(int parent[2], int child[2])
{
    int down[2], up[2];

    if (pipe2(down, O_CLOEXEC | O_NONBLOCK) < 0) {
        return -errno;
    }
    if (pipe2(up, O_CLOEXEC | O_NONBLOCK) < 0) {
        int err = -errno;

        close(down[0]);
        close(down[1]);
        return err;
    }
    parent[0] = up[0];
    parent[1] = down[1];
    child[0] = down[0];
    child[1] = up[1];
    return 0;
}
