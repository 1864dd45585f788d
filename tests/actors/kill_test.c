/*
 * tests/actors/kill_test.c - a kill in every kind of wait: ax_recv (with
 * and without a time limit), ax_recv_match, ax_sleep, ax_call, ax_wait_fd,
 * ax_send into a full mailbox, ax_wait for another actor. The killed
 * actor never resumes, its timer or io watcher is stopped, and the actor
 * it waited for goes on; and the other side: the kill of a full receiver
 * lets its blocked sender go.
 *
 * Actor-level: the bodies run in the harness's driver actor, the actors
 * under test are spawned with th_opts() and talk to the driver only with
 * messages, so the list runs with coroutine placement and again with
 * process placement (the full-mailbox cases with coroutine placement
 * only, see main). Shared helpers: lifecycle_util.h.
 */
#include "support/actor_harness.h"

#include <fcntl.h>
#include <unistd.h>

#include "lifecycle_util.h"

/*
 * Timed waits of the actors killed mid-wait last this long: the test is
 * over long before, so a timer left running after the kill is still
 * active in the loop when run() checks that ax_fini left none.
 */
#define WAIT_MS 10000

/* What the waiter waits in (see waiter_actor). */
enum {
    WK_RECV,         /* ax_recv, no time limit */
    WK_RECV_TIMEOUT, /* ax_recv with WAIT_MS */
    WK_RECV_MATCH,   /* ax_recv_match of a tag that never comes */
    WK_SLEEP,        /* ax_sleep(WAIT_MS) */
    WK_CALL,         /* ax_call of a callee that does not answer */
    WK_FD,           /* ax_wait_fd for reading a pipe nobody writes */
    WK_SEND,         /* ax_send into a full mailbox */
    WK_JOIN,         /* ax_wait for another actor */
};

/* --- actors under test --------------------------------------------------- */

/* The wait of kind `kind` (WK_*), with peer and fd as that kind needs. */
static void
wait_once(int kind, ax_pid peer, int fd)
{
    ax_msg *m = NULL, *req;

    switch (kind) {
    case WK_RECV:
        ax_recv(&m, AX_FOREVER);
        break;
    case WK_RECV_TIMEOUT:
        ax_recv(&m, WAIT_MS);
        break;
    case WK_RECV_MATCH:
        ax_recv_match("never", &m, AX_FOREVER);
        break;
    case WK_SLEEP:
        ax_sleep(WAIT_MS);
        break;
    case WK_CALL:
        /* On success the reply is m; on failure the request may or may not
         * have been sent, so it is not freed here (no failure expected). */
        if (ax_msg_pack(&req, "[s]", "question") == 0) {
            ax_call(peer, req, &m, AX_FOREVER);
        }
        break;
    case WK_FD:
        ax_wait_fd(fd, AX_READ, AX_FOREVER);
        break;
    case WK_SEND:
        ax_sendf(peer, "[s p]", "from-waiter", ax_self());
        break;
    default:
        ax_wait(peer, NULL, AX_FOREVER);
        break;
    }
    ax_msg_free(m);
}

/*
 * Wait for ["wait", kind, to, peer, fd], report ["waiting", kind] to `to`,
 * wait as kind says, and if that wait ever returns, report ["resumed",
 * kind]. The driver kills it in the wait: "resumed" must never come.
 */
static int
waiter_actor(void *arg)
{
    ax_pid to, peer;
    int kind, fd;

    (void)arg;
    if (recv_args("[_ d p p d]", &kind, &to, &peer, &fd) < 0) {
        return 2;
    }
    ax_sendf(to, "[s d]", "waiting", kind);
    wait_once(kind, peer, fd);
    ax_sendf(to, "[s d]", "resumed", kind);
    return 0;
}

/*
 * A callee that does not answer: calls queue up until ["answer", to];
 * then it answers the oldest message (the call's request) and reports
 * ["answered", whether it was a call, ax_reply's result].
 */
static int
silent_callee_actor(void *arg)
{
    ax_msg *m, *req, *r;
    bool is_call;
    int rc = -1;
    ax_pid to;

    (void)arg;
    if (ax_recv_match("answer", &m, AX_FOREVER) < 0) {
        return 2;
    }
    if (ax_msg_unpack(m, "[_ p]", &to) < 0) {
        ax_msg_free(m);
        return 3;
    }
    ax_msg_free(m);
    if (ax_recv(&req, 0) < 0) {
        return 4;
    }
    is_call = ax_msg_is_call(req);
    if (ax_msg_pack(&r, "[s]", "late") == 0 && (rc = ax_reply(req, r)) < 0) {
        ax_msg_free(r);
    }
    ax_msg_free(req);
    ax_sendf(to, "[s b d]", "answered", (int)is_call, rc);
    return 0;
}

/*
 * A mailbox that stays full: wait for ["go", to, dead], then take every
 * message left and report ["drained", how many, whether one came from
 * dead] to `to`.
 */
static int
gate_sink_actor(void *arg)
{
    bool from_dead = false;
    ax_pid to, dead;
    int64_t n = 0;
    ax_msg *m;

    (void)arg;
    if (ax_recv_match("go", &m, AX_FOREVER) < 0) {
        return 2;
    }
    if (ax_msg_unpack(m, "[_ p p]", &to, &dead) < 0) {
        ax_msg_free(m);
        return 3;
    }
    ax_msg_free(m);
    while (ax_recv(&m, 0) == 0) {
        n++;
        if (ax_pid_equal(ax_msg_sender(m), dead) ||
            ax_msg_has_tag(m, "from-waiter")) {
            from_dead = true;
        }
        ax_msg_free(m);
    }
    ax_sendf(to, "[s i b]", "drained", n, (int)from_dead);
    return 0;
}

/* ["read", to, fd]: wait up to 5 s for fd to be readable, report
 * ["ready", ax_wait_fd's result]. */
static int
fd_reader_actor(void *arg)
{
    ax_pid to;
    int fd;

    (void)arg;
    if (recv_args("[_ p d]", &to, &fd) < 0) {
        return 2;
    }
    ax_sendf(to, "[s d]", "ready", ax_wait_fd(fd, AX_READ, 5000));
    return 0;
}

/* --- helpers for the driver ---------------------------------------------- */

/* Spawn a monitored waiter, start its wait; returns once it waits. */
static ax_pid
start_waiter(int kind, ax_pid peer, int fd)
{
    ax_pid w = spawn_monitored(waiter_actor);

    TH_CHECK_INT(ax_sendf(w, "[s d p p d]", "wait", kind, ax_self(), peer, fd),
                 0);
    TH_CHECK_INT(expect_int("waiting"), kind);
    settle();
    return w;
}

/* Kill w in its wait; check it ended killed with code and never resumed. */
static void
kill_waiter(ax_pid w, int code)
{
    ax_exit_info i;

    TH_CHECK_INT(ax_kill(w, code), 0);
    i = th_join(w);
    TH_CHECK_INT(i.kind, AX_EXIT_KILLED);
    TH_CHECK_INT(i.code, code);
    expect_none("resumed", 200);
}

/* --- a kill in every kind of wait ---------------------------------------- */

/* Waits that need no peer: receives and sleep. */
static void
body_kill_in_simple_wait(void *arg)
{
    int kind = *(const int *)arg;
    size_t live = live_actors();
    ax_pid w = start_waiter(kind, AX_PID_NONE, -1);

    if (kind == WK_RECV_MATCH) {
        /* A message it does not want must not wake it either. */
        TH_CHECK_INT(ax_sendf(w, "[s]", "noise"), 0);
        settle();
    }
    kill_waiter(w, 40 + kind);
    TH_CHECK_INT(live_actors(), live);
}

static void
test_lifecycle_kill_in_recv_never_resumes_the_actor(void **state)
{
    static const int kind = WK_RECV;

    (void)state;
    run(body_kill_in_simple_wait, (void *)&kind);
}

static void
test_lifecycle_kill_in_recv_with_timeout_stops_its_timer(void **state)
{
    static const int kind = WK_RECV_TIMEOUT;

    (void)state;
    run(body_kill_in_simple_wait, (void *)&kind);
}

static void
test_lifecycle_kill_in_recv_match_never_resumes_the_actor(void **state)
{
    static const int kind = WK_RECV_MATCH;

    (void)state;
    run(body_kill_in_simple_wait, (void *)&kind);
}

static void
test_lifecycle_kill_in_sleep_stops_its_timer(void **state)
{
    static const int kind = WK_SLEEP;

    (void)state;
    run(body_kill_in_simple_wait, (void *)&kind);
}

/* The callee outlives its dead caller; its late answer is a dead letter. */
static void
body_kill_in_call(void *arg)
{
    size_t live = live_actors();
    ax_pid callee = spawn_monitored(silent_callee_actor);
    ax_pid w = start_waiter(WK_CALL, callee, -1);
    ax_runtime_stats before, after;
    bool is_call = false;
    int rc = -1;
    ax_msg *m;

    (void)arg;
    kill_waiter(w, 44);
    ax_runtime_stats_get(&before);
    TH_CHECK_INT(ax_sendf(callee, "[s p]", "answer", ax_self()), 0);
    if ((m = expect("answered", 5000)) != NULL) {
        TH_CHECK_INT(ax_msg_unpack(m, "[_ b d]", &is_call, &rc), 0);
        TH_CHECK(is_call);
        TH_CHECK_INT(rc, 0);
        ax_msg_free(m);
    }
    ax_runtime_stats_get(&after);
    if (th_placement == AX_PLACE_COROUTINE) {
        /* Counted where the dead caller lived: here, in this placement. */
        TH_CHECK_INT(after.dead_letters, before.dead_letters + 1);
    }
    TH_CHECK_INT(th_join(callee).kind, AX_EXIT_NORMAL);
    TH_CHECK_INT(live_actors(), live);
}

static void
test_lifecycle_kill_in_call_leaves_the_silent_callee_working(void **state)
{
    (void)state;
    run(body_kill_in_call, NULL);
}

/*
 * After the kill the driver closes the pipe: an io watcher left on it
 * would stay active in the loop (run() checks) and its fd number is taken
 * again at once by a new pipe, whose wait must work as usual.
 */
static void
body_kill_in_wait_fd(void *arg)
{
    size_t live = live_actors();
    int p[2], q[2];
    ax_pid w, r;

    (void)arg;
    TH_CHECK_INT(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    w = start_waiter(WK_FD, AX_PID_NONE, p[0]);
    kill_waiter(w, 45);
    close(p[0]);
    close(p[1]);
    TH_CHECK_INT(pipe2(q, O_CLOEXEC | O_NONBLOCK), 0);
    r = spawn_monitored(fd_reader_actor);
    TH_CHECK_INT(ax_sendf(r, "[s p d]", "read", ax_self(), q[0]), 0);
    settle();
    TH_CHECK_INT(write(q[1], "x", 1), 1);
    TH_CHECK_INT(expect_int("ready"), AX_READ);
    TH_CHECK_INT(th_join(r).kind, AX_EXIT_NORMAL);
    close(q[0]);
    close(q[1]);
    TH_CHECK_INT(live_actors(), live);
}

static void
test_lifecycle_kill_in_wait_fd_stops_its_io_watcher(void **state)
{
    (void)state;
    run(body_kill_in_wait_fd, NULL);
}

/*
 * A sender killed while it waits for room leaves the receiver's waiting
 * senders: when the receiver takes its message, nobody is let in (a
 * stale entry would deliver a freed message), and the dead sender's
 * message never arrives.
 */
static void
body_kill_blocked_sender(void *arg)
{
    ax_spawn_opts o = th_opts();
    size_t live = live_actors();
    bool from_dead = true;
    ax_pid sink, w;
    int64_t n = -1;
    ax_msg *m;

    (void)arg;
    o.mailbox_capacity = 1;
    o.monitor = true;
    sink = th_spawn_with(gate_sink_actor, &o);
    TH_CHECK_INT(ax_sendf(sink, "[s]", "fill"), 0); /* full now */
    w = start_waiter(WK_SEND, sink, -1);
    kill_waiter(w, 46);
    /* The sink waits for "go": that one is handed over though it is full. */
    TH_CHECK_INT(ax_sendf(sink, "[s p p]", "go", ax_self(), w), 0);
    if ((m = expect("drained", 5000)) != NULL) {
        TH_CHECK_INT(ax_msg_unpack(m, "[_ i b]", &n, &from_dead), 0);
        TH_CHECK_INT(n, 1); /* "fill" only */
        TH_CHECK(!from_dead);
        ax_msg_free(m);
    }
    TH_CHECK_INT(th_join(sink).kind, AX_EXIT_NORMAL);
    TH_CHECK_INT(live_actors(), live);
}

static void
test_lifecycle_killed_blocked_sender_leaves_the_waiting_senders(void **state)
{
    (void)state;
    run(body_kill_blocked_sender, NULL);
}

/* The other side: the full receiver dies; its blocked sender goes on (its
 * send returns) and its message is a dead letter. */
static void
body_kill_full_receiver(void *arg)
{
    ax_spawn_opts o = th_opts();
    size_t live = live_actors();
    ax_runtime_stats before, after;
    ax_exit_info i;
    ax_pid sink, w;

    (void)arg;
    o.mailbox_capacity = 1;
    o.monitor = true;
    sink = th_spawn_with(th_blocked_actor, &o);
    TH_CHECK_INT(ax_sendf(sink, "[s]", "fill"), 0);
    w = start_waiter(WK_SEND, sink, -1);
    ax_runtime_stats_get(&before);
    TH_CHECK_INT(ax_kill(sink, 47), 0);
    i = th_join(sink);
    TH_CHECK_INT(i.kind, AX_EXIT_KILLED);
    TH_CHECK_INT(i.code, 47);
    TH_CHECK_INT(expect_int("resumed"), WK_SEND);
    ax_runtime_stats_get(&after);
    if (th_placement == AX_PLACE_COROUTINE) {
        TH_CHECK_INT(after.dead_letters, before.dead_letters + 1);
    }
    TH_CHECK_INT(th_join(w).kind, AX_EXIT_NORMAL);
    TH_CHECK_INT(live_actors(), live);
}

static void
test_lifecycle_kill_of_a_full_receiver_lets_its_blocked_sender_go(void **state)
{
    (void)state;
    run(body_kill_full_receiver, NULL);
}

/* The joined actor outlives its dead joiner, and its end is seen as usual. */
static void
body_kill_in_join(void *arg)
{
    size_t live = live_actors();
    ax_pid target = spawn_monitored(th_blocked_actor);
    ax_pid w = start_waiter(WK_JOIN, target, -1);
    ax_exit_info i;

    (void)arg;
    kill_waiter(w, 48);
    TH_CHECK_INT(ax_kill(target, 49), 0);
    i = th_join(target);
    TH_CHECK_INT(i.kind, AX_EXIT_KILLED);
    TH_CHECK_INT(i.code, 49);
    TH_CHECK_INT(live_actors(), live);
}

static void
test_lifecycle_kill_in_wait_for_another_actor_ends_only_the_waiter(void **state)
{
    (void)state;
    run(body_kill_in_join, NULL);
}

int
main(void)
{
    const struct CMUnitTest list[] = {
        cmocka_unit_test_setup_teardown(
            test_lifecycle_kill_in_recv_never_resumes_the_actor, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_kill_in_recv_with_timeout_stops_its_timer, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_kill_in_recv_match_never_resumes_the_actor, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_kill_in_sleep_stops_its_timer, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_kill_in_call_leaves_the_silent_callee_working,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_kill_in_wait_fd_stops_its_io_watcher, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_kill_in_wait_for_another_actor_ends_only_the_waiter,
            t_setup, t_teardown),
    };
    /* A sender parked on a full mailbox of its own process: across
     * processes the receiving process stops reading its channel instead
     * (tests/actors/process_scale_test.c checks that), so these run with
     * coroutine placement only. */
    const struct CMUnitTest local_only[] = {
        cmocka_unit_test_setup_teardown(
            test_lifecycle_killed_blocked_sender_leaves_the_waiting_senders,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_kill_of_a_full_receiver_lets_its_blocked_sender_go,
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
