/*
 * tests/transport/chan_errors_test.c - how a channel reports a peer that
 * ends or misbehaves.
 *
 * A raw child writes bytes with write(2): an end at a frame boundary is
 * AX_EOF and one inside a frame AX_ETRUNCATED; a malformed header stops
 * delivery with one error (AX_EPROTO or AX_EMSGSIZE). Writing to a peer
 * that is gone is AX_EPIPE, never SIGPIPE, and every later send fails the
 * same way.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include <axon/chan.h>
#include <axon/error.h>

#include "chan_util.h"

/* --- raw peers: EOF, truncation, malformed headers ------------------------ */

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

/* --- EPIPE ---------------------------------------------------------------- */

static int
count_err(const struct peer *p, int err)
{
    int n = 0;

    for (int i = 0; i < p->nerr && i < MAX_ERRS; i++) {
        n += p->err[i] == err;
    }
    return n;
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_chan_peer_end_is_eof_at_boundary_and_truncated_mid_frame),
        T(test_chan_malformed_header_stops_delivery_with_one_error),
        T(test_chan_write_to_closed_peer_is_epipe_not_sigpipe),
    };

    chan_test_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
