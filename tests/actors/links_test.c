/*
 * tests/actors/links_test.c - how an abnormal exit travels along links:
 * through a chain of 10,000 linked actors (a chain of nested processes
 * with process placement), to an actor that traps exits as EXIT messages
 * (for a kill and for a return), and no longer once ax_unlink broke the
 * link.
 *
 * Actor-level: the bodies run in the harness's driver actor, the actors
 * under test are spawned with th_opts() and talk to the driver only with
 * messages, so the list runs with coroutine placement and again with
 * process placement. Shared helpers: lifecycle_util.h.
 */
#include "support/actor_harness.h"

#include <string.h>

#include "base/sanitizers.h"
#include "lifecycle_util.h"

/* --- actors under test --------------------------------------------------- */

/*
 * A chain member: ["chain", to, n]. Members with n > 1 spawn the next
 * (linked, n - 1) and wait forever: only the link can end them. The last
 * (n == 1) waits for ["go"] and returns 9. Each reports ["member", self,
 * n] to `to` first.
 */
static int
chain_actor(void *arg)
{
    ax_spawn_opts o = th_opts();
    ax_pid to, next;
    int64_t n;
    ax_msg *m;

    (void)arg;
    if (recv_args("[_ p i]", &to, &n) < 0) {
        return 2;
    }
    if (n > 1) {
        o.link = true;
        if (ax_spawn(chain_actor, NULL, &o, &next) < 0) {
            return 4;
        }
        ax_sendf(next, "[s p i]", "chain", to, n - 1);
    }
    ax_sendf(to, "[s p i]", "member", ax_self(), n);
    if (ax_recv_match(n > 1 ? "never" : "go", &m, AX_FOREVER) == 0) {
        ax_msg_free(m);
    }
    return n > 1 ? 1 : 9;
}

/*
 * ["trap", to]: trap exits; link a blocked child and report ["child",
 * pid] (the driver kills it); forward the EXIT it gets to `to`; then link
 * a child that returns 0 and forward that EXIT too.
 */
static int
trapper_actor(void *arg)
{
    ax_spawn_opts o = th_opts();
    ax_pid to, child;
    ax_msg *m;

    (void)arg;
    if (recv_args("[_ p]", &to) < 0) {
        return 2;
    }
    ax_trap_exit(true);
    o.link = true;
    if (ax_spawn(th_blocked_actor, NULL, &o, &child) < 0) {
        return 4;
    }
    ax_sendf(to, "[s p]", "child", child);
    if (ax_recv_match("EXIT", &m, 5000) < 0 || ax_send(to, m) < 0) {
        return 5;
    }
    if (ax_spawn(return_zero_actor, NULL, &o, &child) < 0) {
        return 6;
    }
    ax_sendf(to, "[s p]", "child", child);
    if (ax_recv_match("EXIT", &m, 5000) < 0 || ax_send(to, m) < 0) {
        return 7;
    }
    return 0;
}

/*
 * ["unlink", to, trap]: link a blocked child, unlink it, report ["child",
 * pid] (the driver kills it), then report ["none"] if nothing came within
 * 300 ms, else ["got"].
 */
static int
unlinker_actor(void *arg)
{
    ax_spawn_opts o = th_opts();
    ax_pid to, child;
    bool trap;
    ax_msg *m;

    (void)arg;
    if (recv_args("[_ p b]", &to, &trap) < 0) {
        return 2;
    }
    ax_trap_exit(trap);
    o.link = true;
    if (ax_spawn(th_blocked_actor, NULL, &o, &child) < 0) {
        return 4;
    }
    ax_unlink(child);
    ax_sendf(to, "[s p]", "child", child);
    if (ax_recv(&m, 300) == 0) {
        ax_msg_free(m);
        ax_sendf(to, "[s]", "got");
    } else {
        ax_sendf(to, "[s]", "none");
    }
    return 0;
}

/* --- exit propagation along a chain -------------------------------------- */

/*
 * 10,000 actors linked in a chain (2,000 under valgrind, to keep the run
 * short); the last returns 9; every member dies with error 9, the first
 * included. The runtime processes the exits as a worklist: recursion
 * would overflow the 64 KiB stack of the actor that exits first. With
 * process placement each member spawns the next in a process of its own:
 * a chain of 20 nested processes, the exit travelling up through each.
 */
static void
body_chain(void *arg)
{
    int64_t len = th_placement == AX_PLACE_PROCESS ? 20
                  : RUNNING_ON_VALGRIND            ? 2000
                                                   : 10000;
    int64_t n, good = 0;
    ax_pid first = th_spawn(chain_actor), who, last = AX_PID_NONE;
    size_t live = live_actors();
    ax_exit_info i;
    ax_msg *m;

    (void)arg;
    TH_CHECK_INT(ax_sendf(first, "[s p i]", "chain", ax_self(), len), 0);
    for (int64_t k = 0; k < len; k++) {
        if ((m = expect("member", 10000)) == NULL) {
            return;
        }
        TH_CHECK_INT(ax_msg_unpack(m, "[_ p i]", &who, &n), 0);
        ax_msg_free(m);
        TH_CHECK_INT(ax_monitor(who, NULL), 0);
        if (n == 1) {
            last = who;
        }
    }
    if (th_placement == AX_PLACE_COROUTINE) { /* this process's actors */
        TH_CHECK_INT(live_actors(), live + (size_t)len - 1);
    }
    TH_CHECK_INT(ax_sendf(last, "[s]", "go"), 0);
    for (int64_t k = 0; k < len; k++) {
        if ((m = expect("DOWN", 10000)) == NULL) {
            break;
        }
        TH_CHECK_INT(ax_down_msg_parse(m, NULL, &who, &i), 0);
        if (i.kind == AX_EXIT_ERROR && i.code == 9) {
            good++;
        } else if (ax_pid_equal(who, first)) {
            TH_CHECK(!"the first member did not die with error 9");
        }
        ax_msg_free(m);
    }
    TH_CHECK_INT(good, len);
    if (th_placement == AX_PLACE_COROUTINE) {
        TH_CHECK_INT(live_actors(), live - 1);
    }
}

static void
test_lifecycle_abnormal_exit_kills_a_chain_of_ten_thousand_links(void **state)
{
    (void)state;
    run(body_chain, NULL);
}

/* --- trap_exit and unlink ------------------------------------------------ */

/* Check an EXIT forwarded by the trapper: its fields, in wire order. */
static void
expect_exit_msg(ax_pid from, const char *kind, int code)
{
    ax_msg *m = expect("EXIT", 5000);
    const char *k = NULL;
    size_t klen = 0;
    int c = -1, sig = -1;
    bool core = true;
    ax_pid who;

    if (m == NULL) {
        return;
    }
    TH_CHECK_INT(
        ax_msg_unpack(m, "[_ p s d d b]", &who, &k, &klen, &c, &sig, &core), 0);
    TH_CHECK(ax_pid_equal(who, from));
    TH_CHECK(klen == strlen(kind) && memcmp(k, kind, klen) == 0);
    TH_CHECK_INT(c, code);
    TH_CHECK_INT(sig, 0);
    TH_CHECK(!core);
    ax_msg_free(m);
}

static ax_pid
expect_child(void)
{
    ax_pid child = AX_PID_NONE;
    ax_msg *m = expect("child", 5000);

    if (m != NULL) {
        TH_CHECK_INT(ax_msg_unpack(m, "[_ p]", &child), 0);
        ax_msg_free(m);
    }
    return child;
}

static void
body_trap_exit(void *arg)
{
    ax_pid t = spawn_monitored(trapper_actor);
    ax_pid c1, c2;

    (void)arg;
    TH_CHECK_INT(ax_sendf(t, "[s p]", "trap", ax_self()), 0);
    c1 = expect_child();
    settle();
    TH_CHECK_INT(ax_kill(c1, 33), 0);
    expect_exit_msg(c1, "killed", 33);
    c2 = expect_child();
    expect_exit_msg(c2, "normal", 0);
    TH_CHECK_INT(th_join(t).kind, AX_EXIT_NORMAL); /* survived both */
}

static void
test_lifecycle_trap_exit_gets_exit_messages_for_kill_and_return(void **state)
{
    (void)state;
    run(body_trap_exit, NULL);
}

static void
body_unlink(void *arg)
{
    (void)arg;
    for (int trap = 0; trap <= 1; trap++) {
        ax_pid u = spawn_monitored(unlinker_actor);
        ax_exit_info i;
        ax_pid c;

        TH_CHECK_INT(ax_sendf(u, "[s p b]", "unlink", ax_self(), trap), 0);
        c = expect_child();
        TH_CHECK_INT(ax_kill(c, 34), 0);
        i = th_join(c); /* no monitor of ours: remembered by the runtime */
        TH_CHECK_INT(i.kind, AX_EXIT_KILLED);
        TH_CHECK_INT(i.code, 34);
        ax_msg_free(expect("none", 5000));
        TH_CHECK_INT(th_join(u).kind, AX_EXIT_NORMAL); /* not killed with c */
    }
}

static void
test_lifecycle_unlink_stops_exit_propagation(void **state)
{
    (void)state;
    run(body_unlink, NULL);
}

int
main(void)
{
    const struct CMUnitTest list[] = {
        cmocka_unit_test_setup_teardown(
            test_lifecycle_abnormal_exit_kills_a_chain_of_ten_thousand_links,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_trap_exit_gets_exit_messages_for_kill_and_return,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_unlink_stops_exit_propagation, t_setup, t_teardown),
    };
    int failed = 0;

    th_main_setup();
    th_placement = AX_PLACE_COROUTINE;
    failed +=
        cmocka_run_group_tests_name("coroutine placement", list, NULL, NULL);
    th_placement = AX_PLACE_PROCESS;
    failed +=
        cmocka_run_group_tests_name("process placement", list, NULL, NULL);
    return failed;
}
