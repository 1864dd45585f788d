/*
 * tests/actors/deadlock_test.c - ax_run's AX_EDEADLK is the same whatever
 * the placement of the actors left: a client that returns without
 * stopping its idle worker gets it when the worker is a coroutine and
 * when it is a process actor (or a tree of them); and it never comes
 * while anything could still wake an actor: a process actor sleeping,
 * computing without returning to its loop, two process actors talking
 * through the root, a grandchild that sleeps and then ends.
 *
 * Each test runs ax_run from the test function itself (no driver actor:
 * ax_run's own answer is what is checked), times it, and ends with
 * ax_fini: no fd left open, no child unreaped (t_teardown).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support/actor_harness.h"
#include "support/testutil.h"

/* A deadlock is told within this (the root looks every 0.1 s). */
#define TELL_MS 5000

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static ax_spawn_opts
placed(ax_placement where)
{
    ax_spawn_opts o = {0};

    o.placement = where;
    return o;
}

/* What an actor spawned here is given: someone to answer, a number. */
typedef struct job {
    ax_pid to;
    int n;
    ax_placement where;
} job;

/* Options for a process actor given a copy of a job. */
static ax_spawn_opts
with_job(void)
{
    ax_spawn_opts o = placed(AX_PLACE_PROCESS);

    o.arg_size = sizeof(job);
    return o;
}

/* ax_run, timed; *ms how long it took. */
static int
run_timed(uint64_t *ms)
{
    uint64_t t0 = now_ms();
    int rc = ax_run();

    *ms = now_ms() - t0;
    return rc;
}

/* ax_run answers AX_EDEADLK within TELL_MS, its detail holding detail
 * (NULL: not looked at). */
static void
expect_deadlock(const char *detail)
{
    uint64_t ms;

    assert_int_equal(run_timed(&ms), AX_EDEADLK);
    assert_true(ms < TELL_MS);
    if (detail != NULL) {
        assert_non_null(strstr(ax_error_detail(), detail));
    }
}

static int
setup(void **state)
{
    return t_setup(state);
}

static int
teardown(void **state)
{
    ax_fini();
    return t_teardown(state);
}

/* --- a forgotten worker ---------------------------------------------------
 */

/* Answers every request with its square, forever. */
static int
worker(void *arg)
{
    ax_msg *m, *r;
    int64_t n;

    (void)arg;
    while (ax_recv(&m, -1) == 0) {
        if (ax_msg_unpack(m, "[s i]", NULL, NULL, &n) == 0 &&
            ax_msg_pack(&r, "i", n * n) == 0) {
            ax_reply(m, r);
        }
        ax_msg_free(m);
    }
    return 0;
}

/* The client: starts a worker where asked, uses it once, and returns
 * without stopping it (the mistake). */
static int
client(void *arg)
{
    const job *j = arg;
    ax_spawn_opts o = placed(j->where);
    ax_pid w;
    ax_msg *req = NULL, *reply = NULL;

    if (ax_spawn(worker, NULL, &o, &w) != 0 ||
        ax_msg_pack(&req, "[s i]", "square", (int64_t)7) != 0) {
        return 1;
    }
    ax_call(w, req, &reply, 10000);
    ax_msg_free(reply);
    return 0;
}

static void
forgotten_worker(ax_placement where, const char *detail)
{
    job j = {AX_PID_NONE, 0, where};
    ax_spawn_opts o = placed(AX_PLACE_COROUTINE);

    o.arg_size = sizeof(j);
    assert_int_equal(ax_init(NULL), 0);
    assert_int_equal(ax_spawn(client, &j, &o, NULL), 0);
    expect_deadlock(detail);
}

static void
test_a_forgotten_coroutine_worker_is_a_deadlock(void **state)
{
    (void)state;
    forgotten_worker(AX_PLACE_COROUTINE,
                     "ax_run: 1 actor waits and nothing can wake it (no "
                     "timer, fd or channel is active)");
}

static void
test_a_forgotten_process_worker_is_the_same_deadlock(void **state)
{
    (void)state;
    forgotten_worker(AX_PLACE_PROCESS,
                     "ax_run: 1 actor waits and nothing can wake it (no "
                     "timer, fd or channel is active; 1 of them in child "
                     "processes)");
}

/* The same through the fork server. */
static void
test_a_forgotten_worker_from_the_fork_server_is_a_deadlock(void **state)
{
    ax_runtime_opts ro = {0};
    ax_spawn_opts o = placed(AX_PLACE_PROCESS);

    (void)state;
    ro.forkserver = true;
    assert_int_equal(ax_init(&ro), 0);
    assert_int_equal(ax_spawn(worker, NULL, &o, NULL), 0);
    assert_int_equal(ax_spawn(worker, NULL, &o, NULL), 0);
    expect_deadlock("2 actors wait");
}

/* A process actor whose own process actor waits for it: both wait. */
static int
waits_on_a_child(void *arg)
{
    ax_spawn_opts o = placed(AX_PLACE_PROCESS);
    ax_pid w;
    ax_exit_info i;

    (void)arg;
    if (ax_spawn(worker, NULL, &o, &w) != 0) {
        return 1;
    }
    return ax_wait(w, &i, -1) == 0 ? 0 : 2;
}

static void
test_a_tree_of_waiting_process_actors_is_a_deadlock(void **state)
{
    ax_spawn_opts o = placed(AX_PLACE_PROCESS);

    (void)state;
    assert_int_equal(ax_init(NULL), 0);
    assert_int_equal(ax_spawn(waits_on_a_child, NULL, &o, NULL), 0);
    assert_int_equal(ax_spawn(th_blocked_actor, NULL, NULL, NULL), 0);
    expect_deadlock("3 actors wait and nothing can wake them (no "
                    "timer, fd or channel is active; 2 of them in "
                    "child processes)");
}

/* A process actor that starts a waiting process actor and returns: its
 * process lives on, with no actor, for its child; that child's wait is
 * the deadlock. */
static int
leaves_a_child(void *arg)
{
    ax_spawn_opts o = placed(AX_PLACE_PROCESS);

    (void)arg;
    return ax_spawn(worker, NULL, &o, NULL) == 0 ? 0 : 1;
}

static void
test_a_waiting_grandchild_under_an_empty_process_is_a_deadlock(void **state)
{
    ax_spawn_opts o = placed(AX_PLACE_PROCESS);

    (void)state;
    assert_int_equal(ax_init(NULL), 0);
    assert_int_equal(ax_spawn(leaves_a_child, NULL, &o, NULL), 0);
    expect_deadlock("1 actor waits and nothing can wake it (no timer, "
                    "fd or channel is active; 1 of them in child "
                    "processes)");
}

/* --- nothing is a deadlock while something can still wake an actor -------
 */

/* Sleeps j->n ms, then says so. */
static int
sleeper(void *arg)
{
    const job *j = arg;

    ax_sleep(j->n);
    return ax_sendf(j->to, "[s]", "done") == 0 ? 0 : 1;
}

/* Computes j->n ms without returning to its loop, then says so. */
static int
computer(void *arg)
{
    const job *j = arg;
    uint64_t until = now_ms() + (uint64_t)j->n;
    volatile uint64_t spins = 0;

    while (now_ms() < until) {
        spins++; /* never back to the loop: a probe waits for it */
    }
    return ax_sendf(j->to, "[s]", "done") == 0 ? 0 : 1;
}

/* Waits for "done" from the actor it starts with fn (a process actor),
 * then ends: ax_run must return 0, not AX_EDEADLK, however long. */
typedef struct waiter_arg {
    ax_actor_fn fn;
    int ms;
} waiter_arg;

static int
waiter(void *arg)
{
    const waiter_arg *w = arg;
    job j = {ax_self(), w->ms, AX_PLACE_PROCESS};
    ax_spawn_opts o = with_job();
    ax_msg *m;

    if (ax_spawn(w->fn, &j, &o, NULL) != 0) {
        return 1;
    }
    if (ax_recv(&m, 30000) != 0) {
        return 2;
    }
    ax_msg_free(m);
    return 0;
}

static void
no_deadlock_while(ax_actor_fn fn, int ms)
{
    waiter_arg w = {fn, ms};
    ax_spawn_opts o = placed(AX_PLACE_COROUTINE);
    uint64_t took;

    o.arg_size = sizeof(w);
    assert_int_equal(ax_init(NULL), 0);
    assert_int_equal(ax_spawn(waiter, &w, &o, NULL), 0);
    assert_int_equal(run_timed(&took), 0);
    assert_true(took >= (uint64_t)ms);
}

static void
test_no_deadlock_while_a_process_actor_sleeps(void **state)
{
    (void)state;
    no_deadlock_while(sleeper, 800);
}

static void
test_no_deadlock_while_a_process_actor_computes(void **state)
{
    (void)state;
    no_deadlock_while(computer, 800);
}

/* A process actor that starts a grandchild sleeper and waits for it. */
static int
parent_of_sleeper(void *arg)
{
    const job *j = arg;
    job k = {ax_self(), j->n, AX_PLACE_PROCESS};
    ax_spawn_opts o = with_job();
    ax_msg *m;

    if (ax_spawn(sleeper, &k, &o, NULL) != 0 || ax_recv(&m, 30000) != 0) {
        return 1;
    }
    ax_msg_free(m);
    return ax_sendf(j->to, "[s]", "done") == 0 ? 0 : 2;
}

static void
test_no_deadlock_while_a_grandchild_sleeps(void **state)
{
    (void)state;
    no_deadlock_while(parent_of_sleeper, 800);
}

/* Two process actors pass a counter back and forth through the root
 * (the only way between siblings), while the root's own actor waits. */
#define VOLLEYS 20000

static int
volley(void *arg)
{
    const job *j = arg;
    ax_msg *m;
    ax_pid other;
    int64_t n = 0;

    if (ax_recv(&m, 30000) != 0 ||
        ax_msg_unpack(m, "[s p i]", NULL, NULL, &other, &n) != 0) {
        return 1;
    }
    ax_msg_free(m);
    while (n < VOLLEYS) {
        if (ax_sendf(other, "[s p i]", "ball", ax_self(), n + 1) != 0) {
            return 2;
        }
        if (ax_recv(&m, 30000) != 0 ||
            ax_msg_unpack(m, "[s p i]", NULL, NULL, &other, &n) != 0) {
            return 3;
        }
        ax_msg_free(m);
    }
    ax_sendf(other, "[s p i]", "ball", ax_self(), n + 1); /* its end too */
    return ax_sendf(j->to, "[s]", "done") == 0 ? 0 : 4;
}

static int
referee(void *arg)
{
    job j = {ax_self(), 0, AX_PLACE_PROCESS};
    ax_spawn_opts o = with_job();
    ax_pid a, b;
    ax_msg *m;

    (void)arg;
    if (ax_spawn(volley, &j, &o, &a) != 0 ||
        ax_spawn(volley, &j, &o, &b) != 0 ||
        ax_sendf(a, "[s p i]", "ball", b, (int64_t)0) != 0) {
        return 1;
    }
    for (int done = 0; done < 2; done++) {
        if (ax_recv(&m, 60000) != 0) {
            return 2;
        }
        ax_msg_free(m);
    }
    return 0;
}

static void
test_no_deadlock_while_two_process_actors_talk_through_the_root(void **state)
{
    uint64_t ms;
    ax_runtime_stats st;

    (void)state;
    assert_int_equal(ax_init(NULL), 0);
    assert_int_equal(ax_spawn(referee, NULL, NULL, NULL), 0);
    assert_int_equal(run_timed(&ms), 0);
    ax_runtime_stats_get(&st);
    assert_int_equal(st.actors, 0);
}

/* A process actor whose last moments are slow (an on-exit function that
 * blocks its process for 300 ms): the root, with no actor left, asks
 * whether it is quiet while it has none either. Ending is not waiting:
 * ax_run returns 0 once it is gone, never AX_EDEADLK. */
static void
slow_goodbye(void *arg)
{
    (void)arg;
    usleep(300 * 1000);
}

static int
ends_slowly(void *arg)
{
    ax_msg *m;

    (void)arg;
    ax_on_exit(slow_goodbye, NULL);
    if (ax_recv(&m, 30000) == 0) {
        ax_msg_free(m);
    }
    return 0;
}

static int
lets_it_end(void *arg)
{
    ax_spawn_opts o = placed(AX_PLACE_PROCESS);
    ax_pid w;

    (void)arg;
    if (ax_spawn(ends_slowly, NULL, &o, &w) != 0) {
        return 1;
    }
    return ax_sendf(w, "[s]", "quit") == 0 ? 0 : 2; /* and gone at once */
}

static void
test_a_process_actor_that_ends_slowly_is_no_deadlock(void **state)
{
    uint64_t ms;

    (void)state;
    for (int round = 0; round < 3; round++) {
        assert_int_equal(ax_init(NULL), 0);
        assert_int_equal(ax_spawn(lets_it_end, NULL, NULL, NULL), 0);
        assert_int_equal(run_timed(&ms), 0);
        assert_true(ms >= 300);
        ax_fini();
    }
}

/* After a deadlock, ax_run again answers the same; ax_fini then ends the
 * forgotten process actors (teardown: none unreaped). */
static void
test_ax_run_again_after_a_deadlock_answers_the_same(void **state)
{
    ax_spawn_opts o = placed(AX_PLACE_PROCESS);
    uint64_t ms;

    (void)state;
    assert_int_equal(ax_init(NULL), 0);
    assert_int_equal(ax_spawn(worker, NULL, &o, NULL), 0);
    assert_int_equal(run_timed(&ms), AX_EDEADLK);
    expect_deadlock(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_a_forgotten_coroutine_worker_is_a_deadlock, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_forgotten_process_worker_is_the_same_deadlock, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_a_forgotten_worker_from_the_fork_server_is_a_deadlock, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_a_tree_of_waiting_process_actors_is_a_deadlock, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_a_waiting_grandchild_under_an_empty_process_is_a_deadlock,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_no_deadlock_while_a_process_actor_sleeps, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_no_deadlock_while_a_process_actor_computes, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_no_deadlock_while_a_grandchild_sleeps, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_no_deadlock_while_two_process_actors_talk_through_the_root,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_ax_run_again_after_a_deadlock_answers_the_same, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_a_process_actor_that_ends_slowly_is_no_deadlock, setup,
            teardown),
    };

    th_main_setup();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
