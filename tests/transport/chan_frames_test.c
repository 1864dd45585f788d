/*
 * tests/transport/chan_frames_test.c - frames of every size arrive intact.
 *
 * A child sends frames of 1 B, 4 KiB, 1 MiB and max_frame (the large ones
 * with ax_chan_send_owned, without a copy); the parent takes each body
 * without a copy and echoes it back, over ax_chan_pipes and over a
 * socketpair. One byte over max_frame is refused by both sends.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <valgrind/valgrind.h>

#include <axon/chan.h>
#include <axon/error.h>

#include "transport/chan_internal.h"

#include "chan_util.h"

/* --- frames of every size, echoed back ------------------------------------ */

/* The last size is max_frame of the run (set before the fork). */
static size_t sizes[] = {1, 4 * KiB, MiB, DEF_MAX_FRAME};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))
#define MAX_SIZE (sizes[NSIZES - 1])
/* Both ends' options: max_frame 0 (the default) when MAX_SIZE is it. */
static ax_chan_opts sizes_opts;

struct sizes_state {
    uint8_t *body[NSIZES];
    struct owned rel[NSIZES];
};

/* Frames of MiB and more are sent without a copy. */
static int
send_sized(struct peer *p, uint64_t i)
{
    struct sizes_state *s = p->ctx;
    ax_frame_hdr h = hdr_of(i);

    if (sizes[i] >= MiB) {
        return ax_chan_send_owned(p->ch, &h, s->body[i], sizes[i],
                                  owned_release, &s->rel[i]);
    }
    return ax_chan_send(p->ch, &h, s->body[i], sizes[i]);
}

static bool
sized_ok(const ax_frame *f, uint64_t i)
{
    return i < NSIZES && hdr_is(&f->hdr, i) && f->len == sizes[i] &&
           pattern_ok(f->body, f->len, i);
}

static void
check_echo(struct peer *p, ax_frame *f)
{
    if (!sized_ok(f, p->got)) {
        note_bad(p, 20 + (int)p->got);
    }
    if (p->got + 1 == NSIZES && ax_chan_shutdown(p->ch) != 0) {
        note_bad(p, 30);
    }
}

/* Child: send one frame of each size (the largest exactly max_frame),
 * check each echo, shut down and wait for the parent's EOF. */
static int
sizes_child(void *arg)
{
    const struct link *l = arg;
    struct ev_loop *loop = child_begin(l);
    ax_frame_hdr h = hdr_of(0);
    struct sizes_state s;
    struct owned over = {0, 0, NULL};
    struct peer p;

    CHILD_CHECK(loop != NULL, 90);
    memset(&s, 0, sizeof(s));
    for (size_t i = 0; i < NSIZES; i++) {
        /* one byte more than the largest, for the oversize checks */
        s.body[i] = malloc(sizes[i] + 1);
        CHILD_CHECK(s.body[i] != NULL, 91);
        pattern_fill(s.body[i], sizes[i], i);
    }
    peer_init(&p, loop);
    p.ctx = &s;
    p.send_one = send_sized;
    p.to_send = NSIZES;
    p.on_frame = check_echo;
    CHILD_CHECK(peer_open(&p, l->cr, l->cw, &sizes_opts) == 0, 92);
    /* max_frame + 1 is refused by both sends, and nothing is queued. */
    CHILD_CHECK(ax_chan_send(p.ch, &h, s.body[NSIZES - 1], MAX_SIZE + 1) ==
                    AX_EMSGSIZE,
                2);
    CHILD_CHECK(ax_chan_send_owned(p.ch, &h, s.body[NSIZES - 1], MAX_SIZE + 1,
                                   owned_release, &over) == AX_EMSGSIZE,
                3);
    CHILD_CHECK(over.calls == 0 && ax_chan_queued(p.ch) == 0, 4);
    peer_pump(&p);
    CHILD_CHECK(run_until(&p, has_error, 60), 5);
    CHILD_CHECK(p.bad == 0, p.bad);
    CHILD_CHECK(p.got == NSIZES, 6);
    CHILD_CHECK(p.nerr == 1 && p.err[0] == AX_EOF, 7);
    CHILD_CHECK(p.refused > 0 && p.drains > 0, 8); /* 64 MiB had to wait */
    for (size_t i = 0; i < NSIZES; i++) {
        if (sizes[i] >= MiB) { /* released once, as written */
            CHILD_CHECK(s.rel[i].calls == 1 && s.rel[i].status == 0, 40 + i);
        }
        free(s.body[i]);
    }
    ax_chan_close(p.ch);
    ev_loop_destroy(loop);
    return 0;
}

struct echo_state {
    struct owned rel[NSIZES];
    void *body[NSIZES]; /* taken bodies waiting to be echoed */
    size_t len[NSIZES];
    bool direct[NSIZES]; /* the body came in a buffer of its own */
};

static int
send_echo(struct peer *p, uint64_t i)
{
    struct echo_state *e = p->ctx;
    ax_frame_hdr h = hdr_of(i);
    int rc;

    e->rel[i].buf = e->body[i];
    rc = ax_chan_send_owned(p->ch, &h, e->body[i], e->len[i], owned_release,
                            &e->rel[i]);
    if (rc < 0) {
        e->rel[i].buf = NULL; /* still ours */
    }
    return rc;
}

/* Parent: check a frame, keep its body without a copy and echo it. */
static void
echo_frame(struct peer *p, ax_frame *f)
{
    struct echo_state *e = p->ctx;
    uint64_t i = p->got;
    const void *body = f->body;

    if (!sized_ok(f, i)) {
        note_bad(p, 20 + (int)i);
        return;
    }
    e->direct[i] = f->own != NULL;
    e->len[i] = f->len;
    e->body[i] = ax_frame_take(f);
    if (e->body[i] == NULL || f->body != NULL ||
        (e->direct[i] && e->body[i] != body)) {
        note_bad(p, 30 + (int)i);
        return;
    }
    p->to_send++;
    peer_pump(p);
}

static void
shutdown_on_eof(struct peer *p, int err)
{
    if (err == AX_EOF && ax_chan_shutdown(p->ch) != 0) {
        note_bad(p, 40);
    }
}

static bool
eof_and_shut(const struct peer *p)
{
    return p->bad != 0 || (p->nerr > 0 && write_closed(p));
}

/* Frames of 1 B, 4 KiB, 1 MiB and max_frame (0: the default, 64 MiB) over
 * a link of kind, echoed back. */
static void
frames_of_every_size_arrive_intact(int kind, size_t max_frame)
{
    struct echo_state e;
    ax_chan_stats st;
    struct link l;
    struct peer p;
    uint8_t dummy[8] = {0};
    ax_frame_hdr h = hdr_of(0);
    uint64_t t0 = t_now_ns();
    pid_t pid;

    memset(&e, 0, sizeof(e));
    sizes_opts = (ax_chan_opts){max_frame, 0, 0, 0, 0};
    MAX_SIZE = max_frame ? max_frame : DEF_MAX_FRAME;
    link_open(&l, kind);
    pid = spawn(sizes_child, &l);
    peer_init(&p, parent_begin(&l));
    p.ctx = &e;
    p.send_one = send_echo;
    p.on_frame = echo_frame;
    p.on_error = shutdown_on_eof;
    assert_int_equal(peer_open(&p, l.pr, l.pw, &sizes_opts), 0);
    /* The size check comes first: the body is never touched. */
    assert_int_equal(ax_chan_send_owned(p.ch, &h, dummy, MAX_SIZE + 1,
                                        owned_release, &e.rel[0]),
                     AX_EMSGSIZE);
    assert_int_equal(e.rel[0].calls, 0);
    assert_true(run_until(&p, eof_and_shut, 60));
    assert_int_equal(reap(pid), 0);
    assert_int_equal(p.bad, 0);
    assert_int_equal(p.got, NSIZES);
    assert_int_equal(p.nerr, 1);
    assert_int_equal(p.err[0], AX_EOF);
    for (size_t i = 0; i < NSIZES; i++) {
        assert_int_equal(e.rel[i].calls, 1);
        assert_int_equal(e.rel[i].status, 0);
        assert_int_equal(e.direct[i], sizes[i] >= p.ch->rd.direct_min);
    }
    ax_chan_stats_get(p.ch, &st);
    assert_int_equal(st.frames_in, NSIZES);
    assert_int_equal(st.frames_out, NSIZES);
    assert_int_equal(st.bytes_in, st.bytes_out);
    print_message("  1 B, 4 KiB, 1 MiB, %zu MiB over %s and back: %.2f s\n",
                  MAX_SIZE / MiB, kind_name[kind],
                  (double)(t_now_ns() - t0) / 1e9);
    parent_end(&p);
}

static void
test_chan_frames_up_to_max_frame_arrive_intact_over_pipes(void **state)
{
    (void)state;
    frames_of_every_size_arrive_intact(LINK_PIPES, 0);
}

static void
test_chan_frames_up_to_max_frame_arrive_intact_over_a_socketpair(void **state)
{
    (void)state;
    /* Valgrind checks every writev's and read's whole buffer, so a 64 MiB
     * body costs (calls x 64 MiB); a socket takes ~200 KiB per call, which
     * makes that minutes. There it runs with a smaller max_frame. */
    frames_of_every_size_arrive_intact(LINK_SOCKET,
                                       RUNNING_ON_VALGRIND ? 8 * MiB : 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_chan_frames_up_to_max_frame_arrive_intact_over_pipes),
        T(test_chan_frames_up_to_max_frame_arrive_intact_over_a_socketpair),
    };

    chan_test_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
