/*
 * tests/actors/supervisor_test.c - supervisors (include/axon/supervisor.h)
 * over children of either placement (one list of tests, run as two
 * groups): each strategy restarts what it says, checked by addresses;
 * each restart type; stops in reverse start order, and a child that
 * ignores its shutdown is killed after its timeout; too many restarts end
 * the supervisor with AX_SUP_GAVE_UP; a restarted named child keeps its
 * name; a process child killed by SIGSEGV is restarted; a start that
 * fails is the error of ax_supervisor_start, and stops the children
 * started before it.
 *
 * Children tell the driver (the observer) what happens to them with
 * messages: ["up", id, pid] when they start, ["down", id] when they
 * stop on a shutdown request.
 */
#include "support/actor_harness.h"
#include "support/testutil.h"

#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <axon/supervisor.h>

#include "base/sanitizers.h"

#define WAIT_MS 10000

/* What a child is given (copied: arg_size). */
typedef struct kid_arg {
    ax_pid observer;
    char id[16];
    bool deaf; /* ignores ["shutdown"] */
} kid_arg;

/*
 * A child: says it is up, then obeys ["crash", code] (returns code),
 * ["segv"] (dies of SIGSEGV: process placement only), and ["shutdown"]
 * (says "down", returns 0) unless deaf.
 */
static int
kid(void *arg)
{
    const kid_arg *k = arg;
    ax_msg *m;
    int code;

    ax_sendf(k->observer, "[s s p]", "up", k->id, ax_self());
    for (;;) {
        if (ax_recv(&m, AX_FOREVER) != 0) {
            continue;
        }
        if (ax_shutdown_requested(m) && !k->deaf) {
            ax_msg_free(m);
            ax_sendf(k->observer, "[s s]", "down", k->id);
            return 0;
        }
        if (ax_msg_unpack(m, "[s d]", NULL, NULL, &code) == 0 &&
            ax_msg_has_tag(m, "crash")) {
            ax_msg_free(m);
            return code;
        }
        if (ax_msg_has_tag(m, "segv")) {
            raise(SIGSEGV);
        }
        ax_msg_free(m);
    }
}

/* The specs of up to 8 children named by the letters of ids. */
typedef struct kids {
    kid_arg arg[8];
    ax_child_spec spec[8];
    size_t n;
} kids;

static void
make_kids(kids *k, const char *ids, ax_restart restart)
{
    memset(k, 0, sizeof(*k));
    for (k->n = 0; ids[k->n] != '\0'; k->n++) {
        kid_arg *a = &k->arg[k->n];
        ax_child_spec *s = &k->spec[k->n];

        a->observer = ax_self();
        snprintf(a->id, sizeof(a->id), "%c", ids[k->n]);
        s->id = a->id;
        s->fn = kid;
        s->arg = a;
        s->opts = th_opts();
        s->opts.arg_size = sizeof(*a);
        s->restart = restart;
        s->shutdown_ms = 2000;
    }
}

static bool
up_of(const ax_msg *m, void *ud)
{
    const char *id = NULL;
    size_t len = 0;

    return ax_msg_has_tag(m, "up") &&
           ax_msg_unpack(m, "[_ s _]", &id, &len) == 0 && len == 1 &&
           id[0] == *(const char *)ud;
}

/* The address child id says it started at (a failed check: NONE). */
static ax_pid
expect_up(char id)
{
    ax_msg *m;
    ax_pid pid = AX_PID_NONE;

    if (ax_recv_if(up_of, &id, &m, WAIT_MS) != 0) {
        th_fail(__FILE__, __LINE__, "child %c did not start", id);
        return pid;
    }
    TH_CHECK_INT(ax_msg_unpack(m, "[_ _ p]", &pid), 0);
    ax_msg_free(m);
    return pid;
}

/* The next "down" is child id's. */
static void
expect_down(char id)
{
    ax_msg *m;
    const char *got = NULL;
    size_t len = 0;

    if (ax_recv_match("down", &m, WAIT_MS) != 0) {
        th_fail(__FILE__, __LINE__, "child %c did not stop", id);
        return;
    }
    TH_CHECK_INT(ax_msg_unpack(m, "[_ s]", &got, &len), 0);
    TH_CHECK(len == 1 && got[0] == id);
    ax_msg_free(m);
}

/* A supervisor of k by strategy; pids[i]: where each child started. */
static ax_pid
start_sup(kids *k, ax_strategy strategy, int intensity, ax_pid *pids)
{
    ax_sup_spec s = {strategy, intensity, 5000, k->spec, k->n};
    ax_pid sup = AX_PID_NONE;

    TH_CHECK_INT(ax_supervisor_start(&s, NULL, &sup), 0);
    for (size_t i = 0; i < k->n; i++) {
        pids[i] = expect_up(k->arg[i].id[0]);
    }
    return sup;
}

/* Child i of sup as ax_supervisor_children tells it. */
static ax_child_info
child_of(ax_pid sup, size_t i)
{
    ax_child_info info[8];
    size_t n = 0;

    memset(info, 0, sizeof(info));
    TH_CHECK_INT(ax_supervisor_children(sup, info, 8, &n, WAIT_MS), 0);
    TH_CHECK(i < n);
    return info[i < 8 ? i : 0];
}

static void
crash(ax_pid pid, int code)
{
    TH_CHECK_INT(ax_sendf(pid, "[s d]", "crash", code), 0);
}

static void
stop_sup(ax_pid sup, const char *reverse)
{
    TH_CHECK_INT(ax_supervisor_stop(sup, WAIT_MS), 0);
    for (const char *c = reverse; *c != '\0'; c++) {
        expect_down(*c);
    }
}

/* --- strategies ------------------------------------------------------------
 */

static void
one_for_one_body(void *arg)
{
    kids k;
    ax_pid p[3], sup, b2;

    (void)arg;
    make_kids(&k, "abc", AX_RESTART_PERMANENT);
    sup = start_sup(&k, AX_ONE_FOR_ONE, 0, p);
    crash(p[1], 3);
    b2 = expect_up('b');
    TH_CHECK(!ax_pid_equal(b2, p[1]));
    TH_CHECK(ax_pid_equal(child_of(sup, 0).pid, p[0]));
    TH_CHECK(ax_pid_equal(child_of(sup, 1).pid, b2));
    TH_CHECK(ax_pid_equal(child_of(sup, 2).pid, p[2]));
    TH_CHECK_INT(child_of(sup, 1).restarts, 1);
    TH_CHECK_INT(child_of(sup, 0).restarts, 0);
    stop_sup(sup, "cba");
}

static void
test_one_for_one_restarts_only_the_child_that_ended(void **state)
{
    (void)state;
    th_run(one_for_one_body, NULL);
}

static void
one_for_all_body(void *arg)
{
    kids k;
    ax_pid p[3], q[3], sup;

    (void)arg;
    make_kids(&k, "abc", AX_RESTART_PERMANENT);
    sup = start_sup(&k, AX_ONE_FOR_ALL, 0, p);
    crash(p[1], 3);
    expect_down('c'); /* the others, last first */
    expect_down('a');
    for (int i = 0; i < 3; i++) {
        q[i] = expect_up("abc"[i]);
        TH_CHECK(!ax_pid_equal(q[i], p[i]));
        TH_CHECK(ax_pid_equal(child_of(sup, (size_t)i).pid, q[i]));
    }
    stop_sup(sup, "cba");
}

static void
test_one_for_all_restarts_every_child(void **state)
{
    (void)state;
    th_run(one_for_all_body, NULL);
}

static void
rest_for_one_body(void *arg)
{
    kids k;
    ax_pid p[3], b2, c2, sup;

    (void)arg;
    make_kids(&k, "abc", AX_RESTART_PERMANENT);
    sup = start_sup(&k, AX_REST_FOR_ONE, 0, p);
    crash(p[1], 3);
    expect_down('c');
    b2 = expect_up('b');
    c2 = expect_up('c');
    TH_CHECK(!ax_pid_equal(b2, p[1]) && !ax_pid_equal(c2, p[2]));
    TH_CHECK(ax_pid_equal(child_of(sup, 0).pid, p[0]));
    TH_CHECK(ax_pid_equal(child_of(sup, 2).pid, c2));
    stop_sup(sup, "cba");
}

static void
test_rest_for_one_restarts_the_child_and_those_after_it(void **state)
{
    (void)state;
    th_run(rest_for_one_body, NULL);
}

/* --- restart types ---------------------------------------------------------
 */

static void
restart_types_body(void *arg)
{
    kids k;
    ax_pid p[4], sup;
    ax_child_info list[8];
    size_t n = 0;

    (void)arg;
    /* a permanent, b transient, c transient, d temporary */
    make_kids(&k, "abcd", AX_RESTART_PERMANENT);
    k.spec[1].restart = k.spec[2].restart = AX_RESTART_TRANSIENT;
    k.spec[3].restart = AX_RESTART_TEMPORARY;
    sup = start_sup(&k, AX_ONE_FOR_ONE, 10, p);
    crash(p[0], 0); /* permanent, normal: back */
    TH_CHECK(!ax_pid_equal(expect_up('a'), p[0]));
    crash(p[1], 0); /* transient, normal: stays down */
    crash(p[2], 5); /* transient, error: back */
    TH_CHECK(!ax_pid_equal(expect_up('c'), p[2]));
    crash(p[3], 5); /* temporary: forgotten */
    th_join(p[3]);
    th_join(p[1]);
    TH_CHECK_INT(ax_supervisor_children(sup, list, 8, &n, WAIT_MS), 0);
    TH_CHECK_INT(n, 3);
    TH_CHECK(strcmp(list[1].id, "b") == 0 && ax_pid_is_none(list[1].pid));
    TH_CHECK(strcmp(list[2].id, "c") == 0 && !ax_pid_is_none(list[2].pid));
    stop_sup(sup, "ca");
}

static void
test_each_restart_type_is_kept(void **state)
{
    (void)state;
    th_run(restart_types_body, NULL);
}

/* --- intensity, names, shutdown ---------------------------------------------
 */

static void
intensity_body(void *arg)
{
    kids k;
    ax_pid p[2], sup, b;
    ax_exit_info info;
    uint64_t ref;

    (void)arg;
    make_kids(&k, "ab", AX_RESTART_PERMANENT);
    sup = start_sup(&k, AX_ONE_FOR_ONE, 2, p);
    TH_CHECK_INT(ax_monitor(sup, &ref), 0);
    b = p[1];
    for (int i = 0; i < 2; i++) { /* two restarts: allowed */
        crash(b, 1);
        b = expect_up('b');
    }
    crash(b, 1); /* the third within the period: it gives up */
    expect_down('a');
    TH_CHECK_INT(ax_wait(sup, &info, WAIT_MS), 0);
    TH_CHECK_INT(info.kind, AX_EXIT_ERROR);
    TH_CHECK_INT(info.code, AX_SUP_GAVE_UP);
}

static void
test_too_many_restarts_end_the_supervisor_with_gave_up(void **state)
{
    (void)state;
    th_run(intensity_body, NULL);
}

static void
named_body(void *arg)
{
    kids k;
    ax_pid p[1], sup, found, b2;

    (void)arg;
    make_kids(&k, "n", AX_RESTART_PERMANENT);
    k.spec[0].opts.name = "sup_test_named";
    sup = start_sup(&k, AX_ONE_FOR_ONE, 0, p);
    TH_CHECK_INT(ax_whereis("sup_test_named", &found), 0);
    TH_CHECK(ax_pid_equal(found, p[0]));
    crash(p[0], 2);
    b2 = expect_up('n');
    TH_CHECK_INT(ax_whereis("sup_test_named", &found), 0);
    TH_CHECK(ax_pid_equal(found, b2));
    stop_sup(sup, "n");
}

static void
test_a_restarted_named_child_keeps_its_name(void **state)
{
    (void)state;
    th_run(named_body, NULL);
}

/* AXON_PLACE places a named child, and its restarts, by its name. */
static void
placed_body(void *arg)
{
    kids k;
    ax_pid p[1], sup, again;

    (void)arg;
    make_kids(&k, "n", AX_RESTART_PERMANENT);
    k.spec[0].opts.name = "sup_test_placed";
    k.spec[0].opts.placement = AX_PLACE_DEFAULT; /* as configured */
    sup = start_sup(&k, AX_ONE_FOR_ONE, 0, p);
    TH_CHECK(ax_pid_os_pid(p[0]) > 0 &&
             ax_pid_os_pid(p[0]) != ax_pid_os_pid(ax_self()));
    crash(p[0], 2);
    again = expect_up('n');
    TH_CHECK(ax_pid_os_pid(again) > 0 &&
             ax_pid_os_pid(again) != ax_pid_os_pid(ax_self()));
    stop_sup(sup, "n");
}

static void
test_axon_place_places_a_named_child_and_its_restarts(void **state)
{
    (void)state;
    setenv("AXON_PLACE", "sup_test_placed=process", 1);
    th_run(placed_body, NULL);
}

static int
unplace_teardown(void **state)
{
    unsetenv("AXON_PLACE"); /* whether the test passed or not */
    return t_teardown(state);
}

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
deaf_body(void *arg)
{
    kids k;
    ax_pid p[3], sup;
    uint64_t t0;
    ax_exit_info info;

    (void)arg;
    make_kids(&k, "abc", AX_RESTART_PERMANENT);
    k.arg[1].deaf = true;
    k.spec[1].shutdown_ms = 300;
    k.spec[2].shutdown_ms = AX_SHUTDOWN_BRUTAL;
    sup = start_sup(&k, AX_ONE_FOR_ONE, 0, p);
    TH_CHECK_INT(ax_monitor(p[1], NULL), 0);
    t0 = now_ms();
    TH_CHECK_INT(ax_supervisor_stop(sup, WAIT_MS), 0);
    TH_CHECK(now_ms() - t0 >= 300); /* b was waited for, then killed */
    expect_down('a');               /* c was killed at once: no "down" */
    TH_CHECK_INT(ax_wait(p[1], &info, WAIT_MS), 0);
    TH_CHECK_INT(info.kind, AX_EXIT_KILLED);
    TH_CHECK_INT(info.code, AX_KILL_SHUTDOWN);
}

static void
test_a_child_that_ignores_shutdown_is_killed_after_its_timeout(void **state)
{
    (void)state;
    th_run(deaf_body, NULL);
}

/* --- a tree ---------------------------------------------------------------
 */

/*
 * root: [x, sub]; sub: [p, subsub]; subsub: [q] (intensity 1). A crash of
 * q restarts q alone; two in a row make subsub give up, and sub restarts
 * subsub (with a new q): nothing else moves. The supervisors are placed
 * as the children are: in the process group, sub and subsub each run in
 * a process of their own.
 */
static void
tree_body(void *arg)
{
    kids kx, kp, kq;
    char subsub_buf[4096], sub_buf[8192];
    ax_child_spec sub_children[2], root_children[2];
    ax_sup_spec subsub = {AX_ONE_FOR_ONE, 1, 5000, NULL, 0};
    ax_sup_spec sub = {AX_ONE_FOR_ONE, 5, 5000, sub_children, 2};
    ax_sup_spec root = {AX_ONE_FOR_ONE, 5, 5000, root_children, 2};
    ax_pid root_pid, x, p, q, q2, q3, sub_pid, subsub_pid, subsub2;

    (void)arg;
    make_kids(&kx, "x", AX_RESTART_PERMANENT);
    make_kids(&kp, "p", AX_RESTART_PERMANENT);
    make_kids(&kq, "q", AX_RESTART_PERMANENT);
    subsub.children = kq.spec;
    subsub.nchildren = 1;
    sub_children[0] = kp.spec[0];
    TH_CHECK_INT(ax_supervisor_child_spec(&sub_children[1], "subsub", &subsub,
                                          subsub_buf, sizeof(subsub_buf), NULL),
                 0);
    sub_children[1].opts.placement = th_placement;
    root_children[0] = kx.spec[0];
    TH_CHECK_INT(ax_supervisor_child_spec(&root_children[1], "sub", &sub,
                                          sub_buf, sizeof(sub_buf), NULL),
                 0);
    root_children[1].opts.placement = th_placement;
    TH_CHECK_INT(ax_supervisor_start(&root, NULL, &root_pid), 0);
    x = expect_up('x');
    p = expect_up('p');
    q = expect_up('q');
    sub_pid = child_of(root_pid, 1).pid;
    subsub_pid = child_of(sub_pid, 1).pid;
    TH_CHECK(ax_pid_equal(child_of(subsub_pid, 0).pid, q));

    crash(q, 1); /* a leaf: only it */
    q2 = expect_up('q');
    TH_CHECK(ax_pid_equal(child_of(subsub_pid, 0).pid, q2));
    TH_CHECK(ax_pid_equal(child_of(sub_pid, 1).pid, subsub_pid));
    TH_CHECK(ax_pid_equal(child_of(sub_pid, 0).pid, p));
    TH_CHECK(ax_pid_equal(child_of(root_pid, 0).pid, x));

    crash(q2, 1); /* the second within the period: subsub gives up */
    q3 = expect_up('q');
    subsub2 = child_of(sub_pid, 1).pid;
    TH_CHECK(!ax_pid_equal(subsub2, subsub_pid));
    TH_CHECK(ax_pid_equal(child_of(subsub2, 0).pid, q3));
    TH_CHECK_INT(child_of(sub_pid, 1).restarts, 1);
    TH_CHECK(ax_pid_equal(child_of(sub_pid, 0).pid, p));
    TH_CHECK(ax_pid_equal(child_of(root_pid, 1).pid, sub_pid));
    TH_CHECK(ax_pid_equal(child_of(root_pid, 0).pid, x));

    stop_sup(root_pid, "qpx"); /* the tree, last started first */
}

static void
test_a_tree_restarts_only_what_each_strategy_says(void **state)
{
    (void)state;
    th_run(tree_body, NULL);
}

/* --- children at run time ---------------------------------------------------
 */

static void
run_time_body(void *arg)
{
    kids k, more;
    ax_pid p[1], b, a2, none, sup_pid;
    ax_child_info list[8];
    size_t n = 0;

    (void)arg;
    make_kids(&k, "a", AX_RESTART_PERMANENT);
    make_kids(&more, "b", AX_RESTART_PERMANENT);
    sup_pid = start_sup(&k, AX_ONE_FOR_ALL, 5, p);
    TH_CHECK_INT(ax_supervisor_add_child(sup_pid, &more.spec[0], &b, WAIT_MS),
                 0);
    TH_CHECK(ax_pid_equal(expect_up('b'), b));
    TH_CHECK_INT(ax_supervisor_add_child(sup_pid, &more.spec[0], NULL, WAIT_MS),
                 AX_EEXIST);
    TH_CHECK_INT(ax_supervisor_start_child(sup_pid, NULL, 0, NULL, WAIT_MS),
                 AX_EINVAL); /* not a dynamic one */

    TH_CHECK_INT(ax_supervisor_terminate_child(sup_pid, "a", WAIT_MS), 0);
    expect_down('a');
    TH_CHECK(ax_pid_is_none(child_of(sup_pid, 0).pid));
    crash(b, 1); /* one for all: b comes back, a stays down */
    b = expect_up('b');
    TH_CHECK(ax_pid_is_none(child_of(sup_pid, 0).pid));
    TH_CHECK(ax_pid_equal(child_of(sup_pid, 1).pid, b));

    TH_CHECK_INT(ax_supervisor_restart_child(sup_pid, "a", &a2, WAIT_MS), 0);
    TH_CHECK(ax_pid_equal(expect_up('a'), a2));
    TH_CHECK_INT(ax_supervisor_restart_child(sup_pid, "a", &none, WAIT_MS),
                 AX_EBUSY);
    TH_CHECK_INT(ax_supervisor_delete_child(sup_pid, "b", WAIT_MS), AX_EBUSY);
    TH_CHECK_INT(ax_supervisor_terminate_child(sup_pid, "b", WAIT_MS), 0);
    expect_down('b');
    TH_CHECK_INT(ax_supervisor_delete_child(sup_pid, "b", WAIT_MS), 0);
    TH_CHECK_INT(ax_supervisor_delete_child(sup_pid, "zz", WAIT_MS), AX_ENOENT);
    TH_CHECK(strstr(ax_error_detail(), "no child \"zz\"") != NULL);
    TH_CHECK_INT(ax_supervisor_children(sup_pid, list, 8, &n, WAIT_MS), 0);
    TH_CHECK_INT(n, 1);
    TH_CHECK(strcmp(list[0].id, "a") == 0);
    stop_sup(sup_pid, "a");
}

/* Requests that are not what ax_supervisor_add_child sends: answered
 * with an error, and the supervisor goes on. */
static void
hostile_body(void *arg)
{
    kids k;
    ax_pid p[1], sup;
    unsigned char junk[512];
    int code = 0;

    (void)arg;
    make_kids(&k, "a", AX_RESTART_PERMANENT);
    sup = start_sup(&k, AX_ONE_FOR_ONE, 0, p);
    for (size_t len = 0; len <= sizeof(junk); len += 37) {
        ax_msg *req = NULL, *reply = NULL;

        for (size_t i = 0; i < sizeof(junk); i++) {
            junk[i] = (unsigned char)(i * 131 + len);
        }
        if (len >= 16) {
            memset(junk, 0, 16); /* small counts, as a real block has */
            junk[8] = 1;
        }
        TH_CHECK_INT(ax_msg_pack(&req, "[s B]", "sup_add", junk, len), 0);
        TH_CHECK_INT(ax_call(sup, req, &reply, WAIT_MS), 0);
        TH_CHECK_INT(ax_msg_unpack(reply, "[d *]", &code), 0);
        TH_CHECK(code == AX_EPROTO || code == AX_ENOMEM);
        ax_msg_free(reply);
    }
    TH_CHECK_INT(ax_sendf(sup, "[s i]", "sup_term", (int64_t)5), 0);
    TH_CHECK(ax_pid_equal(child_of(sup, 0).pid, p[0])); /* it goes on */
    stop_sup(sup, "a");
}

static void
test_malformed_requests_are_refused_and_the_supervisor_goes_on(void **state)
{
    (void)state;
    th_run(hostile_body, NULL);
}

static void
test_children_are_added_ended_restarted_and_deleted_at_run_time(void **state)
{
    (void)state;
    th_run(run_time_body, NULL);
}

static void
dynamic_body(void *arg)
{
    size_t count = *(const size_t *)arg, n = 0;
    kids k;
    ax_sup_spec s;
    ax_pid sup, first = AX_PID_NONE, again;
    ax_child_info *list = calloc(count, sizeof(*list));

    make_kids(&k, "d", AX_RESTART_PERMANENT);
    s = (ax_sup_spec){AX_DYNAMIC, 0, 0, k.spec, 1};
    TH_CHECK_INT(ax_supervisor_start(&s, NULL, &sup), 0);
    for (size_t i = 0; i < count; i++) {
        ax_pid pid;

        TH_CHECK_INT(ax_supervisor_start_child(sup, NULL, 0, &pid, WAIT_MS), 0);
        first = i == 0 ? pid : first;
    }
    for (size_t i = 0; i < count; i++) {
        expect_up('d');
    }
    TH_CHECK(list != NULL);
    TH_CHECK_INT(ax_supervisor_children(sup, list, count, &n, WAIT_MS), 0);
    TH_CHECK_INT(n, count);
    TH_CHECK(strcmp(list[0].id, "d.1") == 0 &&
             ax_pid_equal(list[0].pid, first));
    crash(first, 1); /* restarted alone */
    again = expect_up('d');
    TH_CHECK(ax_pid_equal(child_of(sup, 0).pid, again));
    TH_CHECK_INT(ax_supervisor_terminate_child(sup, "d.2", WAIT_MS), 0);
    expect_down('d');
    TH_CHECK_INT(ax_supervisor_children(sup, list, count, &n, WAIT_MS), 0);
    TH_CHECK_INT(n, count - 1); /* a dynamic child ended is forgotten */
    TH_CHECK_INT(ax_supervisor_stop(sup, 60000), 0);
    for (size_t i = 0; i < count - 1; i++) {
        expect_down('d');
    }
    free(list);
}

static void
test_a_dynamic_supervisor_of_a_thousand_children(void **state)
{
    size_t count =
        th_placement == AX_PLACE_PROCESS && RUNNING_ON_VALGRIND ? 50 : 1000;

    (void)state;
    th_run(dynamic_body, &count);
}

/* --- process children: a signal --------------------------------------------
 */

static void
segv_body(void *arg)
{
    kids k;
    ax_pid p[1], sup;

    (void)arg;
    make_kids(&k, "s", AX_RESTART_TRANSIENT);
    sup = start_sup(&k, AX_ONE_FOR_ONE, 0, p);
    TH_CHECK_INT(ax_sendf(p[0], "[s]", "segv"), 0);
    TH_CHECK(!ax_pid_equal(expect_up('s'), p[0]));
    TH_CHECK_INT(child_of(sup, 0).restarts, 1);
    stop_sup(sup, "s");
}

static void
test_a_process_child_killed_by_sigsegv_is_restarted(void **state)
{
    (void)state;
    th_run(segv_body, NULL);
}

/* --- a start that fails ------------------------------------------------------
 */

static void
failed_start_body(void *arg)
{
    kids k;
    ax_sup_spec s;
    ax_pid holder;

    (void)arg;
    make_kids(&k, "ab", AX_RESTART_PERMANENT);
    TH_CHECK_INT(ax_spawn(th_blocked_actor, NULL, NULL, &holder), 0);
    TH_CHECK_INT(ax_register("sup_test_taken", holder), 0);
    k.spec[1].opts.name = "sup_test_taken"; /* b cannot start */
    s = (ax_sup_spec){AX_ONE_FOR_ONE, 0, 0, k.spec, k.n};
    TH_CHECK_INT(ax_supervisor_start(&s, NULL, NULL), AX_EEXIST);
    TH_CHECK(strstr(ax_error_detail(), "child \"b\" did not start") != NULL);
    expect_up('a');
    expect_down('a'); /* stopped: its supervisor could not go on */
    ax_kill(holder, 0);
    /* and specs that cannot be: */
    k.spec[1] = k.spec[0];
    TH_CHECK_INT(ax_supervisor_start(&s, NULL, NULL), AX_EINVAL);
    TH_CHECK(strstr(ax_error_detail(), "two children are \"a\"") != NULL);
}

static void
test_a_failed_start_is_the_error_and_stops_the_started(void **state)
{
    (void)state;
    th_run(failed_start_body, NULL);
}

int
main(void)
{
    const struct CMUnitTest list[] = {
        cmocka_unit_test_setup_teardown(
            test_one_for_one_restarts_only_the_child_that_ended, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(test_one_for_all_restarts_every_child,
                                        t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_rest_for_one_restarts_the_child_and_those_after_it, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(test_each_restart_type_is_kept, t_setup,
                                        t_teardown),
        cmocka_unit_test_setup_teardown(
            test_too_many_restarts_end_the_supervisor_with_gave_up, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_restarted_named_child_keeps_its_name, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_child_that_ignores_shutdown_is_killed_after_its_timeout,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_failed_start_is_the_error_and_stops_the_started, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_tree_restarts_only_what_each_strategy_says, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_children_are_added_ended_restarted_and_deleted_at_run_time,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_malformed_requests_are_refused_and_the_supervisor_goes_on,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_dynamic_supervisor_of_a_thousand_children, t_setup,
            t_teardown),
    };
    /* A coroutine's SIGSEGV would end the test process: processes only. */
    const struct CMUnitTest process_only[] = {
        cmocka_unit_test_setup_teardown(
            test_axon_place_places_a_named_child_and_its_restarts, t_setup,
            unplace_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_process_child_killed_by_sigsegv_is_restarted, t_setup,
            t_teardown),
    };
    int failed = 0;

    th_main_setup();
    th_placement = AX_PLACE_COROUTINE;
    failed +=
        cmocka_run_group_tests_name("coroutine children", list, NULL, NULL);
    th_placement = AX_PLACE_PROCESS;
    failed += cmocka_run_group_tests_name("process children", list, NULL, NULL);
    failed += cmocka_run_group_tests_name("process children, signals",
                                          process_only, NULL, NULL);
    return failed;
}
