/*
 * tests/transport/python_peer_echo_test.c - every value axon writes comes
 * back from peer.py byte for byte (see python_peer_util.h).
 *
 * Every msgpack format type at every encoding boundary (integers, floats,
 * strings and binaries, addresses, arrays and maps), 1 MiB bodies both
 * ways (written and read without a copy), and the order of a burst of a
 * thousand frames batched into few writev calls.
 */
#include "support/testutil.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <ev.h>

#include <axon.h>

#include "python_peer_util.h"

#define BURST 1000

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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_python_peer_echoes_every_format_type),
        T(test_python_peer_echoes_large_messages),
        T(test_python_peer_keeps_order_of_a_burst),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
