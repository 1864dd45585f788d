/*
 * tests/transport/chan_backpressure_test.c - many frames, sent faster than
 * they are read, arrive in order.
 *
 * A million small frames over pipes and over a socketpair, and a slow
 * reader: the sender is refused at the high watermark, waits for on_drain
 * and its queue never grows past the watermark plus one frame; sends from
 * on_drain go out without another event; frames are batched into few
 * writev and read calls.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <ev.h>
#include <valgrind/valgrind.h>

#include <axon/chan.h>
#include <axon/error.h>

#include "chan_util.h"

struct flood_result {
    ax_chan_stats st;   /* the sender's counters */
    ax_chan_stats peer; /* the receiver's, from its report */
    uint64_t drains;
    size_t queued_max;
    double seconds;
};

/* Parent: send job->n sequenced frames to a receiver_child over a link of
 * kind with opts, respecting backpressure; shut down; collect the report. */
static void
flood(int kind, struct recv_job *job, const ax_chan_opts *opts,
      struct flood_result *r)
{
    struct send_ctx s = {job->body, malloc(job->body)};
    struct link l;
    struct peer p;
    uint64_t t0;
    pid_t pid;

    assert_non_null(s.buf);
    link_open(&l, kind);
    job->l = &l;
    pid = spawn(receiver_child, job);
    peer_init(&p, parent_begin(&l));
    p.ctx = &s;
    p.send_one = send_seq;
    p.to_send = job->n;
    p.shut_after = true;
    t0 = t_now_ns();
    assert_int_equal(peer_open(&p, l.pr, l.pw, opts), 0);
    peer_pump(&p);
    assert_true(run_until(&p, sent_and_shut, 60));
    assert_int_equal(p.bad, 0);
    assert_int_equal(p.nerr, 0);
    assert_true(run_until(&p, report_and_eof, 60));
    r->seconds = (double)(t_now_ns() - t0) / 1e9;
    assert_int_equal(reap(pid), 0);
    assert_int_equal(p.nerr, 1);
    assert_int_equal(p.err[0], AX_EOF);
    ax_chan_stats_get(p.ch, &r->st);
    r->peer = p.report;
    r->drains = p.drains;
    r->queued_max = p.queued_max;
    assert_int_equal(r->st.frames_out, job->n);
    assert_int_equal(r->peer.frames_in, job->n);
    assert_int_equal(p.sent, job->n);
    parent_end(&p);
    free(s.buf);
}

static void
test_chan_million_small_frames_arrive_in_order_under_backpressure(void **state)
{
    /* Under valgrind a tenth: a million would take minutes there. */
    uint64_t n = RUNNING_ON_VALGRIND ? 100000 : 1000000;
    struct recv_job job = {NULL, n, 8, 0, 0, 0, -1, -1};
    struct flood_result r;

    (void)state;
    flood(LINK_PIPES, &job, NULL, &r);
    print_message(
        "  %llu frames over pipes: %.2f s, %llu writev, %llu "
        "reads, queued_peak %zu (high %zu), refused %llu, "
        "drains %llu\n",
        (unsigned long long)n, r.seconds, (unsigned long long)r.st.writes,
        (unsigned long long)r.peer.reads, r.st.queued_peak, DEF_HIGH_WATER,
        (unsigned long long)r.st.refused, (unsigned long long)r.drains);
    /* The sender outran the pipe, was refused and waited for on_drain. */
    assert_true(r.st.refused > 0);
    assert_true(r.drains > 0);
    assert_true(r.st.queued_peak >= DEF_HIGH_WATER);
    assert_true(r.st.queued_peak < DEF_HIGH_WATER + AX_FRAME_OVERHEAD + 8);
    /* Batching: many frames per writev and per read. */
    assert_true(r.st.writes < n / 100);
    assert_true(r.peer.reads < n / 100);
}

static void
test_chan_million_small_frames_arrive_in_order_over_a_socketpair(void **state)
{
    uint64_t n = RUNNING_ON_VALGRIND ? 100000 : 1000000;
    struct recv_job job = {NULL, n, 16, 0, 0, 0, -1, -1};
    struct flood_result r;

    (void)state;
    flood(LINK_SOCKET, &job, NULL, &r);
    print_message("  %llu frames over a socketpair: %.2f s, %llu writev, "
                  "%llu reads\n",
                  (unsigned long long)n, r.seconds,
                  (unsigned long long)r.st.writes,
                  (unsigned long long)r.peer.reads);
    assert_true(r.st.queued_peak < DEF_HIGH_WATER + AX_FRAME_OVERHEAD + 16);
    assert_true(r.st.writes < n / 100);
}

static void
test_chan_slow_reader_keeps_queue_under_high_water_plus_one_frame(void **state)
{
    const size_t body = 1000, frame = AX_FRAME_OVERHEAD + body;
    ax_chan_opts opts = {0, 64 * KiB, 16 * KiB, 0, 0};
    struct recv_job job = {NULL, 2000, body, 100, 50, 2000, -1, -1};
    struct flood_result r;

    (void)state;
    for (int kind = LINK_PIPES; kind <= LINK_SOCKET; kind++) {
        flood(kind, &job, &opts, &r);
        print_message("  slow reader over %s: queued_peak %zu, high %zu + "
                      "frame %zu, refused %llu, drains %llu, %.2f s\n",
                      kind_name[kind], r.st.queued_peak, opts.high_water, frame,
                      (unsigned long long)r.st.refused,
                      (unsigned long long)r.drains, r.seconds);
        assert_true(r.st.queued_peak >= opts.high_water);
        assert_true(r.st.queued_peak < opts.high_water + frame);
        assert_true(r.queued_max <= r.st.queued_peak);
        assert_true(r.st.refused > 0);
        assert_true(r.drains > 0);
        assert_int_equal(r.st.queued, 0);
    }
}

static void
test_chan_sends_from_on_drain_are_written_without_another_event(void **state)
{
    /* A tiny high watermark: every flush empties the queue, so on_drain
     * fires from the flush that runs before the loop blocks, and the frames
     * it sends must still go out without waiting for an unrelated event. */
    ax_chan_opts opts = {0, 4 * KiB, KiB, 0, 0};
    struct recv_job job = {NULL, 20000, 64, 0, 0, 0, -1, -1};
    struct flood_result r;

    (void)state;
    flood(LINK_PIPES, &job, &opts, &r);
    print_message("  drain-driven sender: %llu drains, %.2f s\n",
                  (unsigned long long)r.drains, r.seconds);
    assert_true(r.drains > 100);
    assert_true(r.seconds < 10 * time_scale);
}

static void
test_chan_thousand_frames_sent_at_once_take_one_writev_one_read(void **state)
{
    struct recv_job job = {NULL, 1000, 16, 0, 0, 0, -1, -1};
    struct send_ctx s = {16, malloc(16)};
    int sync[2];
    struct link l;
    struct peer p;
    ax_chan_stats st;
    pid_t pid;

    (void)state;
    assert_non_null(s.buf);
    link_open(&l, LINK_PIPES);
    assert_int_equal(pipe2(sync, O_CLOEXEC), 0);
    job.l = &l;
    job.sync_fd = sync[0];
    job.sync_unused = sync[1];
    pid = spawn(receiver_child, &job);
    close(sync[0]);
    peer_init(&p, parent_begin(&l));
    p.ctx = &s;
    p.send_one = send_seq;
    p.to_send = job.n;
    p.shut_after = true;
    assert_int_equal(peer_open(&p, l.pr, l.pw, NULL), 0);
    peer_pump(&p); /* all 1000 before the loop runs */
    assert_int_equal(p.sent, 1000);
    assert_int_equal(ax_chan_queued(p.ch), 1000 * (AX_FRAME_OVERHEAD + 16));
    assert_true(run_until(&p, sent_and_shut, 30));
    /* Only now the child starts reading: all of it is in the pipe. */
    assert_int_equal(write(sync[1], "g", 1), 1);
    close(sync[1]);
    assert_true(run_until(&p, report_and_eof, 30));
    assert_int_equal(reap(pid), 0);
    ax_chan_stats_get(p.ch, &st);
    print_message("  1000 frames: %llu writev, %llu reads by the receiver\n",
                  (unsigned long long)st.writes,
                  (unsigned long long)p.report.reads);
    assert_true(st.writes >= 1 && st.writes < 3);
    assert_true(p.report.reads >= 1 && p.report.reads < 3);
    assert_int_equal(st.bytes_out, 1000 * (AX_FRAME_OVERHEAD + 16));
    assert_int_equal(p.report.bytes_in, st.bytes_out);
    parent_end(&p);
    free(s.buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_chan_million_small_frames_arrive_in_order_under_backpressure),
        T(test_chan_million_small_frames_arrive_in_order_over_a_socketpair),
        T(test_chan_slow_reader_keeps_queue_under_high_water_plus_one_frame),
        T(test_chan_sends_from_on_drain_are_written_without_another_event),
        T(test_chan_thousand_frames_sent_at_once_take_one_writev_one_read),
    };

    chan_test_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
