/*
 * tests/actors/pid_format_test.c - addresses as text (ax_pid_format,
 * ax_pid_parse) and where an actor runs (ax_pid_os_pid).
 *
 * The text tests without actors run in the test process; the others in
 * the harness's driver (process_util.h says how every body runs and
 * checks). Actors in other processes answer only with messages: their own
 * text of an address, their getpid(), their answer of ax_pid_os_pid.
 */
#include "process_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* p's text (the buffer is static: one at a time). */
static const char *
text_of(ax_pid p)
{
    static char buf[AX_PID_FORMAT_LEN];

    ax_pid_format(p, buf, sizeof(buf));
    return buf;
}

/* Whether p formats to text that parses back to p (a failed check if not). */
static void
check_round_trip(ax_pid p)
{
    char buf[AX_PID_FORMAT_LEN];
    ax_pid back = {7, 7};
    int n = ax_pid_format(p, buf, sizeof(buf));
    int rc = ax_pid_parse(buf, &back);

    TH_CHECK(n > 0 && n < AX_PID_FORMAT_LEN && (size_t)n == strlen(buf));
    TH_CHECK_INT(rc, 0);
    if (!ax_pid_equal(back, p)) {
        th_fail(__FILE__, __LINE__, "%s parsed to another address", buf);
    }
}

/* --- text without a runtime ----------------------------------------------- */

static void
test_pid_format_none_is_written_and_read_as_none(void **state)
{
    char buf[AX_PID_FORMAT_LEN];
    ax_pid p = {7, 7};

    (void)state;
    assert_int_equal(ax_pid_format(AX_PID_NONE, buf, sizeof(buf)), 6);
    assert_string_equal(buf, "<none>");
    assert_int_equal(ax_pid_parse("<none>", &p), 0);
    assert_true(ax_pid_is_none(p));
}

static void
test_pid_format_short_buffer_is_cut_and_the_full_length_returned(void **state)
{
    char buf[AX_PID_FORMAT_LEN];
    ax_pid p = {0, (uint64_t)3 << 32 | 12}; /* node 0: no number needed */

    (void)state;
    assert_int_equal(ax_pid_format(p, NULL, 0), 8);
    memset(buf, 'z', sizeof(buf));
    assert_int_equal(ax_pid_format(p, buf, 0), 8);
    assert_int_equal(buf[0], 'z'); /* len 0: nothing written */
    assert_int_equal(ax_pid_format(p, buf, 1), 8);
    assert_string_equal(buf, "");
    assert_int_equal(ax_pid_format(p, buf, 5), 8);
    assert_string_equal(buf, "<0.1");
    assert_int_equal(ax_pid_format(p, buf, 8), 8);
    assert_string_equal(buf, "<0.12.3");
    assert_int_equal(ax_pid_format(p, buf, 9), 8);
    assert_string_equal(buf, "<0.12.3>");
    assert_int_equal(ax_pid_format(AX_PID_NONE, buf, 3), 6);
    assert_string_equal(buf, "<n");
}

static void
test_pid_format_longest_address_fits_and_round_trips_in_hex(void **state)
{
    char buf[AX_PID_FORMAT_LEN];
    ax_pid p = {UINT64_MAX, UINT64_MAX}, back;
    int n;

    (void)state;
    /* No run numbered this node: its id in hex. */
    n = ax_pid_format(p, buf, sizeof(buf));
    assert_string_equal(buf, "<0xffffffffffffffff.4294967295.4294967295>");
    assert_int_equal(n, 42);
    assert_true(n < AX_PID_FORMAT_LEN);
    assert_int_equal(ax_pid_parse(buf, &back), 0);
    assert_true(ax_pid_equal(back, p));
    assert_int_equal(ax_pid_parse("<0X1F.1.2>", &back), 0);
    assert_true(ax_pid_equal(back, ((ax_pid){0x1f, (uint64_t)2 << 32 | 1})));
}

static void
test_pid_parse_rejects_garbage_and_leaves_out_alone(void **state)
{
    static const char *const bad[] = {
        "",
        "<",
        "<>",
        "none",
        "<none",
        "<none> ",
        "<NONE>",
        "1.2.3",
        "<1.2>",
        "<1.2.3",
        "1.2.3>",
        "<1.2.3> ",
        " <1.2.3>",
        "<1.2.3>x",
        "<1.2.3.4>",
        "<1..3>",
        "<.2.3>",
        "<-1.2.3>",
        "<+1.2.3>",
        "<1.-2.3>",
        "<1. 2.3>",
        "<a.2.3>",
        "<1.2.3a>",
        "<1.4294967296.1>",
        "<1.1.4294967296>",
        "<4294967296.1.1>",
        "<1.99999999999999999999.1>",
        "<0x.1.1>",
        "<0xg.1.1>",
        "<0x10000000000000000.1.1>",
        "<x1.1.1>",
        "<4000000000.1.x>", /* bad text wins over an unknown node */
    };
    ax_pid p = {7, 7};

    (void)state;
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        if (ax_pid_parse(bad[k], &p) != AX_EINVAL) {
            fail_msg("\"%s\" was not refused with AX_EINVAL", bad[k]);
        }
        assert_true(ax_pid_equal(p, ((ax_pid){7, 7})));
    }
    /* Well formed, but no node has that number in this run. */
    assert_int_equal(ax_pid_parse("<4000000000.1.1>", &p), AX_ESRCH);
    assert_true(ax_pid_equal(p, ((ax_pid){7, 7})));
}

/* --- text and OS pids of live actors -------------------------------------- */

/* A coroutine actor that waits for ["stop"]. */
static int
waiting_actor(void *arg)
{
    ax_msg *m;

    (void)arg;
    if (ax_recv_match("stop", &m, AX_FOREVER) == 0) {
        ax_msg_free(m);
    }
    return 0;
}

/*
 * In a process actor: report ["me", my text, the driver's text, getpid(),
 * ax_pid_os_pid of the driver and of myself]; with arg set, also spawn a
 * process actor of my own and report its address as ["kid", pid]. Then
 * wait for ["stop"].
 */
static int
reporting_actor(void *arg)
{
    char me[AX_PID_FORMAT_LEN], driver[AX_PID_FORMAT_LEN];
    ax_spawn_opts o = proc_opts();
    ax_pid kid;
    ax_msg *m;

    ax_pid_format(ax_self(), me, sizeof(me));
    ax_pid_format(g_driver, driver, sizeof(driver));
    ax_sendf(g_driver, "[s s s d d d]", "me", me, driver, (int)getpid(),
             ax_pid_os_pid(g_driver), ax_pid_os_pid(ax_self()));
    if (arg != NULL && ax_spawn(reporting_actor, NULL, &o, &kid) == 0) {
        ax_sendf(g_driver, "[s p]", "kid", kid);
    }
    if (ax_recv_match("stop", &m, AX_FOREVER) == 0) {
        ax_msg_free(m);
    }
    return 0;
}

/* What reporting_actor said: checked against what the driver sees of pid. */
static int
check_report(ax_pid pid)
{
    ax_msg *m = expect_tag("me");
    const char *me, *driver;
    size_t melen, drlen;
    int os = 0, os_driver = 0, os_self = 0;

    if (m == NULL || ax_msg_unpack(m, "[_ S S d d d]", &me, &melen, &driver,
                                   &drlen, &os, &os_driver, &os_self) < 0) {
        TH_CHECK(!"a bad report");
        ax_msg_free(m);
        return 0;
    }
    /* The same text for the same address, in either process. */
    TH_CHECK(melen == strlen(text_of(pid)) &&
             memcmp(me, text_of(pid), melen) == 0);
    TH_CHECK(drlen == strlen(text_of(g_driver)) &&
             memcmp(driver, text_of(g_driver), drlen) == 0);
    TH_CHECK_INT(os_driver, getpid());
    TH_CHECK_INT(os_self, os);
    TH_CHECK(os != getpid());
    TH_CHECK_INT(ax_pid_os_pid(pid), os);
    ax_msg_free(m);
    return os;
}

static void
body_local(void *arg)
{
    ax_spawn_opts o = coro_opts();
    ax_pid me = ax_self(), co;
    unsigned node, low, gen;
    char end;

    (void)arg;
    check_round_trip(me);
    TH_CHECK_INT(sscanf(text_of(me), "<%u.%u.%u%c", &node, &low, &gen, &end),
                 4);
    TH_CHECK(node > 0 && end == '>');
    TH_CHECK_INT(low, (uint32_t)me.id);
    TH_CHECK_INT(gen, (uint32_t)(me.id >> 32));
    TH_CHECK_INT(ax_pid_os_pid(me), getpid());
    TH_CHECK_INT(ax_pid_os_pid(AX_PID_NONE), AX_ESRCH);

    co = spawn(waiting_actor, NULL, &o);
    check_round_trip(co);
    TH_CHECK_INT(ax_pid_os_pid(co), getpid());
    ax_sendf(co, "[s]", "stop");
    CHECK_REASON(join(co), AX_EXIT_NORMAL, 0, 0);
    TH_CHECK_INT(ax_pid_os_pid(co), AX_ESRCH);
    check_round_trip(co); /* a dead address still has its text */
    /* An id that was never handed out on this node. */
    TH_CHECK_INT(ax_pid_os_pid(((ax_pid){me.node, (uint64_t)9 << 32 | 999})),
                 AX_ESRCH);
}

/*
 * The driver's own address formats as <n.slot.gen> with its id's halves
 * and round-trips; its OS pid and a coroutine actor's are getpid(); once
 * that actor ended its address is AX_ESRCH (and still formats).
 */
static void
test_pid_format_local_actors_round_trip_and_run_here(void **state)
{
    (void)state;
    run(body_local, NULL);
}

static void
body_process(void *arg)
{
    ax_spawn_opts o = proc_opts();
    ax_pid child, kid;
    char mine[AX_PID_FORMAT_LEN];
    int os;

    (void)arg;
    g_driver = ax_self();
    child = spawn(reporting_actor, (void *)1, &o);
    os = check_report(child);
    check_round_trip(child);
    snprintf(mine, sizeof(mine), "%s", text_of(g_driver));
    TH_CHECK(strcmp(text_of(child), mine) != 0); /* another node number */

    /* A grandchild: this process never forked it, yet knows its pid. */
    if (expect_args("kid", "[_ p]", &kid) == 0) {
        remember(kid);
        check_report(kid);
        check_round_trip(kid);
        ax_sendf(kid, "[s]", "stop");
    }
    ax_sendf(child, "[s]", "stop");
    CHECK_REASON(join(child), AX_EXIT_NORMAL, 0, 0);
    TH_CHECK_INT(ax_pid_os_pid(child), AX_ESRCH);
    TH_CHECK(os != 0);
}

/*
 * A process actor and the one it spawns: each formats its own address and
 * the driver's as the driver does, and parse gives the addresses back; its
 * OS pid (from the driver, and from itself) is the getpid() it reports,
 * not the test's; the driver's from there is the test's. Once it ended:
 * AX_ESRCH.
 */
static void
test_pid_format_process_actor_has_the_same_text_and_its_own_os_pid(void **state)
{
    (void)state;
    run(body_process, NULL);
}

/* The same with the fork server on: the server, not the test process,
 * forks the child, and the child's pid still reaches every process. */
static void
test_pid_format_process_actor_of_the_fork_server_has_its_own_os_pid(
    void **state)
{
    static const ax_runtime_opts fs_opts = {.forkserver = true};

    (void)state;
    th_runtime_opts = &fs_opts;
    run(body_process, NULL);
    th_runtime_opts = NULL;
}

/* A coroutine actor that moves to a new process and says where it is. */
static int
promoted_actor(void *arg)
{
    ax_msg *m;

    (void)arg;
    if (ax_promote() < 0) {
        ax_sendf(g_driver, "[s d]", "moved", -1);
        return 1;
    }
    ax_sendf(g_driver, "[s d]", "moved", (int)getpid());
    if (ax_recv_match("stop", &m, AX_FOREVER) == 0) {
        ax_msg_free(m);
    }
    return 0;
}

static void
body_promoted(void *arg)
{
    ax_spawn_opts o = coro_opts();
    ax_pid p;
    char before[AX_PID_FORMAT_LEN];
    int os = 0;

    (void)arg;
    g_driver = ax_self();
    p = spawn(promoted_actor, NULL, &o);
    snprintf(before, sizeof(before), "%s", text_of(p));
    TH_CHECK_INT(ax_pid_os_pid(p), getpid());
    if (expect_args("moved", "[_ d]", &os) == 0) {
        TH_CHECK(os > 0 && os != getpid());
        TH_CHECK_INT(ax_pid_os_pid(p), os);
        TH_CHECK(strcmp(text_of(p), before) == 0); /* the same address */
    }
    ax_sendf(p, "[s]", "stop");
    CHECK_REASON(join(p), AX_EXIT_NORMAL, 0, 0);
    TH_CHECK_INT(ax_pid_os_pid(p), AX_ESRCH);
}

/*
 * A promoted actor keeps its address and its text; its OS pid is the new
 * process's once it moved, AX_ESRCH once it ended.
 */
static void
test_pid_format_promoted_actor_runs_in_its_new_process(void **state)
{
    (void)state;
    run(body_promoted, NULL);
}

/* --- main --------------------------------------------------------------- */

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pid_format_none_is_written_and_read_as_none),
        cmocka_unit_test(
            test_pid_format_short_buffer_is_cut_and_the_full_length_returned),
        cmocka_unit_test(
            test_pid_format_longest_address_fits_and_round_trips_in_hex),
        cmocka_unit_test(test_pid_parse_rejects_garbage_and_leaves_out_alone),
        T(test_pid_format_local_actors_round_trip_and_run_here),
        T(test_pid_format_process_actor_has_the_same_text_and_its_own_os_pid),
        T(test_pid_format_process_actor_of_the_fork_server_has_its_own_os_pid),
        T(test_pid_format_promoted_actor_runs_in_its_new_process),
    };

    return process_test_main(tests, sizeof(tests) / sizeof(tests[0]));
}
