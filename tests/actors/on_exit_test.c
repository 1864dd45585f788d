/*
 * tests/actors/on_exit_test.c - ax_on_exit: the functions an actor
 * registered run last first, whether it returns, calls ax_exit from a
 * nested function or is killed while it waits; they run outside any
 * actor, where a send into a full mailbox fails with AX_EAGAIN instead of
 * waiting.
 *
 * Actor-level: the bodies run in the harness's driver actor, the actors
 * under test are spawned with th_opts() and talk to the driver only with
 * messages, so the list runs with coroutine placement and again with
 * process placement (the full-mailbox case with coroutine placement only,
 * see main). Shared helpers: lifecycle_util.h.
 */
#include "support/actor_harness.h"

#include <stdlib.h>

#include "lifecycle_util.h"

/* --- actors under test --------------------------------------------------- */

/*
 * An on_exit function's argument: where to report and what. Heap memory:
 * the function may run after the actor's frames are gone; it frees it.
 */
struct exit_note {
    ax_pid to;   /* report here */
    ax_pid sink; /* on_exit_send_note: send here first */
    int n;       /* this function's number */
};

static void
note_exit(void *p)
{
    struct exit_note *e = p;

    ax_sendf(e->to, "[s d]", "on_exit", e->n);
    free(e);
}

/* Send to a full mailbox from on_exit, report ["on_exit_send", result,
 * whether ax_self() is AX_PID_NONE there]. */
static void
on_exit_send_note(void *p)
{
    struct exit_note *e = p;
    int rc = ax_sendf(e->sink, "[s]", "late");

    ax_sendf(e->to, "[s d b]", "on_exit_send", rc,
             (int)ax_pid_is_none(ax_self()));
    free(e);
}

static int
add_note(void (*fn)(void *), ax_pid to, ax_pid sink, int n)
{
    struct exit_note *e = malloc(sizeof(*e));

    if (e == NULL) {
        return -1;
    }
    *e = (struct exit_note){to, sink, n};
    if (ax_on_exit(fn, e) < 0) {
        free(e);
        return -1;
    }
    return 0;
}

/* ax_exit from depth nested calls down (negative: just return). */
static void
exit_from_depth(int depth)
{
    if (depth < 0) {
        return;
    }
    if (depth == 0) {
        ax_exit(5);
    }
    exit_from_depth(depth - 1);
}

/* How on_exit_actor ends. */
enum { END_RETURN, END_NESTED_EXIT, END_KILLED };

/*
 * ["how", to, end]: register on_exit functions 1, 2, 3 (each reports its
 * number to `to`), report ["ready"], then end as `end` says. "after" is
 * reported only if ax_exit returned.
 */
static int
on_exit_actor(void *arg)
{
    ax_pid to;
    int end;
    ax_msg *m;

    (void)arg;
    if (recv_args("[_ p d]", &to, &end) < 0) {
        return 2;
    }
    for (int n = 1; n <= 3; n++) {
        if (add_note(note_exit, to, AX_PID_NONE, n) < 0) {
            return 4;
        }
    }
    ax_sendf(to, "[s]", "ready");
    if (end == END_NESTED_EXIT) {
        exit_from_depth(3);
        ax_sendf(to, "[s]", "after");
    } else if (end == END_KILLED) {
        if (ax_recv_match("never", &m, AX_FOREVER) == 0) {
            ax_msg_free(m);
        }
        ax_sendf(to, "[s]", "after");
    }
    return 0;
}

/* ["full", to, sink, end]: register on_exit_send_note, report ["ready"],
 * then return 0 (end 0) or wait to be killed. */
static int
on_exit_sender_actor(void *arg)
{
    ax_pid to, sink;
    int end;
    ax_msg *m;

    (void)arg;
    if (recv_args("[_ p p d]", &to, &sink, &end) < 0) {
        return 2;
    }
    if (add_note(on_exit_send_note, to, sink, 0) < 0) {
        return 4;
    }
    ax_sendf(to, "[s]", "ready");
    if (end != END_RETURN && ax_recv_match("never", &m, AX_FOREVER) == 0) {
        ax_msg_free(m);
    }
    return 0;
}

/* --- on_exit ------------------------------------------------------------- */

static void
body_on_exit(void *arg)
{
    int end = *(const int *)arg;
    ax_pid a = spawn_monitored(on_exit_actor);
    ax_exit_info i;

    TH_CHECK_INT(ax_sendf(a, "[s p d]", "how", ax_self(), end), 0);
    ax_msg_free(expect("ready", 5000));
    if (end == END_KILLED) {
        settle();
        TH_CHECK_INT(ax_kill(a, 77), 0);
    }
    /* Last registered runs first. */
    for (int n = 3; n >= 1; n--) {
        TH_CHECK_INT(expect_int("on_exit"), n);
    }
    i = th_join(a);
    TH_CHECK_INT(i.kind, end == END_RETURN        ? AX_EXIT_NORMAL
                         : end == END_NESTED_EXIT ? AX_EXIT_ERROR
                                                  : AX_EXIT_KILLED);
    TH_CHECK_INT(i.code, end == END_RETURN        ? 0
                         : end == END_NESTED_EXIT ? 5
                                                  : 77);
    expect_none("after", 0);
    expect_none("on_exit", 0);
}

static void
test_lifecycle_on_exit_runs_lifo_on_normal_return(void **state)
{
    static const int end = END_RETURN;

    (void)state;
    run(body_on_exit, (void *)&end);
}

static void
test_lifecycle_on_exit_runs_lifo_on_exit_from_a_nested_function(void **state)
{
    static const int end = END_NESTED_EXIT;

    (void)state;
    run(body_on_exit, (void *)&end);
}

static void
test_lifecycle_on_exit_runs_lifo_on_kill_while_waiting(void **state)
{
    static const int end = END_KILLED;

    (void)state;
    run(body_on_exit, (void *)&end);
}

/*
 * on_exit functions run outside any actor and must not wait: ax_self() is
 * AX_PID_NONE there, and a send into a full mailbox fails with AX_EAGAIN
 * (as any send from outside an actor) instead of making the ending actor,
 * or the actor that killed it, wait in the middle of an exit.
 */
static void
body_on_exit_full_send(void *arg)
{
    ax_spawn_opts o = th_opts();
    size_t live = live_actors();
    bool outside = false;
    ax_pid sink, a;
    int rc = 0;
    ax_msg *m;

    (void)arg;
    o.mailbox_capacity = 1;
    o.monitor = true;
    sink = th_spawn_with(th_blocked_actor, &o);
    TH_CHECK_INT(ax_sendf(sink, "[s]", "fill"), 0);
    for (int k = 0; k < 2; k++) {
        int end = k == 0 ? END_RETURN : END_KILLED;

        a = spawn_monitored(on_exit_sender_actor);
        TH_CHECK_INT(ax_sendf(a, "[s p p d]", "full", ax_self(), sink, end), 0);
        ax_msg_free(expect("ready", 5000));
        if (end == END_KILLED) {
            settle();
            TH_CHECK_INT(ax_kill(a, 78), 0);
        }
        if ((m = expect("on_exit_send", 5000)) != NULL) {
            TH_CHECK_INT(ax_msg_unpack(m, "[_ d b]", &rc, &outside), 0);
            TH_CHECK_INT(rc, AX_EAGAIN);
            TH_CHECK(outside);
            TH_CHECK(ax_pid_is_none(ax_msg_sender(m))); /* from no actor */
            ax_msg_free(m);
        }
        TH_CHECK_INT(th_join(a).kind,
                     end == END_RETURN ? AX_EXIT_NORMAL : AX_EXIT_KILLED);
    }
    TH_CHECK_INT(ax_kill(sink, 1), 0);
    th_join(sink);
    TH_CHECK_INT(live_actors(), live);
}

static void
test_lifecycle_on_exit_send_to_full_mailbox_fails_with_eagain(void **state)
{
    (void)state;
    run(body_on_exit_full_send, NULL);
}

int
main(void)
{
    const struct CMUnitTest list[] = {
        cmocka_unit_test_setup_teardown(
            test_lifecycle_on_exit_runs_lifo_on_normal_return, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_on_exit_runs_lifo_on_exit_from_a_nested_function,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_on_exit_runs_lifo_on_kill_while_waiting, t_setup,
            t_teardown),
    };
    /* A sender parked on a full mailbox of its own process: across
     * processes the receiving process stops reading its channel instead
     * (tests/actors/process_scale_test.c checks that), so this one runs
     * with coroutine placement only. */
    const struct CMUnitTest local_only[] = {
        cmocka_unit_test_setup_teardown(
            test_lifecycle_on_exit_send_to_full_mailbox_fails_with_eagain,
            t_setup, t_teardown),
    };
    int failed = 0;

    th_main_setup();
    th_placement = AX_PLACE_COROUTINE;
    failed +=
        cmocka_run_group_tests_name("coroutine placement", list, NULL, NULL);
    failed += cmocka_run_group_tests_name("coroutine placement, capacity",
                                          local_only, NULL, NULL);
    th_placement = AX_PLACE_PROCESS;
    failed +=
        cmocka_run_group_tests_name("process placement", list, NULL, NULL);
    return failed;
}
