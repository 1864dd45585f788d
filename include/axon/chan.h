/*
 * axon/chan.h - framed, nonblocking, bidirectional channels over fds.
 *
 * An ax_chan moves frames between two processes over a pair of fds (one
 * pipe per direction, or one socketpair end), driven by libev: one
 * persistent ev_io per fd on the loop it is given. It knows nothing of
 * actors or msgpack: a frame is a small header (kind, destination, source)
 * and opaque body bytes. docs/wire.md describes the bytes exactly.
 *
 * Writing: frames are queued and written in batches with writev(2), many
 * frames per system call, by an ev_prepare watcher just before the loop
 * would block (and by an ev_io watcher when the fd becomes writable again
 * after a partial write). Frames sent from another prepare watcher that
 * runs after the channel's may wait for the next loop iteration: call
 * ax_chan_flush after such sends. Queued bytes are bounded:
 * above the high watermark a send is refused with AX_EAGAIN, and on_drain
 * says when the queue fell to the low watermark. So queued bytes never
 * exceed the high watermark plus one frame.
 *
 * Reading: at least 64 KiB per read(2); every complete frame in the buffer
 * is delivered to on_frame. A large body is read straight into a buffer of
 * its own, which the receiver can keep without a copy (ax_frame_take).
 *
 * Errors reach the owner through on_error, each once, as a distinct code:
 *   AX_EOF        the peer closed at a frame boundary (clean end);
 *   AX_ETRUNCATED the peer closed in the middle of a frame;
 *   AX_EPIPE      the peer closed its reading end while we were writing;
 *   AX_EMSGSIZE   a frame length over max_frame;
 *   AX_EPROTO     a malformed header (bad version, length too short);
 *   other AX_E*   read(2)/writev(2) failures (-errno).
 * Every frame before the error was delivered; nothing after it is. A read
 * error stops reading, a write error stops writing and drops the queue; the
 * owner decides when to ax_chan_close. SIGPIPE never kills the process (the
 * first channel sets SIGPIPE to SIG_IGN if it was SIG_DFL).
 *
 * fds: the channel owns its fds, sets them O_NONBLOCK and FD_CLOEXEC, and
 * closes them in ax_chan_close. ax_chan_fds tells which they are, so a
 * forked child can close every channel that is not its own.
 */
#ifndef AXON_CHAN_H
#define AXON_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <axon/pid.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ev_loop;
typedef struct ax_chan ax_chan;

/* Bytes of the length prefix and of the header that follows it. */
#define AX_FRAME_PREFIX 4
#define AX_FRAME_HEADER 36
#define AX_FRAME_OVERHEAD (AX_FRAME_PREFIX + AX_FRAME_HEADER)
/* The version byte of every header this code writes and accepts. */
#define AX_FRAME_VERSION 1

/* The header of a frame: where it goes, where it comes from, what it is. */
typedef struct ax_frame_hdr {
    uint8_t kind;  /* the layer above's (actors: message, exit, down, ...) */
    uint8_t flags; /* the layer above's */
    ax_pid dst;    /* destination address */
    ax_pid src;    /* source address */
} ax_frame_hdr;

/* A received frame, valid during the on_frame call. */
typedef struct ax_frame {
    ax_frame_hdr hdr;
    const void *body; /* body bytes (not NUL-terminated) */
    size_t len;       /* body length */
    void *own;        /* channel-internal: the body's own buffer, if any */
} ax_frame;

typedef struct ax_chan_opts {
    size_t max_frame;  /* largest body sent or accepted; 0: 64 MiB;
                          at most 4 GiB - 1 - AX_FRAME_HEADER */
    size_t high_water; /* queued bytes at which sends are refused; 0: 1 MiB */
    size_t low_water;  /* queued bytes at which on_drain fires; 0: high/4 */
    size_t read_size;  /* read buffer bytes; 0: 256 KiB; at least 64 KiB */
    size_t pipe_size;  /* F_SETPIPE_SZ for pipe fds at creation; 0: start
                          at the system default and grow the write pipe to
                          1 MiB once it was found full 16 times (a stream);
                          failures are ignored (not a pipe, over limits) */
} ax_chan_opts;

typedef struct ax_chan_cbs {
    /* A frame arrived. f and its body are valid until the call returns
     * (unless taken with ax_frame_take). May call any ax_chan function,
     * including ax_chan_close on this channel. */
    void (*on_frame)(ax_chan *ch, ax_frame *f, void *ud);
    /* The channel failed as described above. Called once per direction at
     * most; may close the channel. */
    void (*on_error)(ax_chan *ch, int err, void *ud);
    /* Queued bytes fell to the low watermark after a send was refused (or
     * the queue reached the high watermark). May be NULL. */
    void (*on_drain)(ax_chan *ch, void *ud);
} ax_chan_cbs;

/* Counters of one channel, for tests and benchmarks. */
typedef struct ax_chan_stats {
    size_t queued;       /* bytes waiting to be written now */
    size_t queued_peak;  /* most bytes ever waiting */
    uint64_t frames_out; /* frames accepted by send */
    uint64_t frames_in;  /* frames delivered to on_frame */
    uint64_t bytes_out;  /* bytes written */
    uint64_t bytes_in;   /* bytes read */
    uint64_t writes;     /* writev(2) calls that wrote something */
    uint64_t reads;      /* read(2) calls that read something */
    uint64_t refused;    /* sends refused with AX_EAGAIN */
} ax_chan_stats;

/*
 * ax_chan_new - a channel reading rfd and writing wfd on loop.
 *
 * rfd and wfd may be the same fd (a socketpair end). The read watcher is
 * started at once; frames are delivered while the loop runs.
 * Returns 0, or AX_EBADF (rfd or wfd is not an open fd), AX_EINVAL (opts
 * out of range), AX_ENOMEM. On failure the fds are not closed and keep
 * their flags.
 * Ownership: on success the channel owns rfd and wfd. cbs is copied; ud is
 * passed back to every callback.
 * Context: any code that runs loop's thread.
 */
int ax_chan_new(struct ev_loop *loop, int rfd, int wfd,
                const ax_chan_opts *opts, const ax_chan_cbs *cbs, void *ud,
                ax_chan **out);

/*
 * ax_chan_close - stop the watchers, close the fds, drop queued frames
 * (their release callbacks get AX_ECANCELED) and free the channel.
 * Safe inside the channel's own callbacks. Accepts NULL.
 * To deliver what is queued first, see ax_chan_shutdown.
 */
void ax_chan_close(ax_chan *ch);

/*
 * ax_chan_send - queue one frame; the body is copied.
 *
 * Returns 0, or:
 *   AX_EAGAIN   queued bytes are at the high watermark: nothing queued;
 *               wait for on_drain and send again;
 *   AX_EMSGSIZE len over max_frame;
 *   AX_EPIPE or another write error the channel already met;
 *   AX_ENOMEM.
 * Context: loop's thread. The frame is written when the loop runs.
 */
int ax_chan_send(ax_chan *ch, const ax_frame_hdr *hdr, const void *body,
                 size_t len);

/*
 * ax_chan_send_owned - queue one frame whose body is written from where it
 * is, without a copy; for large bodies.
 *
 * Returns as ax_chan_send.
 * Ownership: on success the channel borrows body until it is written or
 * dropped, then calls release(ud, status) once (status 0 when written,
 * else the error that dropped it). On failure release is not called and
 * the caller keeps body. release may call ax_chan_close on the channel.
 */
int ax_chan_send_owned(ax_chan *ch, const ax_frame_hdr *hdr, const void *body,
                       size_t len, void (*release)(void *ud, int status),
                       void *ud);

/*
 * ax_chan_send_urgent - like ax_chan_send but never refused for the
 * watermark: for the few control frames (exit, down) that must not wait.
 * Frames still leave in send order.
 */
int ax_chan_send_urgent(ax_chan *ch, const ax_frame_hdr *hdr, const void *body,
                        size_t len);

/*
 * ax_chan_flush - write what is queued now, without waiting.
 * Returns the bytes still queued (>= 0), or the write error.
 * Context: may call on_drain or on_error; if one of them closes the
 * channel, ch is gone when this returns (the result is still valid).
 */
long ax_chan_flush(ax_chan *ch);

/*
 * ax_chan_shutdown - once every queued frame is written, close the writing
 * side so the peer reads AX_EOF at a frame boundary. Reading goes on.
 * Later sends fail with AX_EPIPE.
 * Returns 0, or AX_EALREADY.
 */
int ax_chan_shutdown(ax_chan *ch);

/*
 * ax_chan_read_stop / ax_chan_read_start - pause and resume delivery (the
 * layer above stops reading while a mailbox is full). Paused, the channel
 * reads nothing more, so the peer's writes back up into its own queue.
 * Inside on_frame, a stop takes effect after the current frame.
 */
void ax_chan_read_stop(ax_chan *ch);
void ax_chan_read_start(ax_chan *ch);

/* ax_chan_queued - bytes waiting to be written. */
size_t ax_chan_queued(const ax_chan *ch);

/* ax_chan_writable - whether a send would be accepted now. */
bool ax_chan_writable(const ax_chan *ch);

/* ax_chan_stats - a snapshot of the channel's counters. */
void ax_chan_stats_get(const ax_chan *ch, ax_chan_stats *out);

/* ax_chan_fds - the fds the channel owns (equal for a socketpair). */
void ax_chan_fds(const ax_chan *ch, int *rfd, int *wfd);

/*
 * ax_frame_take - keep a received body beyond the on_frame call.
 *
 * A body that was read into a buffer of its own is handed over without a
 * copy; a small one is copied. After the call f->body is NULL.
 * Returns the buffer, or NULL if out of memory (f is unchanged then).
 * Ownership: the caller owns the buffer; release it with ax_free (or give
 * it to ax_msg_adopt).
 * Context: inside on_frame only.
 */
void *ax_frame_take(ax_frame *f);

/*
 * ax_chan_pipes - two pipes for a channel between a parent and the child it
 * is about to fork. parent[0] reads what the child writes to child[1];
 * child[0] reads what the parent writes to parent[1]. All four fds are
 * O_CLOEXEC and O_NONBLOCK. After fork each side closes the other's two.
 * Returns 0, or -errno from pipe2(2) (nothing left open then).
 */
int ax_chan_pipes(int parent[2], int child[2]);

#ifdef __cplusplus
}
#endif
#endif /* AXON_CHAN_H */
