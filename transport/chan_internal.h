/*
 * transport/chan_internal.h - the channel's layout (internal).
 */
#ifndef AXON_TRANSPORT_CHAN_INTERNAL_H
#define AXON_TRANSPORT_CHAN_INTERNAL_H

#include <stdbool.h>

#include <ev.h>

#include <axon/chan.h>

#include "transport/frame.h"
#include "transport/ring.h"
#include "transport/wqueue.h"

/* The byte every doorbell is: anything else on the pipe is a peer's
 * mistake (AX_EPROTO). */
#define AX_BELL 0x07

/*
 * A channel whose frames move through shared-memory rings (chan_ring.c);
 * its fds carry only doorbells, and their end. The writer copies each
 * frame into the ring as it is sent, so a process that dies right after a
 * send has delivered it; the reader reads the ring before the loop
 * blocks, and says it sleeps only when the ring is empty.
 */
typedef struct ax_chan_ring {
    ax_ring_map *map;
    ax_ring tx, rx;
    ev_prepare poll; /* before the loop blocks: read, then say it sleeps */
    ev_check awake;  /* after the loop woke: no doorbell is needed */
    bool eof;        /* the doorbell pipe ended: the peer wrote its last */
    bool unchecked;  /* published since the last look at the reader */
    bool cold;       /* quiet: no poll, asleep until a doorbell */
    unsigned quiet;  /* polls in a row that found nothing */
    /* Spinning before sleeping (chan_ring.c, "spin"): */
    ev_prepare spin;       /* last before the loop blocks: spin, or sleep */
    ax_chan *spin_next;    /* the channels the next spin looks at */
    ax_chan **spin_link;   /* NULL: not among them */
    uint64_t polled_bytes; /* rd.bytes before this iteration's poll */
    double budget;         /* seconds this channel may spin (adapts) */
    double active_at;      /* loop time a frame last came or went */
    double slept_at;       /* when this reader last slept without budget */
    bool sent;             /* a frame went since the last poll */
    bool expect;           /* it sent since its last frame came: an answer
                              may be due */
    size_t need;           /* > 0: the writer waits for this much room */
} ax_chan_ring;

struct ax_chan {
    struct ev_loop *loop;
    ev_io rio;          /* persistent read watcher (stopped while paused) */
    ev_io wio;          /* write watcher, only while the fd is full */
    ev_prepare flusher; /* flushes the queue before the loop blocks */
    ev_idle kick;       /* one-shot: keeps the next poll from blocking */
    int rfd, wfd;       /* owned; equal for a socketpair; -1 once closed */
    ax_chan_cbs cbs;
    void *ud;
    size_t max_frame; /* largest body sent or accepted */
    size_t high, low; /* watermarks on queued bytes */
    ax_wqueue wq;
    ax_reader rd;
    int rerr, werr;   /* the error that stopped reading / writing */
    bool read_paused; /* the owner stopped reading */
    bool want_drain;  /* on_drain is owed when queued <= low */
    bool shutting;    /* close the write side once the queue is empty */
    bool closing;     /* ax_chan_close was called */
    bool grow_pipe;   /* grow the pipe once it is often full */
    unsigned fulls;   /* times the write fd was found full */
    int busy;         /* callbacks of this channel now running */
    ax_chan_stats st;
    ax_chan_ring *ring; /* &ring_store, or NULL: frames go through the fds */
    ax_chan_ring ring_store;
    ax_chan *next;       /* all channels of the process */
    ax_chan **link;      /* the pointer that points at this channel */
    ax_chan *pend_next;  /* channels whose flusher is active */
    ax_chan **pend_link; /* NULL: not among them */
};

/*
 * ax__chan_use_ring - move the frames of a new channel (before its first
 * send) into the rings of m, as side `side` (ring.h); the channel takes m
 * and frees it at close. The peer must do the same with the other side.
 */
void ax__chan_use_ring(ax_chan *ch, ax_ring_map *m, int side);

/* --- what chan.c and chan_ring.c share ------------------------------------ */

/* Reading failed with rc (< 0): stop reading, tell the owner. */
void ax__chan_read_failed(ax_chan *ch, int rc);
/* Write what can be written now (the ring's side: what fits). */
void ax__chan_flush_now(ax_chan *ch);
/* busy--, and finish a close asked for meanwhile. */
void ax__chan_leave(ax_chan *ch);

/* chan_ring.c: put one encoded frame straight into the ring. Returns 1
 * (it is there), 0 (no room: queue it) or an error. */
int ax__chan_ring_put(ax_chan *ch, const uint8_t *head, const void *body,
                      size_t len);
/* chan_ring.c: the common case of a send, tried first: the frame goes in
 * in one piece where the ring's room last seen holds it (true), encoded
 * in place. False: nothing done, take the general way. */
bool ax__chan_ring_put_fast(ax_chan *ch, const ax_frame_hdr *hdr,
                            const void *body, size_t len);
/* chan_ring.c: whether a send of a len-byte body may go now (non-urgent
 * sends wait for room so that accepted means delivered). */
bool ax__chan_ring_fits(ax_chan *ch, size_t len);
/* chan_ring.c: the write queue's sink. */
ssize_t ax__chan_ring_sink(void *ctx, const struct iovec *iov, int n);
/* chan_ring.c: the end of a flush: ring a doorbell owed; if the ring was
 * full, say the writer waits. Returns 0, 1 (room came: write on), or an
 * error that ends writing (AX_EPIPE: full and the peer gone). */
int ax__chan_ring_flushed(ax_chan *ch, bool full);
/* chan_ring.c: the read watcher's work in ring mode. */
void ax__chan_ring_readable(ax_chan *ch);
/* chan_ring.c: stop the ring's watchers (close) / unmap (destroy). */
void ax__chan_ring_stop(ax_chan *ch);
void ax__chan_ring_free(ax_chan *ch);

/*
 * ax__chan_sent_whole - whether what was sent is all out of this process
 * (in the ring). If not (a frame larger than the ring goes in piece by
 * piece), on_drain says when it is.
 */
bool ax__chan_sent_whole(ax_chan *ch);

/* How many of the loop's references ch's active watchers hold. */
unsigned ax__chan_loop_refs(const ax_chan *ch);

/* Flush now what the prepare watcher would flush before the loop blocks. */
void ax__chan_flush_pending(ax_chan *ch);

/*
 * ax__chans_flush_pending - ax__chan_flush_pending for every channel
 * whose flusher is active (the end of a scheduler's turn), without
 * visiting the others: its cost does not grow with the channels open.
 */
void ax__chans_flush_pending(void);

/*
 * ax__chan_sent_mark / ax__chan_peer_read - where the stream ch writes
 * will stand once all sent so far is in its ring (what is queued for a
 * full ring included), and whether the peer has read up to such a mark: a peer
 * that has not, long after, does not run its loop. Without a ring the mark is 0
 * and the peer counts as having read (nothing can be known).
 */
uint64_t ax__chan_sent_mark(const ax_chan *ch);
bool ax__chan_peer_read(const ax_chan *ch, uint64_t mark);

/* How many fds this process's channels hold open. */
size_t ax__chan_fds(void);

/* Start ch's kick (if it is not): the next poll does not block. */
void ax__chan_kick(ax_chan *ch);
/* Whether some channel's kick is active. */
bool ax__chans_kicked(void);

/*
 * ax__chans_stop_kicks - in a forked child, before the inherited loop is
 * destroyed: stop the active kicks (libev would go on counting them in
 * the fresh default loop, which would then never block). Only a look at
 * the channels while some are active: usually none is.
 */
void ax__chans_stop_kicks(void);

/* Start ch's flusher (if it is not): it flushes before the loop blocks,
 * or at ax__chans_flush_pending. */
void ax__chan_flusher_start(ax_chan *ch);

/*
 * ax__chans_forget - in a forked child: close every inherited channel's
 * fds (a few close_range calls) and unmap every inherited ring but keep
 * (the child's own, held once by the caller: ax__ring_maps_forget),
 * silently (no callback, no frame), and let go of the channels without
 * freeing them or writing to them (ax__forsake).
 */
void ax__chans_forget(ax_ring_map *keep);

/*
 * ax__chans_spin_hooks - how the owner of the loop takes part in the
 * spin before it blocks (chan_ring.c): busy() says it has work of its own
 * (then the loop must not block, and nobody spins); turn() does the work
 * the frames just delivered made (a scheduler's turn), from inside the
 * spin. Either may be NULL. The actor runtime sets both.
 */
void ax__chans_spin_hooks(bool (*busy)(void), void (*turn)(void));

/* ax__chans_spin_max - the longest a reader spins, in seconds (0: never;
 * AXON_SPIN_US overrides the default). */
double ax__chans_spin_max(void);

/* chan_ring.c: a forked child's inherited channels are gone. */
void ax__chans_ring_forget(void);

/* Walk every open channel of this process (the tests look at them). */
ax_chan *ax__chan_first(void);
ax_chan *ax__chan_next(const ax_chan *ch);

#endif /* AXON_TRANSPORT_CHAN_INTERNAL_H */
