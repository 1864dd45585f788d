/*
 * tests/transport/chan_pause_test.c - ax_chan_read_stop and
 * ax_chan_read_start.
 *
 * A read_stop inside on_frame pauses delivery right after that frame, and
 * nothing more is read until read_start, which resumes from the loop. A
 * paused reader leaves the data in the pipe, so the sender backs up to its
 * high watermark.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <ev.h>

#include <axon/chan.h>
#include <axon/error.h>

#include "chan_util.h"

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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_chan_read_stop_in_on_frame_pauses_after_that_frame),
        T(test_chan_read_stop_leaves_data_unread_and_backs_up_the_peer),
    };

    chan_test_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
