/*
 * tests/actors/ring_hygiene_test.c - the shared memory of process
 * channels, like their fds, belongs to the two processes of the channel
 * only: a process actor maps the rings to its parent and those to its own
 * children, never its siblings' (inherited at the fork and unmapped at
 * once), and every mapping goes when its channel does.
 *
 * A ring mapping is a shared ("s" in /proc/self/maps) anonymous mapping
 * (/dev/zero, deleted); nothing else in the test maps one. A process maps
 * the rings to its children as slots of one pool (one mapping for up to
 * 64 children); a child cuts its parent's slot out of the pool and
 * unmaps the rest, so it holds one mapping of one slot (1 MiB and a page
 * for AX_PROC_RING), never its siblings' slots.
 */
#include "support/actor_harness.h"

#include "actors/process/process.h"

#include <stdio.h>
#include <string.h>

#define SIBLINGS 6

static ax_pid g_driver;

/* One slot of a pool: the two rings of one channel and their headers. */
#define SLOT_BYTES (AX_PROC_RING * 2 + 4096)

/* Shared anonymous mappings of this process (and their bytes). */
static int
shared_maps_sized(uint64_t *bytes)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int n = 0;

    *bytes = 0;
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char perms[8] = "";
        unsigned long lo, hi;

        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 &&
            perms[3] == 's' && strstr(line, "/dev/zero") != NULL) {
            *bytes += hi - lo;
            n++;
        }
    }
    fclose(f);
    return n;
}

static int
shared_maps(void)
{
    uint64_t bytes;

    return shared_maps_sized(&bytes);
}

/* A child's own count: its mappings, or -1 unless each is one slot. */
static int64_t
own_maps(void)
{
    uint64_t bytes;
    int n = shared_maps_sized(&bytes);

    return bytes == (uint64_t)n * SLOT_BYTES ? n : -1;
}

/* Reports its own count, then waits to be stopped. */
static int
counter(void *arg)
{
    ax_msg *m;

    (void)arg;
    ax_sendf(g_driver, "[s i]", "maps", own_maps());
    if (ax_recv_match("stop", &m, 20000) == 0) {
        ax_msg_free(m);
    }
    return 0;
}

/* Spawns one process actor below itself, then reports like counter. */
static int
middle(void *arg)
{
    ax_spawn_opts o = {0};
    ax_pid below;
    ax_msg *m;

    (void)arg;
    o.placement = AX_PLACE_PROCESS;
    if (ax_spawn(counter, NULL, &o, &below) < 0) {
        return 1;
    }
    ax_sendf(g_driver, "[s i]", "maps", (int64_t)shared_maps());
    if (ax_recv_match("stop", &m, 20000) == 0) {
        ax_msg_free(m);
    }
    ax_sendf(below, "[s]", "stop");
    return 0;
}

static void
body_hygiene(void *arg)
{
    ax_spawn_opts o = th_opts();
    ax_pid kids[SIBLINGS];
    int before = shared_maps();

    (void)arg;
    g_driver = ax_self();
    o.placement = AX_PLACE_PROCESS;
    for (int i = 0; i < SIBLINGS; i++) {
        TH_CHECK_INT(
            ax_spawn(i == SIBLINGS - 1 ? middle : counter, NULL, &o, &kids[i]),
            0);
    }
    TH_CHECK_INT(shared_maps(), before + 1); /* one pool for all six */
    /* Every sibling: its parent's rings only (one slot); the middle one:
     * also the pool of the rings to its own child; that child: its
     * parent's slot only. */
    for (int i = 0; i < SIBLINGS + 1; i++) {
        ax_msg *m = th_expect("maps", 20000);
        int64_t n = -1;

        if (m == NULL) {
            return;
        }
        TH_CHECK_INT(ax_msg_unpack(m, "[_ i]", &n), 0);
        TH_CHECK(n == 1 || (n == 2 && ax_pid_equal(ax_msg_sender(m),
                                                   kids[SIBLINGS - 1])));
        ax_msg_free(m);
    }
    for (int i = 0; i < SIBLINGS; i++) {
        ax_sendf(kids[i], "[s]", "stop");
    }
    for (int i = 0; i < SIBLINGS; i++) {
        TH_CHECK_INT(th_join(kids[i]).kind, AX_EXIT_NORMAL);
    }
}

static void
test_rings_are_mapped_by_their_two_processes_only(void **state)
{
    (void)state;
    th_run(body_hygiene, NULL);
    /* The channels are closed once th_run has reaped every child. */
    assert_int_equal(shared_maps(), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_rings_are_mapped_by_their_two_processes_only, t_setup,
            t_teardown),
    };

    th_main_setup();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
