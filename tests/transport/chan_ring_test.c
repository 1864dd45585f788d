/*
 * tests/transport/chan_ring_test.c - ax_chan with its frames in shared
 * rings (ax__chan_use_ring, the process channels of the actor layer):
 * what a process sent is delivered even when it exits right after the
 * send without running its loop; frames larger than the ring go through
 * it whole, both ways at once; a byte on the doorbell pipe that is not a
 * doorbell ends reading with AX_EPROTO; a frame delivered while the
 * reader spins or polls the ring ends the loop iteration (EVRUN_ONCE); a
 * writer SIGKILLed at random mid-stream leaves exactly a prefix.
 *
 * A 64 KiB ring (smaller than the process channels' 512 KiB) makes the
 * rings fill and wrap often. Children report through their exit status.
 */
#include "support/testutil.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <valgrind/valgrind.h>

#include <axon.h>

#include "transport/chan_internal.h"

#define RING (64u * 1024u)
#define SMALL 2000         /* frames of up to 200 bytes: all fit the ring */
#define BIG (1024u * 1024) /* 16 rings' worth */
#define BIGS 3
#define STREAM 10000 /* numbered frames a killed writer tries to send */
#define KILL_ROUNDS (RUNNING_ON_VALGRIND ? 10 : 100)
#define ROUND_MAX_NS (20 * 1000000000ull) /* a stall, not a slow machine */

static ax_ring_map *g_map;
/* The parent's loop. Not the default loop: its SIGCHLD watcher reaps any
 * child that ends while it runs, before t_wait can see how. */
static struct ev_loop *g_loop;
static int g_parent[2], g_child[2];

/* Body byte i of frame n. */
static uint8_t
body_at(uint64_t n, size_t i)
{
    return (uint8_t)(n * 7 + i * 13 + (i >> 8));
}

static size_t
small_len(uint64_t n)
{
    return (size_t)(n * 37 % 200);
}

static void
fill(uint8_t *p, size_t len, uint64_t n)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = body_at(n, i);
    }
}

static bool
body_ok(const ax_frame *f, size_t len, uint64_t n)
{
    const uint8_t *p = f->body;

    if (f->len != len) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (p[i] != body_at(n, i)) {
            return false;
        }
    }
    return true;
}

/* What a side saw. */
typedef struct side {
    ax_chan *ch;
    uint64_t got;
    int err;
    bool bad;      /* a frame out of order or with a wrong body */
    bool echo;     /* send every frame back */
    uint64_t want; /* stop the loop once this many came (0: never) */
    pid_t victim;  /* SIGKILL it once kill_at frames came (0: nobody) */
    uint64_t kill_at;
} side;

static void
on_frame(ax_chan *ch, ax_frame *f, void *ud)
{
    side *s = ud;
    size_t len = f->hdr.kind == 2 ? BIG : small_len(f->hdr.flags);

    if (f->hdr.src.id != s->got || !body_ok(f, len, f->hdr.src.id)) {
        s->bad = true;
    }
    s->got++;
    if (s->victim > 0 && s->got == s->kill_at) {
        kill(s->victim, SIGKILL); /* mid-stream: it is writing the next */
    }
    if (s->echo && ax_chan_send_urgent(ch, &f->hdr, f->body, f->len) != 0) {
        s->bad = true;
    }
    /* Here, not in a check watcher: the last frames may come in the
     * ring's poll before the loop blocks, and nothing wakes it after. */
    if ((s->want != 0 && s->got == s->want) || s->bad) {
        ev_break(ch->loop, EVBREAK_ALL);
    }
}

static void
on_error(ax_chan *ch, int err, void *ud)
{
    side *s = ud;

    if (s->err == 0) {
        s->err = err;
    }
    ev_break(ch->loop, EVBREAK_ALL);
}

static const ax_chan_cbs cbs = {on_frame, on_error, NULL};

/* A channel over fds[0] (read) and fds[1] (write) on the rings, side k. */
static ax_chan *
open_side(struct ev_loop *loop, int fds[2], int k, side *s)
{
    ax_chan *ch = NULL;

    if (ax_chan_new(loop, fds[0], fds[1], NULL, &cbs, s, &ch) != 0) {
        return NULL;
    }
    ax__chan_use_ring(ch, ax__ring_map_hold(g_map), k);
    s->ch = ch;
    return ch;
}

static ax_frame_hdr
hdr(uint64_t n, int kind)
{
    ax_frame_hdr h = {(uint8_t)kind, (uint8_t)n, {1, 2}, {0, n}};

    return h;
}

/* The child's start: the parent's ends closed, a fresh loop, its side. */
static struct ev_loop *
child_start(side *s)
{
    struct ev_loop *loop;

    close(g_parent[0]);
    close(g_parent[1]);
    loop = ev_loop_new(EVFLAG_AUTO);
    if (loop == NULL || open_side(loop, g_child, 1, s) == NULL) {
        _exit(90);
    }
    ax__ring_map_free(g_map); /* the channel holds it */
    return loop;
}

/* Sends count numbered frames, running its loop only while the ring is
 * full, and exits right after the last send: nothing flushed, no
 * doorbell owed rung. */
static _Noreturn void
send_numbered_and_exit(uint64_t count)
{
    side s = {0};
    struct ev_loop *loop = child_start(&s);
    uint8_t body[256];

    for (uint64_t n = 0; n < count; n++) {
        ax_frame_hdr h = hdr(n, 1);
        int rc;

        fill(body, small_len((uint8_t)n), n);
        while ((rc = ax_chan_send(s.ch, &h, body, small_len((uint8_t)n))) ==
               AX_EAGAIN) {
            ev_run(loop, EVRUN_ONCE);
        }
        CHILD_CHECK(rc == 0, 2);
    }
    _exit(0);
}

/* SMALL frames, then the end. */
static int
child_send_and_exit(void *arg)
{
    (void)arg;
    send_numbered_and_exit(SMALL);
}

/* STREAM frames, unless it is killed first. */
static int
child_stream(void *arg)
{
    (void)arg;
    send_numbered_and_exit(STREAM);
}

/* New rings and pipes, a child running fn on its side; the parent keeps
 * its pipe ends and one hold of g_map for its own side. */
static pid_t
fork_on_rings(int (*fn)(void *))
{
    pid_t pid;

    assert_int_equal(ax__ring_map_new(RING, &g_map), 0);
    assert_int_equal(ax_chan_pipes(g_parent, g_child), 0);
    pid = t_fork(fn, NULL);
    close(g_child[0]);
    close(g_child[1]);
    return pid;
}

/* The parent's side, on g_loop. */
static side
parent_run(int (*child)(void *), pid_t *pid, void (*send)(side *s))
{
    struct ev_loop *loop = g_loop;
    side s = {0};

    *pid = fork_on_rings(child);
    assert_non_null(open_side(loop, g_parent, 0, &s));
    ax__ring_map_free(g_map);
    if (send != NULL) {
        send(&s);
    }
    ev_run(loop, 0);
    return s;
}

static void
test_frames_sent_right_before_exit_arrive(void **state)
{
    pid_t pid;
    side s;

    (void)state;
    s = parent_run(child_send_and_exit, &pid, NULL);
    assert_int_equal(t_wait(pid), 0);
    assert_false(s.bad);
    assert_int_equal(s.got, SMALL);
    assert_int_equal(s.err, AX_EOF);
    ax_chan_close(s.ch);
}

/* Echoes every frame, until the parent's end. */
static int
child_echo(void *arg)
{
    side s = {.echo = true};
    struct ev_loop *loop = child_start(&s);

    (void)arg;
    ev_run(loop, 0);
    CHILD_CHECK(!s.bad, 2);
    CHILD_CHECK(s.err == AX_EOF, 3);
    CHILD_CHECK(s.got == BIGS + SMALL, 4);
    ax_chan_close(s.ch);
    ev_loop_destroy(loop);
    return 0;
}

static void
send_mixed(side *s)
{
    static uint8_t big[BIG];
    uint8_t body[256];
    uint64_t n = 0;

    for (int b = 0; b < BIGS; b++) {
        ax_frame_hdr h = hdr(n, 2);

        fill(big, BIG, n);
        /* copied by send_urgent: big can be refilled */
        assert_int_equal(ax_chan_send_urgent(s->ch, &h, big, BIG), 0);
        n++;
        for (int i = 0; i < SMALL / BIGS; i++, n++) {
            ax_frame_hdr hs = hdr(n, 1);

            fill(body, small_len((uint8_t)n), n);
            assert_int_equal(
                ax_chan_send_urgent(s->ch, &hs, body, small_len((uint8_t)n)),
                0);
        }
    }
    for (; n < BIGS + SMALL; n++) {
        ax_frame_hdr hs = hdr(n, 1);

        fill(body, small_len((uint8_t)n), n);
        assert_int_equal(
            ax_chan_send_urgent(s->ch, &hs, body, small_len((uint8_t)n)), 0);
    }
}

static void
test_frames_larger_than_the_ring_go_through_both_ways(void **state)
{
    struct ev_loop *loop = g_loop;
    side s = {.want = BIGS + SMALL};
    pid_t pid;

    (void)state;
    pid = fork_on_rings(child_echo);
    assert_non_null(open_side(loop, g_parent, 0, &s));
    ax__ring_map_free(g_map);
    send_mixed(&s);
    ev_run(loop, 0);
    assert_false(s.bad);
    assert_int_equal(s.got, BIGS + SMALL);
    assert_int_equal(s.err, 0);
    ax_chan_close(s.ch); /* the child sees its end */
    assert_int_equal(t_wait(pid), 0);
}

/* Writes a byte that is not a doorbell, then waits for its end. */
static int
child_bad_bell(void *arg)
{
    side s = {0};
    struct ev_loop *loop = child_start(&s);
    int wfd;

    (void)arg;
    ax_chan_fds(s.ch, NULL, &wfd);
    CHILD_CHECK(write(wfd, "?", 1) == 1, 2);
    ev_run(loop, 0); /* until the parent closes */
    ax_chan_close(s.ch);
    ev_loop_destroy(loop);
    return 0;
}

static void
test_a_stray_byte_on_the_doorbell_pipe_is_an_error(void **state)
{
    pid_t pid;
    side s;

    (void)state;
    s = parent_run(child_bad_bell, &pid, NULL);
    assert_int_equal(s.err, AX_EPROTO);
    ax_chan_close(s.ch);
    assert_int_equal(t_wait(pid), 0);
}

/* --- a round trip at a time, the loop run once at a time ----------------
 *
 * The owner runs ev_run(EVRUN_ONCE) and looks at a counter its on_frame
 * moves, the way a program embedding a channel may. The pongs come while
 * the reader spins or polls the ring (in a prepare callback); each must
 * end the iteration without the loop blocking, or the loop waits in
 * epoll for a frame already delivered (libev's cap: about 60 s). A pause
 * in the middle makes both sides spin out and sleep, so the doorbells
 * wake them again.
 */
#define PINGS 2000

typedef struct pinger {
    uint64_t pongs;
    int err;
} pinger;

static void
pong_frame(ax_chan *ch, ax_frame *f, void *ud)
{
    (void)ch;
    (void)f;
    ((pinger *)ud)->pongs++;
}

static void
echo_frame(ax_chan *ch, ax_frame *f, void *ud)
{
    (void)ud;
    if (ax_chan_send(ch, &f->hdr, f->body, f->len) != 0) {
        _exit(5);
    }
}

static void
on_error_note(ax_chan *ch, int err, void *ud)
{
    ((pinger *)ud)->err = err;
    ev_break(ch->loop, EVBREAK_ALL);
}

static int
child_plain_echo(void *arg)
{
    static const ax_chan_cbs ecbs = {echo_frame, on_error_note, NULL};
    struct ev_loop *loop;
    pinger p = {0};
    ax_chan *ch = NULL;

    (void)arg;
    close(g_parent[0]);
    close(g_parent[1]);
    loop = ev_loop_new(EVFLAG_AUTO);
    CHILD_CHECK(loop != NULL, 2);
    CHILD_CHECK(
        ax_chan_new(loop, g_child[0], g_child[1], NULL, &ecbs, &p, &ch) == 0,
        3);
    ax__chan_use_ring(ch, g_map, 1); /* the channel takes this hold */
    ev_run(loop, 0);
    CHILD_CHECK(p.err == AX_EOF, 4);
    ax_chan_close(ch);
    ev_loop_destroy(loop);
    return 0;
}

static void
test_each_pong_ends_a_loop_iteration(void **state)
{
    static const ax_chan_cbs pcbs = {pong_frame, on_error_note, NULL};
    struct ev_loop *loop = g_loop;
    ax_frame_hdr h = hdr(0, 1);
    pinger p = {0};
    ax_chan *ch = NULL;
    uint64_t t0, worst = 0;
    pid_t pid;

    (void)state;
    pid = fork_on_rings(child_plain_echo);
    assert_int_equal(
        ax_chan_new(loop, g_parent[0], g_parent[1], NULL, &pcbs, &p, &ch), 0);
    ax__chan_use_ring(ch, g_map, 0);
    for (uint64_t i = 0; i < PINGS && p.err == 0 && worst < 10000000000u; i++) {
        if (i == PINGS / 2) {
            usleep(50000); /* both spin out and sleep */
        }
        assert_int_equal(ax_chan_send(ch, &h, "ping", 4), 0);
        t0 = t_now_ns();
        while (p.pongs == i && p.err == 0 && t_now_ns() - t0 < 20000000000u) {
            ev_run(loop, EVRUN_ONCE);
        }
        worst = t_now_ns() - t0 > worst ? t_now_ns() - t0 : worst;
    }
    assert_int_equal(p.err, 0);
    assert_int_equal(p.pongs, PINGS);
    /* A pong that waited in the poll would have taken libev's cap of
     * about 60 s; a loaded machine takes milliseconds at worst. */
    assert_true(worst < 10000000000u);
    ax_chan_close(ch);
    assert_int_equal(t_wait(pid), 0);
}

/* A writer SIGKILLed at a random point of a stream of STREAM numbered
 * frames (after the reader got a random number of them, none to all;
 * seeded, the seed printed): the reader gets exactly a prefix, in order,
 * each frame whole, then the end of stream; never a torn or extra frame,
 * and no round waits for a doorbell that never comes (a writer asleep
 * with room to write). KILL_ROUNDS rounds. */
static void
test_a_writer_killed_at_random_leaves_an_exact_prefix(void **state)
{
    unsigned seed = (unsigned)(t_now_ns() % 1000000u);
    uint64_t least = STREAM, most = 0;
    struct ev_loop *loop = g_loop;

    (void)state;
    print_message("  seed %u\n", seed);
    srand(seed);
    for (int r = 0; r < KILL_ROUNDS; r++) {
        side s = {0};
        int status;
        uint64_t t0 = t_now_ns();
        pid_t pid;

        pid = fork_on_rings(child_stream);
        assert_non_null(open_side(loop, g_parent, 0, &s));
        ax__ring_map_free(g_map);
        s.victim = pid;
        s.kill_at = (uint64_t)rand() % STREAM;
        if (s.kill_at == 0) {
            usleep((useconds_t)(rand() % 2000)); /* before or as it starts */
            kill(pid, SIGKILL);
        }
        ev_run(loop, 0);
        status = t_wait(pid);
        if (s.bad || s.err != AX_EOF || s.got > STREAM ||
            (status != 0 && status != 128 + SIGKILL)) {
            fail_msg("round %d (seed %u): bad %d, err %d, %llu frames, "
                     "status %d",
                     r, seed, s.bad, s.err, (unsigned long long)s.got, status);
        }
        /* A lost doorbell shows as a round that ends only at libev's
         * 60 s cap on a block (the writer slept with room to write). */
        if (t_now_ns() - t0 > ROUND_MAX_NS) {
            fail_msg("round %d (seed %u) took %llu ms", r, seed,
                     (unsigned long long)((t_now_ns() - t0) / 1000000));
        }
        if (status == 0) {
            assert_int_equal(s.got, STREAM); /* it finished: all of them */
        }
        assert_true(s.got >= s.kill_at); /* it was killed after those */
        least = s.got < least ? s.got : least;
        most = s.got > most ? s.got : most;
        ax_chan_close(s.ch);
    }
    print_message("  %d rounds: prefixes of %llu to %llu frames\n", KILL_ROUNDS,
                  (unsigned long long)least, (unsigned long long)most);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_frames_sent_right_before_exit_arrive),
        T(test_frames_larger_than_the_ring_go_through_both_ways),
        T(test_a_stray_byte_on_the_doorbell_pipe_is_an_error),
        T(test_each_pong_ends_a_loop_iteration),
        T(test_a_writer_killed_at_random_leaves_an_exact_prefix),
    };

    int failed;

    g_loop = ev_loop_new(EVFLAG_AUTO); /* its fds are not a test's */
    if (g_loop == NULL) {
        return 1;
    }
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    ev_loop_destroy(g_loop);
    return failed;
}
