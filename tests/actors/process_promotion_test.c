/*
 * tests/actors/process_promotion_test.c - process actors: live promotion
 * (ax_promote): the messages, address, monitor, link and name of the actor
 * that moves are kept, promotion after promotion never loses a reply, and a
 * full mailbox lets its waiting senders on.
 *
 * One test each of gipc's lessons (seeds/gipc-challenges.rst, DESIGN.md
 * invariants 1-7); process_util.h says how every body runs and checks.
 */
#include "process_util.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* --- 9. promotion ------------------------------------------------------------
 */

#define MOVER_NAME "proc-test-mover"

/* Report ["ready", getpid()]; on ["promote"] (taken out of order: the
 * numbered messages stay unread) move to a new process and report
 * ["moved", getpid(), ax_self()]; then check the order of ["n", i],
 * answer calls with ["here", getpid()], and on ["exit", code] report
 * ["order", count, bad] and exit with code. */
static int
mover_actor(void *arg)
{
    int64_t n, got = 0, bad = 0;
    ax_msg *m, *r;
    int rc, code;

    (void)arg;
    ax_sendf(g_driver, "[s d]", "ready", (int)getpid());
    if (ax_recv_match("promote", &m, AX_FOREVER) < 0) {
        return 2;
    }
    ax_msg_free(m);
    rc = ax_promote();
    if (rc < 0) {
        ax_sendf(g_driver, "[s d]", "failed", rc);
        return 3;
    }
    ax_sendf(g_driver, "[s d p]", "moved", (int)getpid(), ax_self());
    while (ax_recv(&m, AX_FOREVER) == 0) {
        if (ax_msg_is_call(m)) {
            if (ax_msg_pack(&r, "[s d]", "here", (int)getpid()) == 0 &&
                ax_reply(m, r) < 0) {
                ax_msg_free(r);
            }
        } else if (ax_msg_has_tag(m, "n") &&
                   ax_msg_unpack(m, "[_ i]", &n) == 0) {
            bad += n != got++;
        } else if (ax_msg_has_tag(m, "exit") &&
                   ax_msg_unpack(m, "[_ d]", &code) == 0) {
            ax_msg_free(m);
            ax_sendf(g_driver, "[s i i]", "order", got, bad);
            ax_exit(code);
        }
        ax_msg_free(m);
    }
    return 4;
}

static void
send_numbers(ax_pid to, int64_t from, int64_t to_n)
{
    for (int64_t i = from; i < to_n; i++) {
        TH_CHECK_INT(ax_sendf(to, "[s i]", "n", i), 0);
    }
}

static void
body_promotion(void *arg)
{
    ax_spawn_opts o = coro_opts();
    ax_pid mover, there = AX_PID_NONE, found = AX_PID_NONE;
    uint64_t ref = 0, dref = 0;
    int64_t got = -1, bad = -1;
    int os = 0, os2 = 0, os3 = 0;
    ax_msg *m, *req, *reply;

    (void)arg;
    g_driver = ax_self();
    ax_trap_exit(true);
    o.name = MOVER_NAME;
    o.monitor = o.link = true;
    o.monitor_ref = &ref;
    mover = spawn(mover_actor, NULL, &o);
    if (expect_args("ready", "[_ d]", &os) == 0) {
        TH_CHECK_INT(os, getpid()); /* a coroutine of the test process */
    }
    send_numbers(mover, 0, 100); /* before: unread when it promotes */
    ax_sendf(mover, "[s]", "promote");
    ax_yield();                    /* it promotes now */
    send_numbers(mover, 100, 200); /* during: its process is starting */
    if ((m = expect_tag("moved")) != NULL) {
        TH_CHECK_INT(ax_msg_unpack(m, "[_ d p]", &os2, &there), 0);
        TH_CHECK(os2 != getpid());
        TH_CHECK(ax_pid_equal(there, mover));
        TH_CHECK(ax_pid_equal(ax_msg_sender(m), mover));
        ax_msg_free(m);
    }
    send_numbers(mover, 200, 300); /* after */
    TH_CHECK_INT(ax_whereis(MOVER_NAME, &found), 0);
    TH_CHECK(ax_pid_equal(found, mover));
    if (ax_msg_pack(&req, "[s]", "where") == 0 &&
        ax_call(mover, req, &reply, WAIT_MS) == 0) {
        TH_CHECK(ax_pid_equal(ax_msg_sender(reply), mover));
        TH_CHECK_INT(ax_msg_unpack(reply, "[_ d]", &os3), 0);
        TH_CHECK_INT(os3, os2);
        ax_msg_free(reply);
    } else {
        TH_CHECK(!"the call failed");
    }
    ax_sendf(mover, "[s d]", "exit", 1234);
    if (expect_args("order", "[_ i i]", &got, &bad) == 0) {
        TH_CHECK_INT(got, 300);
        TH_CHECK_INT(bad, 0);
    }
    CHECK_REASON(expect_down(mover, &dref), AX_EXIT_ERROR, 1234, 0);
    TH_CHECK(dref == ref);
    CHECK_REASON(expect_exit(mover), AX_EXIT_ERROR, 1234, 0);
    TH_CHECK_INT(ax_whereis(MOVER_NAME, NULL), AX_ENOENT);
}

/*
 * ax_promote moves a coroutine actor with 100 unread messages into a new
 * process: the 300 messages sent before, during and after arrive there
 * in order; its address is the same (ax_self(), the sender of its
 * messages and replies); the monitor and the link made before the move
 * get its exact exit (error 1234); its name resolves to it, then dies
 * with it.
 */
static void
test_process_promotion_keeps_order_address_monitor_link_and_name(void **state)
{
    (void)state;
    run(body_promotion, NULL);
}

/* Wait for ["promote"], move, answer one ["ping", from] with
 * ["pong", getpid()] from the new process, end. */
static int
promote_once_actor(void *arg)
{
    ax_msg *m;

    (void)arg;
    if (ax_recv_match("promote", &m, AX_FOREVER) < 0) {
        return 2;
    }
    ax_msg_free(m);
    if (ax_promote() < 0) {
        return 3;
    }
    if (ax_recv_match("ping", &m, AX_FOREVER) < 0) {
        return 4;
    }
    ax_sendf(ax_msg_sender(m), "[s d]", "pong", (int)getpid());
    ax_msg_free(m);
    return 0;
}

static void
body_promotion_loop(void *arg)
{
    /* Under valgrind every fork is a valgrinded process: fewer rounds. */
    int rounds = RUNNING_ON_VALGRIND ? 20 : 300, answered = 0;
    ax_spawn_opts o = coro_opts();
    uint64_t t0 = t_now_ns();

    (void)arg;
    g_driver = ax_self();
    o.monitor = true;
    for (int k = 0; k < rounds; k++) {
        ax_pid p = AX_PID_NONE;
        ax_msg *m;
        int os = 0;

        if (ax_spawn(promote_once_actor, NULL, &o, &p) < 0) {
            TH_CHECK(!"spawn failed");
            return;
        }
        ax_yield(); /* it waits, idle, as in the benchmark */
        TH_CHECK_INT(ax_sendf(p, "[s]", "promote"), 0);
        TH_CHECK_INT(ax_sendf(p, "[s p]", "ping", ax_self()), 0);
        m = expect_tag("pong");
        if (m == NULL) {
            ax_kill(p, -1);
            break;
        }
        TH_CHECK_INT(ax_msg_unpack(m, "[_ d]", &os), 0);
        TH_CHECK(os != getpid()); /* answered from the new process */
        ax_msg_free(m);
        CHECK_REASON(join(p), AX_EXIT_NORMAL, 0, 0);
        answered++;
    }
    TH_CHECK_INT(answered, rounds);
    print_message("  %d promotions answered in %lld ms\n", rounds,
                  (long long)ms_since(t0));
}

/*
 * Promotion after promotion, each answered from the new process: the
 * reply written by a child that exits right away is never lost (it was,
 * about once in 200 promotions, when a write error on the pipe to an
 * exited child ended the peer before its last frames were read).
 */
static void
test_process_promotion_repeated_never_loses_a_reply(void **state)
{
    (void)state;
    run(body_promotion_loop, NULL);
}

/* Mailbox of 2: wait for ["promote"] (taken out of order), move, then
 * count ["n", i] in order up to FULL_N and report ["counted", got, bad]. */
#define FULL_N 10

static int
full_mover_actor(void *arg)
{
    int64_t n, got = 0, bad = 0;
    ax_msg *m;

    (void)arg;
    if (ax_recv_match("promote", &m, AX_FOREVER) < 0) {
        return 2;
    }
    ax_msg_free(m);
    if (ax_promote() < 0) {
        return 3;
    }
    while (got < FULL_N && ax_recv_match("n", &m, WAIT_MS) == 0) {
        if (ax_msg_unpack(m, "[_ i]", &n) == 0) {
            bad += n != got;
        }
        got++;
        ax_msg_free(m);
    }
    ax_sendf(g_driver, "[s i i]", "counted", got, bad);
    return 0;
}

/* Send ["n", 0..FULL_N) to the actor in arg; report ["sent"]. */
static int
filler_actor(void *arg)
{
    ax_pid to = *(const ax_pid *)arg;

    for (int64_t i = 0; i < FULL_N; i++) {
        if (ax_sendf(to, "[s i]", "n", i) < 0) {
            return 2;
        }
    }
    ax_sendf(g_driver, "[s]", "sent");
    return 0;
}

static void
body_promotion_full(void *arg)
{
    ax_spawn_opts o = coro_opts();
    ax_pid mover, filler;
    int64_t got = -1, bad = -1;
    ax_msg *m;

    (void)arg;
    g_driver = ax_self();
    o.mailbox_capacity = 2;
    o.monitor = true;
    mover = spawn(full_mover_actor, NULL, &o);
    filler = spawn(filler_actor, &mover, &o);
    ax_sleep(50); /* the filler fills the mailbox and waits for room */
    TH_CHECK_INT(ax_recv(&m, 0), AX_ETIMEDOUT); /* not all sent yet */
    TH_CHECK_INT(ax_sendf(mover, "[s]", "promote"), 0);
    if ((m = expect_tag("sent")) != NULL) {
        ax_msg_free(m);
    }
    if (expect_args("counted", "[_ i i]", &got, &bad) == 0) {
        TH_CHECK_INT(got, FULL_N);
        TH_CHECK_INT(bad, 0);
    }
    CHECK_REASON(join(mover), AX_EXIT_NORMAL, 0, 0);
    CHECK_REASON(join(filler), AX_EXIT_NORMAL, 0, 0);
}

/*
 * An actor promotes itself while its mailbox (capacity 2) is full and a
 * sender waits for room: the sender wakes and sends the rest to where the
 * actor is now; all FULL_N messages arrive there, in order.
 */
static void
test_process_promotion_with_a_full_mailbox_lets_waiting_senders_on(void **state)
{
    (void)state;
    run(body_promotion_full, NULL);
}

/* --- main --------------------------------------------------------------- */

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_process_promotion_keeps_order_address_monitor_link_and_name),
        T(test_process_promotion_repeated_never_loses_a_reply),
        T(test_process_promotion_with_a_full_mailbox_lets_waiting_senders_on),
    };

    return process_test_main(tests, sizeof(tests) / sizeof(tests[0]));
}
