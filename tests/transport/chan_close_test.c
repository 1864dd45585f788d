/*
 * tests/transport/chan_close_test.c - ending a channel: ax_chan_close
 * inside its own callbacks, and ax_chan_shutdown.
 *
 * Closing inside on_frame, on_error or a release is safe and cancels what
 * is still queued (each owned body released once). A shutdown refuses new
 * sends, still delivers every queued frame, then the peer sees EOF while
 * reading goes on.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include <axon/chan.h>
#include <axon/error.h>

#include "transport/chan_internal.h"

#include "chan_util.h"

/* --- closing inside callbacks --------------------------------------------- */

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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_chan_close_inside_on_frame_is_safe_and_cancels_the_queue),
        T(test_chan_close_inside_on_error_is_safe),
        T(test_chan_close_inside_release_is_safe),
        T(test_chan_shutdown_delivers_every_queued_frame_then_eof),
    };

    chan_test_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
