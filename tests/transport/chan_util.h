/*
 * tests/transport/chan_util.h - what the ax_chan tests share.
 *
 * Most tests fork. The child closes the parent's ends, runs a fresh libev
 * loop of its own and reports through its exit status (CHILD_CHECK codes,
 * each one distinct within its child function); it never calls cmocka. The
 * parent runs a loop of its own too, asserts on what it saw and on the
 * child's status, and destroys its loop, so no fd outlives a test.
 *
 * Every tests/transport/chan_*_test.c is built with chan_util.c. Its tests
 * are registered with T(fn), and its main calls chan_test_init() first:
 * deadlines scale under valgrind, and CHAN_TEST_FILTER (e.g.
 * "*read_stop*") picks the tests to run.
 */
#ifndef AXON_TESTS_CHAN_UTIL_H
#define AXON_TESTS_CHAN_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

#include <axon/chan.h>

#include "support/testutil.h"

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)
/* The documented defaults of ax_chan_opts. */
#define DEF_MAX_FRAME (64 * MiB)
#define DEF_HIGH_WATER MiB
/* A body this large takes the direct-read path with the default read
 * buffer (the reader's own threshold is ch->rd.direct_min). */
#define LARGE (200 * KiB)
/* The kind of the frame a child reports its counters in. */
#define KIND_REPORT 99

enum link_kind { LINK_PIPES, LINK_SOCKET };

/* The names of the link kinds, for messages. */
extern const char *const kind_name[];

/* Both ends of a parent-child link: equal fds for a socketpair. */
struct link {
    int kind;
    int pr, pw; /* the parent's read and write fds */
    int cr, cw; /* the child's */
};

/* Deadlines are multiplied by this (valgrind is ~20 times slower). */
extern double time_scale;
/* A forked child not reaped yet: teardown kills it if a test failed. */
extern pid_t live_child;

/* --- fds, processes, loops ------------------------------------------------ */

/* Open both ends of a link of kind (a link_kind). */
void link_open(struct link *l, int kind);
/* t_fork and t_wait that remember the child for the teardown. */
pid_t spawn(int (*fn)(void *arg), void *arg);
int reap(pid_t pid);
/* After the fork: drop the other side's ends, make a loop. */
struct ev_loop *child_begin(const struct link *l);
struct ev_loop *parent_begin(const struct link *l);
/* fd is as pipe2(fds, 0) made it: blocking and inheritable. */
bool fd_blocking_inheritable(int fd);

/* --- frame contents ------------------------------------------------------- */

/* Test frame i: a header with every field distinct (hdr_of), a body
 * pattern of a seed that shows any lost, moved or repeated byte, and a
 * sequenced body (its 8-byte number, then the pattern). */
ax_frame_hdr hdr_of(uint64_t i);
bool hdr_is(const ax_frame_hdr *h, uint64_t i);
void pattern_fill(uint8_t *p, size_t len, uint64_t seed);
bool pattern_ok(const uint8_t *p, size_t len, uint64_t seed);
void seq_fill(uint8_t *p, size_t len, uint64_t seq);
bool seq_ok(const ax_frame *f, size_t len, uint64_t seq);
/* The wire format itself: a big-endian length, the 40 bytes before a
 * body. */
void put32(uint8_t *p, uint32_t v);
void wire_header(uint8_t out[AX_FRAME_OVERHEAD], const ax_frame_hdr *h,
                 uint32_t wire_len);

/* --- raw byte scripts a child writes with write(2) ------------------------ */

#define SCRIPT_FRAMES 16

struct script {
    uint8_t *buf;
    size_t len, cap;
    size_t lens[SCRIPT_FRAMES]; /* body length of each whole frame */
    int frames;                 /* whole frames in the script */
};

/* Append bytes; append test frame number s->frames with a pattern body
 * of len bytes; free the script. */
void script_put(struct script *s, const void *p, size_t n);
void script_frame(struct script *s, size_t len);
void script_free(struct script *s);

/* --- a peer: one channel, its callbacks and what they saw ----------------- */

struct peer;
typedef int (*send_fn)(struct peer *p, uint64_t i);
typedef void (*frame_fn)(struct peer *p, ax_frame *f);
typedef void (*error_fn)(struct peer *p, int err);
typedef bool (*cond_fn)(const struct peer *p);

#define MAX_ERRS 8

struct peer {
    struct ev_loop *loop;
    ax_chan *ch; /* NULL once closed */
    /* sending */
    uint64_t to_send;  /* frames to send in all */
    uint64_t sent;     /* frames send accepted */
    uint64_t refused;  /* sends refused with AX_EAGAIN */
    send_fn send_one;  /* send frame i, return what ax_chan_send did */
    bool shut_after;   /* ax_chan_shutdown once everything is sent */
    bool shut;         /* ax_chan_shutdown was called */
    size_t queued_max; /* largest ax_chan_queued seen after a send */
    uint64_t drains;   /* on_drain calls */
    /* receiving */
    frame_fn on_frame; /* checks frame number p->got; may be NULL */
    error_fn on_error; /* runs after the error is recorded; may be NULL */
    uint64_t got;      /* frames delivered */
    int err[MAX_ERRS]; /* errors reported, in order */
    bool read_failed;  /* an error other than EPIPE: reading stopped */
    int nerr;
    uint64_t got_at_err;  /* frames delivered before the first error */
    bool close_on_error;  /* ax_chan_close inside on_error */
    bool close_on_drain;  /* ax_chan_close inside on_drain */
    int64_t close_at;     /* ax_chan_close inside on_frame of this frame */
    uint64_t want;        /* frames a test waits for (got_wanted) */
    uint64_t stop_mask;   /* check_and_stop pauses after frame i if bit i */
    bool have_report;     /* a KIND_REPORT frame arrived */
    ax_chan_stats report; /* the counters it carried */
    int bad;              /* first failed check (its code), 0 if none */
    void *ctx;            /* the test's own state */
};

/* Record the first failed check; send until refused or done (and shut
 * down after if asked). */
void note_bad(struct peer *p, int code);
void peer_pump(struct peer *p);
/* A peer with nothing seen yet; its channel on rfd and wfd. */
void peer_init(struct peer *p, struct ev_loop *loop);
int peer_open(struct peer *p, int rfd, int wfd, const ax_chan_opts *opts);
/* Run p's loop until cond(p) holds (whether it did before the deadline)
 * or for a while, to see that nothing more happens. */
bool run_until(struct peer *p, cond_fn cond, double seconds);
void run_for(struct peer *p, double seconds);
/* Conditions for run_until. */
bool has_error(const struct peer *p);
bool write_closed(const struct peer *p);
bool sent_and_shut(const struct peer *p);
bool report_and_eof(const struct peer *p);
/* Close p's channel and destroy its loop. */
void parent_end(struct peer *p);

/* --- sequenced frames: a sender in one process, a receiver in the other --- */

struct recv_job {
    const struct link *l;
    uint64_t n;          /* frames expected */
    size_t body;         /* their body length (>= 8) */
    unsigned start_ms;   /* sleep this long before reading anything */
    unsigned slow_every; /* sleep slow_us after every slow_every frames */
    unsigned slow_us;
    int sync_fd;     /* >= 0: read one byte from it before starting */
    int sync_unused; /* the other end of the sync pipe, to close */
};

/* on_frame of a receiver: frame p->got is right (p->ctx: the job). */
void recv_check(struct peer *p, ax_frame *f);
/* Child: receive j->n sequenced frames and the sender's EOF, then send
 * the channel's counters back in a KIND_REPORT frame and shut down. */
int receiver_child(void *arg);
struct send_ctx {
    size_t body;
    uint8_t *buf; /* body scratch */
};

/* send_one of a sender: sequenced frame i (p->ctx: a send_ctx). */
int send_seq(struct peer *p, uint64_t i);

/* --- bodies sent without a copy ------------------------------------------- */

struct owned {
    int calls;  /* release calls */
    int status; /* the last status */
    void *buf;  /* freed with ax_free by the release, if set */
};

/* The release of ax_chan_send_owned: counts calls (ud: a struct owned). */
void owned_release(void *ud, int status);

/* --- raw peers: a child writes a script, the parent reads it -------------- */

/* on_frame of a script reader: frame p->got is the script's (p->ctx). */
void check_script_frame(struct peer *p, ax_frame *f);
/* A child writes s over a link of kind; the parent opens a channel on
 * its end (after the child is gone if wait_first; the child stays until
 * the parent closes if linger). Returns the child's pid, or 0 if it was
 * reaped already. */
pid_t open_script(int kind, const struct script *s, bool wait_first,
                  bool linger, struct peer *p);
/* Child: close every end and exit (arg: the link). */
int vanish_child(void *arg);
/* Condition: the channel was closed (by a callback). */
bool closed(const struct peer *p);

/* --- in one process: two channels on one loop ----------------------------- */

/* a (with opts) and b on the two ends of ax_chan_pipes; close both. */
void pair_open(struct ev_loop *loop, struct peer *a, struct peer *b,
               const ax_chan_opts *opts);
void pair_close(struct peer *a, struct peer *b);
/* Callbacks that ignore everything. */
extern const ax_chan_cbs quiet_cbs;

/* --- setup, teardown, main ------------------------------------------------ */

/* Setup and teardown of every test: the teardown kills a child a failed
 * test left behind and ends allocation failures. */
int chan_setup(void **state);
int chan_teardown(void **state);
void chan_test_init(void);

#define T(fn) cmocka_unit_test_setup_teardown(fn, chan_setup, chan_teardown)

#endif /* AXON_TESTS_CHAN_UTIL_H */
