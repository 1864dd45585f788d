/*
 * tests/actors/million_test.c - a million live coroutine actors fit in one
 * process: each blocks in ax_recv, then all are stopped and reaped.
 *
 * Label "slow": not run under valgrind (a million stacks there takes
 * minutes). .ci/run runs it in the plain build with the full million
 * (about 4.6 GB); under ASan, whose allocator and shadow make an actor cost
 * about 13 KiB, it runs with 250,000 so CI stays within the machine.
 */
#include "support/actor_harness.h"

#include "actors/core/stack.h"

#include <stdio.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define LIVE 250000
#else
#define LIVE 1000000
#endif

static int
idle_actor(void *arg)
{
    ax_msg *m;

    (void)arg;
    if (ax_recv(&m, AX_FOREVER) < 0) {
        return 1;
    }
    ax_msg_free(m);
    return 0;
}

static int
count_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int n = 0;

    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        n++;
    }
    if (f != NULL) {
        fclose(f);
    }
    return n;
}

static void
body_million(void *arg)
{
    ax_pid *pids = malloc(LIVE * sizeof(*pids));
    ax_runtime_stats st;
    int maps_before = count_mappings();
    long rss_before = t_rss_kib();

    (void)arg;
    TH_CHECK(pids != NULL);
    for (int i = 0; pids != NULL && i < LIVE; i++) {
        if (ax_spawn(idle_actor, NULL, NULL, &pids[i]) < 0) {
            th_fail(__FILE__, __LINE__, "spawn %d: %s", i, ax_error_detail());
            return;
        }
    }
    ax_yield(); /* every one runs and blocks in ax_recv */
    ax_runtime_stats_get(&st);
    TH_CHECK_INT(st.actors, LIVE + 1);
    printf("%d live actors: %ld KiB RSS more, %d mappings more\n", LIVE,
           t_rss_kib() - rss_before, count_mappings() - maps_before);
    /* Far below vm.max_map_count (65,530): stacks come in slabs. */
    TH_CHECK(count_mappings() - maps_before < 5000);
    for (int i = 0; pids != NULL && i < LIVE; i++) {
        TH_CHECK_INT(ax_sendf(pids[i], "[s]", "stop"), 0);
    }
    free(pids);
}

static void
test_million_live_actors_fit_in_one_process(void **state)
{
    (void)state;
    th_run(body_million, NULL);
}

/*
 * A million guarded stacks need MADV_GUARD_INSTALL (Linux 6.13+): mprotect
 * guards split mappings and stop near 30,000 stacks. On such a kernel the
 * test runs with guards off (AXON_STACK_GUARD=0) and says so.
 */
static void
choose_guards(void)
{
    ax_stack_stats st;
    ax_stack s;

    assert_int_equal(ax__stack_alloc(0, &s), 0);
    ax__stack_stats(&st);
    ax__stack_free(&s);
    if (st.guard_mprotect) {
        printf("note: no MADV_GUARD_INSTALL on this kernel: a million "
               "actors run without guard pages\n");
        setenv("AXON_STACK_GUARD", "0", 1);
    }
    ax__stack_forget_all(NULL); /* the guard mode is decided again */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_million_live_actors_fit_in_one_process, t_setup, t_teardown),
    };

    th_main_setup();
    choose_guards();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
