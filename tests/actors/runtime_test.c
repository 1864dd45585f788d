/*
 * tests/actors/runtime_test.c - what is about this process rather than
 * about an actor: 100,000 spawned actors are all reaped, a stack overflow
 * dies of SIGSEGV at the guard page, ax_run reports AX_EDEADLK when no
 * actor can ever wake, ax_recv outside an actor aborts with a sentence,
 * ax_init twice fails and ax_fini without it is safe, and ax_fini kills
 * the actors left and runs their on_exit functions.
 *
 * Memory, stacks, forks, the runtime's own calls and a white-box look at
 * an actor's exit reason: this list runs once, with no placement of its
 * own (the actor-level lists are in kill_test.c, on_exit_test.c,
 * sched_test.c, links_test.c and monitor_test.c). Shared helpers:
 * lifecycle_util.h.
 */
#include "support/actor_harness.h"

#include <ev.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "actors/core/core.h" /* white-box: the run-once list only */
#include "actors/core/stack.h"
#include "base/sanitizers.h"
#include "lifecycle_util.h"

/* --- once: about this process -------------------------------------------- */

/*
 * 100,000 actors (20,000 under valgrind, to keep the run short), spawned
 * by the driver in batches of 1,000 and each returning at once, are all
 * reaped: their slots, structs and stacks are released. Leaks would show
 * at exit under ASan and valgrind (th_run ends with ax_fini).
 */
static void
body_many_spawns(void *arg)
{
    int total = RUNNING_ON_VALGRIND ? 20000 : 100000;
    ax_runtime_stats before, after;
    ax_stack_stats ss;
    ax_spawn_opts co;

    (void)arg;
    memset(&co, 0, sizeof(co));
    co.placement = AX_PLACE_COROUTINE;
    ax_runtime_stats_get(&before);
    TH_CHECK_INT(before.actors, 1); /* the driver */
    for (int done = 0; done < total; done += 1000) {
        for (int k = 0; k < 1000; k++) {
            if (ax_spawn(return_zero_actor, NULL, &co, NULL) < 0) {
                TH_CHECK(!"spawn failed");
                return;
            }
        }
        ax_yield(); /* each of them runs once: returns */
    }
    ax_runtime_stats_get(&after);
    TH_CHECK_INT(after.actors, 1);
    TH_CHECK_INT(after.spawned, before.spawned + (uint64_t)total);
    ax__stack_stats(&ss);
    TH_CHECK_INT(ss.live, 1); /* the driver's */
}

static void
test_lifecycle_hundred_thousand_spawned_actors_are_all_reaped(void **state)
{
    ax_stack_stats ss;

    (void)state;
    run(body_many_spawns, NULL);
    ax__stack_stats(&ss);
    assert_int_equal(ss.live, 0); /* ax_fini gave the driver's back too */
}

/* volatile: the compiler cannot prove the recursion unbounded or turn
 * it into a loop. */
static volatile int overflow_limit = INT_MAX;

static int
recurse(int depth)
{
    volatile char pad[512];

    pad[0] = (char)depth;
    if (depth >= overflow_limit) {
        return pad[0];
    }
    return recurse(depth + 1) + pad[0];
}

static int
overflow_actor(void *arg)
{
    (void)arg;
    return recurse(0);
}

/* In a child: an actor on a 64 KiB stack recurses without bound. */
static int
child_overflow(void *arg)
{
    struct rlimit no_core = {0, 0};
    ax_spawn_opts o;

    (void)arg;
    setrlimit(RLIMIT_CORE, &no_core);
    signal(SIGSEGV, SIG_DFL); /* not a sanitizer's report and exit(1) */
    ev_loop_fork(ev_default_loop(0));
    if (ax_init(NULL) != 0) {
        return 2;
    }
    memset(&o, 0, sizeof(o));
    o.placement = AX_PLACE_COROUTINE;
    o.stack_size = (size_t)64 << 10;
    if (ax_spawn(overflow_actor, NULL, &o, NULL) != 0) {
        return 3;
    }
    ax_run();
    return 4; /* it came back: the overflow was not caught */
}

static void
test_lifecycle_stack_overflow_dies_of_sigsegv_at_the_guard_page(void **state)
{
    (void)state;
    assert_int_equal(t_wait(t_fork(child_overflow, NULL)), 128 + SIGSEGV);
}

/* Wait in a receive that nothing can ever satisfy. */
static int
forever_actor(void *arg)
{
    ax_msg *m;

    (void)arg;
    if (ax_recv(&m, AX_FOREVER) == 0) {
        ax_msg_free(m);
    }
    return 0;
}

static void
test_lifecycle_run_reports_edeadlk_when_no_actor_can_ever_wake(void **state)
{
    ax_runtime_stats st;

    (void)state;
    assert_int_equal(ax_init(NULL), 0);
    assert_int_equal(ax_spawn(forever_actor, NULL, NULL, NULL), 0);
    assert_int_equal(ax_run(), AX_EDEADLK);
    assert_non_null(strstr(ax_error_detail(),
                           "ax_run: 1 actor waits and nothing can wake it"));
    ax_runtime_stats_get(&st);
    assert_int_equal(st.actors, 1);
    ax_fini();
    ax_runtime_stats_get(&st);
    assert_int_equal(st.actors, 0);
    assert_int_equal(ev_run(ev_default_loop(0), EVRUN_NOWAIT), 0);
}

/* In a child, stderr into fd: ax_recv outside any actor (the runtime is
 * up, no actor runs). */
static int
child_recv_outside(void *arg)
{
    struct rlimit no_core = {0, 0};
    ax_msg *m;

    setrlimit(RLIMIT_CORE, &no_core);
    dup2(*(const int *)arg, 2);
    if (ax_init(NULL) != 0) {
        return 2;
    }
    ax_recv(&m, 0);
    return 3; /* it returned */
}

static void
test_lifecycle_recv_outside_an_actor_aborts_with_a_sentence(void **state)
{
    char buf[512];
    ssize_t n;
    pid_t pid;
    int p[2];

    (void)state;
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid = t_fork(child_recv_outside, &p[1]);
    close(p[1]);
    assert_int_equal(t_wait(pid), 128 + SIGABRT);
    n = read(p[0], buf, sizeof(buf) - 1);
    close(p[0]);
    assert_true(n > 0);
    buf[n] = '\0';
    /* the file as it is in the source tree, not the build's path to it */
    assert_non_null(strstr(buf, "axon: misuse at actors/core/"));
    assert_non_null(strstr(buf, "ax_recv called outside an actor"));
}

static void
test_lifecycle_init_twice_fails_and_fini_without_init_is_safe(void **state)
{
    ax_runtime_opts bad = {.run_budget = -1};

    (void)state;
    ax_fini(); /* never initialised */
    assert_int_equal(ax_init(&bad), AX_EINVAL);
    assert_int_equal(ax_init(NULL), 0);
    assert_int_equal(ax_init(NULL), AX_EALREADY);
    ax_fini();
    ax_fini(); /* twice */
    assert_int_equal(ax_init(NULL), 0);
    ax_fini();
    assert_int_equal(ev_run(ev_default_loop(0), EVRUN_NOWAIT), 0);
}

/*
 * What ax_fini's victims saw. Shared memory and a white-box look at the
 * dying actor's exit reason (ax_actor.exit): no actor is left to receive
 * a DOWN, and all of this is in this process.
 */
struct victim {
    ax_actor *self;    /* set by the actor when it starts */
    int on_exit_runs;  /* times its on_exit function ran */
    ax_exit_info seen; /* its exit reason, read by on_exit */
};

static void
victim_on_exit(void *p)
{
    struct victim *v = p;

    v->on_exit_runs++;
    v->seen = v->self->exit;
}

/* Register victim_on_exit, then wait as arg's index says: 0 a receive,
 * 1 a 60 s sleep, 2 an fd nobody writes (fd in victim_fd). */
static struct victim victims[3];
static int victim_fd = -1;

static int
victim_actor(void *arg)
{
    struct victim *v = arg;
    ax_msg *m;

    v->self = ax__rt.current;
    if (ax_on_exit(victim_on_exit, v) < 0) {
        return 2;
    }
    if (v == &victims[0] && ax_recv(&m, AX_FOREVER) == 0) {
        ax_msg_free(m);
    } else if (v == &victims[1]) {
        ax_sleep(60000);
    } else if (v == &victims[2]) {
        ax_wait_fd(victim_fd, AX_READ, AX_FOREVER);
    }
    return 0;
}

/* Let the victims start, then make ax_run return. */
static int
stopper_actor(void *arg)
{
    (void)arg;
    ax_yield();
    ax_stop();
    return forever_actor(NULL);
}

static void
test_lifecycle_fini_kills_the_actors_left_and_runs_their_on_exit(void **state)
{
    ax_runtime_stats st;
    int p[2];

    (void)state;
    memset(victims, 0, sizeof(victims));
    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    victim_fd = p[0];
    assert_int_equal(ax_init(NULL), 0);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(ax_spawn(victim_actor, &victims[k], NULL, NULL), 0);
    }
    assert_int_equal(ax_spawn(stopper_actor, NULL, NULL, NULL), 0);
    assert_int_equal(ax_run(), 0); /* stopped */
    /* One more that never runs. */
    assert_int_equal(ax_spawn(forever_actor, NULL, NULL, NULL), 0);
    ax_runtime_stats_get(&st);
    assert_int_equal(st.actors, 5);
    ax_fini();
    for (int k = 0; k < 3; k++) {
        assert_int_equal(victims[k].on_exit_runs, 1);
        assert_int_equal(victims[k].seen.kind, AX_EXIT_KILLED);
        assert_int_equal(victims[k].seen.code, AX_KILL_SHUTDOWN);
    }
    /* Their timer and io watcher are stopped. */
    assert_int_equal(ev_run(ev_default_loop(0), EVRUN_NOWAIT), 0);
    close(p[0]);
    close(p[1]);
}

int
main(void)
{
    /* About this process (memory, stacks, forks, the runtime's own calls):
     * run once, whatever the placements of the actor-level lists. */
    const struct CMUnitTest once[] = {
        cmocka_unit_test_setup_teardown(
            test_lifecycle_hundred_thousand_spawned_actors_are_all_reaped,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_stack_overflow_dies_of_sigsegv_at_the_guard_page,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_run_reports_edeadlk_when_no_actor_can_ever_wake,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_recv_outside_an_actor_aborts_with_a_sentence,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_init_twice_fails_and_fini_without_init_is_safe,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_fini_kills_the_actors_left_and_runs_their_on_exit,
            t_setup, t_teardown),
    };

    th_main_setup();
    return cmocka_run_group_tests_name("this process, once", once, NULL, NULL);
}
