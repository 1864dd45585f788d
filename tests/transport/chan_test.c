/*
 * tests/transport/chan_test.c - ax_chan between two processes.
 *
 * Frames of every size up to max_frame, a million small frames under
 * backpressure, a slow reader, EOF and EPIPE, malformed headers, pausing,
 * closing inside callbacks, shutdown, fd hygiene, writev batching and
 * allocation failures, over ax_chan_pipes and over a socketpair.
 *
 * Most tests fork. The child closes the parent's ends, runs a fresh libev
 * loop of its own and reports through its exit status (CHILD_CHECK codes,
 * each one distinct within its child function); it never calls cmocka. The
 * parent runs a loop of its own too, asserts on what it saw and on the
 * child's status, and destroys its loop, so no fd outlives a test.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>
#include <valgrind/valgrind.h>

#include <axon/alloc.h>
#include <axon/chan.h>
#include <axon/error.h>

#include "base/alloc.h"
#include "support/testutil.h"
#include "transport/chan_internal.h"

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

static const char *const kind_name[] = {"pipes", "socketpair"};

/* Both ends of a parent-child link: equal fds for a socketpair. */
struct link {
    int kind;
    int pr, pw; /* the parent's read and write fds */
    int cr, cw; /* the child's */
};

/* Deadlines are multiplied by this (valgrind is ~20 times slower). */
static double time_scale = 1;
/* A forked child not reaped yet: teardown kills it if a test failed. */
static pid_t live_child;

/* --- fds, processes, loops ------------------------------------------------ */

static void
close_pair(int r, int w)
{
    close(r);
    if (w != r) {
        close(w);
    }
}

static void
link_open(struct link *l, int kind)
{
    int parent[2], child[2], sv[2];

    l->kind = kind;
    if (kind == LINK_PIPES) {
        assert_int_equal(ax_chan_pipes(parent, child), 0);
        l->pr = parent[0];
        l->pw = parent[1];
        l->cr = child[0];
        l->cw = child[1];
    } else {
        assert_int_equal(socketpair(AF_UNIX,
                                    SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                                    0, sv),
                         0);
        l->pr = l->pw = sv[0];
        l->cr = l->cw = sv[1];
    }
}

static pid_t
spawn(int (*fn)(void *arg), void *arg)
{
    live_child = t_fork(fn, arg);
    return live_child;
}

static int
reap(pid_t pid)
{
    int status = t_wait(pid);

    live_child = 0;
    return status;
}

/* In the child: drop the parent's ends, arm a watchdog, make a new loop. */
static struct ev_loop *
child_begin(const struct link *l)
{
    close_pair(l->pr, l->pw);
    alarm((unsigned)(60 * time_scale));
    return ev_loop_new(EVFLAG_AUTO);
}

/* In the parent after the fork: drop the child's ends, make a new loop. */
static struct ev_loop *
parent_begin(const struct link *l)
{
    struct ev_loop *loop;

    close_pair(l->cr, l->cw);
    loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(loop);
    return loop;
}

static int
set_blocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static bool
fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static bool
fd_nonblock_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    int fdfl = fcntl(fd, F_GETFD);

    return fl >= 0 && fdfl >= 0 && (fl & O_NONBLOCK) && (fdfl & FD_CLOEXEC);
}

static bool
fd_blocking_inheritable(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    int fdfl = fcntl(fd, F_GETFD);

    return fl >= 0 && fdfl >= 0 && !(fl & O_NONBLOCK) && !(fdfl & FD_CLOEXEC);
}

/* --- frame contents ------------------------------------------------------- */

/* The header of test frame i: every field distinct, every byte used. */
static ax_frame_hdr
hdr_of(uint64_t i)
{
    ax_frame_hdr h;

    h.kind = (uint8_t)(10 + i % 80);
    h.flags = (uint8_t)(0xf0 | (i & 0x0f));
    h.dst.node = 0x0102030405060708u + i;
    h.dst.id = 0x1112131415161718u;
    h.src.node = 0xa1a2a3a4a5a6a7a8u;
    h.src.id = 0xb1b2b3b4b5b6b7b8u + i;
    return h;
}

static bool
hdr_is(const ax_frame_hdr *h, uint64_t i)
{
    ax_frame_hdr e = hdr_of(i);

    return h->kind == e.kind && h->flags == e.flags &&
           ax_pid_equal(h->dst, e.dst) && ax_pid_equal(h->src, e.src);
}

/* Word i of the body pattern of seed: position-dependent, so a lost, moved
 * or repeated byte anywhere shows. */
static uint64_t
pattern_word(uint64_t seed, size_t i)
{
    uint64_t v = ((seed + 1) << 40) ^ (uint64_t)i;

    v *= 0x9e3779b97f4a7c15u;
    return v ^ (v >> 29);
}

static void
pattern_fill(uint8_t *p, size_t len, uint64_t seed)
{
    uint64_t v;
    size_t i;

    for (i = 0; i + 8 <= len; i += 8) {
        v = pattern_word(seed, i);
        memcpy(p + i, &v, 8);
    }
    if (i < len) {
        v = pattern_word(seed, i);
        memcpy(p + i, &v, len - i);
    }
}

static bool
pattern_ok(const uint8_t *p, size_t len, uint64_t seed)
{
    uint64_t v;
    size_t i;

    for (i = 0; i + 8 <= len; i += 8) {
        v = pattern_word(seed, i);
        if (memcmp(p + i, &v, 8) != 0) {
            return false;
        }
    }
    v = pattern_word(seed, i);
    return i == len || memcmp(p + i, &v, len - i) == 0;
}

/* A sequenced body: the 8-byte sequence number, then the pattern. */
static void
seq_fill(uint8_t *p, size_t len, uint64_t seq)
{
    memcpy(p, &seq, sizeof(seq));
    pattern_fill(p + 8, len - 8, seq);
}

static bool
seq_ok(const ax_frame *f, size_t len, uint64_t seq)
{
    const uint8_t *p = f->body;
    uint64_t got;

    if (f->len != len || !hdr_is(&f->hdr, seq)) {
        return false;
    }
    memcpy(&got, p, sizeof(got));
    return got == seq && pattern_ok(p + 8, len - 8, seq);
}

static void
put32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8) {
        p[i] = (uint8_t)v;
    }
}

static void
put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8) {
        p[i] = (uint8_t)v;
    }
}

/* The 40 bytes before a body, written from the wire format itself. */
static void
wire_header(uint8_t out[AX_FRAME_OVERHEAD], const ax_frame_hdr *h,
            uint32_t wire_len)
{
    put32(out, wire_len);
    out[4] = AX_FRAME_VERSION;
    out[5] = h->kind;
    out[6] = h->flags;
    out[7] = 0;
    put64(out + 8, h->dst.node);
    put64(out + 16, h->dst.id);
    put64(out + 24, h->src.node);
    put64(out + 32, h->src.id);
}

/* --- raw byte scripts a child writes with write(2) ------------------------ */

#define SCRIPT_FRAMES 16

struct script {
    uint8_t *buf;
    size_t len, cap;
    size_t lens[SCRIPT_FRAMES]; /* body length of each whole frame */
    int frames;                 /* whole frames in the script */
};

static void
script_put(struct script *s, const void *p, size_t n)
{
    if (s->len + n > s->cap) {
        s->cap = (s->len + n) * 2;
        s->buf = realloc(s->buf, s->cap);
        assert_non_null(s->buf);
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

/* Append test frame number s->frames with a pattern body of len bytes. */
static void
script_frame(struct script *s, size_t len)
{
    uint8_t head[AX_FRAME_OVERHEAD];
    ax_frame_hdr h = hdr_of((uint64_t)s->frames);
    uint8_t *body = malloc(len ? len : 1);

    assert_non_null(body);
    assert_true(s->frames < SCRIPT_FRAMES);
    wire_header(head, &h, (uint32_t)(AX_FRAME_HEADER + len));
    pattern_fill(body, len, (uint64_t)s->frames);
    script_put(s, head, sizeof(head));
    script_put(s, body, len);
    s->lens[s->frames++] = len;
    free(body);
}

static void
script_free(struct script *s)
{
    free(s->buf);
    memset(s, 0, sizeof(*s));
}

struct raw_job {
    const struct link *l;
    const struct script *s;
    bool linger; /* stay until the parent closes its end */
};

/* Child: write the script with blocking write(2) calls, then close. The
 * parent may close first (EPIPE): that is not the child's failure. */
static int
raw_writer_child(void *arg)
{
    const struct raw_job *j = arg;
    int rc;

    close_pair(j->l->pr, j->l->pw);
    alarm((unsigned)(60 * time_scale));
    signal(SIGPIPE, SIG_IGN);
    CHILD_CHECK(set_blocking(j->l->cw) == 0, 2);
    rc = write_all(j->l->cw, j->s->buf, j->s->len);
    if (j->linger) {
        /* No events asked: poll wakes on POLLERR (pipe) or POLLHUP
         * (socket) once the parent has closed its end. */
        struct pollfd pfd = {j->l->cw, 0, 0};

        while (poll(&pfd, 1, -1) < 1) { /* EINTR */
        }
    }
    close_pair(j->l->cr, j->l->cw);
    CHILD_CHECK(rc == 0 || rc == -EPIPE, 3);
    return 0;
}

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

static void
note_bad(struct peer *p, int code)
{
    if (p->bad == 0) {
        p->bad = code;
    }
}

static void
peer_pump(struct peer *p)
{
    int rc;

    while (p->ch != NULL && p->sent < p->to_send) {
        rc = p->send_one(p, p->sent);
        if (rc == AX_EAGAIN) {
            /* on_drain calls us again: never retry before it */
            p->refused++;
            return;
        }
        if (rc < 0) {
            note_bad(p, 80);
            return;
        }
        p->sent++;
        if (ax_chan_queued(p->ch) > p->queued_max) {
            p->queued_max = ax_chan_queued(p->ch);
        }
    }
    if (p->ch != NULL && p->shut_after && !p->shut && p->sent == p->to_send) {
        p->shut = true;
        if (ax_chan_shutdown(p->ch) != 0) {
            note_bad(p, 81);
        }
    }
}

static void
cb_frame(ax_chan *ch, ax_frame *f, void *ud)
{
    struct peer *p = ud;

    if (p->read_failed) {
        note_bad(p, 82); /* nothing is delivered after a read error */
    }
    if (f->hdr.kind == KIND_REPORT && f->len == sizeof(p->report)) {
        memcpy(&p->report, f->body, sizeof(p->report));
        p->have_report = true;
        return;
    }
    if (p->on_frame != NULL) {
        p->on_frame(p, f);
    }
    if (p->ch != NULL && p->close_at >= 0 && p->got == (uint64_t)p->close_at) {
        ax_chan_close(ch);
        p->ch = NULL;
    }
    p->got++;
}

static void
cb_error(ax_chan *ch, int err, void *ud)
{
    struct peer *p = ud;

    if (p->nerr == 0) {
        p->got_at_err = p->got;
    }
    if (p->nerr < MAX_ERRS) {
        p->err[p->nerr] = err;
    }
    p->nerr++;
    p->read_failed |= err != AX_EPIPE;
    if (p->on_error != NULL) {
        p->on_error(p, err);
    }
    if (p->close_on_error && p->ch != NULL) {
        ax_chan_close(ch);
        p->ch = NULL;
    }
}

static void
cb_drain(ax_chan *ch, void *ud)
{
    struct peer *p = ud;

    p->drains++;
    if (p->close_on_drain) {
        ax_chan_close(ch);
        p->ch = NULL;
        return;
    }
    peer_pump(p);
}

static const ax_chan_cbs peer_cbs = {cb_frame, cb_error, cb_drain};

static void
peer_init(struct peer *p, struct ev_loop *loop)
{
    memset(p, 0, sizeof(*p));
    p->loop = loop;
    p->close_at = -1;
}

static int
peer_open(struct peer *p, int rfd, int wfd, const ax_chan_opts *opts)
{
    return ax_chan_new(p->loop, rfd, wfd, opts, &peer_cbs, p, &p->ch);
}

static int
count_err(const struct peer *p, int err)
{
    int n = 0;

    for (int i = 0; i < p->nerr && i < MAX_ERRS; i++) {
        n += p->err[i] == err;
    }
    return n;
}

static void
on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    *(bool *)w->data = true;
    ev_break(loop, EVBREAK_ONE);
}

struct waiter {
    struct peer *p;
    cond_fn cond;
};

/* Last in the prepare phase: stop before the loop blocks if cond holds. A
 * condition can come true before the poll (a fed event runs on entry to
 * ev_run, a flush runs in the channel's own prepare watcher), and ev_run
 * would then block although there is nothing left to wait for. */
static void
on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    const struct waiter *wt = w->data;

    (void)revents;
    if (wt->cond(wt->p)) {
        ev_break(loop, EVBREAK_ONE);
    }
}

/* Run p's loop until cond(p) holds or seconds pass; returns whether cond(p)
 * held before the deadline. No timer ticks meanwhile: a channel that waits
 * for an unrelated event to make progress stalls here until the deadline,
 * and that is a failure even if cond came true with the deadline. */
static bool
run_until(struct peer *p, cond_fn cond, double seconds)
{
    struct waiter wt = {p, cond};
    bool late = false;
    ev_prepare check;
    ev_timer t;

    ev_now_update(p->loop);
    ev_timer_init(&t, on_deadline, seconds * time_scale, 0);
    t.data = &late;
    ev_timer_start(p->loop, &t);
    ev_prepare_init(&check, on_prepare);
    ev_set_priority(&check, EV_MINPRI);
    check.data = &wt;
    ev_prepare_start(p->loop, &check);
    while (!cond(p) && !late) {
        ev_run(p->loop, EVRUN_ONCE);
    }
    ev_prepare_stop(p->loop, &check);
    ev_timer_stop(p->loop, &t);
    return cond(p) && !late;
}

/* Let the loop run a while: to see that nothing more happens. */
static void
run_for(struct peer *p, double seconds)
{
    bool late = false;
    ev_timer t;

    ev_now_update(p->loop);
    ev_timer_init(&t, on_deadline, seconds, 0);
    t.data = &late;
    ev_timer_start(p->loop, &t);
    while (!late) {
        ev_run(p->loop, EVRUN_ONCE);
    }
    ev_timer_stop(p->loop, &t);
}

static bool
has_error(const struct peer *p)
{
    return p->nerr > 0;
}

static bool
write_closed(const struct peer *p)
{
    int wfd = 0;

    if (p->ch != NULL) {
        ax_chan_fds(p->ch, NULL, &wfd);
    }
    return p->ch != NULL && wfd == -1;
}

/* Everything sent, flushed and the write side closed by the shutdown. */
static bool
sent_and_shut(const struct peer *p)
{
    return p->bad != 0 || p->nerr > 0 ||
           (p->sent == p->to_send && write_closed(p));
}

static bool
report_and_eof(const struct peer *p)
{
    return p->bad != 0 || (p->have_report && p->nerr > 0);
}

static void
parent_end(struct peer *p)
{
    ax_chan_close(p->ch);
    p->ch = NULL;
    ev_loop_destroy(p->loop);
    p->loop = NULL;
}

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

static void
recv_check(struct peer *p, ax_frame *f)
{
    const struct recv_job *j = p->ctx;

    if (!seq_ok(f, j->body, p->got)) {
        note_bad(p, 10);
    }
    if (j->slow_every && (p->got + 1) % j->slow_every == 0) {
        usleep(j->slow_us);
    }
}

/* Child: receive j->n sequenced frames and the sender's EOF, then send the
 * channel's counters back in a KIND_REPORT frame and shut down. */
static int
receiver_child(void *arg)
{
    const struct recv_job *j = arg;
    struct ev_loop *loop = child_begin(j->l);
    ax_chan_stats st;
    struct peer p;
    char c;

    CHILD_CHECK(loop != NULL, 90);
    if (j->sync_fd >= 0) {
        close(j->sync_unused);
        CHILD_CHECK(read(j->sync_fd, &c, 1) == 1, 91);
        close(j->sync_fd);
    }
    usleep(j->start_ms * 1000u);
    peer_init(&p, loop);
    p.ctx = (void *)j;
    p.on_frame = recv_check;
    CHILD_CHECK(peer_open(&p, j->l->cr, j->l->cw, NULL) == 0, 92);
    CHILD_CHECK(run_until(&p, has_error, 60), 2);
    CHILD_CHECK(p.bad == 0, p.bad);
    CHILD_CHECK(p.got == j->n, 3);
    CHILD_CHECK(p.nerr == 1 && p.err[0] == AX_EOF, 4);
    CHILD_CHECK(p.got_at_err == j->n, 5);
    ax_chan_stats_get(p.ch, &st);
    CHILD_CHECK(st.frames_in == j->n, 6);
    CHILD_CHECK(ax_chan_send(p.ch,
                             &(ax_frame_hdr){KIND_REPORT, 0, {0, 0}, {0, 0}},
                             &st, sizeof(st)) == 0,
                7);
    CHILD_CHECK(ax_chan_shutdown(p.ch) == 0, 8);
    CHILD_CHECK(run_until(&p, write_closed, 60), 9);
    ax_chan_close(p.ch);
    ev_loop_destroy(loop);
    return 0;
}

struct send_ctx {
    size_t body;
    uint8_t *buf; /* body scratch */
};

static int
send_seq(struct peer *p, uint64_t i)
{
    struct send_ctx *s = p->ctx;
    ax_frame_hdr h = hdr_of(i);

    seq_fill(s->buf, s->body, i);
    return ax_chan_send(p->ch, &h, s->buf, s->body);
}

struct flood_result {
    ax_chan_stats st;   /* the sender's counters */
    ax_chan_stats peer; /* the receiver's, from its report */
    uint64_t drains;
    size_t queued_max;
    double seconds;
};

/* Parent: send job->n sequenced frames to a receiver_child over a link of
 * kind with opts, respecting backpressure; shut down; collect the report. */
static void
flood(int kind, struct recv_job *job, const ax_chan_opts *opts,
      struct flood_result *r)
{
    struct send_ctx s = {job->body, malloc(job->body)};
    struct link l;
    struct peer p;
    uint64_t t0;
    pid_t pid;

    assert_non_null(s.buf);
    link_open(&l, kind);
    job->l = &l;
    pid = spawn(receiver_child, job);
    peer_init(&p, parent_begin(&l));
    p.ctx = &s;
    p.send_one = send_seq;
    p.to_send = job->n;
    p.shut_after = true;
    t0 = t_now_ns();
    assert_int_equal(peer_open(&p, l.pr, l.pw, opts), 0);
    peer_pump(&p);
    assert_true(run_until(&p, sent_and_shut, 60));
    assert_int_equal(p.bad, 0);
    assert_int_equal(p.nerr, 0);
    assert_true(run_until(&p, report_and_eof, 60));
    r->seconds = (double)(t_now_ns() - t0) / 1e9;
    assert_int_equal(reap(pid), 0);
    assert_int_equal(p.nerr, 1);
    assert_int_equal(p.err[0], AX_EOF);
    ax_chan_stats_get(p.ch, &r->st);
    r->peer = p.report;
    r->drains = p.drains;
    r->queued_max = p.queued_max;
    assert_int_equal(r->st.frames_out, job->n);
    assert_int_equal(r->peer.frames_in, job->n);
    assert_int_equal(p.sent, job->n);
    parent_end(&p);
    free(s.buf);
}

static void
test_chan_million_small_frames_arrive_in_order_under_backpressure(void **state)
{
    /* Under valgrind a tenth: a million would take minutes there. */
    uint64_t n = RUNNING_ON_VALGRIND ? 100000 : 1000000;
    struct recv_job job = {NULL, n, 8, 0, 0, 0, -1, -1};
    struct flood_result r;

    (void)state;
    flood(LINK_PIPES, &job, NULL, &r);
    print_message(
        "  %llu frames over pipes: %.2f s, %llu writev, %llu "
        "reads, queued_peak %zu (high %zu), refused %llu, "
        "drains %llu\n",
        (unsigned long long)n, r.seconds, (unsigned long long)r.st.writes,
        (unsigned long long)r.peer.reads, r.st.queued_peak, DEF_HIGH_WATER,
        (unsigned long long)r.st.refused, (unsigned long long)r.drains);
    /* The sender outran the pipe, was refused and waited for on_drain. */
    assert_true(r.st.refused > 0);
    assert_true(r.drains > 0);
    assert_true(r.st.queued_peak >= DEF_HIGH_WATER);
    assert_true(r.st.queued_peak < DEF_HIGH_WATER + AX_FRAME_OVERHEAD + 8);
    /* Batching: many frames per writev and per read. */
    assert_true(r.st.writes < n / 100);
    assert_true(r.peer.reads < n / 100);
}

static void
test_chan_million_small_frames_arrive_in_order_over_a_socketpair(void **state)
{
    uint64_t n = RUNNING_ON_VALGRIND ? 100000 : 1000000;
    struct recv_job job = {NULL, n, 16, 0, 0, 0, -1, -1};
    struct flood_result r;

    (void)state;
    flood(LINK_SOCKET, &job, NULL, &r);
    print_message("  %llu frames over a socketpair: %.2f s, %llu writev, "
                  "%llu reads\n",
                  (unsigned long long)n, r.seconds,
                  (unsigned long long)r.st.writes,
                  (unsigned long long)r.peer.reads);
    assert_true(r.st.queued_peak < DEF_HIGH_WATER + AX_FRAME_OVERHEAD + 16);
    assert_true(r.st.writes < n / 100);
}

static void
test_chan_slow_reader_keeps_queue_under_high_water_plus_one_frame(void **state)
{
    const size_t body = 1000, frame = AX_FRAME_OVERHEAD + body;
    ax_chan_opts opts = {0, 64 * KiB, 16 * KiB, 0, 0};
    struct recv_job job = {NULL, 2000, body, 100, 50, 2000, -1, -1};
    struct flood_result r;

    (void)state;
    for (int kind = LINK_PIPES; kind <= LINK_SOCKET; kind++) {
        flood(kind, &job, &opts, &r);
        print_message("  slow reader over %s: queued_peak %zu, high %zu + "
                      "frame %zu, refused %llu, drains %llu, %.2f s\n",
                      kind_name[kind], r.st.queued_peak, opts.high_water, frame,
                      (unsigned long long)r.st.refused,
                      (unsigned long long)r.drains, r.seconds);
        assert_true(r.st.queued_peak >= opts.high_water);
        assert_true(r.st.queued_peak < opts.high_water + frame);
        assert_true(r.queued_max <= r.st.queued_peak);
        assert_true(r.st.refused > 0);
        assert_true(r.drains > 0);
        assert_int_equal(r.st.queued, 0);
    }
}

static void
test_chan_sends_from_on_drain_are_written_without_another_event(void **state)
{
    /* A tiny high watermark: every flush empties the queue, so on_drain
     * fires from the flush that runs before the loop blocks, and the frames
     * it sends must still go out without waiting for an unrelated event. */
    ax_chan_opts opts = {0, 4 * KiB, KiB, 0, 0};
    struct recv_job job = {NULL, 20000, 64, 0, 0, 0, -1, -1};
    struct flood_result r;

    (void)state;
    flood(LINK_PIPES, &job, &opts, &r);
    print_message("  drain-driven sender: %llu drains, %.2f s\n",
                  (unsigned long long)r.drains, r.seconds);
    assert_true(r.drains > 100);
    assert_true(r.seconds < 10 * time_scale);
}

static void
test_chan_thousand_frames_sent_at_once_take_one_writev_one_read(void **state)
{
    struct recv_job job = {NULL, 1000, 16, 0, 0, 0, -1, -1};
    struct send_ctx s = {16, malloc(16)};
    int sync[2];
    struct link l;
    struct peer p;
    ax_chan_stats st;
    pid_t pid;

    (void)state;
    assert_non_null(s.buf);
    link_open(&l, LINK_PIPES);
    assert_int_equal(pipe2(sync, O_CLOEXEC), 0);
    job.l = &l;
    job.sync_fd = sync[0];
    job.sync_unused = sync[1];
    pid = spawn(receiver_child, &job);
    close(sync[0]);
    peer_init(&p, parent_begin(&l));
    p.ctx = &s;
    p.send_one = send_seq;
    p.to_send = job.n;
    p.shut_after = true;
    assert_int_equal(peer_open(&p, l.pr, l.pw, NULL), 0);
    peer_pump(&p); /* all 1000 before the loop runs */
    assert_int_equal(p.sent, 1000);
    assert_int_equal(ax_chan_queued(p.ch), 1000 * (AX_FRAME_OVERHEAD + 16));
    assert_true(run_until(&p, sent_and_shut, 30));
    /* Only now the child starts reading: all of it is in the pipe. */
    assert_int_equal(write(sync[1], "g", 1), 1);
    close(sync[1]);
    assert_true(run_until(&p, report_and_eof, 30));
    assert_int_equal(reap(pid), 0);
    ax_chan_stats_get(p.ch, &st);
    print_message("  1000 frames: %llu writev, %llu reads by the receiver\n",
                  (unsigned long long)st.writes,
                  (unsigned long long)p.report.reads);
    assert_true(st.writes >= 1 && st.writes < 3);
    assert_true(p.report.reads >= 1 && p.report.reads < 3);
    assert_int_equal(st.bytes_out, 1000 * (AX_FRAME_OVERHEAD + 16));
    assert_int_equal(p.report.bytes_in, st.bytes_out);
    parent_end(&p);
    free(s.buf);
}

/* --- frames of every size, echoed back ------------------------------------ */

/* The last size is max_frame of the run (set before the fork). */
static size_t sizes[] = {1, 4 * KiB, MiB, DEF_MAX_FRAME};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))
#define MAX_SIZE (sizes[NSIZES - 1])
/* Both ends' options: max_frame 0 (the default) when MAX_SIZE is it. */
static ax_chan_opts sizes_opts;

struct owned {
    int calls;  /* release calls */
    int status; /* the last status */
    void *buf;  /* freed with ax_free by the release, if set */
};

static void
owned_release(void *ud, int status)
{
    struct owned *o = ud;

    o->calls++;
    o->status = status;
    ax_free(o->buf);
    o->buf = NULL;
}

struct sizes_state {
    uint8_t *body[NSIZES];
    struct owned rel[NSIZES];
};

/* Frames of MiB and more are sent without a copy. */
static int
send_sized(struct peer *p, uint64_t i)
{
    struct sizes_state *s = p->ctx;
    ax_frame_hdr h = hdr_of(i);

    if (sizes[i] >= MiB) {
        return ax_chan_send_owned(p->ch, &h, s->body[i], sizes[i],
                                  owned_release, &s->rel[i]);
    }
    return ax_chan_send(p->ch, &h, s->body[i], sizes[i]);
}

static bool
sized_ok(const ax_frame *f, uint64_t i)
{
    return i < NSIZES && hdr_is(&f->hdr, i) && f->len == sizes[i] &&
           pattern_ok(f->body, f->len, i);
}

static void
check_echo(struct peer *p, ax_frame *f)
{
    if (!sized_ok(f, p->got)) {
        note_bad(p, 20 + (int)p->got);
    }
    if (p->got + 1 == NSIZES && ax_chan_shutdown(p->ch) != 0) {
        note_bad(p, 30);
    }
}

/* Child: send one frame of each size (the largest exactly max_frame),
 * check each echo, shut down and wait for the parent's EOF. */
static int
sizes_child(void *arg)
{
    const struct link *l = arg;
    struct ev_loop *loop = child_begin(l);
    ax_frame_hdr h = hdr_of(0);
    struct sizes_state s;
    struct owned over = {0, 0, NULL};
    struct peer p;

    CHILD_CHECK(loop != NULL, 90);
    memset(&s, 0, sizeof(s));
    for (size_t i = 0; i < NSIZES; i++) {
        /* one byte more than the largest, for the oversize checks */
        s.body[i] = malloc(sizes[i] + 1);
        CHILD_CHECK(s.body[i] != NULL, 91);
        pattern_fill(s.body[i], sizes[i], i);
    }
    peer_init(&p, loop);
    p.ctx = &s;
    p.send_one = send_sized;
    p.to_send = NSIZES;
    p.on_frame = check_echo;
    CHILD_CHECK(peer_open(&p, l->cr, l->cw, &sizes_opts) == 0, 92);
    /* max_frame + 1 is refused by both sends, and nothing is queued. */
    CHILD_CHECK(ax_chan_send(p.ch, &h, s.body[NSIZES - 1], MAX_SIZE + 1) ==
                    AX_EMSGSIZE,
                2);
    CHILD_CHECK(ax_chan_send_owned(p.ch, &h, s.body[NSIZES - 1], MAX_SIZE + 1,
                                   owned_release, &over) == AX_EMSGSIZE,
                3);
    CHILD_CHECK(over.calls == 0 && ax_chan_queued(p.ch) == 0, 4);
    peer_pump(&p);
    CHILD_CHECK(run_until(&p, has_error, 60), 5);
    CHILD_CHECK(p.bad == 0, p.bad);
    CHILD_CHECK(p.got == NSIZES, 6);
    CHILD_CHECK(p.nerr == 1 && p.err[0] == AX_EOF, 7);
    CHILD_CHECK(p.refused > 0 && p.drains > 0, 8); /* 64 MiB had to wait */
    for (size_t i = 0; i < NSIZES; i++) {
        if (sizes[i] >= MiB) { /* released once, as written */
            CHILD_CHECK(s.rel[i].calls == 1 && s.rel[i].status == 0, 40 + i);
        }
        free(s.body[i]);
    }
    ax_chan_close(p.ch);
    ev_loop_destroy(loop);
    return 0;
}

struct echo_state {
    struct owned rel[NSIZES];
    void *body[NSIZES]; /* taken bodies waiting to be echoed */
    size_t len[NSIZES];
    bool direct[NSIZES]; /* the body came in a buffer of its own */
};

static int
send_echo(struct peer *p, uint64_t i)
{
    struct echo_state *e = p->ctx;
    ax_frame_hdr h = hdr_of(i);
    int rc;

    e->rel[i].buf = e->body[i];
    rc = ax_chan_send_owned(p->ch, &h, e->body[i], e->len[i], owned_release,
                            &e->rel[i]);
    if (rc < 0) {
        e->rel[i].buf = NULL; /* still ours */
    }
    return rc;
}

/* Parent: check a frame, keep its body without a copy and echo it. */
static void
echo_frame(struct peer *p, ax_frame *f)
{
    struct echo_state *e = p->ctx;
    uint64_t i = p->got;
    const void *body = f->body;

    if (!sized_ok(f, i)) {
        note_bad(p, 20 + (int)i);
        return;
    }
    e->direct[i] = f->own != NULL;
    e->len[i] = f->len;
    e->body[i] = ax_frame_take(f);
    if (e->body[i] == NULL || f->body != NULL ||
        (e->direct[i] && e->body[i] != body)) {
        note_bad(p, 30 + (int)i);
        return;
    }
    p->to_send++;
    peer_pump(p);
}

static void
shutdown_on_eof(struct peer *p, int err)
{
    if (err == AX_EOF && ax_chan_shutdown(p->ch) != 0) {
        note_bad(p, 40);
    }
}

static bool
eof_and_shut(const struct peer *p)
{
    return p->bad != 0 || (p->nerr > 0 && write_closed(p));
}

/* Frames of 1 B, 4 KiB, 1 MiB and max_frame (0: the default, 64 MiB) over
 * a link of kind, echoed back. */
static void
frames_of_every_size_arrive_intact(int kind, size_t max_frame)
{
    struct echo_state e;
    ax_chan_stats st;
    struct link l;
    struct peer p;
    uint8_t dummy[8] = {0};
    ax_frame_hdr h = hdr_of(0);
    uint64_t t0 = t_now_ns();
    pid_t pid;

    memset(&e, 0, sizeof(e));
    sizes_opts = (ax_chan_opts){max_frame, 0, 0, 0, 0};
    MAX_SIZE = max_frame ? max_frame : DEF_MAX_FRAME;
    link_open(&l, kind);
    pid = spawn(sizes_child, &l);
    peer_init(&p, parent_begin(&l));
    p.ctx = &e;
    p.send_one = send_echo;
    p.on_frame = echo_frame;
    p.on_error = shutdown_on_eof;
    assert_int_equal(peer_open(&p, l.pr, l.pw, &sizes_opts), 0);
    /* The size check comes first: the body is never touched. */
    assert_int_equal(ax_chan_send_owned(p.ch, &h, dummy, MAX_SIZE + 1,
                                        owned_release, &e.rel[0]),
                     AX_EMSGSIZE);
    assert_int_equal(e.rel[0].calls, 0);
    assert_true(run_until(&p, eof_and_shut, 60));
    assert_int_equal(reap(pid), 0);
    assert_int_equal(p.bad, 0);
    assert_int_equal(p.got, NSIZES);
    assert_int_equal(p.nerr, 1);
    assert_int_equal(p.err[0], AX_EOF);
    for (size_t i = 0; i < NSIZES; i++) {
        assert_int_equal(e.rel[i].calls, 1);
        assert_int_equal(e.rel[i].status, 0);
        assert_int_equal(e.direct[i], sizes[i] >= p.ch->rd.direct_min);
    }
    ax_chan_stats_get(p.ch, &st);
    assert_int_equal(st.frames_in, NSIZES);
    assert_int_equal(st.frames_out, NSIZES);
    assert_int_equal(st.bytes_in, st.bytes_out);
    print_message("  1 B, 4 KiB, 1 MiB, %zu MiB over %s and back: %.2f s\n",
                  MAX_SIZE / MiB, kind_name[kind],
                  (double)(t_now_ns() - t0) / 1e9);
    parent_end(&p);
}

static void
test_chan_frames_up_to_max_frame_arrive_intact_over_pipes(void **state)
{
    (void)state;
    frames_of_every_size_arrive_intact(LINK_PIPES, 0);
}

static void
test_chan_frames_up_to_max_frame_arrive_intact_over_a_socketpair(void **state)
{
    (void)state;
    /* Valgrind checks every writev's and read's whole buffer, so a 64 MiB
     * body costs (calls x 64 MiB); a socket takes ~200 KiB per call, which
     * makes that minutes. There it runs with a smaller max_frame. */
    frames_of_every_size_arrive_intact(LINK_SOCKET,
                                       RUNNING_ON_VALGRIND ? 8 * MiB : 0);
}

/* --- raw peers: EOF, truncation, malformed headers ------------------------ */

static void
check_script_frame(struct peer *p, ax_frame *f)
{
    const struct script *s = p->ctx;
    uint64_t i = p->got;

    if (i >= (uint64_t)s->frames || !hdr_is(&f->hdr, i) ||
        f->len != s->lens[i] || !pattern_ok(f->body, f->len, i)) {
        note_bad(p, 50 + (int)i);
    } else if ((f->own != NULL) != (f->len >= p->ch->rd.direct_min)) {
        note_bad(p, 70 + (int)i); /* large bodies take the direct path */
    }
}

/* A child writes s over a link of kind; the parent opens a channel on its
 * end (after the child is gone if wait_first). Returns the child's pid, or
 * 0 if it was reaped already. */
static pid_t
open_script(int kind, const struct script *s, bool wait_first, bool linger,
            struct peer *p)
{
    struct raw_job job;
    struct link l;
    pid_t pid;

    link_open(&l, kind);
    job.l = &l;
    job.s = s;
    job.linger = linger;
    pid = spawn(raw_writer_child, &job);
    peer_init(p, parent_begin(&l));
    p->ctx = (void *)s;
    p->on_frame = check_script_frame;
    if (wait_first) {
        assert_int_equal(reap(pid), 0);
        pid = 0;
    }
    assert_int_equal(peer_open(p, l.pr, l.pw, NULL), 0);
    return pid;
}

/* Read a script until the channel reports an error, and a little longer. */
static void
read_script(int kind, const struct script *s, struct peer *p)
{
    pid_t pid = open_script(kind, s, false, false, p);

    assert_true(run_until(p, has_error, 30));
    run_for(p, 0.05); /* nothing more may come */
    /* The child may still be writing what will never be read. */
    ax_chan_close(p->ch);
    p->ch = NULL;
    assert_int_equal(reap(pid), 0);
}

struct end_case {
    const char *what;
    size_t bodies[4]; /* whole frames before the end (0-terminated list) */
    int nbodies;
    size_t cut_body; /* then a frame with this body ... */
    size_t cut_keep; /* ... of which only this many bytes are written */
    int err;         /* the error expected */
};

static void
test_chan_peer_end_is_eof_at_boundary_and_truncated_mid_frame(void **state)
{
    static const struct end_case cases[] = {
        {"nothing at all", {0}, 0, 0, 0, AX_EOF},
        {"after small frames", {100, 1, 0, 4000}, 4, 0, 0, AX_EOF},
        {"after a large frame", {100, LARGE}, 2, 0, 0, AX_EOF},
        {"in a header", {100, 200}, 2, 100, 20, AX_ETRUNCATED},
        {"after a header", {100}, 1, 100, 40, AX_ETRUNCATED},
        {"in a small body", {100, 200}, 2, 100, 90, AX_ETRUNCATED},
        {"in a large body", {100, 200}, 2, LARGE, 100 * KiB, AX_ETRUNCATED},
        {"in a large body after a large frame",
         {300 * KiB},
         1,
         LARGE,
         150 * KiB,
         AX_ETRUNCATED},
    };
    struct script s;
    struct peer p;

    (void)state;
    for (int kind = LINK_PIPES; kind <= LINK_SOCKET; kind++) {
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
            const struct end_case *k = &cases[c];

            memset(&s, 0, sizeof(s));
            for (int i = 0; i < k->nbodies; i++) {
                script_frame(&s, k->bodies[i]);
            }
            if (k->cut_keep > 0) {
                script_frame(&s, k->cut_body);
                s.frames--;
                s.len -= AX_FRAME_OVERHEAD + k->cut_body - k->cut_keep;
            }
            print_message("  end %s over %s\n", k->what, kind_name[kind]);
            read_script(kind, &s, &p);
            assert_int_equal(p.bad, 0);
            assert_int_equal(p.got, k->nbodies);
            assert_int_equal(p.nerr, 1);
            assert_int_equal(p.err[0], k->err);
            assert_int_equal(p.got_at_err, k->nbodies);
            parent_end(&p);
            script_free(&s);
        }
    }
}

struct bad_case {
    const char *what;
    uint32_t len; /* the length field; 0: a well-formed one */
    int at;       /* byte to overwrite with val (0: none) */
    uint8_t val;
    bool bare; /* only the 4 length bytes, no header after them */
    int err;   /* expected; 0: AX_EPROTO or AX_EMSGSIZE */
};

static void
test_chan_malformed_header_stops_delivery_with_one_error(void **state)
{
    static const struct bad_case cases[] = {
        {"length 0xffffffff", 0xffffffffu, 0, 0, false, AX_EMSGSIZE},
        {"length max_frame + 1",
         (uint32_t)(AX_FRAME_HEADER + DEF_MAX_FRAME + 1), 0, 0, false,
         AX_EMSGSIZE},
        {"length 0", 0u, 0, 0, false, AX_EPROTO},
        {"length 35", 35, 0, 0, false, AX_EPROTO},
        {"version 2", 0, 4, 2, false, AX_EPROTO},
        {"version 0", 0, 4, 0, false, AX_EPROTO},
        {"reserved byte 1", 0, 7, 1, false, AX_EPROTO},
        {"bare 0xffffffff", 0xffffffffu, 0, 0, true, 0},
    };
    uint8_t head[AX_FRAME_OVERHEAD];
    ax_frame_hdr h = hdr_of(2);
    struct script s;
    struct peer p;

    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const struct bad_case *k = &cases[c];

        memset(&s, 0, sizeof(s));
        script_frame(&s, 100);
        script_frame(&s, 3000);
        wire_header(head, &h, AX_FRAME_HEADER + 100);
        if (k->len != 0 || k->at == 0) {
            put32(head, k->len);
        }
        if (k->at != 0) {
            head[k->at] = k->val;
        }
        script_put(&s, head, k->bare ? 4 : sizeof(head));
        if (!k->bare) {
            script_put(&s, s.buf + AX_FRAME_OVERHEAD, 100); /* its body */
        }
        /* Then well-formed frames that must never be delivered. */
        script_frame(&s, 100);
        script_frame(&s, LARGE);
        script_frame(&s, 10);
        print_message("  %s\n", k->what);
        read_script(LINK_PIPES, &s, &p);
        assert_int_equal(p.bad, 0);
        assert_int_equal(p.got, 2);
        assert_int_equal(p.nerr, 1);
        if (k->err != 0) {
            assert_int_equal(p.err[0], k->err);
        } else {
            assert_true(p.err[0] == AX_EPROTO || p.err[0] == AX_EMSGSIZE);
        }
        assert_true(strlen(ax_error_detail()) > 0);
        parent_end(&p);
        script_free(&s);
    }
}

/* --- pausing -------------------------------------------------------------- */

/* Check a script frame and pause inside on_frame where the mask says. */
static void
check_and_stop(struct peer *p, ax_frame *f)
{
    check_script_frame(p, f);
    if (p->got < 64 && (p->stop_mask >> p->got & 1)) {
        ax_chan_read_stop(p->ch);
    }
}

static bool
got_wanted(const struct peer *p)
{
    return p->bad != 0 || p->nerr > 0 || p->got >= p->want;
}

struct stop_case {
    const char *what;
    size_t bodies[10];
    int n;
    uint64_t stop_mask; /* frames whose on_frame calls ax_chan_read_stop */
    bool wait_first;    /* the writer is gone before reading starts */
};

static void
test_chan_read_stop_in_on_frame_pauses_after_that_frame(void **state)
{
    static const struct stop_case cases[] = {
        {"small frames, all buffered",
         {100, 400, 700, 1000, 1300, 1600, 1900, 2200, 2500, 2800},
         10,
         1u << 2 | 1u << 5,
         true},
        {"large frames, writer still writing",
         {100, LARGE, 100, LARGE, 100},
         5,
         1u << 1 | 1u << 3,
         false},
    };
    ax_chan_stats st;
    uint64_t reads;
    struct script s;
    struct peer p;
    pid_t pid;

    (void)state;
    for (int kind = LINK_PIPES; kind <= LINK_SOCKET; kind++) {
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
            const struct stop_case *k = &cases[c];

            memset(&s, 0, sizeof(s));
            for (int i = 0; i < k->n; i++) {
                script_frame(&s, k->bodies[i]);
            }
            pid = open_script(kind, &s, k->wait_first, false, &p);
            p.on_frame = check_and_stop;
            p.stop_mask = k->stop_mask;
            for (int i = 0; i < k->n; i++) {
                if (!(k->stop_mask >> i & 1)) {
                    continue;
                }
                /* Delivery stops right after frame i ... */
                p.want = (uint64_t)i + 1;
                assert_true(run_until(&p, got_wanted, 10));
                ax_chan_stats_get(p.ch, &st);
                reads = st.reads;
                run_for(&p, 0.1);
                ax_chan_stats_get(p.ch, &st);
                assert_int_equal(p.got, i + 1);
                assert_int_equal(st.frames_in, i + 1);
                assert_int_equal(st.reads, reads); /* ... nothing read */
                assert_int_equal(p.nerr, 0);
                /* ... and resumes from the loop, not inside the call. */
                ax_chan_read_start(p.ch);
                assert_int_equal(p.got, i + 1);
            }
            assert_true(run_until(&p, has_error, 10));
            assert_int_equal(p.bad, 0);
            assert_int_equal(p.got, k->n);
            assert_int_equal(p.nerr, 1);
            assert_int_equal(p.err[0], AX_EOF);
            assert_int_equal(p.got_at_err, k->n);
            if (pid > 0) {
                assert_int_equal(reap(pid), 0);
            }
            ax_chan_stats_get(p.ch, &st);
            print_message("  %s over %s: %llu reads\n", k->what,
                          kind_name[kind], (unsigned long long)st.reads);
            parent_end(&p);
            script_free(&s);
        }
    }
}

/* --- EPIPE ---------------------------------------------------------------- */

static int
vanish_child(void *arg)
{
    const struct link *l = arg;

    close_pair(l->pr, l->pw);
    close_pair(l->cr, l->cw);
    return 0;
}

static bool
epipe_and_eof(const struct peer *p)
{
    return count_err(p, AX_EPIPE) > 0 && count_err(p, AX_EOF) > 0;
}

static void
test_chan_write_to_closed_peer_is_epipe_not_sigpipe(void **state)
{
    uint8_t *big = calloc(1, 256 * KiB);
    struct owned rel = {0, 0, NULL}, rel2 = {0, 0, NULL};
    ax_frame_hdr h = hdr_of(0);
    struct sigaction sa;
    struct link l;
    struct peer p;
    pid_t pid;

    (void)state;
    assert_non_null(big);
    for (int kind = LINK_PIPES; kind <= LINK_SOCKET; kind++) {
        memset(&rel, 0, sizeof(rel));
        memset(&rel2, 0, sizeof(rel2));
        link_open(&l, kind);
        pid = spawn(vanish_child, &l);
        assert_int_equal(reap(pid), 0); /* the peer is gone for sure */
        peer_init(&p, parent_begin(&l));
        assert_int_equal(peer_open(&p, l.pr, l.pw, NULL), 0);
        assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
        assert_true(sa.sa_handler == SIG_IGN);
        assert_int_equal(ax_chan_send(p.ch, &h, "x", 1), 0);
        assert_int_equal(
            ax_chan_send_owned(p.ch, &h, big, 256 * KiB, owned_release, &rel),
            0);
        assert_true(run_until(&p, epipe_and_eof, 10));
        assert_int_equal(count_err(&p, AX_EPIPE), 1);
        assert_int_equal(count_err(&p, AX_EOF), 1);
        assert_int_equal(p.nerr, 2);
        /* The dropped owned body was released once, with the error. */
        assert_int_equal(rel.calls, 1);
        assert_int_equal(rel.status, AX_EPIPE);
        assert_int_equal(ax_chan_queued(p.ch), 0);
        /* Every later send fails the same way and changes nothing. */
        assert_int_equal(ax_chan_send(p.ch, &h, "x", 1), AX_EPIPE);
        assert_int_equal(ax_chan_send_urgent(p.ch, &h, "x", 1), AX_EPIPE);
        assert_int_equal(
            ax_chan_send_owned(p.ch, &h, big, 256 * KiB, owned_release, &rel2),
            AX_EPIPE);
        assert_int_equal(rel2.calls, 0);
        assert_false(ax_chan_writable(p.ch));
        assert_int_equal(ax_chan_flush(p.ch), AX_EPIPE);
        run_for(&p, 0.02);
        assert_int_equal(p.nerr, 2);
        parent_end(&p);
    }
    free(big);
}

/* --- closing inside callbacks --------------------------------------------- */

static bool
closed(const struct peer *p)
{
    return p->ch == NULL;
}

static void
test_chan_close_inside_on_frame_is_safe_and_cancels_the_queue(void **state)
{
    static const int64_t close_at[] = {1, 3, 5};
    const size_t big_len = 4 * MiB; /* more than any pipe or socket holds */
    uint8_t *big = calloc(1, big_len);
    ax_chan *first = ax__chan_first();
    ax_frame_hdr h = hdr_of(0);
    struct owned rel;
    struct script s;
    struct peer p;
    pid_t pid;

    (void)state;
    assert_non_null(big);
    memset(&s, 0, sizeof(s));
    script_frame(&s, 100);
    script_frame(&s, 200);
    script_frame(&s, 300);
    script_frame(&s, LARGE); /* frame 3 comes by the direct path */
    script_frame(&s, 100);
    script_frame(&s, 100);
    script_frame(&s, 100);
    for (int kind = LINK_PIPES; kind <= LINK_SOCKET; kind++) {
        for (size_t c = 0; c < sizeof(close_at) / sizeof(close_at[0]); c++) {
            memset(&rel, 0, sizeof(rel));
            pid = open_script(kind, &s, false, true, &p);
            p.close_at = close_at[c];
            /* The raw child never reads: this body is still queued when
             * on_frame closes the channel. */
            assert_int_equal(
                ax_chan_send_owned(p.ch, &h, big, big_len, owned_release, &rel),
                0);
            assert_true(run_until(&p, closed, 30));
            assert_int_equal(reap(pid), 0);
            assert_int_equal(p.bad, 0);
            assert_int_equal(p.got, close_at[c] + 1);
            assert_int_equal(p.nerr, 0);
            assert_int_equal(rel.calls, 1);
            assert_int_equal(rel.status, AX_ECANCELED);
            assert_ptr_equal(ax__chan_first(), first); /* unlinked */
            parent_end(&p);
        }
    }
    script_free(&s);
    free(big);
}

static void
test_chan_close_inside_on_error_is_safe(void **state)
{
    uint8_t *big = calloc(1, 256 * KiB);
    ax_frame_hdr h = hdr_of(0);
    struct owned rel;
    struct script s;
    struct link l;
    struct peer p;
    pid_t pid;

    (void)state;
    assert_non_null(big);
    for (int kind = LINK_PIPES; kind <= LINK_SOCKET; kind++) {
        /* Reading errors: a clean end, a cut small frame, a cut big one. */
        for (int c = 0; c < 3; c++) {
            memset(&s, 0, sizeof(s));
            script_frame(&s, 100);
            script_frame(&s, LARGE);
            if (c > 0) {
                size_t body = c == 1 ? 100 : LARGE;

                script_frame(&s, body);
                s.frames--;
                s.len -= body / 2;
            }
            pid = open_script(kind, &s, false, false, &p);
            p.close_on_error = true;
            assert_true(run_until(&p, closed, 30));
            assert_int_equal(reap(pid), 0);
            assert_int_equal(p.bad, 0);
            assert_int_equal(p.got, 2);
            assert_int_equal(p.nerr, 1);
            assert_int_equal(p.err[0], c == 0 ? AX_EOF : AX_ETRUNCATED);
            parent_end(&p);
            script_free(&s);
        }
        /* A write error, met by the flush before the loop blocks (c == 0)
         * or inside ax_chan_flush (c == 1), which must not touch the
         * channel its on_error closed. */
        for (int c = 0; c < 2; c++) {
            memset(&rel, 0, sizeof(rel));
            link_open(&l, kind);
            pid = spawn(vanish_child, &l);
            assert_int_equal(reap(pid), 0);
            peer_init(&p, parent_begin(&l));
            p.close_on_error = true;
            assert_int_equal(peer_open(&p, l.pr, l.pw, NULL), 0);
            assert_int_equal(ax_chan_send(p.ch, &h, "x", 1), 0);
            assert_int_equal(ax_chan_send_owned(p.ch, &h, big, 256 * KiB,
                                                owned_release, &rel),
                             0);
            if (c == 0) {
                assert_true(run_until(&p, closed, 10));
            } else {
                assert_int_equal(ax_chan_flush(p.ch), AX_EPIPE);
                assert_null(p.ch);
            }
            assert_int_equal(p.nerr, 1);
            assert_int_equal(p.err[0], AX_EPIPE);
            assert_int_equal(rel.calls, 1); /* dropped once, by the error */
            assert_int_equal(rel.status, AX_EPIPE);
            parent_end(&p);
        }
    }
    free(big);
}

/* --- shutdown ------------------------------------------------------------- */

static void
test_chan_shutdown_delivers_every_queued_frame_then_eof(void **state)
{
    static const uint64_t counts[] = {0, 3000};
    uint8_t big[32 * KiB];
    ax_frame_hdr h = hdr_of(0);
    struct owned rel = {0, 0, NULL};
    struct recv_job job;
    struct send_ctx s = {200, malloc(200)};
    struct link l;
    struct peer p;
    size_t queued;
    pid_t pid;

    (void)state;
    assert_non_null(s.buf);
    memset(big, 0, sizeof(big));
    for (int kind = LINK_PIPES; kind <= LINK_SOCKET; kind++) {
        for (size_t c = 0; c < 2; c++) {
            job = (struct recv_job){&l, counts[c], 200, 0, 0, 0, -1, -1};
            link_open(&l, kind);
            pid = spawn(receiver_child, &job);
            peer_init(&p, parent_begin(&l));
            p.ctx = &s;
            p.send_one = send_seq;
            p.to_send = job.n;
            assert_int_equal(peer_open(&p, l.pr, l.pw, NULL), 0);
            peer_pump(&p);
            assert_int_equal(p.sent, job.n); /* all queued, none written */
            queued = ax_chan_queued(p.ch);
            assert_int_equal(queued, job.n * (AX_FRAME_OVERHEAD + 200));
            assert_int_equal(ax_chan_shutdown(p.ch), 0);
            p.shut = true;
            assert_int_equal(ax_chan_shutdown(p.ch), AX_EALREADY);
            assert_int_equal(ax_chan_send(p.ch, &h, "x", 1), AX_EPIPE);
            assert_int_equal(ax_chan_send_urgent(p.ch, &h, "x", 1), AX_EPIPE);
            assert_int_equal(ax_chan_send_owned(p.ch, &h, big, sizeof(big),
                                                owned_release, &rel),
                             AX_EPIPE);
            assert_int_equal(rel.calls, 0);
            assert_false(ax_chan_writable(p.ch));
            assert_int_equal(ax_chan_queued(p.ch), queued);
            assert_true(run_until(&p, sent_and_shut, 30));
            assert_int_equal(p.nerr, 0);
            /* Reading goes on: the child's report comes after our EOF. */
            assert_true(run_until(&p, report_and_eof, 30));
            assert_int_equal(reap(pid), 0);
            assert_int_equal(p.report.frames_in, job.n);
            assert_int_equal(p.nerr, 1);
            assert_int_equal(p.err[0], AX_EOF);
            assert_int_equal(ax_chan_shutdown(p.ch), AX_EALREADY);
            parent_end(&p);
        }
    }
    free(s.buf);
}

/* --- a paused reader ------------------------------------------------------ */

static bool
all_sent(const struct peer *p)
{
    return p->bad != 0 || p->nerr > 0 || p->sent == p->to_send;
}

/* Child: send j->n sequenced frames as fast as backpressure allows, then
 * its counters in a KIND_REPORT frame, and shut down. */
static int
sender_child(void *arg)
{
    const struct recv_job *j = arg;
    struct ev_loop *loop = child_begin(j->l);
    struct send_ctx s = {j->body, malloc(j->body)};
    ax_chan_stats st;
    struct peer p;

    CHILD_CHECK(loop != NULL && s.buf != NULL, 90);
    peer_init(&p, loop);
    p.ctx = &s;
    p.send_one = send_seq;
    p.to_send = j->n;
    CHILD_CHECK(peer_open(&p, j->l->cr, j->l->cw, NULL) == 0, 92);
    peer_pump(&p);
    CHILD_CHECK(run_until(&p, all_sent, 60), 2);
    CHILD_CHECK(p.bad == 0 && p.nerr == 0, 3);
    ax_chan_stats_get(p.ch, &st);
    CHILD_CHECK(ax_chan_send_urgent(
                    p.ch, &(ax_frame_hdr){KIND_REPORT, 0, {0, 0}, {0, 0}}, &st,
                    sizeof(st)) == 0,
                4);
    CHILD_CHECK(ax_chan_shutdown(p.ch) == 0, 5);
    CHILD_CHECK(run_until(&p, write_closed, 60), 6);
    ax_chan_close(p.ch);
    ev_loop_destroy(loop);
    free(s.buf);
    return 0;
}

static int
bytes_waiting(int fd)
{
    int n = -1;

    return ioctl(fd, FIONREAD, &n) < 0 ? -1 : n;
}

static void
test_chan_read_stop_leaves_data_unread_and_backs_up_the_peer(void **state)
{
    const size_t body = 64, frame = AX_FRAME_OVERHEAD + body;
    struct recv_job job = {NULL, 50000, body, 0, 0, 0, -1, -1};
    ax_chan_stats st;
    uint64_t t0;
    struct link l;
    struct peer p;
    pid_t pid;

    (void)state;
    link_open(&l, LINK_PIPES);
    job.l = &l;
    pid = spawn(sender_child, &job);
    peer_init(&p, parent_begin(&l));
    p.ctx = &job;
    p.on_frame = recv_check;
    assert_int_equal(peer_open(&p, l.pr, l.pw, NULL), 0);
    ax_chan_read_stop(p.ch);
    /* Wait until the child has filled the pipe. */
    t0 = t_now_ns();
    while (bytes_waiting(l.pr) < 4096 &&
           t_now_ns() - t0 < (uint64_t)(10e9 * time_scale)) {
        run_for(&p, 0.01);
    }
    assert_true(bytes_waiting(l.pr) >= 4096);
    run_for(&p, 0.1);
    ax_chan_stats_get(p.ch, &st);
    assert_int_equal(st.reads, 0);
    assert_int_equal(p.got, 0);
    ax_chan_read_start(p.ch);
    assert_true(run_until(&p, report_and_eof, 60));
    assert_int_equal(reap(pid), 0);
    assert_int_equal(p.bad, 0);
    assert_int_equal(p.got, job.n);
    assert_int_equal(p.nerr, 1);
    assert_int_equal(p.err[0], AX_EOF);
    /* The sender waited: refused, its queue at the watermark, no more. */
    assert_int_equal(p.report.frames_out, job.n);
    assert_true(p.report.refused > 0);
    assert_true(p.report.queued_peak >= DEF_HIGH_WATER);
    assert_true(p.report.queued_peak < DEF_HIGH_WATER + frame);
    parent_end(&p);
}

/* --- in one process: fds, options, urgent frames, allocation failures ----- */

static void
pair_open(struct ev_loop *loop, struct peer *a, struct peer *b,
          const ax_chan_opts *opts)
{
    int parent[2], child[2];

    assert_int_equal(ax_chan_pipes(parent, child), 0);
    peer_init(a, loop);
    peer_init(b, loop);
    assert_int_equal(peer_open(a, parent[0], parent[1], opts), 0);
    assert_int_equal(peer_open(b, child[0], child[1], NULL), 0);
}

static void
pair_close(struct peer *a, struct peer *b)
{
    ax_chan_close(a->ch);
    ax_chan_close(b->ch);
    a->ch = b->ch = NULL;
}

static void
ignore_frame(ax_chan *ch, ax_frame *f, void *ud)
{
    (void)ch;
    (void)f;
    (void)ud;
}

static void
ignore_error(ax_chan *ch, int err, void *ud)
{
    (void)ch;
    (void)err;
    (void)ud;
}

static const ax_chan_cbs quiet_cbs = {ignore_frame, ignore_error, NULL};

static int
listed(const ax_chan *ch)
{
    for (ax_chan *c = ax__chan_first(); c != NULL; c = ax__chan_next(c)) {
        if (c == ch) {
            return 1;
        }
    }
    return 0;
}

static void
test_chan_fds_are_nonblocking_cloexec_and_closed_by_close(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    ax_chan_opts opts = {0, 0, 0, 0, MiB};
    int fds[2], sv[2], parent[2], child[2], r, w;
    ax_chan *first = ax__chan_first(), *ch;
    char c;

    (void)state;
    assert_non_null(loop);
    /* Two plain blocking, inheritable pipe ends become the channel's. */
    assert_int_equal(pipe2(fds, 0), 0);
    assert_true(fd_blocking_inheritable(fds[0]));
    assert_int_equal(
        ax_chan_new(loop, fds[0], fds[1], &opts, &quiet_cbs, NULL, &ch), 0);
    assert_true(fd_nonblock_cloexec(fds[0]));
    assert_true(fd_nonblock_cloexec(fds[1]));
    assert_true(fcntl(fds[1], F_GETPIPE_SZ) >= (int)MiB);
    ax_chan_fds(ch, &r, &w);
    assert_int_equal(r, fds[0]);
    assert_int_equal(w, fds[1]);
    assert_ptr_equal(ax__chan_first(), ch);
    ax_chan_close(ch);
    assert_false(fd_is_open(fds[0]));
    assert_false(fd_is_open(fds[1]));
    assert_ptr_equal(ax__chan_first(), first);
    ax_chan_close(NULL);

    /* Every open channel is on the list a forked child walks to close
     * what is not its own; a closed one is not. */
    {
        int p1[2], p2[2];
        ax_chan *c1, *c2;

        assert_int_equal(pipe2(p1, 0), 0);
        assert_int_equal(pipe2(p2, 0), 0);
        assert_int_equal(
            ax_chan_new(loop, p1[0], p1[1], NULL, &quiet_cbs, NULL, &c1), 0);
        assert_int_equal(
            ax_chan_new(loop, p2[0], p2[1], NULL, &quiet_cbs, NULL, &c2), 0);
        assert_int_equal(listed(c1) + listed(c2), 2);
        ax_chan_close(c1);
        assert_true(listed(c2));
        assert_ptr_equal(ax__chan_first(), c2);
        assert_ptr_equal(ax__chan_next(c2), first);
        ax_chan_close(c2);
        assert_ptr_equal(ax__chan_first(), first);
        for (int i = 0; i < 2; i++) {
            assert_false(fd_is_open(p1[i]) || fd_is_open(p2[i]));
        }
    }

    /* A socketpair end is both fds; close closes it once. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(
        ax_chan_new(loop, sv[0], sv[0], NULL, &quiet_cbs, NULL, &ch), 0);
    assert_true(fd_nonblock_cloexec(sv[0]));
    ax_chan_fds(ch, &r, &w);
    assert_int_equal(r, sv[0]);
    assert_int_equal(w, sv[0]);
    ax_chan_close(ch);
    assert_false(fd_is_open(sv[0]));
    close(sv[1]);

    /* ax_chan_pipes: four nonblocking close-on-exec fds, wired across. */
    assert_int_equal(ax_chan_pipes(parent, child), 0);
    for (int i = 0; i < 2; i++) {
        assert_true(fd_nonblock_cloexec(parent[i]));
        assert_true(fd_nonblock_cloexec(child[i]));
    }
    assert_int_equal(write(parent[1], "d", 1), 1);
    assert_int_equal(read(child[0], &c, 1), 1);
    assert_int_equal(c, 'd');
    assert_int_equal(write(child[1], "u", 1), 1);
    assert_int_equal(read(parent[0], &c, 1), 1);
    assert_int_equal(c, 'u');
    assert_int_equal(read(parent[0], &c, 1), -1);
    assert_int_equal(errno, EAGAIN);
    for (int i = 0; i < 2; i++) {
        close(parent[i]);
        close(child[i]);
    }
    ev_loop_destroy(loop);
}

/* ax_chan_new must fail with err and leave rfd/wfd (open ones) as they were:
 * open, blocking, inheritable. */
static void
new_fails(struct ev_loop *loop, int rfd, int wfd, const ax_chan_opts *opts,
          int err)
{
    ax_chan *ch = (ax_chan *)&ch; /* a marker that must not change */
    ax_chan *first = ax__chan_first();

    assert_int_equal(ax_chan_new(loop, rfd, wfd, opts, &quiet_cbs, NULL, &ch),
                     err);
    assert_ptr_equal(ch, (ax_chan *)&ch);
    assert_ptr_equal(ax__chan_first(), first);
    if (rfd >= 0 && fd_is_open(rfd)) {
        assert_true(fd_blocking_inheritable(rfd));
    }
    if (wfd >= 0 && fd_is_open(wfd)) {
        assert_true(fd_blocking_inheritable(wfd));
    }
}

static void
test_chan_new_rejects_bad_fds_and_options_and_changes_nothing(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    const size_t ceiling = (size_t)UINT32_MAX - AX_FRAME_HEADER;
    int fds[2], gone[2];
    ax_chan_opts o;
    ax_chan *ch;

    (void)state;
    assert_non_null(loop);
    assert_int_equal(pipe2(fds, 0), 0);
    assert_int_equal(pipe2(gone, 0), 0);
    close(gone[0]);
    close(gone[1]);
    /* Bad fds: AX_EBADF, the good fd untouched. */
    new_fails(loop, fds[0], gone[1], NULL, AX_EBADF);
    new_fails(loop, gone[0], fds[1], NULL, AX_EBADF);
    new_fails(loop, -1, -1, NULL, AX_EBADF);
    /* Options out of range: AX_EINVAL. */
    o = (ax_chan_opts){0, 1000, 1001, 0, 0}; /* low > high */
    new_fails(loop, fds[0], fds[1], &o, AX_EINVAL);
    o = (ax_chan_opts){0, 0, 2 * MiB, 0, 0}; /* low > the default high */
    new_fails(loop, fds[0], fds[1], &o, AX_EINVAL);
    o = (ax_chan_opts){0, 0, 0, 32 * KiB, 0};
    new_fails(loop, fds[0], fds[1], &o, AX_EINVAL);
    o = (ax_chan_opts){0, 0, 0, 64 * KiB - 1, 0};
    new_fails(loop, fds[0], fds[1], &o, AX_EINVAL);
    o = (ax_chan_opts){ceiling + 1, 0, 0, 0, 0};
    new_fails(loop, fds[0], fds[1], &o, AX_EINVAL);
    assert_true(fd_is_open(fds[0]) && fd_is_open(fds[1]));
    /* The boundaries themselves are accepted. */
    o = (ax_chan_opts){ceiling, 1000, 1000, 64 * KiB, 0};
    assert_int_equal(
        ax_chan_new(loop, fds[0], fds[1], &o, &quiet_cbs, NULL, &ch), 0);
    ax_chan_close(ch);
    ev_loop_destroy(loop);
}

static bool
got_wanted_b(const struct peer *p)
{
    const struct peer *b = p->ctx;

    return b->bad != 0 || b->nerr > 0 || b->got >= b->want;
}

static void
test_chan_urgent_send_passes_the_watermark_and_keeps_order(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    ax_chan_opts opts = {0, KiB, 256, 0, 0};
    struct recv_job job = {NULL, 0, 100, 0, 0, 0, -1, -1};
    struct send_ctx s = {100, malloc(100)};
    ax_chan_stats st;
    struct peer a, b, tx; /* tx: what send_seq needs of a */
    ax_frame_hdr h;
    uint64_t n;
    int rc;

    (void)state;
    assert_non_null(loop);
    assert_non_null(s.buf);
    pair_open(loop, &a, &b, &opts);
    a.ctx = &b;
    b.ctx = &job;
    b.on_frame = recv_check;
    tx = (struct peer){.ch = a.ch, .ctx = &s};
    for (n = 0; (rc = send_seq(&tx, n)) == 0; n++) {
    }
    assert_int_equal(rc, AX_EAGAIN);
    assert_true(n > 0);
    assert_false(ax_chan_writable(a.ch));
    assert_true(ax_chan_queued(a.ch) >= KiB);
    assert_true(ax_chan_queued(a.ch) < KiB + AX_FRAME_OVERHEAD + 100);
    /* An urgent frame is taken anyway, behind the others. */
    seq_fill(s.buf, 100, n);
    h = hdr_of(n);
    assert_int_equal(ax_chan_send_urgent(a.ch, &h, s.buf, 100), 0);
    n++;
    ax_chan_stats_get(a.ch, &st);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.frames_out, n);
    b.want = n;
    assert_true(run_until(&a, got_wanted_b, 10));
    assert_int_equal(b.bad, 0);
    assert_int_equal(b.got, n);
    assert_int_equal(a.drains, 1);
    assert_true(ax_chan_writable(a.ch));
    /* Closing inside on_drain is safe too. */
    a.close_on_drain = true;
    while (send_seq(&tx, n) == 0) {
        n++;
    }
    assert_true(run_until(&a, closed, 10));
    assert_int_equal(a.drains, 2);
    pair_close(&a, &b);
    ev_loop_destroy(loop);
    free(s.buf);
}

static void
test_chan_send_owned_is_released_once_canceled_by_close(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    uint8_t *big = calloc(1, 100 * KiB);
    ax_frame_hdr h = hdr_of(0);
    struct owned rel = {0, 0, NULL}, small = {0, 0, NULL};
    struct peer a, b;

    (void)state;
    assert_non_null(loop);
    assert_non_null(big);
    pair_open(loop, &a, &b, NULL);
    assert_int_equal(
        ax_chan_send_owned(a.ch, &h, big, 100 * KiB, owned_release, &rel), 0);
    /* A small body is copied at once, so it is released at once. */
    assert_int_equal(
        ax_chan_send_owned(a.ch, &h, "abc", 3, owned_release, &small), 0);
    assert_int_equal(small.calls, 1);
    assert_int_equal(small.status, 0);
    assert_int_equal(rel.calls, 0); /* borrowed until written */
    assert_int_equal(ax_chan_queued(a.ch),
                     2 * AX_FRAME_OVERHEAD + 100 * KiB + 3);
    pair_close(&a, &b);
    assert_int_equal(rel.calls, 1);
    assert_int_equal(rel.status, AX_ECANCELED);
    ev_loop_destroy(loop);
    free(big);
}

struct closer {
    ax_chan *ch; /* closed by the release */
    int calls;
    int status;
};

static void
close_in_release(void *ud, int status)
{
    struct closer *c = ud;

    c->calls++;
    c->status = status;
    if (c->ch != NULL) {
        ax_chan_close(c->ch);
        c->ch = NULL;
    }
}

static bool
b_failed(const struct peer *p)
{
    const struct peer *b = p->ctx;

    return b->bad != 0 || b->nerr > 0;
}

static bool
released(const struct peer *p)
{
    const struct closer *c = p->ctx;

    return c->calls > 0;
}

/* Frame 0 has a 20 KiB body, frame 1 a 100-byte one. */
static void
check_two_sizes(struct peer *p, ax_frame *f)
{
    if (p->got > 1 || !seq_ok(f, p->got == 0 ? 20 * KiB : 100, p->got)) {
        note_bad(p, 10);
    }
}

static void
test_chan_close_inside_release_is_safe(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    uint8_t *body = malloc(20 * KiB), small[100];
    struct closer c = {NULL, 0, 0};
    ax_frame_hdr h = hdr_of(0);
    struct peer a, b;

    (void)state;
    assert_non_null(loop);
    assert_non_null(body);
    for (int mode = 0; mode < 3; mode++) {
        /* mode 0: written (one writev takes the borrowed body and the small
         * frame behind it, and the release closes the channel midway);
         * mode 1: dropped by ax_chan_close itself (already closing);
         * mode 2: dropped by a write error (the reader is gone). */
        pair_open(loop, &a, &b, NULL);
        a.ctx = &b;
        b.on_frame = check_two_sizes;
        c = (struct closer){a.ch, 0, 0};
        h = hdr_of(0);
        seq_fill(body, 20 * KiB, 0);
        assert_int_equal(
            ax_chan_send_owned(a.ch, &h, body, 20 * KiB, close_in_release, &c),
            0);
        h = hdr_of(1);
        seq_fill(small, sizeof(small), 1);
        assert_int_equal(ax_chan_send(a.ch, &h, small, sizeof(small)), 0);
        if (mode == 0) {
            a.ch = NULL; /* the release closes it */
            assert_true(run_until(&a, b_failed, 10));
            assert_int_equal(c.status, 0);
            /* Both frames were in the writev that ended in the close. */
            assert_int_equal(b.bad, 0);
            assert_int_equal(b.got, 2);
            assert_int_equal(b.nerr, 1);
            assert_int_equal(b.err[0], AX_EOF);
        } else if (mode == 1) {
            ax_chan_close(a.ch);
            a.ch = NULL;
            assert_int_equal(c.status, AX_ECANCELED);
        } else {
            ax_chan_close(b.ch);
            b.ch = NULL;
            a.ch = NULL; /* the release closes it */
            a.ctx = &c;
            assert_true(run_until(&a, released, 10));
            assert_int_equal(c.status, AX_EPIPE);
            assert_int_equal(a.nerr, 0); /* closed before it was reported */
        }
        assert_int_equal(c.calls, 1);
        assert_null(c.ch);
        pair_close(&a, &b);
    }
    ev_loop_destroy(loop);
    free(body);
}

/* b's on_frame under allocation failure: taking a small body needs memory,
 * taking a large one does not. */
static void
take_under_failure(struct peer *p, ax_frame *f)
{
    const void *body = f->body;
    bool direct = f->own != NULL;
    void *t;

    ax__alloc_fail_after(0);
    t = ax_frame_take(f);
    ax__alloc_fail_after(-1);
    if (!direct) { /* a copy was needed, so nothing was taken */
        if (t != NULL || f->body != body) {
            note_bad(p, 60);
        }
        t = ax_frame_take(f);
    }
    if (t == NULL || f->body != NULL ||
        !pattern_ok(t, p->got == 2 ? LARGE : 100, p->got)) {
        note_bad(p, 61);
    }
    ax_free(t);
}

static void
test_chan_allocation_failure_is_enomem_and_leaves_nothing_behind(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    uint8_t *big = calloc(1, MiB), small[100];
    struct owned rel = {0, 0, NULL};
    ax_chan_stats st;
    struct peer a, b;
    ax_frame_hdr h;
    int fds[2], rc;
    ax_chan *first = ax__chan_first(), *ch;
    long n, k;

    (void)state;
    assert_non_null(loop);
    assert_non_null(big);
    /* ax_chan_new: count its allocations, then fail each in turn. */
    assert_int_equal(pipe2(fds, 0), 0);
    ax__alloc_fail_after(-1);
    assert_int_equal(
        ax_chan_new(loop, fds[0], fds[1], NULL, &quiet_cbs, NULL, &ch), 0);
    n = ax__alloc_fail_after(-1);
    assert_true(n >= 2);
    ax_chan_close(ch);
    for (k = 0; k < n; k++) {
        assert_int_equal(pipe2(fds, 0), 0);
        ax__alloc_fail_after(k);
        rc = ax_chan_new(loop, fds[0], fds[1], NULL, &quiet_cbs, NULL, &ch);
        ax__alloc_fail_after(-1);
        assert_int_equal(rc, AX_ENOMEM);
        assert_ptr_equal(ax__chan_first(), first);
        assert_true(fd_blocking_inheritable(fds[0]));
        assert_true(fd_blocking_inheritable(fds[1]));
        close(fds[0]);
        close(fds[1]);
    }

    /* ax_chan_send: a failed send queues nothing. */
    pair_open(loop, &a, &b, NULL);
    b.on_frame = take_under_failure;
    a.ctx = &b;
    pattern_fill(small, sizeof(small), 0);
    h = hdr_of(0);
    ax__alloc_fail_after(0);
    rc = ax_chan_send(a.ch, &h, small, sizeof(small));
    ax__alloc_fail_after(-1);
    assert_int_equal(rc, AX_ENOMEM);
    ax_chan_stats_get(a.ch, &st);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.frames_out, 0);
    assert_int_equal(ax_chan_send(a.ch, &h, small, sizeof(small)), 0);
    /* The next small frame fits the chunk: no allocation, no failure. */
    pattern_fill(small, sizeof(small), 1);
    h = hdr_of(1);
    ax__alloc_fail_after(0);
    rc = ax_chan_send(a.ch, &h, small, sizeof(small));
    ax__alloc_fail_after(-1);
    assert_int_equal(rc, 0);
    /* A large copy needs a chunk of its own: it fails cleanly. */
    h = hdr_of(2);
    ax__alloc_fail_after(0);
    rc = ax_chan_send(a.ch, &h, big, MiB);
    ax__alloc_fail_after(-1);
    assert_int_equal(rc, AX_ENOMEM);
    assert_int_equal(ax_chan_queued(a.ch), 2 * (AX_FRAME_OVERHEAD + 100));
    /* ax_chan_send_owned: fail each allocation it makes. */
    pattern_fill(big, LARGE, 2);
    for (k = 0; k < 10; k++) {
        ax__alloc_fail_after(k);
        rc = ax_chan_send_owned(a.ch, &h, big, LARGE, owned_release, &rel);
        ax__alloc_fail_after(-1);
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, AX_ENOMEM);
        assert_int_equal(rel.calls, 0);
        assert_int_equal(ax_chan_queued(a.ch), 2 * (AX_FRAME_OVERHEAD + 100));
    }
    assert_true(k >= 1 && k < 10);
    ax_chan_stats_get(a.ch, &st);
    assert_int_equal(st.frames_out, 3);
    /* Exactly the three accepted frames arrive, in order. */
    b.want = 3;
    assert_true(run_until(&a, got_wanted_b, 10));
    run_for(&a, 0.02);
    assert_int_equal(b.bad, 0);
    assert_int_equal(b.got, 3);
    assert_int_equal(b.nerr, 0);
    assert_int_equal(rel.calls, 1);
    assert_int_equal(rel.status, 0);

    /* The reader cannot get a buffer for a large body: AX_ENOMEM. */
    b.on_frame = NULL;
    assert_int_equal(ax_chan_send(a.ch, &h, big, LARGE), 0);
    ax_chan_flush(a.ch);
    ax__alloc_fail_after(0);
    assert_true(run_until(&b, has_error, 10));
    ax__alloc_fail_after(-1);
    assert_int_equal(b.nerr, 1);
    assert_int_equal(b.err[0], AX_ENOMEM);
    assert_int_equal(b.got, 3);
    pair_close(&a, &b);
    ev_loop_destroy(loop);
    free(big);
}

/* --- main ----------------------------------------------------------------- */

static int
setup(void **state)
{
    return t_setup(state);
}

static int
teardown(void **state)
{
    if (live_child > 0) { /* a failed test left it behind */
        kill(live_child, SIGKILL);
        t_wait(live_child);
        live_child = 0;
    }
    ax__alloc_fail_after(-1);
    return t_teardown(state);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_chan_frames_up_to_max_frame_arrive_intact_over_pipes),
        T(test_chan_frames_up_to_max_frame_arrive_intact_over_a_socketpair),
        T(test_chan_million_small_frames_arrive_in_order_under_backpressure),
        T(test_chan_million_small_frames_arrive_in_order_over_a_socketpair),
        T(test_chan_slow_reader_keeps_queue_under_high_water_plus_one_frame),
        T(test_chan_sends_from_on_drain_are_written_without_another_event),
        T(test_chan_thousand_frames_sent_at_once_take_one_writev_one_read),
        T(test_chan_peer_end_is_eof_at_boundary_and_truncated_mid_frame),
        T(test_chan_malformed_header_stops_delivery_with_one_error),
        T(test_chan_read_stop_in_on_frame_pauses_after_that_frame),
        T(test_chan_write_to_closed_peer_is_epipe_not_sigpipe),
        T(test_chan_close_inside_on_frame_is_safe_and_cancels_the_queue),
        T(test_chan_close_inside_on_error_is_safe),
        T(test_chan_shutdown_delivers_every_queued_frame_then_eof),
        T(test_chan_read_stop_leaves_data_unread_and_backs_up_the_peer),
        T(test_chan_fds_are_nonblocking_cloexec_and_closed_by_close),
        T(test_chan_new_rejects_bad_fds_and_options_and_changes_nothing),
        T(test_chan_urgent_send_passes_the_watermark_and_keeps_order),
        T(test_chan_send_owned_is_released_once_canceled_by_close),
        T(test_chan_close_inside_release_is_safe),
        T(test_chan_allocation_failure_is_enomem_and_leaves_nothing_behind),
    };

    if (RUNNING_ON_VALGRIND) {
        time_scale = 20;
    }
    if (getenv("CHAN_TEST_FILTER") != NULL) { /* e.g. "*read_stop*" */
        cmocka_set_test_filter(getenv("CHAN_TEST_FILTER"));
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
