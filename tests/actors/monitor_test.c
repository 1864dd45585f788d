/*
 * tests/actors/monitor_test.c - monitors taken back and joins: ax_demonitor
 * stops the DOWN message, or removes it when it is already queued; ax_wait
 * on an ended actor gives its reason twice (the runtime remembers it), and
 * an ax_wait that times out leaves no DOWN message behind.
 *
 * Actor-level: the bodies run in the harness's driver actor, the actors
 * under test are spawned with th_opts() and talk to the driver only with
 * messages, so the list runs with coroutine placement and again with
 * process placement. Shared helpers: lifecycle_util.h.
 */
#include "support/actor_harness.h"

#include "lifecycle_util.h"

/* --- actors under test --------------------------------------------------- */

/* Exit with the code found in the first message ["exit", code]. */
static int
exit_code_actor(void *arg)
{
    ax_msg *m;
    int code = 99;

    (void)arg;
    if (ax_recv(&m, AX_FOREVER) == 0) {
        ax_msg_unpack(m, "[_ d]", &code);
        ax_msg_free(m);
    }
    return code;
}

/* --- demonitor ----------------------------------------------------------- */

static void
body_demonitor(void *arg)
{
    ax_pid a = th_spawn(th_blocked_actor);
    ax_exit_info i;
    uint64_t ref;

    (void)arg;
    TH_CHECK_INT(ax_monitor(a, &ref), 0);
    TH_CHECK_INT(ax_demonitor(ref), 0);
    TH_CHECK_INT(ax_kill(a, 35), 0);
    settle();
    expect_none("DOWN", 100);
    i = th_join(a);
    TH_CHECK_INT(i.kind, AX_EXIT_KILLED);
}

static void
test_lifecycle_demonitor_stops_the_down_message(void **state)
{
    (void)state;
    run(body_demonitor, NULL);
}

static bool
is_down_of(const ax_msg *m, void *ud)
{
    uint64_t ref;

    return ax_msg_has_tag(m, "DOWN") &&
           ax_down_msg_parse(m, &ref, NULL, NULL) == 0 &&
           ref == *(const uint64_t *)ud;
}

/* Two monitors of one actor: once the DOWN of the second is here and the
 * first's is queued too, demonitor removes it. (A process actor's two
 * DOWN frames may be read one at a time, so the first's may come a
 * moment later: the body waits for it.) */
static void
body_demonitor_queued(void *arg)
{
    ax_pid b = th_spawn(exit_code_actor);
    uint64_t ref1, ref2;
    ax_actor_stats st;
    ax_msg *m;

    (void)arg;
    TH_CHECK_INT(ax_monitor(b, &ref1), 0);
    TH_CHECK_INT(ax_monitor(b, &ref2), 0);
    TH_CHECK_INT(ax_sendf(b, "[s d]", "exit", 0), 0);
    TH_CHECK_INT(ax_recv_if(is_down_of, &ref2, &m, 5000), 0);
    ax_msg_free(m);
    for (int i = 0; i < 500; i++) {
        TH_CHECK_INT(ax_stats(ax_self(), &st), 0);
        if (st.mailbox > 0) {
            break;
        }
        ax_sleep(10);
    }
    TH_CHECK_INT(st.mailbox, 1);
    TH_CHECK_INT(ax_demonitor(ref1), 0);
    TH_CHECK_INT(ax_stats(ax_self(), &st), 0);
    TH_CHECK_INT(st.mailbox, 0);
    expect_none("DOWN", 0);
}

static void
test_lifecycle_demonitor_removes_a_queued_down_message(void **state)
{
    (void)state;
    run(body_demonitor_queued, NULL);
}

/* --- ax_wait ------------------------------------------------------------- */

static void
body_wait_twice(void *arg)
{
    ax_pid a = spawn_monitored(exit_code_actor);
    ax_exit_info i = {AX_EXIT_NOPROC, -1, 0, false}, j = i;
    ax_actor_stats st;

    (void)arg;
    TH_CHECK_INT(ax_sendf(a, "[s d]", "exit", 12), 0);
    for (int k = 0; k < 500 && ax_stats(a, &st) == 0; k++) {
        ax_sleep(10); /* until it has ended */
    }
    TH_CHECK_INT(ax_wait(a, &i, 1000), 0); /* the spawn's monitor */
    TH_CHECK_INT(i.kind, AX_EXIT_ERROR);
    TH_CHECK_INT(i.code, 12);
    /* No monitor is left; the runtime still remembers how it ended. */
    TH_CHECK_INT(ax_wait(a, &j, 1000), 0);
    TH_CHECK_INT(j.kind, AX_EXIT_ERROR);
    TH_CHECK_INT(j.code, 12);
    expect_none("DOWN", 0);
}

static void
test_lifecycle_wait_twice_on_an_ended_actor_gives_its_reason(void **state)
{
    (void)state;
    run(body_wait_twice, NULL);
}

/*
 * A wait that times out leaves no monitor of its own behind, so no DOWN
 * arrives later; a monitor the caller had (from spawn) stays, and a later
 * wait still sees the end.
 */
static void
body_wait_timeout(void *arg)
{
    ax_pid a = th_spawn(th_blocked_actor);
    ax_pid b = spawn_monitored(th_blocked_actor);
    ax_exit_info i;
    uint64_t t0;

    (void)arg;
    t0 = t_now_ns();
    TH_CHECK_INT(ax_wait(a, &i, 50), AX_ETIMEDOUT);
    TH_CHECK(elapsed_us(t0) >= 50000);
    TH_CHECK_INT(ax_kill(a, 36), 0);
    settle();
    expect_none("DOWN", 50);
    TH_CHECK_INT(ax_wait(b, &i, 50), AX_ETIMEDOUT);
    TH_CHECK_INT(ax_kill(b, 37), 0);
    i = th_join(b);
    TH_CHECK_INT(i.kind, AX_EXIT_KILLED);
    TH_CHECK_INT(i.code, 37);
    expect_none("DOWN", 50);
}

static void
test_lifecycle_wait_that_times_out_leaves_no_down_message(void **state)
{
    (void)state;
    run(body_wait_timeout, NULL);
}

int
main(void)
{
    const struct CMUnitTest list[] = {
        cmocka_unit_test_setup_teardown(
            test_lifecycle_demonitor_stops_the_down_message, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_demonitor_removes_a_queued_down_message, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_wait_twice_on_an_ended_actor_gives_its_reason,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_wait_that_times_out_leaves_no_down_message, t_setup,
            t_teardown),
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
