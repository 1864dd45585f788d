/*
 * tests/transport/python_peer_util.h - what the python_peer tests share:
 * docs/wire.md is enough to speak axon, and a peer written from it in
 * Python (tests/transport/peer.py, with Debian's python3-msgpack)
 * exchanges frames with an ax_chan.
 *
 * peer_start forks and execs `/usr/bin/python3 peer.py [mode]` on two
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
 * Every tests/transport/python_peer_*_test.c is built with
 * python_peer_util.c and registers its tests with T(fn).
 */
#ifndef AXON_TESTS_PYTHON_PEER_UTIL_H
#define AXON_TESTS_PYTHON_PEER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <ev.h>

#include <axon.h>

#include "support/testutil.h"

#define INSTALL_HINT                                                           \
    "install the Debian package python3-msgpack "                              \
    "(apt-get install python3 python3-msgpack)"
#define PEER_SCRIPT "tests/transport/peer.py"
#define WIRE_DOC "docs/wire.md"

/* peer.py exit statuses */
#define PEER_OK 0
#define PEER_PROTOCOL_ERROR 2
#define PEER_NO_MSGPACK 3

#define BIG ((size_t)1 << 20)

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

/* The path of a file of the source tree. */
void source_path(char *buf, size_t size, const char *rel);
/* A peer with nothing sent or seen; echo: replies are checked against
 * out[] in order (else the peer sends ["before"] and a bad frame). */
void peer_init(struct peer *p, bool echo);
/* Start peer.py in mode (NULL: echo) on a channel of a new loop. pre, if
 * not NULL, is written raw to the peer's stdin before the channel
 * exists. */
void peer_start(struct peer *p, const char *mode, const void *pre,
                size_t prelen);
/* Queue a frame to send: m (taken), or raw bytes if m is NULL. */
void add_out(struct peer *p, ax_msg *m, const void *raw, size_t len);
/* Send what the channel takes; the rest when on_drain says. Then shut. */
void pump(struct peer *p);
/* Send everything queued, run until the channel closes, close it, reap
 * the peer, free the messages; the peer's exit status. */
int peer_run(struct peer *p);
/* Fail the test with what the run found wrong (after its cleanup). */
void assert_run_ok(const struct peer *p);

/* Setup and teardown of every test: no fd or child left behind. */
int python_peer_setup(void **state);
int python_peer_teardown(void **state);

#define T(fn)                                                                  \
    cmocka_unit_test_setup_teardown(fn, python_peer_setup, python_peer_teardown)

#endif /* AXON_TESTS_PYTHON_PEER_UTIL_H */
