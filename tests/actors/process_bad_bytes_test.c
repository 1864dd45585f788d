/*
 * tests/actors/process_bad_bytes_test.c - process actors: bad bytes from a
 * child (an oversized frame length, a body that is not msgpack, a stray
 * byte on a doorbell pipe, an impossible ring position, an answer to a
 * deadlock probe that is not one) end that child,
 * not the parent. The child writes them with the runtime's own internals,
 * as a buggy or hostile one could.
 *
 * One test each of gipc's lessons (seeds/gipc-challenges.rst, DESIGN.md
 * invariants 1-7); process_util.h says how every body runs and checks.
 */
#include "process_util.h"

#include "actors/route/route.h"
#include "transport/chan_internal.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- 14. bad bytes from a child --------------------------------------------
 */

/* Frame kind of a message on the wire (docs/wire.md, "Actor frames"). */
#define WIRE_K_MSG 1

/* Answer ["ping", n] with ["pong", n] to the sender; stop on ["stop"]. */
static int
echo_actor(void *arg)
{
    ax_msg *m;
    int64_t n;

    (void)arg;
    while (ax_recv(&m, AX_FOREVER) == 0) {
        if (ax_msg_has_tag(m, "stop")) {
            ax_msg_free(m);
            return 0;
        }
        if (ax_msg_unpack(m, "[_ i]", &n) == 0) {
            ax_sendf(ax_msg_sender(m), "[s i]", "pong", n);
        }
        ax_msg_free(m);
    }
    return 1;
}

/* The driver pings a process echo actor: the runtime still works. */
static void
check_still_working(void)
{
    ax_spawn_opts o = proc_opts();
    ax_pid echo;
    int64_t n = -1;

    o.monitor = true;
    echo = spawn(echo_actor, NULL, &o);
    TH_CHECK_INT(ax_sendf(echo, "[s i]", "ping", (int64_t)42), 0);
    if (expect_args("pong", "[_ i]", &n) == 0) {
        TH_CHECK_INT(n, 42);
    }
    ax_sendf(echo, "[s]", "stop");
    CHECK_REASON(join(echo), AX_EXIT_NORMAL, 0, 0);
}

static void
store_be(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        p[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
    }
}

/* This process's channel to its parent. */
static ax_chan *
own_channel(void)
{
    return ax__net.parent != NULL ? ax__net.parent->ch : NULL;
}

/* Put n raw bytes into the ring to the parent, commit, and ring. */
static bool
ring_raw(const void *p, size_t n)
{
    ax_chan *ch = own_channel();
    struct iovec v = {(void *)p, n};
    unsigned char bell = AX_BELL;

    if (ch == NULL || ch->ring == NULL ||
        ax__ring_put(&ch->ring->tx, &v, 1) != 0) {
        return false;
    }
    ax__ring_commit(&ch->ring->tx);
    return write(ch->wfd, &bell, 1) == 1;
}

/* The bad bytes of each case (arg). */
enum bad {
    BAD_LENGTH,      /* a frame length of 4 GiB - 1 in the ring */
    BAD_BODY,        /* a well-formed frame to the driver, body not msgpack */
    BAD_DOORBELL,    /* a byte on the doorbell pipe that is not a doorbell */
    BAD_POSITION,    /* the ring's committed position past its capacity */
    BAD_QUIET,       /* a deadlock probe's answer of the wrong shape */
    BAD_QUIET_BYTES, /* one whose body is not msgpack */
    BAD_CASES
};

static bool
write_bad(enum bad k)
{
    unsigned char f[AX_FRAME_OVERHEAD + 1];
    ax_chan *ch = own_channel();

    memset(f, 0, sizeof(f));
    f[4] = AX_FRAME_VERSION;
    f[5] = WIRE_K_MSG;
    switch (k) {
    case BAD_LENGTH:
        store_be(f, 0xffffffffu, 4);
        return ring_raw(f, AX_FRAME_OVERHEAD);
    case BAD_BODY:
        store_be(f, AX_FRAME_HEADER + 1, 4);
        store_be(f + 8, g_driver.node, 8);
        store_be(f + 16, g_driver.id, 8);
        f[AX_FRAME_OVERHEAD] = 0xc1; /* never used in msgpack */
        return ring_raw(f, sizeof(f));
    case BAD_DOORBELL:
        return ch != NULL && write(ch->wfd, "x", 1) == 1;
    case BAD_QUIET:
    case BAD_QUIET_BYTES:
        store_be(f, AX_FRAME_HEADER + 1, 4);
        f[5] = K_QUIET;
        f[AX_FRAME_OVERHEAD] = k == BAD_QUIET ? 0xc0 : 0xc1; /* nil; none */
        return ring_raw(f, sizeof(f));
    default:
        if (ch == NULL || ch->ring == NULL) {
            return false;
        }
        atomic_store(&ch->ring->tx.sh->head,
                     ch->ring->tx.pos + 3 * ch->ring->tx.cap);
        return ring_raw("", 0);
    }
}

/* Spawn a second actor here, report ["second", it], then write bad bytes
 * of case arg at a frame boundary of its own channel to the parent. */
static int
garbage_actor(void *arg)
{
    ax_spawn_opts co = coro_opts();
    ax_pid second;

    if (ax_spawn(th_blocked_actor, NULL, &co, &second) < 0) {
        return 1;
    }
    ax_sendf(g_driver, "[s p]", "second", second);
    ax_sleep(50); /* that frame is out: the next byte starts a frame */
    if (!write_bad((enum bad)(intptr_t)arg)) {
        return 3;
    }
    ax_sleep(WAIT_MS); /* the parent ends this process */
    return 4;
}

static void
body_bad_bytes(void *arg)
{
    (void)arg;
    g_driver = ax_self();
    for (int k = 0; k < BAD_CASES; k++) {
        ax_spawn_opts o = proc_opts();
        ax_pid g, second = AX_PID_NONE;
        ax_exit_info i;
        ax_msg *m;

        o.monitor = true;
        g = spawn(garbage_actor, (void *)(intptr_t)k, &o);
        if (expect_args("second", "[_ p]", &second) < 0) {
            return;
        }
        remember(second);
        TH_CHECK_INT(ax_monitor(second, NULL), 0);
        CHECK_REASON(expect_down(g, NULL), AX_EXIT_SIGNAL, 0, SIGKILL);
        i = expect_down(second, NULL);
        TH_CHECK(i.kind == AX_EXIT_NOCONNECTION ||
                 (i.kind == AX_EXIT_SIGNAL && i.signal == SIGKILL));
        /* Nothing of the bad frame reached the driver. */
        TH_CHECK_INT(ax_recv(&m, 0), AX_ETIMEDOUT);
    }
    check_still_working();
}

/*
 * A child that writes bad bytes into its channel (an oversized frame
 * length; a frame whose body is not msgpack; a byte on the doorbell pipe
 * that is not a doorbell; a ring position that cannot be true) is killed
 * by its parent; the
 * monitors of both its actors get a DOWN (signal 9, or noconnection);
 * the parent does not crash and goes on working.
 */
static void
test_process_bad_bytes_from_a_child_end_that_child_not_the_parent(void **state)
{
    (void)state;
    run(body_bad_bytes, NULL);
}

/* --- main --------------------------------------------------------------- */

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_process_bad_bytes_from_a_child_end_that_child_not_the_parent),
    };

    return process_test_main(tests, sizeof(tests) / sizeof(tests[0]));
}
