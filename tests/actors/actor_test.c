/*
 * tests/actors/actor_test.c - the actor-level behaviour list.
 *
 * Every test here is a body run by the harness's driver actor; the actors
 * under test are spawned with th_opts(), so the same list runs once with
 * coroutine placement and (with process actors) once more with process
 * placement. Actors under test talk to the driver only with messages.
 */
#include "support/actor_harness.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

/* --- actors under test ---------------------------------------------------- */

/* Answer ["ping", n, from] with ["pong", n]; stop on ["stop"]. */
static int
echo_actor(void *arg)
{
    ax_msg *m;
    int64_t n;
    ax_pid from;

    (void)arg;
    while (ax_recv(&m, AX_FOREVER) == 0) {
        if (ax_msg_unpack(m, "[s i p]", NULL, NULL, &n, &from) == 0) {
            ax_sendf(from, "[s i]", "pong", n);
        }
        if (ax_msg_has_tag(m, "stop")) {
            ax_msg_free(m);
            return 0;
        }
        ax_msg_free(m);
    }
    return 1;
}

/* Answer calls ["add", a, b] with ["sum", a + b]; ["slow", ms] sleeps
 * first. Stops on ["stop"]. */
static int
server_actor(void *arg)
{
    ax_msg *m, *r;
    int64_t a, b;

    (void)arg;
    while (ax_recv(&m, AX_FOREVER) == 0) {
        if (ax_msg_has_tag(m, "stop")) {
            ax_msg_free(m);
            return 0;
        }
        if (ax_msg_unpack(m, "[s i i]", NULL, NULL, &a, &b) == 0) {
            if (ax_msg_has_tag(m, "slow")) {
                ax_sleep((int)a);
            }
            if (ax_msg_pack(&r, "[s i]", "sum", a + b) == 0) {
                ax_reply(m, r);
            }
        }
        ax_msg_free(m);
    }
    return 1;
}

/* Wait for ["go", to, n], then send n numbered messages to `to`. */
static int
counter_actor(void *arg)
{
    ax_msg *m;
    ax_pid to;
    int64_t n;

    (void)arg;
    if (ax_recv(&m, AX_FOREVER) < 0 ||
        ax_msg_unpack(m, "[s p i]", NULL, NULL, &to, &n) < 0) {
        return 2;
    }
    ax_msg_free(m);
    for (int64_t i = 0; i < n; i++) {
        if (ax_sendf(to, "[s p i]", "seq", ax_self(), i) < 0) {
            return 3;
        }
    }
    return 0;
}

/* Exit with the code found in the first message ["exit", code]. */
static int
exit_code_actor(void *arg)
{
    ax_msg *m;
    int code = 99;

    (void)arg;
    if (ax_recv(&m, AX_FOREVER) == 0) {
        ax_msg_unpack(m, "[s d]", NULL, NULL, &code);
        ax_msg_free(m);
    }
    return code;
}

/* --- helpers for the driver -------------------------------------------- */

/* --- bodies --------------------------------------------------------------- */

static void
body_ping_pong(void *arg)
{
    ax_pid echo = th_spawn(echo_actor);
    ax_msg *m;
    int64_t n = -1;

    (void)arg;
    for (int64_t i = 0; i < 100; i++) {
        TH_CHECK_INT(ax_sendf(echo, "[s i p]", "ping", i, ax_self()), 0);
        if ((m = th_expect("pong", 5000)) != NULL) {
            TH_CHECK_INT(ax_msg_unpack(m, "[s i]", NULL, NULL, &n), 0);
            TH_CHECK_INT(n, i);
            TH_CHECK(ax_pid_equal(ax_msg_sender(m), echo));
            ax_msg_free(m);
        }
    }
    ax_sendf(echo, "[s]", "stop");
    TH_CHECK_INT(th_join(echo).kind, AX_EXIT_NORMAL);
}

static void
test_actor_ping_pong_round_trips_in_order(void **state)
{
    (void)state;
    th_run(body_ping_pong, NULL);
}

/* Three senders, 20,000 messages each: each sender's order holds. */
static void
body_per_sender_order(void *arg)
{
    enum { SENDERS = 3, N = 20000 };
    ax_pid s[SENDERS];
    int64_t next[SENDERS] = {0};
    ax_msg *m;

    (void)arg;
    for (int i = 0; i < SENDERS; i++) {
        s[i] = th_spawn(counter_actor);
        ax_sendf(s[i], "[s p i]", "go", ax_self(), (int64_t)N);
    }
    for (int got = 0; got < SENDERS * N; got++) {
        ax_pid from;
        int64_t seq;

        if (ax_recv(&m, 5000) < 0) {
            TH_CHECK(!"a message is missing");
            return;
        }
        TH_CHECK_INT(ax_msg_unpack(m, "[s p i]", NULL, NULL, &from, &seq), 0);
        for (int i = 0; i < SENDERS; i++) {
            if (ax_pid_equal(from, s[i])) {
                TH_CHECK_INT(seq, next[i]);
                next[i] = seq + 1;
            }
        }
        ax_msg_free(m);
    }
    for (int i = 0; i < SENDERS; i++) {
        TH_CHECK_INT(next[i], N);
        TH_CHECK_INT(th_join(s[i]).kind, AX_EXIT_NORMAL);
    }
}

static void
test_actor_messages_from_one_sender_arrive_in_send_order(void **state)
{
    (void)state;
    th_run(body_per_sender_order, NULL);
}

/* Selective receive takes what matches and leaves the rest in order. */
static void
body_selective(void *arg)
{
    ax_pid c = th_spawn(counter_actor);
    ax_msg *m;
    int64_t seq;

    (void)arg;
    ax_sendf(ax_self(), "[s i]", "a", (int64_t)1);
    ax_sendf(ax_self(), "[s i]", "b", (int64_t)2);
    ax_sendf(ax_self(), "[s i]", "a", (int64_t)3);
    ax_sendf(ax_self(), "[s i]", "c", (int64_t)4);
    TH_CHECK_INT(ax_recv_match("c", &m, 0), 0);
    TH_CHECK_INT(ax_msg_unpack(m, "[s i]", NULL, NULL, &seq), 0);
    TH_CHECK_INT(seq, 4);
    TH_CHECK(ax_msg_unpack(m, "s", NULL) < 0); /* leaves a detail */
    ax_msg_free(m);
    TH_CHECK_INT(ax_recv_match("zzz", &m, 0), AX_ETIMEDOUT);
    /* the timeout's own detail, not the older failure's */
    TH_CHECK(strcmp(ax_error_detail(),
                    "receive: nothing that matches is in the mailbox") == 0);
    for (int64_t want = 1; want <= 3; want++) {
        TH_CHECK_INT(ax_recv(&m, 0), 0);
        TH_CHECK_INT(ax_msg_unpack(m, "[_ i]", &seq), 0);
        TH_CHECK_INT(seq, want);
        ax_msg_free(m);
    }
    /* A match that arrives later, from another actor, while others wait. */
    ax_sendf(ax_self(), "[s]", "other");
    ax_sendf(c, "[s p i]", "go", ax_self(), (int64_t)1);
    TH_CHECK_INT(ax_recv_match("seq", &m, 5000), 0);
    ax_msg_free(m);
    TH_CHECK_INT(ax_recv(&m, 0), 0);
    TH_CHECK(ax_msg_has_tag(m, "other"));
    ax_msg_free(m);
    th_join(c);
}

static void
test_actor_selective_receive_keeps_the_order_of_the_rest(void **state)
{
    (void)state;
    th_run(body_selective, NULL);
}

static void
body_call(void *arg)
{
    ax_pid srv = th_spawn(server_actor);
    ax_msg *req, *reply;
    int64_t sum = 0;

    (void)arg;
    for (int64_t i = 0; i < 10; i++) {
        TH_CHECK_INT(ax_msg_pack(&req, "[s i i]", "add", i, (int64_t)100), 0);
        TH_CHECK_INT(ax_call(srv, req, &reply, 5000), 0);
        TH_CHECK_INT(ax_msg_unpack(reply, "[s i]", NULL, NULL, &sum), 0);
        TH_CHECK_INT(sum, i + 100);
        TH_CHECK(!ax_msg_is_call(reply));
        ax_msg_free(reply);
    }
    ax_sendf(srv, "[s]", "stop");
    th_join(srv);
}

static void
test_actor_call_gets_the_reply_of_its_request(void **state)
{
    (void)state;
    th_run(body_call, NULL);
}

/* A reply that comes after its call timed out is never taken for the
 * answer of the next call. */
static void
body_call_timeout(void *arg)
{
    ax_pid srv = th_spawn(server_actor);
    ax_msg *req, *reply = NULL;
    int64_t sum = 0;

    (void)arg;
    ax_msg_pack(&req, "[s i i]", "slow", (int64_t)200, (int64_t)1);
    TH_CHECK_INT(ax_call(srv, req, &reply, 20), AX_ETIMEDOUT);
    TH_CHECK(strcmp(ax_error_detail(), "ax_call: no reply within 20 ms") == 0);
    ax_msg_pack(&req, "[s i i]", "add", (int64_t)5, (int64_t)5);
    TH_CHECK_INT(ax_call(srv, req, &reply, 5000), 0);
    TH_CHECK_INT(ax_msg_unpack(reply, "[s i]", NULL, NULL, &sum), 0);
    TH_CHECK_INT(sum, 10); /* not 201: that late reply was discarded */
    ax_msg_free(reply);
    TH_CHECK_INT(ax_recv(&reply, 0), AX_ETIMEDOUT); /* and it is not here */
    ax_sendf(srv, "[s]", "stop");
    th_join(srv);
    ax_runtime_stats st;

    ax_runtime_stats_get(&st);
    TH_CHECK(st.stale_replies >= 1);
}

static void
test_actor_call_timeout_discards_the_late_reply(void **state)
{
    (void)state;
    th_run(body_call_timeout, NULL);
}

static void
body_call_dead(void *arg)
{
    ax_pid srv = th_spawn(server_actor);
    ax_msg *req, *reply;

    (void)arg;
    ax_sendf(srv, "[s]", "stop");
    th_join(srv);
    ax_msg_pack(&req, "[s i i]", "add", (int64_t)1, (int64_t)1);
    TH_CHECK_INT(ax_call(srv, req, &reply, 1000), AX_ESRCH); /* takes req */
}

static void
test_actor_call_to_a_dead_actor_fails_with_esrch(void **state)
{
    (void)state;
    th_run(body_call_dead, NULL);
}

/* Exit reasons seen by monitors and by ax_wait. */
static void
body_exit_reasons(void *arg)
{
    ax_pid a = th_spawn(exit_code_actor);
    ax_pid b = th_spawn(exit_code_actor);
    ax_pid c = th_spawn(th_blocked_actor);
    ax_exit_info i;
    uint64_t ref, got_ref;
    ax_pid who;
    ax_msg *m;

    (void)arg;
    TH_CHECK_INT(ax_monitor(a, &ref), 0);
    ax_sendf(a, "[s d]", "exit", 0);
    if ((m = th_expect("DOWN", 5000)) != NULL) {
        TH_CHECK_INT(ax_down_msg_parse(m, &got_ref, &who, &i), 0);
        TH_CHECK(got_ref == ref && ax_pid_equal(who, a));
        TH_CHECK_INT(i.kind, AX_EXIT_NORMAL);
        ax_msg_free(m);
    }
    ax_sendf(b, "[s d]", "exit", 42);
    i = th_join(b);
    TH_CHECK_INT(i.kind, AX_EXIT_ERROR);
    TH_CHECK_INT(i.code, 42);
    TH_CHECK_INT(ax_kill(c, 7), 0);
    i = th_join(c);
    TH_CHECK_INT(i.kind, AX_EXIT_KILLED);
    TH_CHECK_INT(i.code, 7);
    TH_CHECK_INT(ax_kill(c, 7), AX_ESRCH);
}

static void
test_actor_monitors_and_wait_see_the_exact_exit_reason(void **state)
{
    (void)state;
    th_run(body_exit_reasons, NULL);
}

static void
body_noproc(void *arg)
{
    ax_pid gone = {ax_self().node, 0xdeadull << 32 | 77};
    uint64_t ref;
    ax_exit_info i;
    ax_msg *m;

    (void)arg;
    TH_CHECK_INT(ax_monitor(gone, &ref), 0);
    if ((m = th_expect("DOWN", 1000)) != NULL) {
        TH_CHECK_INT(ax_down_msg_parse(m, NULL, NULL, &i), 0);
        TH_CHECK_INT(i.kind, AX_EXIT_NOPROC);
        ax_msg_free(m);
    }
    TH_CHECK_INT(ax_wait(gone, &i, 100), AX_ESRCH);
    TH_CHECK_INT(ax_link(gone), AX_ESRCH);
}

static void
test_actor_monitor_of_a_missing_actor_gets_noproc(void **state)
{
    (void)state;
    th_run(body_noproc, NULL);
}

/* middle links to a child that exits with 3: middle dies with 3 too. */
static int
linker_actor(void *arg)
{
    ax_spawn_opts o = th_opts();
    ax_pid child;
    ax_msg *m;
    bool trap = false;

    (void)arg;
    if (ax_recv(&m, AX_FOREVER) < 0) {
        return 1;
    }
    ax_msg_unpack(m, "[s b]", NULL, NULL, &trap);
    ax_msg_free(m);
    ax_trap_exit(trap);
    o.link = true;
    if (ax_spawn(exit_code_actor, NULL, &o, &child) < 0) {
        return 2;
    }
    ax_sendf(child, "[s d]", "exit", 3);
    if (ax_recv(&m, 5000) < 0) {
        return 4;
    }
    /* Only a trapping actor gets here: report the EXIT it received. */
    ax_exit_info i;
    ax_pid who;
    int rc = ax_exit_msg_parse(m, &who, &i) == 0 && ax_pid_equal(who, child) &&
                     i.kind == AX_EXIT_ERROR && i.code == 3
                 ? 0
                 : 5;

    ax_msg_free(m);
    return rc;
}

static void
body_links(void *arg)
{
    ax_pid l1 = th_spawn(linker_actor);
    ax_pid l2 = th_spawn(linker_actor);
    ax_exit_info i;

    (void)arg;
    ax_sendf(l1, "[s b]", "trap", 0);
    i = th_join(l1);
    TH_CHECK_INT(i.kind, AX_EXIT_ERROR); /* died of its child's reason */
    TH_CHECK_INT(i.code, 3);
    ax_sendf(l2, "[s b]", "trap", 1);
    i = th_join(l2);
    TH_CHECK_INT(i.kind, AX_EXIT_NORMAL); /* trapped, got EXIT, returned 0 */
}

static void
test_actor_link_propagates_abnormal_exit_unless_trapped(void **state)
{
    (void)state;
    th_run(body_links, NULL);
}

static void
body_names(void *arg)
{
    ax_spawn_opts o = th_opts();
    ax_pid e, found;

    (void)arg;
    o.name = "echo";
    e = th_spawn_with(echo_actor, &o);
    TH_CHECK_INT(ax_whereis("echo", &found), 0);
    TH_CHECK(ax_pid_equal(found, e));
    TH_CHECK_INT(ax_spawn(echo_actor, NULL, &o, NULL), AX_EEXIST);
    TH_CHECK_INT(ax_register("echo", ax_self()), AX_EEXIST);
    TH_CHECK_INT(ax_register("", ax_self()), AX_EINVAL);
    TH_CHECK_INT(ax_register("driver", ax_self()), 0);
    TH_CHECK_INT(ax_unregister("driver"), 0);
    TH_CHECK_INT(ax_whereis("driver", &found), AX_ENOENT);
    ax_sendf(e, "[s]", "stop");
    th_join(e);
    TH_CHECK_INT(ax_whereis("echo", &found), AX_ENOENT); /* died with it */
}

static void
test_actor_names_register_resolve_and_die_with_the_actor(void **state)
{
    (void)state;
    th_run(body_names, NULL);
}

static void
body_dead_letters(void *arg)
{
    ax_pid e = th_spawn(echo_actor);
    ax_runtime_stats before, after;
    ax_msg *m;

    (void)arg;
    ax_sendf(e, "[s]", "stop");
    th_join(e);
    ax_runtime_stats_get(&before);
    TH_CHECK_INT(ax_sendf(e, "[s]", "hello"), 0);
    ax_runtime_stats_get(&after);
    TH_CHECK_INT(after.dead_letters, before.dead_letters + 1);
    ax_msg_pack(&m, "[s]", "hello");
    TH_CHECK_INT(ax_send_checked(e, m), AX_ESRCH);
    ax_msg_free(m); /* a failed send leaves the message with the caller */
}

static void
test_actor_send_to_dead_actor_counts_dead_letter(void **state)
{
    (void)state;
    th_run(body_dead_letters, NULL);
}

/* A full mailbox makes the sender wait; nothing is dropped. */
static int
slow_sink_actor(void *arg)
{
    ax_msg *m;
    ax_pid report = AX_PID_NONE;
    int64_t seq, expect = 0;

    (void)arg;
    while (ax_recv(&m, AX_FOREVER) == 0) {
        if (ax_msg_unpack(m, "[s p]", NULL, NULL, &report) == 0) {
            ax_msg_free(m);
            break;
        }
        if (ax_msg_unpack(m, "[_ _ i]", &seq) < 0 || seq != expect++) {
            return 3;
        }
        ax_msg_free(m);
        if (expect % 100 == 0) {
            ax_sleep(1);
        }
    }
    ax_sendf(report, "[s i]", "count", expect);
    return 0;
}

static void
body_capacity(void *arg)
{
    ax_spawn_opts o = th_opts();
    ax_actor_stats st;
    ax_pid sink;
    ax_msg *m;
    int64_t n = 0;

    (void)arg;
    o.mailbox_capacity = 16;
    sink = th_spawn_with(slow_sink_actor, &o);
    for (int64_t i = 0; i < 2000; i++) {
        TH_CHECK_INT(ax_sendf(sink, "[s p i]", "seq", ax_self(), i), 0);
        if (ax_stats(sink, &st) == 0) {
            TH_CHECK(st.mailbox <= 16);
        }
    }
    ax_sendf(sink, "[s p]", "done", ax_self());
    if ((m = th_expect("count", 10000)) != NULL) {
        ax_msg_unpack(m, "[s i]", NULL, NULL, &n);
        ax_msg_free(m);
    }
    TH_CHECK_INT(n, 2000);
    TH_CHECK_INT(th_join(sink).kind, AX_EXIT_NORMAL);
}

static void
test_actor_full_mailbox_makes_the_sender_wait_and_drops_nothing(void **state)
{
    (void)state;
    th_run(body_capacity, NULL);
}

int
main(void)
{
    const struct CMUnitTest list[] = {
        cmocka_unit_test_setup_teardown(
            test_actor_ping_pong_round_trips_in_order, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_actor_messages_from_one_sender_arrive_in_send_order, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_actor_selective_receive_keeps_the_order_of_the_rest, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_actor_call_gets_the_reply_of_its_request, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_actor_call_timeout_discards_the_late_reply, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_actor_call_to_a_dead_actor_fails_with_esrch, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_actor_monitors_and_wait_see_the_exact_exit_reason, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_actor_monitor_of_a_missing_actor_gets_noproc, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_actor_link_propagates_abnormal_exit_unless_trapped, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_actor_names_register_resolve_and_die_with_the_actor, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_actor_send_to_dead_actor_counts_dead_letter, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_actor_full_mailbox_makes_the_sender_wait_and_drops_nothing,
            t_setup, t_teardown),
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
