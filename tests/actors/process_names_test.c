/*
 * tests/actors/process_names_test.c - process actors: placement by
 * configuration (AXON_PLACE overrides the spawn option) and names across
 * processes (the registry lives in the root; a name dies with its actor).
 *
 * One test each of gipc's lessons (seeds/gipc-challenges.rst, DESIGN.md
 * invariants 1-7); process_util.h says how every body runs and checks.
 */
#include "process_util.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- 12. placement by configuration --------------------------------------- */

static int
where_actor(void *arg)
{
    ax_sendf(g_driver, "[s s d]", "where", (const char *)arg, (int)getpid());
    return 0;
}

static void
body_placement(void *arg)
{
    static const struct {
        const char *name;
        ax_placement option;
        bool elsewhere;
    } cases[] = {
        {"worker", AX_PLACE_COROUTINE, true}, /* worker=process */
        {"logger", AX_PLACE_PROCESS, false},  /* logger=coroutine */
        {"proc-test-unlisted-p", AX_PLACE_PROCESS, true},
        {"proc-test-unlisted-c", AX_PLACE_COROUTINE, false},
    };
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    ax_pid pid[N];

    (void)arg;
    unsetenv("AXON_PLACE"); /* read at ax_init, once */
    g_driver = ax_self();
    for (int k = 0; k < N; k++) {
        ax_spawn_opts o = proc_opts();

        o.placement = cases[k].option;
        o.name = cases[k].name;
        o.monitor = true;
        pid[k] = spawn(where_actor, (void *)cases[k].name, &o);
    }
    for (int k = 0; k < N; k++) {
        ax_msg *m = expect_tag("where");
        const char *name;
        size_t len;
        int os = 0, found = 0;

        if (m == NULL || ax_msg_unpack(m, "[_ S d]", &name, &len, &os) < 0) {
            TH_CHECK(!"a bad report");
            ax_msg_free(m);
            continue;
        }
        for (int j = 0; j < N; j++) {
            if (strlen(cases[j].name) == len &&
                memcmp(cases[j].name, name, len) == 0) {
                found++;
                if ((os != getpid()) != cases[j].elsewhere) {
                    th_fail(__FILE__, __LINE__, "%s ran %s", cases[j].name,
                            os != getpid() ? "in another process"
                                           : "in the test process");
                }
            }
        }
        TH_CHECK_INT(found, 1);
        ax_msg_free(m);
    }
    for (int k = 0; k < N; k++) {
        CHECK_REASON(join(pid[k]), AX_EXIT_NORMAL, 0, 0);
    }
}

/*
 * AXON_PLACE="worker=process,logger=coroutine" at ax_init overrides the
 * spawn option for those names: "worker" spawned as a coroutine runs in
 * another process, "logger" spawned as a process runs in the test
 * process; names not listed keep the option's placement.
 */
static void
test_process_placement_by_configuration_overrides_the_option(void **state)
{
    (void)state;
    assert_int_equal(setenv("AXON_PLACE", "worker=process,logger=coroutine", 1),
                     0);
    run(body_placement, NULL);
    unsetenv("AXON_PLACE");
}

/* --- 13. names across processes ------------------------------------------- */

#define DRIVER_NAME "proc-test-driver"

/* Level 1 spawns level 2 (a process below it). Each looks the driver up
 * by name and reports what it found, sends to that address, registers
 * "proc-test-x<level>" and tries two more calls; then waits for ["stop"].
 */
static int
named_actor(void *arg)
{
    int level = (int)(intptr_t)arg;
    ax_spawn_opts o = proc_opts();
    ax_pid found = AX_PID_NONE;
    char mine[32];
    int rc, reg, dup, none;
    ax_msg *m;

    snprintf(mine, sizeof(mine), "proc-test-x%d", level);
    if (level == 1 &&
        ax_spawn(named_actor, (void *)(intptr_t)2, &o, NULL) < 0) {
        return 1;
    }
    rc = ax_whereis(DRIVER_NAME, &found);
    ax_sendf(g_driver, "[s d d p]", "found", level, rc, found);
    ax_sendf(found, "[s d]", "by-name", level);
    reg = ax_register(mine, ax_self());
    dup = ax_register(DRIVER_NAME, ax_self());
    none = ax_whereis("proc-test-nobody", NULL);
    ax_sendf(g_driver, "[s d d d d]", "names", level, reg, dup, none);
    if (ax_recv_match("stop", &m, AX_FOREVER) == 0) {
        ax_msg_free(m);
    }
    return 0;
}

static void
body_names(void *arg)
{
    ax_spawn_opts o = proc_opts();
    ax_pid x[3] = {AX_PID_NONE, AX_PID_NONE, AX_PID_NONE}, x1, named, where;
    char mine[32];

    (void)arg;
    g_driver = ax_self();
    TH_CHECK_INT(ax_register(DRIVER_NAME, ax_self()), 0);
    o.monitor = true;
    x1 = spawn(named_actor, (void *)1, &o);
    for (int k = 0; k < 2; k++) {
        int level = 0, rc = -1;
        ax_pid found = AX_PID_NONE;
        ax_msg *m = expect_tag("found");

        if (m == NULL ||
            ax_msg_unpack(m, "[_ d d p]", &level, &rc, &found) < 0 ||
            level < 1 || level > 2) {
            TH_CHECK(!"a bad report");
            ax_msg_free(m);
            return;
        }
        x[level] = ax_msg_sender(m);
        TH_CHECK_INT(rc, 0);
        TH_CHECK(ax_pid_equal(found, ax_self()));
        ax_msg_free(m);
    }
    TH_CHECK(ax_pid_equal(x[1], x1) && !ax_pid_is_none(x[2]));
    for (int k = 0; k < 2; k++) {
        int level = 0, reg = -1, dup = -1, none = -1;

        ax_msg_free(expect_tag("by-name"));
        if (expect_args("names", "[_ d d d d]", &level, &reg, &dup, &none) ==
            0) {
            TH_CHECK_INT(reg, 0);
            TH_CHECK_INT(dup, AX_EEXIST);
            TH_CHECK_INT(none, AX_ENOENT);
        }
    }
    for (int k = 1; k <= 2; k++) {
        snprintf(mine, sizeof(mine), "proc-test-x%d", k);
        where = AX_PID_NONE;
        TH_CHECK_INT(ax_whereis(mine, &where), 0);
        TH_CHECK(ax_pid_equal(where, x[k]));
    }
    /* Registered by the spawn option, from this process. */
    o.name = "proc-test-spawned";
    named = spawn(blocked_actor, NULL, &o);
    ax_msg_free(expect_tag("up"));
    TH_CHECK_INT(ax_whereis("proc-test-spawned", &where), 0);
    TH_CHECK(ax_pid_equal(where, named));
    /* Each name dies with its actor: gone once the DOWN is in. */
    TH_CHECK_INT(ax_monitor(x[2], NULL), 0);
    ax_sendf(x[2], "[s]", "stop");
    CHECK_REASON(expect_down(x[2], NULL), AX_EXIT_NORMAL, 0, 0);
    TH_CHECK_INT(ax_whereis("proc-test-x2", NULL), AX_ENOENT);
    ax_sendf(x[1], "[s]", "stop");
    CHECK_REASON(join(x[1]), AX_EXIT_NORMAL, 0, 0);
    TH_CHECK_INT(ax_whereis("proc-test-x1", NULL), AX_ENOENT);
    ax_sendf(named, "[s]", "stop");
    CHECK_REASON(join(named), AX_EXIT_NORMAL, 0, 0);
    TH_CHECK_INT(ax_whereis("proc-test-spawned", NULL), AX_ENOENT);
    TH_CHECK_INT(ax_unregister(DRIVER_NAME), 0);
}

/*
 * The registry lives in the root: a process actor (and one a level
 * below it) finds the driver's name and reaches the address it gives;
 * each registers a name of its own that the driver finds (a taken name
 * is AX_EEXIST, an unknown one AX_ENOENT, from there too); a name given
 * as a spawn option resolves to the new process actor. Each name is gone
 * (AX_ENOENT) once its actor's DOWN has come.
 */
static void
test_process_names_resolve_across_processes_and_die_with_the_actor(void **state)
{
    (void)state;
    run(body_names, NULL);
}

/* --- main --------------------------------------------------------------- */

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_process_placement_by_configuration_overrides_the_option),
        T(test_process_names_resolve_across_processes_and_die_with_the_actor),
    };

    return process_test_main(tests, sizeof(tests) / sizeof(tests[0]));
}
