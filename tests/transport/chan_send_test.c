/*
 * tests/transport/chan_send_test.c - the sends, in one process.
 *
 * An urgent send passes the high watermark and keeps the order; an owned
 * body is borrowed until written and released once (canceled by a close);
 * a failed allocation is AX_ENOMEM and leaves nothing behind, in
 * ax_chan_new, the sends and the reader.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <ev.h>

#include <axon/alloc.h>
#include <axon/chan.h>
#include <axon/error.h>

#include "base/alloc.h"
#include "transport/chan_internal.h"

#include "chan_util.h"

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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_chan_urgent_send_passes_the_watermark_and_keeps_order),
        T(test_chan_send_owned_is_released_once_canceled_by_close),
        T(test_chan_allocation_failure_is_enomem_and_leaves_nothing_behind),
    };

    chan_test_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
