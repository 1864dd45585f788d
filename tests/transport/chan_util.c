/*
 * tests/transport/chan_util.c - what the ax_chan tests share (see
 * chan_util.h): links to a forked child, test frames, raw byte scripts,
 * a peer and its loop, the sequenced-frame receiver, setup and teardown.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>
#include <valgrind/valgrind.h>

#include <axon/alloc.h>
#include <axon/chan.h>
#include <axon/error.h>

#include "base/alloc.h"
#include "chan_util.h"
#include "transport/chan_internal.h"

const char *const kind_name[] = {"pipes", "socketpair"};

double time_scale = 1;
pid_t live_child;

/* --- fds, processes, loops ------------------------------------------------ */

static void
close_pair(int r, int w)
{
    close(r);
    if (w != r) {
        close(w);
    }
}

void
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

pid_t
spawn(int (*fn)(void *arg), void *arg)
{
    live_child = t_fork(fn, arg);
    return live_child;
}

int
reap(pid_t pid)
{
    int status = t_wait(pid);

    live_child = 0;
    return status;
}

/* In the child: drop the parent's ends, arm a watchdog, make a new loop. */
struct ev_loop *
child_begin(const struct link *l)
{
    close_pair(l->pr, l->pw);
    alarm((unsigned)(60 * time_scale));
    return ev_loop_new(EVFLAG_AUTO);
}

/* In the parent after the fork: drop the child's ends, make a new loop. */
struct ev_loop *
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

bool
fd_blocking_inheritable(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    int fdfl = fcntl(fd, F_GETFD);

    return fl >= 0 && fdfl >= 0 && !(fl & O_NONBLOCK) && !(fdfl & FD_CLOEXEC);
}

/* --- frame contents ------------------------------------------------------- */

/* The header of test frame i: every field distinct, every byte used. */
ax_frame_hdr
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

bool
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

void
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

bool
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
void
seq_fill(uint8_t *p, size_t len, uint64_t seq)
{
    memcpy(p, &seq, sizeof(seq));
    pattern_fill(p + 8, len - 8, seq);
}

bool
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

void
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
void
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

void
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
void
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

void
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

void
note_bad(struct peer *p, int code)
{
    if (p->bad == 0) {
        p->bad = code;
    }
}

void
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

void
peer_init(struct peer *p, struct ev_loop *loop)
{
    memset(p, 0, sizeof(*p));
    p->loop = loop;
    p->close_at = -1;
}

int
peer_open(struct peer *p, int rfd, int wfd, const ax_chan_opts *opts)
{
    return ax_chan_new(p->loop, rfd, wfd, opts, &peer_cbs, p, &p->ch);
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
bool
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
void
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

bool
has_error(const struct peer *p)
{
    return p->nerr > 0;
}

bool
write_closed(const struct peer *p)
{
    int wfd = 0;

    if (p->ch != NULL) {
        ax_chan_fds(p->ch, NULL, &wfd);
    }
    return p->ch != NULL && wfd == -1;
}

/* Everything sent, flushed and the write side closed by the shutdown. */
bool
sent_and_shut(const struct peer *p)
{
    return p->bad != 0 || p->nerr > 0 ||
           (p->sent == p->to_send && write_closed(p));
}

bool
report_and_eof(const struct peer *p)
{
    return p->bad != 0 || (p->have_report && p->nerr > 0);
}

void
parent_end(struct peer *p)
{
    ax_chan_close(p->ch);
    p->ch = NULL;
    ev_loop_destroy(p->loop);
    p->loop = NULL;
}

/* --- sequenced frames: a sender in one process, a receiver in the other --- */

void
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
int
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

int
send_seq(struct peer *p, uint64_t i)
{
    struct send_ctx *s = p->ctx;
    ax_frame_hdr h = hdr_of(i);

    seq_fill(s->buf, s->body, i);
    return ax_chan_send(p->ch, &h, s->buf, s->body);
}

/* --- bodies sent without a copy ------------------------------------------- */

void
owned_release(void *ud, int status)
{
    struct owned *o = ud;

    o->calls++;
    o->status = status;
    ax_free(o->buf);
    o->buf = NULL;
}

/* --- raw peers: a child writes a script, the parent reads it -------------- */

void
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
pid_t
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

int
vanish_child(void *arg)
{
    const struct link *l = arg;

    close_pair(l->pr, l->pw);
    close_pair(l->cr, l->cw);
    return 0;
}

bool
closed(const struct peer *p)
{
    return p->ch == NULL;
}

/* --- in one process: two channels on one loop ----------------------------- */

void
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

void
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

const ax_chan_cbs quiet_cbs = {ignore_frame, ignore_error, NULL};

/* --- setup, teardown, main ------------------------------------------------ */

int
chan_setup(void **state)
{
    return t_setup(state);
}

int
chan_teardown(void **state)
{
    if (live_child > 0) { /* a failed test left it behind */
        kill(live_child, SIGKILL);
        t_wait(live_child);
        live_child = 0;
    }
    ax__alloc_fail_after(-1);
    return t_teardown(state);
}

void
chan_test_init(void)
{
    if (RUNNING_ON_VALGRIND) {
        time_scale = 20;
    }
    if (getenv("CHAN_TEST_FILTER") != NULL) { /* e.g. "*read_stop*" */
        cmocka_set_test_filter(getenv("CHAN_TEST_FILTER"));
    }
}
