/*
 * tests/actors/process_shutdown_test.c - process actors at shutdown:
 * ax_fini kills the children that ignore its stop request after the
 * timeouts; children that listen stop cleanly and run their on-exit
 * functions.
 *
 * One test each of gipc's lessons (seeds/gipc-challenges.rst, DESIGN.md
 * invariants 1-7); process_util.h says how every body runs and checks.
 */
#include "process_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- 11. shutdown --------------------------------------------------------- */

typedef struct stop_job {
    ax_actor_fn fn; /* the process actors to spawn */
    int n;
    int os[4]; /* their OS pids, as reported */
    int ready; /* reports received */
} stop_job;

static int g_bye_fd = -1;

/* Spawn job->n process actors, wait for their ["ready", getpid()], stop
 * the runtime with them alive. A coroutine of the test process: it keeps
 * its results in *job. */
static int
stop_driver(void *arg)
{
    stop_job *job = arg;
    ax_spawn_opts o = proc_opts();
    ax_msg *m;

    g_driver = ax_self();
    for (int k = 0; k < job->n; k++) {
        if (ax_spawn(job->fn, (void *)(intptr_t)k, &o, NULL) < 0) {
            return 1;
        }
    }
    while (job->ready < job->n && ax_recv_match("ready", &m, WAIT_MS) == 0) {
        ax_msg_unpack(m, "[_ d]", &job->os[job->ready++]);
        ax_msg_free(m);
    }
    /* A report leaves before its sender turns deaf: give them time to. */
    ax_sleep(RUNNING_ON_VALGRIND ? 1000 : 200);
    ax_stop();
    return 0;
}

/* Deaf to the stop request: it sleeps outside the loop. Actor 0 blocks
 * SIGTERM too, so only SIGKILL ends it; actor 1 dies of SIGTERM. */
static int
stubborn_actor(void *arg)
{
    sigset_t term;

    if ((intptr_t)arg == 0) {
        sigemptyset(&term);
        sigaddset(&term, SIGTERM);
        sigprocmask(SIG_BLOCK, &term, NULL);
    }
    ax_sendf(g_driver, "[s d]", "ready", (int)getpid());
    ax_sleep(20); /* the report leaves */
    deaf_forever();
}

/* Run job in a runtime of its own; returns how long ax_fini took (ms). */
static int64_t
run_and_fini(stop_job *job, int stop_ms, int term_ms)
{
    ax_runtime_opts ro;
    uint64_t t0;

    memset(&ro, 0, sizeof(ro));
    ro.stop_timeout_ms = stop_ms;
    ro.term_timeout_ms = term_ms;
    assert_int_equal(ax_init(&ro), 0);
    assert_int_equal(ax_spawn(stop_driver, job, NULL, NULL), 0);
    assert_int_equal(ax_run(), 0); /* ax_stop: children still alive */
    assert_int_equal(job->ready, job->n);
    t0 = t_now_ns();
    ax_fini();
    return ms_since(t0);
}

/*
 * ax_fini with children that ignore the stop request (they never return
 * to their loop; one blocks SIGTERM as well): it asks, waits
 * stop_timeout_ms, sends SIGTERM, waits term_timeout_ms, sends SIGKILL,
 * and returns having reaped them all.
 */
static void
test_process_fini_kills_children_that_ignore_stop_after_timeouts(void **state)
{
    stop_job job = {stubborn_actor, 2, {0}, 0};
    int64_t ms;

    (void)state;
    ms = run_and_fini(&job, 300, 300);
    print_message("  ax_fini took %lld ms (stop 300 + term 300)\n",
                  (long long)ms);
    assert_true(ms >= 550); /* one of them only goes at SIGKILL */
    assert_true(ms < 300 + 300 + (RUNNING_ON_VALGRIND ? 10000 : 3000));
    for (int k = 0; k < job.n; k++) {
        assert_int_equal(kill(job.os[k], 0), -1);
        assert_int_equal(errno, ESRCH);
    }
}

static void
say_bye(void *arg)
{
    (void)arg;
    put_record(g_bye_fd, 'B');
}

/* Waits in a receive, with an on-exit function that writes a record. */
static int
polite_actor(void *arg)
{
    ax_msg *m;

    (void)arg;
    if (ax_on_exit(say_bye, NULL) < 0) {
        return 2;
    }
    ax_sendf(g_driver, "[s d]", "ready", (int)getpid());
    while (ax_recv(&m, AX_FOREVER) == 0) {
        ax_msg_free(m);
    }
    return 1;
}

/*
 * ax_fini with children that listen: they end on the stop request, long
 * before the SIGTERM would come (10 s), and their on-exit functions run
 * (each writes its getpid() to a pipe the test passed down).
 */
static void
test_process_fini_stops_children_cleanly_and_runs_their_on_exit(void **state)
{
    stop_job job = {polite_actor, 3, {0}, 0};
    char got[256], rec[32];
    int64_t ms;
    int p[2], lines = 0;

    (void)state;
    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    g_bye_fd = p[1];
    ms = run_and_fini(&job, 10000, 10000);
    close(p[1]);
    read_all(p[0], got, sizeof(got));
    close(p[0]);
    print_message("  ax_fini took %lld ms\n", (long long)ms);
    assert_true(ms < 8000);
    for (int k = 0; k < job.n; k++) {
        snprintf(rec, sizeof(rec), "B%d\n", job.os[k]);
        assert_non_null(strstr(got, rec));
        lines++;
    }
    for (const char *s = got; (s = strchr(s, '\n')) != NULL; s++) {
        lines--; /* exactly one record each */
    }
    assert_int_equal(lines, 0);
}

/* --- main --------------------------------------------------------------- */

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_process_fini_kills_children_that_ignore_stop_after_timeouts),
        T(test_process_fini_stops_children_cleanly_and_runs_their_on_exit),
    };

    return process_test_main(tests, sizeof(tests) / sizeof(tests[0]));
}
