/*
 * tests/actors/server_test.c - servers (include/axon/server.h) in both
 * placements (one list, two groups): calls, casts and information reach
 * their callbacks in order; terminate runs with the code; a call that
 * times out leaves the next one its own answer; init's failure is
 * ax_server_start's error; a callback's non-zero return ends the server
 * after the reply; a call to a server that dies in it returns AX_ESRCH,
 * and the supervised server, restarted, answers the next one.
 */
#include "support/actor_harness.h"
#include "support/testutil.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <axon/server.h>
#include <axon/supervisor.h>

#define WAIT_MS 10000

/* init's argument. */
typedef struct counter_arg {
    int64_t start;
    ax_pid observer;
    int fail_init; /* init returns this */
} counter_arg;

typedef struct counter {
    int64_t n;
    ax_pid observer;
} counter;

static int
c_init(void *arg, void **state)
{
    const counter_arg *a = arg;
    counter *c;

    if (a->fail_init != 0) {
        return a->fail_init;
    }
    c = malloc(sizeof(*c));
    if (c == NULL) {
        return AX_ENOMEM;
    }
    c->n = a->start;
    c->observer = a->observer;
    *state = c;
    return ax_on_exit(free, c); /* however it ends (a crash in a call) */
}

/* A crash in the middle of a call: as a process, a real one. */
static AX_NORETURN void
die_now(void)
{
    struct rlimit none = {0, 0};

    if (th_placement == AX_PLACE_PROCESS) {
        setrlimit(RLIMIT_CORE, &none);
        raise(SIGSEGV);
    }
    ax_exit(9);
}

static int
c_call(void *state, const ax_msg *req, ax_msg **reply)
{
    counter *c = state;
    int64_t k = 0;

    if (ax_msg_unpack(req, "[s i]", NULL, NULL, &k) == 0 &&
        ax_msg_has_tag(req, "add")) {
        c->n += k;
    } else if (ax_msg_has_tag(req, "slow")) {
        ax_sleep((int)k);
    } else if (ax_msg_has_tag(req, "die")) {
        die_now();
    } else if (ax_msg_has_tag(req, "quit")) {
        ax_msg_pack(reply, "[s]", "bye");
        return 4;
    }
    return ax_msg_pack(reply, "[i]", c->n) < 0;
}

static int
c_cast(void *state, const ax_msg *msg)
{
    counter *c = state;

    c->n += ax_msg_has_tag(msg, "inc");
    return 0;
}

static int
c_info(void *state, const ax_msg *msg)
{
    counter *c = state;

    if (ax_msg_has_tag(msg, "hello")) {
        ax_sendf(c->observer, "[s]", "info");
    }
    return 0;
}

static void
c_terminate(void *state, int code)
{
    counter *c = state;

    ax_sendf(c->observer, "[s d i]", "terminated", code, c->n);
}

static const ax_server_callbacks counter_cb = {c_init, c_call, c_cast, c_info,
                                               c_terminate};

static ax_pid
start_counter(counter_arg *a)
{
    ax_spawn_opts o = th_opts();
    ax_pid pid = AX_PID_NONE;

    a->observer = ax_self();
    o.arg_size = sizeof(*a); /* init gets a copy */
    TH_CHECK_INT(ax_server_start(&counter_cb, a, &o, &pid), 0);
    return pid;
}

/* The counter's value by a call of fmt (one string, one integer). */
static int64_t
call_n(ax_pid server, const char *tag, int64_t k, int timeout_ms, int *rc)
{
    ax_msg *req = NULL, *reply = NULL;
    int64_t n = -1;

    TH_CHECK_INT(ax_msg_pack(&req, "[s i]", tag, k), 0);
    *rc = ax_server_call(server, req, &reply, timeout_ms);
    if (*rc == 0) {
        TH_CHECK_INT(ax_msg_unpack(reply, "[i]", &n), 0);
        ax_msg_free(reply);
    }
    return n;
}

static void
expect_terminated(int code, int64_t n)
{
    ax_msg *m = th_expect("terminated", WAIT_MS);
    int got = -1;
    int64_t value = -1;

    if (m != NULL) {
        TH_CHECK_INT(ax_msg_unpack(m, "[_ d i]", &got, &value), 0);
        TH_CHECK_INT(got, code);
        TH_CHECK_INT(value, n);
        ax_msg_free(m);
    }
}

/* --- the callbacks -----------------------------------------------------------
 */

static void
callbacks_body(void *arg)
{
    counter_arg a = {10, AX_PID_NONE, 0};
    ax_pid s = start_counter(&a);
    ax_msg *inc = NULL, *m;
    int rc;

    (void)arg;
    TH_CHECK_INT(call_n(s, "add", 5, WAIT_MS, &rc), 15);
    for (int i = 0; i < 3; i++) {
        TH_CHECK_INT(ax_msg_pack(&inc, "[s]", "inc"), 0);
        TH_CHECK_INT(ax_server_cast(s, inc), 0);
    }
    TH_CHECK_INT(call_n(s, "get", 0, WAIT_MS, &rc), 18); /* casts first */
    TH_CHECK_INT(ax_sendf(s, "[s]", "hello"), 0);
    m = th_expect("info", WAIT_MS);
    ax_msg_free(m);
    TH_CHECK_INT(ax_server_stop(s, WAIT_MS), 0);
    expect_terminated(0, 18);
}

static void
test_calls_casts_and_information_reach_their_callbacks(void **state)
{
    (void)state;
    th_run(callbacks_body, NULL);
}

static void
timeout_body(void *arg)
{
    counter_arg a = {1, AX_PID_NONE, 0};
    ax_pid s = start_counter(&a);
    int rc;

    (void)arg;
    call_n(s, "slow", 300, 50, &rc);
    TH_CHECK_INT(rc, AX_ETIMEDOUT);
    TH_CHECK_INT(call_n(s, "add", 1, WAIT_MS, &rc), 2); /* its own answer */
    TH_CHECK_INT(rc, 0);
    TH_CHECK_INT(ax_server_stop(s, WAIT_MS), 0);
    expect_terminated(0, 2);
}

static void
test_a_call_that_times_out_leaves_the_next_its_own_answer(void **state)
{
    (void)state;
    th_run(timeout_body, NULL);
}

static void
ending_body(void *arg)
{
    counter_arg bad = {0, AX_PID_NONE, 5};
    counter_arg a = {3, AX_PID_NONE, 0};
    ax_spawn_opts o = th_opts();
    ax_msg *req = NULL, *reply = NULL;
    ax_exit_info info;
    ax_pid s;

    (void)arg;
    bad.observer = ax_self();
    o.arg_size = sizeof(bad);
    TH_CHECK_INT(ax_server_start(&counter_cb, &bad, &o, NULL), AX_ECANCELED);
    TH_CHECK(strstr(ax_error_detail(), "init returned 5") != NULL);
    TH_CHECK_INT(ax_server_start(NULL, &a, &o, NULL), AX_EINVAL);

    s = start_counter(&a);
    TH_CHECK_INT(ax_monitor(s, NULL), 0);
    TH_CHECK_INT(ax_msg_pack(&req, "[s i]", "quit", (int64_t)0), 0);
    TH_CHECK_INT(ax_server_call(s, req, &reply, WAIT_MS), 0); /* replied */
    TH_CHECK(ax_msg_has_tag(reply, "bye"));
    ax_msg_free(reply);
    expect_terminated(4, 3);
    TH_CHECK_INT(ax_wait(s, &info, WAIT_MS), 0);
    TH_CHECK_INT(info.kind, AX_EXIT_ERROR);
    TH_CHECK_INT(info.code, 4);
}

static void
test_init_failure_and_a_callback_ending_the_server(void **state)
{
    (void)state;
    th_run(ending_body, NULL);
}

/* --- supervised: a crash in a call ------------------------------------------
 */

static void
supervised_body(void *arg)
{
    struct {
        ax_server_boot b;
        counter_arg a; /* copied with the record: valid in any process */
    } boot = {{counter_cb, NULL, sizeof(counter_arg)}, {10, ax_self(), 0}};
    ax_child_spec kid = {"counter", ax_server_main,       &boot,
                         th_opts(), AX_RESTART_PERMANENT, 1000};
    ax_sup_spec spec = {AX_ONE_FOR_ONE, 5, 5000, &kid, 1};
    ax_pid sup, s, s2 = AX_PID_NONE;
    int rc;

    (void)arg;
    kid.opts.name = "srv_test_counter";
    kid.opts.arg_size = sizeof(boot);
    TH_CHECK_INT(ax_supervisor_start(&spec, NULL, &sup), 0);
    TH_CHECK_INT(ax_whereis("srv_test_counter", &s), 0);
    TH_CHECK_INT(call_n(s, "add", 1, WAIT_MS, &rc), 11);
    call_n(s, "die", 0, WAIT_MS, &rc);
    TH_CHECK_INT(rc, AX_ESRCH);      /* an error, not silence */
    for (int i = 0; i < 1000; i++) { /* until the new one is named */
        if (ax_whereis("srv_test_counter", &s2) == 0 && !ax_pid_equal(s2, s)) {
            break;
        }
        ax_sleep(5);
    }
    TH_CHECK(!ax_pid_equal(s2, s));
    TH_CHECK_INT(call_n(s2, "get", 0, WAIT_MS, &rc), 10); /* a fresh state */
    TH_CHECK_INT(ax_supervisor_stop(sup, WAIT_MS), 0);
    expect_terminated(0, 10); /* the stop was a shutdown: terminate ran */
}

static void
test_a_crash_in_a_call_is_an_error_and_the_restarted_server_answers(
    void **state)
{
    (void)state;
    th_run(supervised_body, NULL);
}

int
main(void)
{
    const struct CMUnitTest list[] = {
        cmocka_unit_test_setup_teardown(
            test_calls_casts_and_information_reach_their_callbacks, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_call_that_times_out_leaves_the_next_its_own_answer, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_init_failure_and_a_callback_ending_the_server, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_crash_in_a_call_is_an_error_and_the_restarted_server_answers,
            t_setup, t_teardown),
    };
    int failed = 0;

    th_main_setup();
    th_placement = AX_PLACE_COROUTINE;
    failed +=
        cmocka_run_group_tests_name("coroutine servers", list, NULL, NULL);
    th_placement = AX_PLACE_PROCESS;
    failed += cmocka_run_group_tests_name("process servers", list, NULL, NULL);
    return failed;
}
