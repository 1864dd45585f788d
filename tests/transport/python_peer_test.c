/*
 * tests/transport/python_peer_test.c - docs/wire.md is enough to speak
 * axon: a peer written from it in Python (tests/transport/peer.py, with
 * Debian's python3-msgpack) exchanges frames with an ax_chan.
 *
 * Each test forks and execs `/usr/bin/python3 peer.py [mode]` on two
 * pipes (its stdin and stdout) and drives an ax_chan on a private libev
 * loop. In echo mode the peer answers every message m in a frame from
 * (src) to (dst) with ["echo", m, <the frame's src address>, count] and
 * ["stop"] with ["bye", count]. Python re-encodes what it decoded, so for
 * every message axon writes (canonical msgpack: smallest encodings,
 * float64) the echoed value must equal the sent bytes exactly.
 *
 * A missing /usr/bin/python3 or msgpack module fails the tests (never a
 * skip): the message names the Debian package.
 *
 * The tests also check that docs/wire.md shows peer.py's code verbatim and
 * that its hex example is byte for byte what ax_chan writes.
 */
#include "support/testutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>

#include <axon.h>

#define PYTHON "/usr/bin/python3"
#define INSTALL_HINT                                                           \
    "install the Debian package python3-msgpack "                              \
    "(apt-get install python3 python3-msgpack)"
#define PEER_SCRIPT "tests/transport/peer.py"
#define WIRE_DOC "docs/wire.md"

/* peer.py exit statuses */
#define PEER_OK 0
#define PEER_PROTOCOL_ERROR 2
#define PEER_NO_MSGPACK 3

#define TIMEOUT_S 45.0 /* a run that takes longer has hung */
#define LINGER_S 0.2   /* after an error, wait for frames that must not come */
#define BIG ((size_t)1 << 20)
#define BURST 1000

/* One frame the test sends, and what it expects back. */
struct out {
    ax_frame_hdr hdr;
    const void *data; /* the body */
    size_t len;
    ax_msg *m; /* owns data, or NULL for a raw body */
};

struct peer {
    struct ev_loop *loop;
    ax_chan *ch; /* NULL once closed */
    pid_t pid;
    ev_timer timeout;
    ev_timer linger;
    bool echo;       /* replies are checked against out[] in order */
    struct out *out; /* frames to send, in order */
    size_t nout;
    size_t sent;      /* frames accepted by the channel */
    bool shut;        /* ax_chan_shutdown called after the last one */
    size_t released;  /* owned bodies released after being written */
    size_t nin;       /* frames delivered */
    size_t direct;    /* 1 MiB bodies handed over without a copy */
    int err;          /* the first on_error code, 0 if none */
    int errors;       /* on_error calls */
    size_t after_err; /* frames delivered after the first error */
    ax_chan_stats st; /* the channel's counters at the first error */
    char why[512];    /* the first failed check, "" if none */
};

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
static void
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

static void
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
static void
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
static void
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

/* Queue the message built by ax_msg_pack(fmt, ...). */
static void
add_packed(struct peer *p, const char *fmt, ...)
{
    ax_msg *m = NULL;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = ax_msg_vpack(&m, fmt, ap);
    va_end(ap);
    if (rc != 0) {
        fail_msg("ax_msg_pack(\"%s\"): %s: %s", fmt, ax_strerror(rc),
                 ax_error_detail());
    }
    add_out(p, m, NULL, 0);
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
static void
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
static int
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
static void
assert_run_ok(const struct peer *p)
{
    if (p->why[0] != '\0') {
        fail_msg("%s", p->why);
    }
}

/* The common end of an echo run: every reply, then a clean EOF, exit 0. */
static void
assert_echo_run(struct peer *p)
{
    size_t nout = p->nout;
    int status = peer_run(p);

    assert_run_ok(p);
    if (status == PEER_NO_MSGPACK) {
        fail_msg("peer.py could not import msgpack: %s", INSTALL_HINT);
    }
    if (status != PEER_OK) {
        fail_msg("peer.py exited %d after %zu of %zu replies (its stderr "
                 "says why)",
                 status, p->nin, nout);
    }
    assert_int_equal(p->nin, nout);
    assert_int_equal(p->err, AX_EOF);
    assert_int_equal(p->errors, 1);
    assert_int_equal(p->after_err, 0);
}

static int
setup(void **state)
{
    return t_setup(state);
}

static int
teardown(void **state)
{
    return t_teardown(state);
}

/* Integers at every boundary of msgpack's encodings. */
static void
add_integers(struct peer *p)
{
    static const int64_t ints[] = {0,
                                   1,
                                   127,
                                   128,
                                   255,
                                   256,
                                   65535,
                                   65536,
                                   -1,
                                   -31,
                                   -32,
                                   -33,
                                   -128,
                                   -129,
                                   -32768,
                                   -32769,
                                   INT32_MAX,
                                   INT32_MIN,
                                   (int64_t)INT32_MIN - 1,
                                   UINT32_MAX,
                                   (int64_t)UINT32_MAX + 1,
                                   INT64_MAX,
                                   INT64_MIN};

    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        add_packed(p, "i", ints[i]);
    }
    add_packed(p, "u", UINT64_MAX);
    add_packed(p, "u", UINT64_C(1) << 63);
    add_packed(p, "[d d d]", INT_MIN, INT_MAX, 0);
}

static void
add_floats(struct peer *p)
{
    static const double doubles[] = {0.0,       -0.0,    1.5,    -2.25,
                                     1e300,     -1e-300, 5e-324, HUGE_VAL,
                                     -HUGE_VAL, 0.1};

    for (size_t i = 0; i < sizeof(doubles) / sizeof(doubles[0]); i++) {
        add_packed(p, "f", doubles[i]);
    }
}

/* Strings and binaries at every size boundary, and UTF-8 text. */
static void
add_strings(struct peer *p)
{
    static const size_t sizes[] = {0, 1, 31, 32, 255, 256, 65535, 65536};
    static char text[65536];
    static unsigned char bytes[65536];

    for (size_t i = 0; i < sizeof(text); i++) {
        text[i] = (char)('a' + i % 26);
        bytes[i] = (unsigned char)(i * 7 + i / 256);
    }
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        add_packed(p, "S", text, sizes[i]);
        add_packed(p, "B", bytes, sizes[i]);
    }
    add_packed(p, "s",
               "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 "
               "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x9a\x80");
}

static void
add_addresses(struct peer *p)
{
    add_packed(p, "p", AX_PID_NONE);
    add_packed(p, "p", (ax_pid){1, 2});
    add_packed(p, "p", (ax_pid){UINT64_MAX, UINT64_MAX - 1});
    add_packed(p, "[s p {s:p}]", "to", (ax_pid){3, 4}, "reply_to",
               (ax_pid){UINT64_C(0x0102030405060708), 9});
    /* docs/wire.md's example message */
    add_packed(p, "[s d p]", "ping", 1, (ax_pid){1, 2});
}

/* A message from a writer that p fills in; fails the test on error. */
static ax_msg *
finish_writer(ax_msg_writer *w)
{
    ax_msg *m = NULL;
    int rc = ax_msg_writer_finish(w, &m);

    if (rc != 0) {
        fail_msg("ax_msg_writer_finish: %s: %s", ax_strerror(rc),
                 ax_error_detail());
    }
    return m;
}

/* Arrays and maps: fix, 16 and 32-bit counts, nesting, odd keys. */
static void
add_containers(struct peer *p)
{
    ax_msg_writer *w;
    msgpack_packer *pk;

    add_packed(p, "[]");
    add_packed(p, "{}");
    add_packed(p, "[n b b [d [d [d [d []]]]] {s:n s:[b b] s:{s:f}}]", 1, 0, 1,
               2, 3, 4, "nil", "pair", 1, 0, "map", "pi", 3.14159);
    /* keys that are not strings (Python needs strict_map_key=False) */
    add_packed(p, "{d:s i:s f:s n:b b:n}", 7, "seven", (int64_t)-300, "minus",
               2.5, "float", 1, 1);
    add_packed(p, "[d d d d d d d d d d d d d d d d]", 0, 1, 2, 3, 4, 5, 6, 7,
               8, 9, 10, 11, 12, 13, 14, 15);
    /* array 32 and map 32 */
    for (int kind = 0; kind < 2; kind++) {
        assert_int_equal(ax_msg_writer_new(&w), 0);
        pk = ax_msg_writer_packer(w);
        if (kind == 0) {
            msgpack_pack_array(pk, 70000);
        } else {
            msgpack_pack_map(pk, 70000);
        }
        for (int i = 0; i < 70000; i++) {
            assert_int_equal(
                ax_msg_writer_packf(w, kind == 0 ? "d" : "d s", i, "v"), 0);
        }
        add_out(p, finish_writer(w), NULL, 0);
    }
    /* 63 levels: the echo adds one, and 64 is the most a message may have */
    assert_int_equal(ax_msg_writer_new(&w), 0);
    pk = ax_msg_writer_packer(w);
    for (int i = 0; i < 62; i++) {
        msgpack_pack_array(pk, 1);
    }
    assert_int_equal(ax_msg_writer_packf(w, "[s]", "deep"), 0);
    add_out(p, finish_writer(w), NULL, 0);
    /* extension types other than addresses pass through unchanged */
    assert_int_equal(ax_msg_writer_new(&w), 0);
    pk = ax_msg_writer_packer(w);
    msgpack_pack_array(pk, 2);
    msgpack_pack_ext(pk, 3, 42);
    msgpack_pack_ext_body(pk, "abc", 3);
    msgpack_pack_ext(pk, 8, 100);
    msgpack_pack_ext_body(pk, "12345678", 8);
    add_out(p, finish_writer(w), NULL, 0);
}

static void
test_python_peer_echoes_every_format_type(void **state)
{
    struct peer p;

    (void)state;
    peer_init(&p, true);
    add_packed(&p, "n");
    add_packed(&p, "b", 1);
    add_packed(&p, "b", 0);
    add_integers(&p);
    add_floats(&p);
    add_strings(&p);
    add_addresses(&p);
    add_containers(&p);
    add_packed(&p, "[s]", "stop");
    peer_start(&p, NULL, NULL, 0);
    assert_echo_run(&p);
}

/* 1 MiB bodies both ways: written without a copy, read into own buffer. */
static void
test_python_peer_echoes_large_messages(void **state)
{
    unsigned char *blob = malloc(BIG);
    char *text = malloc(BIG);
    struct peer p;

    (void)state;
    assert_non_null(blob);
    assert_non_null(text);
    for (size_t i = 0; i < BIG; i++) {
        blob[i] = (unsigned char)(i ^ (i >> 8) ^ (i >> 16));
        text[i] = (char)(' ' + i % 95);
    }
    peer_init(&p, true);
    add_packed(&p, "B", blob, BIG);
    add_packed(&p, "[s B]", "big", blob, BIG);
    add_packed(&p, "[s d]", "small between", 1);
    add_packed(&p, "[s S]", "big text", text, BIG);
    add_packed(&p, "[s B d]", "big again", blob, BIG, 2);
    add_packed(&p, "[s]", "stop");
    free(blob);
    free(text);
    peer_start(&p, NULL, NULL, 0);
    assert_echo_run(&p);
    assert_int_equal(p.released, 4);
    assert_int_equal(p.direct, 4);
}

static void
test_python_peer_keeps_order_of_a_burst(void **state)
{
    ax_chan_stats st;
    struct peer p;

    (void)state;
    peer_init(&p, true);
    for (int i = 0; i < BURST; i++) {
        add_packed(&p, "[s d {s:d}]", "seq", i, "square", i * i);
    }
    add_packed(&p, "[s]", "stop");
    peer_start(&p, NULL, NULL, 0);
    /* All queued before the loop runs: one burst. */
    pump(&p);
    assert_int_equal(p.sent, BURST + 1);
    ax_chan_stats_get(p.ch, &st);
    assert_int_equal(st.frames_out, BURST + 1);
    assert_int_equal(st.writes, 0);
    assert_echo_run(&p);
    /* batched: far fewer writev calls than frames */
    assert_true(p.st.writes < BURST / 10);
}

/* A body that is not exactly one well-formed value: the peer gives up. */
static void
test_python_peer_exits_nonzero_on_malformed_body(void **state)
{
    static const struct {
        const char *what;
        const char *body;
        size_t len;
    } cases[] = {
        {"the never-used byte 0xc1", "\xc1", 1},
        {"an array cut short", "\x92\x01", 2},
        {"bytes after the value", "\x01\x02", 2},
        {"an empty body", "", 0},
        {"an address of 8 bytes", "\xd7\x01\0\0\0\0\0\0\0\x01", 10},
        {"a string that is not UTF-8", "\xa1\xff", 2},
        {"a map count larger than the bytes", "\xdf\xff\xff\xff\xff", 5},
    };
    struct peer p;
    int status;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        peer_init(&p, true);
        add_out(&p, NULL, cases[i].body, cases[i].len);
        peer_start(&p, NULL, NULL, 0);
        status = peer_run(&p);
        assert_run_ok(&p);
        if (status != PEER_PROTOCOL_ERROR) {
            fail_msg("%s: peer.py exited %d, want %d", cases[i].what, status,
                     PEER_PROTOCOL_ERROR);
        }
        assert_int_equal(p.nin, 0);
        assert_int_equal(p.err, AX_EOF);
    }
}

/* Bytes that are no frame: the peer gives up, as docs/wire.md says. */
static void
test_python_peer_exits_nonzero_on_bad_header(void **state)
{
    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
    } cases[] = {
        {"length 5", "\0\0\0\x05\x01\0\0\0", 8},
        {"version 2",
         "\0\0\0\x25\x02\0\0\0" /* dst, src */
         "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
         "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\xc0",
         41},
        {"reserved byte 1",
         "\0\0\0\x25\x01\0\0\x01"
         "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
         "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\xc0",
         41},
        {"a body over 64 MiB",
         "\x04\0\0\x25\x01\0\0\0"
         "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
         "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
         40},
        {"the end inside a header", "\0\0\0\x25\x01\0\0\0\0\0", 10},
        {"the end inside a body",
         "\0\0\0\x27\x01\0\0\0"
         "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
         "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x92",
         41},
    };
    struct peer p;
    int status;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        peer_init(&p, true);
        peer_start(&p, NULL, cases[i].bytes, cases[i].len);
        status = peer_run(&p); /* sends nothing, shuts down */
        assert_run_ok(&p);
        if (status != PEER_PROTOCOL_ERROR) {
            fail_msg("%s: peer.py exited %d, want %d", cases[i].what, status,
                     PEER_PROTOCOL_ERROR);
        }
        assert_int_equal(p.nin, 0);
        assert_int_equal(p.err, AX_EOF);
    }
}

/*
 * The peer writes ["before"], a bad frame, then ["after"] (or stops in the
 * middle of a frame): the channel delivers ["before"], reports the error
 * once, and delivers nothing after it.
 */
static void
expect_peer_error(const char *mode, int want)
{
    struct peer p;
    int status;

    peer_init(&p, false);
    peer_start(&p, mode, NULL, 0);
    status = peer_run(&p);
    assert_run_ok(&p);
    assert_int_equal(p.nin, 1);
    if (p.err != want) {
        fail_msg("%s: the channel reported %s, want %s", mode,
                 ax_strerror(p.err), ax_strerror(want));
    }
    assert_int_equal(p.errors, 1);
    assert_int_equal(p.after_err, 0);
    assert_int_equal(status, PEER_OK);
}

static void
test_python_peer_garbage_length_too_large_stops_channel(void **state)
{
    (void)state;
    expect_peer_error("garbage-long", AX_EMSGSIZE);
}

static void
test_python_peer_garbage_length_too_short_stops_channel(void **state)
{
    (void)state;
    expect_peer_error("garbage-short", AX_EPROTO);
}

static void
test_python_peer_end_inside_frame_reports_truncated(void **state)
{
    (void)state;
    expect_peer_error("truncate", AX_ETRUNCATED);
}

/* The whole of a source file, NUL-terminated. */
static char *
read_source(const char *rel)
{
    char path[PATH_MAX];
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    FILE *f;

    source_path(path, sizeof(path), rel);
    f = fopen(path, "re");
    if (f == NULL) {
        free(buf);
        fail_msg("cannot open %s: %s", path, strerror(errno));
    }
    assert_non_null(buf);
    for (;;) {
        len += fread(buf + len, 1, cap - len - 1, f);
        if (len < cap - 1) {
            break;
        }
        cap *= 2;
        buf = realloc(buf, cap);
        assert_non_null(buf);
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* The text between the lines begin and end of s (a copy), or NULL. */
static char *
between(const char *s, const char *begin, const char *end)
{
    const char *a = strstr(s, begin);
    const char *b;
    char *out;

    if (a == NULL) {
        return NULL;
    }
    a += strlen(begin);
    b = strstr(a, end);
    if (b == NULL) {
        return NULL;
    }
    out = malloc((size_t)(b - a) + 1);
    assert_non_null(out);
    memcpy(out, a, (size_t)(b - a));
    out[b - a] = '\0';
    return out;
}

static void
test_python_peer_doc_shows_peer_code_verbatim(void **state)
{
    char *doc = read_source(WIRE_DOC);
    char *py = read_source(PEER_SCRIPT);
    char *in_doc = between(doc, "<!-- peer.py example: begin -->\n```python\n",
                           "```\n<!-- peer.py example: end -->");
    char *in_py =
        between(py, "# wire.md example: begin\n", "# wire.md example: end\n");
    bool same = in_doc != NULL && in_py != NULL && strcmp(in_doc, in_py) == 0;

    (void)state;
    free(doc);
    free(py);
    free(in_doc);
    free(in_py);
    if (!same) {
        fail_msg("the Python example in %s is not the code between the "
                 "\"wire.md example\" markers of %s (or a marker is missing)",
                 WIRE_DOC, PEER_SCRIPT);
    }
}

/*
 * Parse the annotated hex dump in docs/wire.md: lines "<offset>  <hex
 * bytes separated by one space>  <comment>". Every offset must equal the
 * bytes before it. Returns the byte count.
 */
static size_t
parse_hex_dump(const char *text, uint8_t *out, size_t cap)
{
    size_t n = 0;
    const char *line, *next;
    char *p;
    unsigned long off;

    for (line = text; *line != '\0'; line = next) {
        next = strchr(line, '\n');
        next = next != NULL ? next + 1 : line + strlen(line);
        while (*line == ' ') {
            line++;
        }
        if (!isdigit((unsigned char)*line)) {
            continue; /* a heading or separator line */
        }
        off = strtoul(line, &p, 10);
        if (off != n) {
            fail_msg("wire.md example: offset %lu, but %zu bytes before it",
                     off, n);
        }
        while (*p == ' ') {
            p++;
        }
        while (isxdigit((unsigned char)p[0]) && isxdigit((unsigned char)p[1])) {
            assert_true(n < cap);
            out[n++] = (uint8_t)strtoul((char[3]){p[0], p[1], '\0'}, NULL, 16);
            p += 2;
            if (p[0] != ' ' || p[1] == ' ') {
                break; /* two spaces: the comment begins */
            }
            p++;
        }
    }
    return n;
}

static void
noop_frame(ax_chan *ch, ax_frame *f, void *ud)
{
    (void)ch;
    (void)f;
    (void)ud;
}

static void
noop_error(ax_chan *ch, int err, void *ud)
{
    (void)ch;
    (void)err;
    (void)ud;
}

/* The bytes ax_chan writes for the doc's example frame. */
static size_t
write_example_frame(uint8_t *out, size_t cap)
{
    static const ax_chan_cbs cbs = {noop_frame, noop_error, NULL};
    ax_frame_hdr hdr = {1, 0, {2, 1}, {1, 2}};
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    int in[2], wire[2];
    ax_chan *ch;
    ax_msg *m;
    const void *data;
    size_t len;
    ssize_t got;

    assert_non_null(loop);
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(wire, O_CLOEXEC), 0);
    assert_int_equal(ax_chan_new(loop, in[0], wire[1], NULL, &cbs, NULL, &ch),
                     0);
    assert_int_equal(ax_msg_pack(&m, "[s d p]", "ping", 1, (ax_pid){1, 2}), 0);
    data = ax_msg_data(m, &len);
    assert_int_equal(ax_chan_send(ch, &hdr, data, len), 0);
    assert_int_equal(ax_chan_flush(ch), 0);
    got = read(wire[0], out, cap);
    ax_msg_free(m);
    ax_chan_close(ch);
    close(in[1]);
    close(wire[0]);
    ev_loop_destroy(loop);
    assert_true(got > 0);
    return (size_t)got;
}

static void
test_python_peer_doc_hex_example_is_what_axon_writes(void **state)
{
    char *doc = read_source(WIRE_DOC);
    char *dump = between(doc, "<!-- example frame: begin -->\n",
                         "<!-- example frame: end -->");
    uint8_t want[256], got[256];
    size_t nwant, ngot;

    (void)state;
    free(doc);
    if (dump == NULL) {
        fail_msg("%s: the \"example frame\" markers are missing", WIRE_DOC);
    }
    nwant = parse_hex_dump(dump, want, sizeof(want));
    free(dump);
    ngot = write_example_frame(got, sizeof(got));
    assert_int_equal(nwant, ngot);
    assert_memory_equal(want, got, ngot);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_python_peer_echoes_every_format_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_python_peer_echoes_large_messages,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_python_peer_keeps_order_of_a_burst,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_python_peer_exits_nonzero_on_malformed_body, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_python_peer_exits_nonzero_on_bad_header, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_python_peer_garbage_length_too_large_stops_channel, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_python_peer_garbage_length_too_short_stops_channel, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_python_peer_end_inside_frame_reports_truncated, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_python_peer_doc_shows_peer_code_verbatim, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_python_peer_doc_hex_example_is_what_axon_writes, setup,
            teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
