/*
 * tests/transport/python_peer_hostile_test.c - both sides of a bad frame
 * (see python_peer_util.h).
 *
 * peer.py exits with a protocol error on a body that is not exactly one
 * well-formed value and on bytes that are no frame, as docs/wire.md says;
 * a peer.py that writes garbage or ends inside a frame stops the channel
 * with one error, after the good frame before it.
 */
#include "support/testutil.h"

#include <stdbool.h>
#include <stddef.h>

#include <axon.h>

#include "python_peer_util.h"

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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_python_peer_exits_nonzero_on_malformed_body),
        T(test_python_peer_exits_nonzero_on_bad_header),
        T(test_python_peer_garbage_length_too_large_stops_channel),
        T(test_python_peer_garbage_length_too_short_stops_channel),
        T(test_python_peer_end_inside_frame_reports_truncated),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
