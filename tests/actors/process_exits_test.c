/*
 * tests/actors/process_exits_test.c - process actors: how a process actor's
 * end reaches the others: its exit reason arrives exactly by monitor,
 * ax_wait and link (also a grandchild's, asked after the fact), and a
 * middle process killed leaves no orphan below it.
 *
 * One test each of gipc's lessons (seeds/gipc-challenges.rst, DESIGN.md
 * invariants 1-7); process_util.h says how every body runs and checks.
 */
#include "process_util.h"

#include "actors/route/route.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static bool
os_alive(int os)
{
    return kill(os, 0) == 0 || errno != ESRCH;
}

/* --- 5. exit reasons --------------------------------------------------------
 */

/* A crash of this process dumps no core. */
static void
no_core_dumps(void)
{
    struct rlimit none = {0, 0};

    setrlimit(RLIMIT_CORE, &none);
}

enum {
    END_RETURN_7,
    END_EXIT_300,
    END_SEGV,
    END_ABORT,
    END_SIGKILL,
    END_AX_KILL_5,
    END_COUNT
};

/* A NULL store the sanitizers do not intercept: a real SIGSEGV. */
__attribute__((no_sanitize("address", "undefined"))) static void
null_store(void)
{
    int *volatile p = NULL;

    *p = 1;
}

/* Report ["ready", getpid()], wait for ["go"], then end as arg says. */
static int
victim_actor(void *arg)
{
    ax_msg *m;

    no_core_dumps();
    ax_sendf(g_driver, "[s d]", "ready", (int)getpid());
    if (ax_recv_match("go", &m, AX_FOREVER) < 0) {
        return 99;
    }
    ax_msg_free(m);
    switch ((int)(intptr_t)arg) {
    case END_RETURN_7:
        return 7;
    case END_EXIT_300:
        ax_exit(300);
    case END_SEGV:
        null_store();
        return 98;
    case END_ABORT:
        abort();
    default: /* ended from outside while it waits */
        return th_blocked_actor(NULL);
    }
}

static void
body_exit_reasons(void *arg)
{
    static const struct {
        ax_exit_kind kind;
        int code, sig;
    } wanted[END_COUNT] = {
        [END_RETURN_7] = {AX_EXIT_ERROR, 7, 0},
        [END_EXIT_300] = {AX_EXIT_ERROR, 300, 0},
        [END_SEGV] = {AX_EXIT_SIGNAL, 0, SIGSEGV},
        [END_ABORT] = {AX_EXIT_SIGNAL, 0, SIGABRT},
        [END_SIGKILL] = {AX_EXIT_SIGNAL, 0, SIGKILL},
        [END_AX_KILL_5] = {AX_EXIT_KILLED, 5, 0},
    };

    (void)arg;
    g_driver = ax_self();
    ax_trap_exit(true);
    for (int k = 0; k < END_COUNT; k++) {
        ax_spawn_opts o = proc_opts();
        uint64_t r1 = 0, r2 = 0, r = 0;
        ax_exit_info i = no_info;
        ax_pid v;
        int os = 0;

        o.monitor = o.link = true;
        o.monitor_ref = &r1;
        v = spawn(victim_actor, (void *)(intptr_t)k, &o);
        TH_CHECK_INT(ax_monitor(v, &r2), 0); /* a second monitor */
        if (expect_args("ready", "[_ d]", &os) < 0) {
            continue;
        }
        ax_sendf(v, "[s]", "go");
        if (k == END_SIGKILL) {
            TH_CHECK_INT(kill(os, SIGKILL), 0);
        } else if (k == END_AX_KILL_5) {
            TH_CHECK_INT(ax_kill(v, 5), 0);
        }
        /* ax_wait takes one of the two monitors, a DOWN comes for the
         * other, an EXIT for the link. */
        TH_CHECK_INT(ax_wait(v, &i, WAIT_MS), 0);
        check_reason(__LINE__, "ax_wait", i, wanted[k].kind, wanted[k].code,
                     wanted[k].sig);
        i = expect_down(v, &r);
        check_reason(__LINE__, "DOWN", i, wanted[k].kind, wanted[k].code,
                     wanted[k].sig);
        TH_CHECK(r != 0 && (r == r1 || r == r2));
        i = expect_exit(v);
        check_reason(__LINE__, "EXIT", i, wanted[k].kind, wanted[k].code,
                     wanted[k].sig);
    }
}

/*
 * A process actor's end reaches its monitors, its joiner and its linked
 * actor exactly: return 7 is error 7; ax_exit(300) is error 300 (not the
 * 8-bit exit status 44); a NULL store is signal 11; abort() is signal 6;
 * a SIGKILL from outside is signal 9; ax_kill(pid, 5) is killed 5.
 */
static void
test_process_exit_reasons_arrive_exactly_by_monitor_wait_and_link(void **state)
{
    (void)state;
    run(body_exit_reasons, NULL);
}

/* Report ["ready", getpid(), self] to the driver, then block. */
static int
reporting_blocked_actor(void *arg)
{
    ax_sendf(g_driver, "[s d p]", "ready", (int)getpid(), ax_self());
    return th_blocked_actor(arg);
}

/* Spawn a blocked process actor (a grandchild of the test process) and
 * report ["grandchild", pid, os pid]; then wait forever. */
static int
grandparent_actor(void *arg)
{
    ax_spawn_opts o = proc_opts();
    ax_pid g;

    (void)arg;
    if (ax_spawn(reporting_blocked_actor, NULL, &o, &g) < 0) {
        return 1;
    }
    return th_blocked_actor(NULL);
}

static void
body_grandchild_after_the_fact(void *arg)
{
    ax_spawn_opts o = proc_opts();
    ax_pid g = AX_PID_NONE;
    ax_exit_info i = no_info;
    uint64_t t0;
    int os = 0;

    (void)arg;
    g_driver = ax_self();
    spawn(grandparent_actor, NULL, &o);
    if (expect_args("ready", "[_ d p]", &os, &g) < 0) {
        return;
    }
    TH_CHECK_INT(ax_kill(g, 300), 0); /* exit status 300 & 0xff: 44 */
    t0 = t_now_ns();
    while (os_alive(os) && ms_since(t0) < WAIT_MS) {
        ax_sleep(5);
    }
    ax_sleep(200); /* its parent reaped it and told everyone */
    TH_CHECK_INT(ax_wait(g, &i, WAIT_MS), 0);
    CHECK_REASON(i, AX_EXIT_KILLED, 300, 0);
    TH_CHECK_INT(ax_monitor(g, NULL), 0);
    CHECK_REASON(expect_down(g, NULL), AX_EXIT_KILLED, 300, 0);
}

/*
 * A grandchild process actor killed with ax_kill(g, 300), asked about
 * only once its process is gone and reaped by its own parent: ax_wait and
 * a late monitor get killed 300, its own reason, not the error 44 its
 * 8-bit exit status would say (the reaper passes the actor's last words
 * on with the process's down).
 */
static void
test_process_grandchild_reason_is_exact_after_the_fact(void **state)
{
    (void)state;
    run(body_grandchild_after_the_fact, NULL);
}

/* Frames this process has had from its parent. */
static int64_t
frames_from_parent(void)
{
    ax_chan_stats st;

    ax_chan_stats_get(ax__net.parent->ch, &st);
    return (int64_t)st.frames_in;
}

/* Answer each ["count"] with ["count", frames from the parent], until
 * ["stop"]; with ["watch", pid] first, monitor pid and report its DOWN
 * as ["watched"]. */
static int
counting_actor(void *arg)
{
    ax_msg *m;

    (void)arg;
    for (;;) {
        ax_pid who;

        if (ax_recv(&m, AX_FOREVER) < 0) {
            return 1;
        }
        if (ax_msg_has_tag(m, "stop")) {
            ax_msg_free(m);
            return 0;
        }
        if (ax_msg_has_tag(m, "DOWN")) {
            ax_sendf(g_driver, "[s]", "watched");
        } else if (ax_msg_has_tag(m, "watch") &&
                   ax_msg_unpack(m, "[_ p]", &who) == 0) {
            ax_monitor(who, NULL);
            ax_sendf(who, "[s]", "hello"); /* through their parent */
        } else if (ax_msg_has_tag(m, "count")) {
            ax_sendf(g_driver, "[s p i]", "count", ax_self(),
                     frames_from_parent());
        } /* ["hello"]: only a frame from the watcher's process */
        ax_msg_free(m);
    }
}

#define BYSTANDERS 12

static void
body_down_reaches_only_whom_it_concerns(void *arg)
{
    ax_spawn_opts o = proc_opts();
    ax_pid all[BYSTANDERS + 2], from;
    int64_t before[BYSTANDERS + 2] = {0}, n;
    const int watcher = BYSTANDERS, victim = BYSTANDERS + 1;

    (void)arg;
    g_driver = ax_self();
    for (int i = 0; i < BYSTANDERS + 2; i++) {
        all[i] = spawn(counting_actor, NULL, &o);
    }
    ax_sendf(all[watcher], "[s p]", "watch", all[victim]);
    ax_sleep(100); /* the monitor and the hello are through */
    for (int i = 0; i < BYSTANDERS + 2; i++) {
        ax_sendf(all[i], "[s]", "count");
    }
    for (int i = 0; i < BYSTANDERS + 2; i++) {
        if (expect_args("count", "[_ p i]", &from, &n) < 0) {
            return;
        }
        for (int k = 0; k < BYSTANDERS + 2; k++) {
            before[k] = ax_pid_equal(all[k], from) ? n : before[k];
        }
    }
    TH_CHECK_INT(ax_kill(all[victim], 3), 0);
    ax_msg_free(expect_tag("watched")); /* its DOWN reached the watcher */
    CHECK_REASON(join(all[victim]), AX_EXIT_KILLED, 3, 0);
    for (int i = 0; i < BYSTANDERS + 1; i++) {
        ax_sendf(all[i], "[s]", "count");
    }
    for (int i = 0; i < BYSTANDERS + 1; i++) {
        if (expect_args("count", "[_ p i]", &from, &n) < 0) {
            return;
        }
        for (int k = 0; k < BYSTANDERS; k++) { /* only our ["count"] */
            if (ax_pid_equal(all[k], from) && n != before[k] + 1) {
                th_fail(__FILE__, __LINE__,
                        "bystander %d had %lld frames from its parent "
                        "besides the count asked",
                        k, (long long)(n - before[k] - 1));
            }
        }
    }
    for (int i = 0; i < BYSTANDERS + 1; i++) {
        ax_sendf(all[i], "[s]", "stop");
        CHECK_REASON(join(all[i]), AX_EXIT_NORMAL, 0, 0);
    }
}

/*
 * 14 sibling process actors; one monitors another (its monitor goes
 * through their parent) and sends it a message; the other is killed. The
 * watcher gets its DOWN, and the 12 bystanders, which never had a frame
 * to or from it, get no frame for its end: a death is told to the
 * processes it concerns, not to every process.
 */
static void
test_process_down_reaches_only_whom_it_concerns(void **state)
{
    (void)state;
    run(body_down_reaches_only_whom_it_concerns, NULL);
}

/* --- 10. no orphans ---------------------------------------------------------
 */

/* Levels 1 and 2 spawn the next level as a process; each reports ["os",
 * level, getpid(), ax_self()]. Level 3 then stops listening to its
 * channel (it sleeps outside the loop): only PR_SET_PDEATHSIG can end
 * it. Level 2 stays in the loop: EOF on its channel ends it too. */
static int
chain_actor(void *arg)
{
    int level = (int)(intptr_t)arg;
    ax_spawn_opts o = proc_opts();

    if (level < 3 &&
        ax_spawn(chain_actor, (void *)(intptr_t)(level + 1), &o, NULL) < 0) {
        return 1;
    }
    ax_sendf(g_driver, "[s d d p]", "os", level, (int)getpid(), ax_self());
    if (level < 3) {
        return th_blocked_actor(NULL);
    }
    ax_sleep(20); /* the report leaves */
    deaf_forever();
}

static void
body_middle_killed(void *arg)
{
    ax_spawn_opts o = proc_opts();
    ax_pid lv[4] = {AX_PID_NONE, AX_PID_NONE, AX_PID_NONE, AX_PID_NONE};
    int os[4] = {0};
    uint64_t t0;
    ax_exit_info i;

    (void)arg;
    g_driver = ax_self();
    o.monitor = true;
    lv[1] = spawn(chain_actor, (void *)1, &o);
    for (int k = 0; k < 3; k++) {
        int level = 0, pid = 0;
        ax_pid who;

        if (expect_args("os", "[_ d d p]", &level, &pid, &who) < 0 ||
            level < 1 || level > 3) {
            TH_CHECK(!"a bad report");
            return;
        }
        os[level] = pid;
        lv[level] = who;
    }
    TH_CHECK_INT(ax_monitor(lv[2], NULL), 0);
    TH_CHECK_INT(ax_monitor(lv[3], NULL), 0);
    TH_CHECK_INT(kill(os[1], SIGKILL), 0);
    t0 = t_now_ns();
    CHECK_REASON(expect_down(lv[1], NULL), AX_EXIT_SIGNAL, 0, SIGKILL);
    for (int k = 2; k <= 3; k++) {
        i = expect_down(lv[k], NULL);
        TH_CHECK(i.kind == AX_EXIT_NOCONNECTION ||
                 (i.kind == AX_EXIT_SIGNAL && i.signal == SIGKILL));
    }
    /* They were reparented to this process (a subreaper): libev's SIGCHLD
     * handler reaps them as the loop runs. */
    while ((os_alive(os[2]) || os_alive(os[3])) && ms_since(t0) < 5000) {
        ax_sleep(10);
    }
    print_message("  B and C gone %lld ms after A's SIGKILL\n",
                  (long long)ms_since(t0));
    for (int k = 2; k <= 3; k++) {
        if (os_alive(os[k])) {
            th_fail(__FILE__, __LINE__, "level %d (pid %d) outlived A", k,
                    os[k]);
            kill(os[k], SIGKILL);
        }
    }
    ax_sleep(100); /* reap what the check above killed, if anything */
}

/*
 * Test process -> A -> B -> C; A is SIGKILLed. B and C are gone within
 * seconds (C only by PR_SET_PDEATHSIG: it does not read its channel).
 * The driver gets A's DOWN with signal 9 and B's and C's with
 * noconnection (or signal 9). The test process is a child subreaper for
 * the test, so B and C are its orphans and t_teardown finds any left.
 */
static void
test_process_killed_middle_process_leaves_no_orphan_below(void **state)
{
    (void)state;
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    run(body_middle_killed, NULL);
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

/* --- main --------------------------------------------------------------- */

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_process_exit_reasons_arrive_exactly_by_monitor_wait_and_link),
        T(test_process_killed_middle_process_leaves_no_orphan_below),
        T(test_process_grandchild_reason_is_exact_after_the_fact),
        T(test_process_down_reaches_only_whom_it_concerns),
    };

    return process_test_main(tests, sizeof(tests) / sizeof(tests[0]));
}
