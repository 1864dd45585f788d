/*
 * tests/transport/python_peer_util.c - what the python_peer tests share
 * (see python_peer_util.h): running peer.py on two pipes against an
 * ax_chan on a private loop, sending frames and checking the replies.
 */
#include "support/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>

#include <axon.h>

#include "python_peer_util.h"

#define PYTHON "/usr/bin/python3"
#define TIMEOUT_S 45.0 /* a run that takes longer has hung */
#define LINGER_S 0.2   /* after an error, wait for frames that must not come */

/* Record the first failed check and stop the loop. */
static void __attribute__((format(printf, 2, 3)))
fail_check(struct peer *p, const char *fmt, ...)
{
    va_list ap;

    if (p->why[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(p->why, sizeof(p->why), fmt, ap);
        va_end(ap);
    }
    ev_break(p->loop, EVBREAK_ALL);
}

/* The path of a file of the source tree. */
void
source_path(char *buf, size_t size, const char *rel)
{
    const char *dir = getenv("AXON_SOURCE_DIR");
    int n;

    /* ctest runs us in tests/transport when AXON_SOURCE_DIR is unset */
    n = snprintf(buf, size, "%s/%s", dir != NULL ? dir : "../..", rel);
    assert_true(n > 0 && (size_t)n < size);
}

/* Fail, with the package to install, when the peer cannot run here. */
static void
require_python(void)
{
    char *argv[] = {PYTHON, "-c", "import msgpack", NULL};
    pid_t pid;
    int status;

    if (access(PYTHON, X_OK) != 0) {
        fail_msg("%s is missing (%s): %s", PYTHON, strerror(errno),
                 INSTALL_HINT);
    }
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execv(PYTHON, argv);
        _exit(127);
    }
    status = t_wait(pid);
    if (status != 0) {
        fail_msg("%s cannot import the msgpack module (exit %d): %s", PYTHON,
                 status, INSTALL_HINT);
    }
}

/* In the forked child: pipes on fds 0 and 1, blocking, then exec. */
static void
exec_peer(const int child[2], char **argv)
{
    int fl;

    /* Only async-signal-safe calls between fork and exec. dup2 clears
     * FD_CLOEXEC on 0 and 1; the four pipe fds are O_CLOEXEC, so Python
     * inherits none of them. */
    if (dup2(child[0], 0) < 0 || dup2(child[1], 1) < 0) {
        _exit(126);
    }
    /* O_NONBLOCK belongs to the child's own open file descriptions (the
     * parent holds the other ends), so clearing it leaves the parent's
     * fds nonblocking. */
    fl = fcntl(0, F_GETFL);
    if (fl < 0 || fcntl(0, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        _exit(126);
    }
    fl = fcntl(1, F_GETFL);
    if (fl < 0 || fcntl(1, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        _exit(126);
    }
    execv(PYTHON, argv);
    _exit(127);
}

static void on_frame(ax_chan *ch, ax_frame *f, void *ud);
static void on_error(ax_chan *ch, int err, void *ud);
static void on_drain(ax_chan *ch, void *ud);
static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents);
static void on_linger(struct ev_loop *loop, ev_timer *w, int revents);

void
peer_init(struct peer *p, bool echo)
{
    memset(p, 0, sizeof(*p));
    p->echo = echo;
    p->pid = -1;
}

/*
 * Start peer.py in mode (NULL: echo) on a channel of a new loop. pre, if
 * not NULL, is written raw to the peer's stdin before the channel exists.
 */
void
peer_start(struct peer *p, const char *mode, const void *pre, size_t prelen)
{
    static const ax_chan_cbs cbs = {on_frame, on_error, on_drain};
    char script[PATH_MAX];
    char *argv[] = {PYTHON, script, (char *)mode, NULL};
    int parent[2], child[2];

    source_path(script, sizeof(script), PEER_SCRIPT);
    if (access(script, R_OK) != 0) {
        fail_msg("cannot read %s: %s", script, strerror(errno));
    }
    require_python();
    assert_int_equal(ax_chan_pipes(parent, child), 0);
    if (pre != NULL) {
        /* the pipe is empty: a small write goes in whole */
        assert_int_equal(write(parent[1], pre, prelen), (ssize_t)prelen);
    }
    fflush(NULL);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        exec_peer(child, argv);
    }
    close(child[0]);
    close(child[1]);
    p->loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(p->loop);
    assert_int_equal(
        ax_chan_new(p->loop, parent[0], parent[1], NULL, &cbs, p, &p->ch), 0);
    ev_timer_init(&p->timeout, on_timeout, TIMEOUT_S, 0);
    ev_timer_init(&p->linger, on_linger, LINGER_S, 0);
    p->timeout.data = p->linger.data = p;
    ev_timer_start(p->loop, &p->timeout);
}

/*
 * Close the channel (the peer reads EOF), reap the peer, destroy the loop,
 * free the messages. Returns the peer's exit status.
 */
static int
peer_finish(struct peer *p)
{
    int status;

    if (p->why[0] != '\0') {
        kill(p->pid, SIGKILL); /* a failed run: do not wait for it */
    }
    ax_chan_close(p->ch);
    p->ch = NULL;
    ev_timer_stop(p->loop, &p->timeout);
    ev_timer_stop(p->loop, &p->linger);
    ev_loop_destroy(p->loop);
    status = t_wait(p->pid);
    for (size_t i = 0; i < p->nout; i++) {
        ax_msg_free(p->out[i].m);
    }
    free(p->out);
    return status;
}

/* The header of the i-th frame sent: every field different per frame. */
static ax_frame_hdr
out_hdr(size_t i)
{
    ax_frame_hdr h;

    h.kind = (uint8_t)(0x10 + i % 7);
    h.flags = (uint8_t)(i * 37);
    h.dst = (ax_pid){7, 1};
    h.src = (ax_pid){UINT64_C(0x8000000000000000) | i, UINT64_MAX - i};
    return h;
}

/* Queue a frame to send: m (taken), or raw bytes if m is NULL. */
void
add_out(struct peer *p, ax_msg *m, const void *raw, size_t len)
{
    struct out *o;

    p->out = realloc(p->out, (p->nout + 1) * sizeof(*p->out));
    assert_non_null(p->out);
    o = &p->out[p->nout];
    o->hdr = out_hdr(p->nout);
    o->m = m;
    if (m != NULL) {
        o->data = ax_msg_data(m, &o->len);
    } else {
        o->data = raw;
        o->len = len;
    }
    p->nout++;
}

static void
on_released(void *ud, int status)
{
    struct peer *p = ud;

    if (status != 0) {
        fail_check(p, "an owned body was dropped: %s", ax_strerror(status));
    }
    p->released++;
}

/* Send what the channel takes; the rest when on_drain says. Then shut. */
void
pump(struct peer *p)
{
    const struct out *o;
    int rc;

    while (p->sent < p->nout) {
        o = &p->out[p->sent];
        if (o->len >= BIG) { /* written from where it is, without a copy */
            rc = ax_chan_send_owned(p->ch, &o->hdr, o->data, o->len,
                                    on_released, p);
        } else {
            rc = ax_chan_send(p->ch, &o->hdr, o->data, o->len);
        }
        if (rc == AX_EAGAIN) {
            return;
        }
        if (rc != 0) {
            fail_check(p, "send of frame %zu: %s", p->sent, ax_strerror(rc));
            return;
        }
        p->sent++;
    }
    if (!p->shut) {
        p->shut = true;
        rc = ax_chan_shutdown(p->ch);
        if (rc != 0) {
            fail_check(p, "ax_chan_shutdown: %s", ax_strerror(rc));
        }
    }
}

/* Send everything queued, run until the channel closes; the exit status. */
int
peer_run(struct peer *p)
{
    pump(p);
    if (p->why[0] == '\0') {
        ev_run(p->loop, 0);
    }
    return peer_finish(p);
}

/* The body of f as a message; 1 MiB bodies must come without a copy. */
static ax_msg *
frame_msg(struct peer *p, ax_frame *f)
{
    const void *body = f->body;
    ax_msg *m = NULL;
    void *buf;
    int rc;

    if (f->len < BIG) {
        rc = ax_msg_from_bytes(&m, f->body, f->len);
    } else {
        buf = ax_frame_take(f);
        if (buf != body) {
            fail_check(p,
                       "a %zu-byte body was not handed over without a "
                       "copy (read straight into a buffer of its own)",
                       f->len);
            ax_free(buf);
            return NULL;
        }
        p->direct++;
        rc = ax_msg_adopt(&m, buf, f->len);
        if (rc != 0) {
            ax_free(buf);
        }
    }
    if (rc != 0) {
        fail_check(p, "reply %zu is not a valid message: %s", p->nin - 1,
                   ax_error_detail());
        return NULL;
    }
    return m;
}

/* Reply k must answer out[k]: the header turned round, the value echoed. */
static void
check_header(struct peer *p, const ax_frame *f, const struct out *o)
{
    const ax_frame_hdr *h = &f->hdr;

    if (h->kind != o->hdr.kind || h->flags != o->hdr.flags ||
        !ax_pid_equal(h->dst, o->hdr.src) ||
        !ax_pid_equal(h->src, o->hdr.dst)) {
        fail_check(
            p,
            "reply %zu: header kind %u flags %u dst %llu.%llu src "
            "%llu.%llu does not answer the frame sent",
            p->nin - 1, h->kind, h->flags, (unsigned long long)h->dst.node,
            (unsigned long long)h->dst.id, (unsigned long long)h->src.node,
            (unsigned long long)h->src.id);
    }
}

static void
check_echo(struct peer *p, const ax_msg *m, const struct out *o, size_t k)
{
    const char *tag;
    const void *raw;
    size_t taglen, rawlen;
    ax_pid from;
    uint64_t count;
    int rc;

    rc = ax_msg_unpack(m, "[S x p u]", &tag, &taglen, &raw, &rawlen, &from,
                       &count);
    if (rc != 0) {
        fail_check(p, "reply %zu: %s", k, ax_error_detail());
    } else if (taglen != 4 || memcmp(tag, "echo", 4) != 0) {
        fail_check(p, "reply %zu: tag \"%.*s\", not \"echo\"", k, (int)taglen,
                   tag);
    } else if (rawlen != o->len || memcmp(raw, o->data, rawlen) != 0) {
        fail_check(p,
                   "reply %zu: the echoed value (%zu bytes) differs from "
                   "the %zu bytes sent",
                   k, rawlen, o->len);
    } else if (!ax_pid_equal(from, o->hdr.src)) {
        fail_check(p, "reply %zu: the address did not survive the trip", k);
    } else if (count != k + 1) {
        fail_check(p, "reply %zu: count %llu, want %zu (order broken?)", k,
                   (unsigned long long)count, k + 1);
    }
}

static void
check_bye(struct peer *p, const ax_msg *m, size_t k)
{
    const char *tag;
    size_t taglen;
    uint64_t count;

    if (ax_msg_unpack(m, "[S u]", &tag, &taglen, &count) != 0) {
        fail_check(p, "reply %zu: %s", k, ax_error_detail());
    } else if (taglen != 3 || memcmp(tag, "bye", 3) != 0 || count != k + 1) {
        fail_check(p, "reply %zu: want [\"bye\", %zu]", k, k + 1);
    }
}

static void
check_reply(struct peer *p, ax_frame *f)
{
    size_t k = p->nin - 1;
    ax_msg *m;

    if (k >= p->nout) {
        fail_check(p, "reply %zu to %zu frames sent", k, p->nout);
        return;
    }
    check_header(p, f, &p->out[k]);
    m = frame_msg(p, f);
    if (m == NULL) {
        return;
    }
    if (k + 1 == p->nout) { /* the last frame sent is ["stop"] */
        check_bye(p, m, k);
    } else {
        check_echo(p, m, &p->out[k], k);
    }
    ax_msg_free(m);
}

/* Outside echo mode the peer sends one good frame first: ["before"]. */
static void
check_before(struct peer *p, ax_frame *f)
{
    const char *tag;
    size_t taglen;
    ax_msg *m;

    if (p->nin != 1) {
        fail_check(p, "frame %zu delivered; only [\"before\"] is good",
                   p->nin - 1);
        return;
    }
    if (f->hdr.kind != 0x42 || f->hdr.flags != 0 ||
        !ax_pid_equal(f->hdr.dst, (ax_pid){1, 1}) ||
        !ax_pid_equal(f->hdr.src, (ax_pid){9, 1})) {
        fail_check(p, "the header of [\"before\"] is wrong");
        return;
    }
    m = frame_msg(p, f);
    if (m == NULL) {
        return;
    }
    if (ax_msg_unpack(m, "[S]", &tag, &taglen) != 0 || taglen != 6 ||
        memcmp(tag, "before", 6) != 0) {
        fail_check(p, "the first frame is not [\"before\"]");
    }
    ax_msg_free(m);
}

static void
on_frame(ax_chan *ch, ax_frame *f, void *ud)
{
    struct peer *p = ud;

    (void)ch;
    p->nin++;
    if (p->err != 0) {
        p->after_err++;
        return;
    }
    if (p->echo) {
        check_reply(p, f);
    } else {
        check_before(p, f);
    }
}

/* The first error ends the run after a short wait for stray frames. */
static void
on_error(ax_chan *ch, int err, void *ud)
{
    struct peer *p = ud;

    if (p->errors++ == 0) {
        p->err = err;
        ax_chan_stats_get(ch, &p->st);
        ev_timer_stop(p->loop, &p->timeout);
        ev_timer_start(p->loop, &p->linger);
    }
}

static void
on_drain(ax_chan *ch, void *ud)
{
    (void)ch;
    pump(ud);
}

static void
on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct peer *p = w->data;

    (void)loop;
    (void)revents;
    fail_check(p,
               "timed out after %.0f s: %zu of %zu frames sent, %zu "
               "delivered",
               TIMEOUT_S, p->sent, p->nout, p->nin);
}

static void
on_linger(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct peer *p = w->data;

    (void)revents;
    ax_chan_close(p->ch); /* no watcher is left: ev_run returns */
    p->ch = NULL;
    ev_break(loop, EVBREAK_ALL);
}

/* Fail the test with what the run found wrong (after its cleanup). */
void
assert_run_ok(const struct peer *p)
{
    if (p->why[0] != '\0') {
        fail_msg("%s", p->why);
    }
}

int
python_peer_setup(void **state)
{
    return t_setup(state);
}

int
python_peer_teardown(void **state)
{
    return t_teardown(state);
}
