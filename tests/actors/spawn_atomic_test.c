/*
 * tests/actors/spawn_atomic_test.c - a spawn of a process actor that
 * returns an error forks nothing and runs nothing (api.md: "nothing is
 * spawned"): a taken name, a bad name, a taken name with a link and a
 * monitor asked for, four spawns of one name through AXON_PLACE, and a
 * taken name asked for from inside a process actor (the root keeps the
 * names). And a refusal leaves nothing behind in the spawner: no link, no
 * monitor, no DOWN for a child that never was. And a spawn past the cap
 * of live process actors (max_processes) is refused before the fork.
 *
 * Every fork of this test process and of its children is counted in
 * memory they all share (a pthread_atfork handler), and every run of the
 * spawned function too, so "nothing forked, nothing ran" is a count, not
 * a guess. The control in each test (a spawn that succeeds) shows the
 * counts move when a child does start.
 */
#include "support/actor_harness.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Shared by this process and every process forked from it. */
typedef struct counts {
    int forks; /* fork() returned 0 somewhere */
    int ran;   /* counted_actor started */
} counts;

static counts *shared;

static void
count_fork(void)
{
    __atomic_fetch_add(&shared->forks, 1, __ATOMIC_SEQ_CST);
}

static int
forks(void)
{
    return __atomic_load_n(&shared->forks, __ATOMIC_SEQ_CST);
}

static int
ran(void)
{
    return __atomic_load_n(&shared->ran, __ATOMIC_SEQ_CST);
}

/* The function whose runs are counted; it waits to be killed or told. */
static int
counted_actor(void *arg)
{
    ax_msg *m = NULL;

    (void)arg;
    __atomic_fetch_add(&shared->ran, 1, __ATOMIC_SEQ_CST);
    ax_recv(&m, AX_FOREVER);
    ax_msg_free(m);
    return 0;
}

static ax_spawn_opts
process_opts(const char *name)
{
    ax_spawn_opts o = {0};

    o.placement = AX_PLACE_PROCESS;
    o.name = name;
    return o;
}

/* Time for a fork a spawn queued to happen and for its child to start. */
static void
settle(void)
{
    ax_sleep(150);
}

/* Wait (up to 20 s: a child under valgrind starts slowly) until at least
 * `f` forks and `r` runs are counted, then settle, so that one too many
 * would show as well. */
static void
settle_at(int f, int r)
{
    for (int t = 0; t < 2000 && (forks() < f || ran() < r); t++) {
        ax_sleep(10);
    }
    settle();
}

/* Stop pid (a counted_actor) and wait for its end. */
static void
stop(ax_pid pid)
{
    TH_CHECK_INT(ax_sendf(pid, "[s]", "stop"), 0);
    TH_CHECK_INT(th_join(pid).kind, AX_EXIT_NORMAL);
}

/* --- a taken name ------------------------------------------------------- */

static void
body_taken(void *arg)
{
    ax_spawn_opts o = process_opts("taken");
    ax_pid first = AX_PID_NONE, second = AX_PID_NONE;
    int f0 = forks(), r0 = ran();

    (void)arg;
    TH_CHECK_INT(ax_register("taken", ax_self()), 0);
    TH_CHECK_INT(ax_spawn(counted_actor, NULL, &o, &second), AX_EEXIST);
    TH_CHECK(strstr(ax_error_detail(), "taken") != NULL);
    TH_CHECK(ax_pid_is_none(second));
    settle();
    TH_CHECK_INT(forks() - f0, 0);
    TH_CHECK_INT(ran() - r0, 0);

    /* The control: the same spawn with a free name starts its child. */
    o.name = "free";
    TH_CHECK_INT(ax_spawn(counted_actor, NULL, &o, &first), 0);
    settle_at(f0 + 1, r0 + 1);
    TH_CHECK_INT(forks() - f0, 1);
    TH_CHECK_INT(ran() - r0, 1);
    stop(first);
}

static void
test_taken_name_forks_nothing(void **state)
{
    (void)state;
    th_run(body_taken, NULL);
}

/* --- past max_processes ------------------------------------------------ */

static void
body_past_the_cap(void *arg)
{
    ax_spawn_opts o = process_opts(NULL);
    ax_pid kids[3], more = AX_PID_NONE;
    int f0 = forks(), r0 = ran();

    (void)arg;
    for (int i = 0; i < 3; i++) {
        TH_CHECK_INT(ax_spawn(counted_actor, NULL, &o, &kids[i]), 0);
    }
    TH_CHECK_INT(ax_spawn(counted_actor, NULL, &o, &more), AX_EAGAIN);
    TH_CHECK(strstr(ax_error_detail(), "max_processes") != NULL);
    TH_CHECK(ax_pid_is_none(more));
    settle_at(f0 + 3, r0 + 3);
    TH_CHECK_INT(forks() - f0, 3);
    TH_CHECK_INT(ran() - r0, 3);
    /* One ends: there is room for one again once its process is reaped
     * (its DOWN may come a moment before). */
    stop(kids[0]);
    for (int t = 0; t < 2000; t++) {
        int rc = ax_spawn(counted_actor, NULL, &o, &kids[0]);

        if (rc != AX_EAGAIN) {
            TH_CHECK_INT(rc, 0);
            break;
        }
        ax_sleep(10);
    }
    settle_at(f0 + 4, 0);
    TH_CHECK_INT(forks() - f0, 4);
    for (int i = 0; i < 3; i++) {
        stop(kids[i]);
    }
}

/*
 * With max_processes 3, a fourth process actor while three live is
 * refused with AX_EAGAIN and a detail that names the option, and forks
 * nothing; once one has ended and its process is reaped, a spawn
 * succeeds again.
 */
static void
test_spawn_past_max_processes_forks_nothing(void **state)
{
    static const ax_runtime_opts cap = {.max_processes = 3};

    (void)state;
    th_runtime_opts = &cap;
    th_run(body_past_the_cap, NULL);
    th_runtime_opts = NULL;
}

/* --- a bad name ------------------------------------------------------- */

static void
body_bad_name(void *arg)
{
    char longname[300];
    ax_spawn_opts o = process_opts("");
    ax_pid pid;
    int f0 = forks();

    (void)arg;
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    TH_CHECK_INT(ax_spawn(counted_actor, NULL, &o, &pid), AX_EINVAL);
    o.name = longname;
    TH_CHECK_INT(ax_spawn(counted_actor, NULL, &o, &pid), AX_ENAMETOOLONG);
    settle();
    TH_CHECK_INT(forks() - f0, 0);
}

static void
test_bad_name_forks_nothing(void **state)
{
    (void)state;
    th_run(body_bad_name, NULL);
}

/* --- a refusal leaves no link and no monitor behind --------------------- */

static void
body_link_monitor(void *arg)
{
    ax_spawn_opts o = process_opts("taken");
    uint64_t ref = 0;
    ax_pid pid;
    ax_msg *m = NULL;
    int f0 = forks();

    (void)arg;
    ax_trap_exit(true);
    o.link = true;
    o.monitor = true;
    o.monitor_ref = &ref;
    TH_CHECK_INT(ax_register("taken", ax_self()), 0);
    TH_CHECK_INT(ax_spawn(counted_actor, NULL, &o, &pid), AX_EEXIST);
    TH_CHECK_INT(ref, 0);
    /* No EXIT and no DOWN come for a child that never was. */
    TH_CHECK_INT(ax_recv(&m, 300), AX_ETIMEDOUT);
    ax_msg_free(m);
    TH_CHECK_INT(forks() - f0, 0);
    ax_trap_exit(false);
}

static void
test_refusal_leaves_no_link_or_monitor(void **state)
{
    (void)state;
    th_run(body_link_monitor, NULL);
}

/* --- four spawns of one name through AXON_PLACE ------------------------- */

static void
body_place(void *arg)
{
    ax_spawn_opts o = {0};
    ax_pid pid[4];
    int f0 = forks(), r0 = ran();

    (void)arg;
    o.name = "worker"; /* placement from AXON_PLACE: worker=process */
    for (int i = 0; i < 4; i++) {
        TH_CHECK_INT(ax_spawn(counted_actor, NULL, &o, &pid[i]),
                     i == 0 ? 0 : AX_EEXIST);
    }
    settle_at(f0 + 1, r0 + 1);
    TH_CHECK_INT(forks() - f0, 1);
    TH_CHECK_INT(ran() - r0, 1);
    stop(pid[0]);
}

static void
test_place_one_name_four_spawns(void **state)
{
    (void)state;
    setenv("AXON_PLACE", "worker=process", 1);
    th_run(body_place, NULL);
    unsetenv("AXON_PLACE");
}

/* --- a taken name asked for from inside a process actor ----------------- */

/* In a process actor: spawn a named grandchild, answer with the result
 * and the forks this process saw (its own included) once it had time. */
static int
nested_actor(void *arg)
{
    ax_spawn_opts o = process_opts("taken");
    ax_pid driver = *(const ax_pid *)arg, pid = AX_PID_NONE;
    int f0 = forks(), rc;

    rc = ax_spawn(counted_actor, NULL, &o, &pid);
    ax_sleep(150);
    ax_sendf(driver, "[s d d]", "nested", rc, forks() - f0);
    return 0;
}

static void
body_nested(void *arg)
{
    ax_spawn_opts o = process_opts(NULL);
    ax_pid me = ax_self(), pid;
    ax_msg *m;
    int rc = 1, forked = -1, r0 = ran();

    (void)arg;
    TH_CHECK_INT(ax_register("taken", me), 0);
    TH_CHECK_INT(ax_spawn(nested_actor, &me, &o, &pid), 0);
    m = th_expect("nested", 5000);
    if (m != NULL) {
        TH_CHECK_INT(ax_msg_unpack(m, "[_ d d]", &rc, &forked), 0);
        ax_msg_free(m);
    }
    TH_CHECK_INT(rc, AX_EEXIST);
    TH_CHECK_INT(forked, 0);
    TH_CHECK_INT(ran() - r0, 0);
    TH_CHECK_INT(th_join(pid).kind, AX_EXIT_NORMAL);
}

static void
test_nested_taken_name_forks_nothing(void **state)
{
    (void)state;
    th_run(body_nested, NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_taken_name_forks_nothing),
        cmocka_unit_test(test_bad_name_forks_nothing),
        cmocka_unit_test(test_spawn_past_max_processes_forks_nothing),
        cmocka_unit_test(test_refusal_leaves_no_link_or_monitor),
        cmocka_unit_test(test_place_one_name_four_spawns),
        cmocka_unit_test(test_nested_taken_name_forks_nothing),
    };

    th_main_setup();
    shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED || pthread_atfork(NULL, NULL, count_fork) != 0) {
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
