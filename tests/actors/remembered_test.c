/*
 * tests/actors/remembered_test.c - the ends of actors elsewhere that a
 * process remembers (route/table.c): the last 2,048 records (two per
 * process that ends: the last 1,024 process actors at least) and none
 * older, an actor's own record over its process's whichever came last,
 * noproc for the other actors of a process that ended by exit, and the
 * lookup every send to another process makes staying one hash probe.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "actors/route/route.h"

static const ax_exit_info killed_300 = {AX_EXIT_KILLED, 300, 0, false};
static const ax_exit_info error_44 = {AX_EXIT_ERROR, 44, 0, false};
static const ax_exit_info sig_9 = {AX_EXIT_SIGNAL, 0, 9, false};

static ax_pid
first_of(uint64_t node)
{
    return (ax_pid){node, AX_FIRST_ID};
}

static void
expect_gone(ax_pid pid, ax_exit_kind kind, int code)
{
    ax_exit_info i = {0};

    assert_true(ax__remote_gone(pid, &i));
    assert_int_equal(i.kind, kind);
    assert_int_equal(i.code, code);
}

/* 3,000 processes end, each with its first actor's words and its node's
 * status: the last 1,024 are known exactly, the first ones not at all. */
static void
test_remembered_last_thousand_processes_exactly(void **state)
{
    const uint64_t base = 0x5a5a000000000000u, n = 3000;

    (void)state;
    for (uint64_t k = 1; k <= n; k++) {
        ax__remember_gone(first_of(base + k), &killed_300);
        ax__remember_gone((ax_pid){base + k, 0}, &error_44);
    }
    for (uint64_t k = n - 1023; k <= n; k++) {
        expect_gone(first_of(base + k), AX_EXIT_KILLED, 300);
        expect_gone((ax_pid){base + k, 7}, AX_EXIT_NOPROC, 44);
    }
    for (uint64_t k = 1; k <= n - 1024; k++) {
        ax_exit_info i;

        assert_false(ax__remote_gone(first_of(base + k), &i));
        assert_false(ax__remote_gone((ax_pid){base + k, 0}, &i));
    }
}

/* The node's record after the actor's does not hide the actor's; a
 * signal is every actor's reason; an update keeps one record. */
static void
test_remembered_own_record_outranks_its_node(void **state)
{
    const uint64_t node = 0x77u;
    ax_exit_info i;

    (void)state;
    assert_false(ax__remote_gone(first_of(node), &i));
    ax__remember_gone((ax_pid){node, 0}, &sig_9);
    expect_gone(first_of(node), AX_EXIT_SIGNAL, 0);
    expect_gone((ax_pid){node, 12345}, AX_EXIT_SIGNAL, 0);
    ax__remember_gone(first_of(node), &killed_300);
    ax__remember_gone((ax_pid){node, 0}, &error_44);
    expect_gone(first_of(node), AX_EXIT_KILLED, 300);
    expect_gone((ax_pid){node, 12345}, AX_EXIT_NOPROC, 44);
    for (int k = 0; k < 5000; k++) { /* one record, updated in place */
        ax__remember_gone(first_of(node), &killed_300);
    }
    expect_gone(first_of(node), AX_EXIT_KILLED, 300);
}

/* Records come and go through the hash's deletions (backward shifts) in
 * every pattern of collisions: each lookup answers for its own pid. */
static void
test_remembered_churn_keeps_every_answer_right(void **state)
{
    const uint64_t base = 0x1000u;

    (void)state;
    for (uint64_t k = 0; k < 100000; k++) {
        ax_exit_info i = {AX_EXIT_ERROR, (int)(k % 1000), 0, false};

        ax__remember_gone((ax_pid){base + k / 3, k % 3 + 1}, &i);
    }
    for (uint64_t k = 100000 - 2048; k < 100000; k++) {
        expect_gone((ax_pid){base + k / 3, k % 3 + 1}, AX_EXIT_ERROR,
                    (int)(k % 1000));
    }
    for (uint64_t k = 0; k < 100000 - 2048; k++) {
        ax_exit_info i;

        assert_false(ax__remote_gone((ax_pid){base + k / 3, k % 3 + 1}, &i));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remembered_last_thousand_processes_exactly),
        cmocka_unit_test(test_remembered_own_record_outranks_its_node),
        cmocka_unit_test(test_remembered_churn_keeps_every_answer_right),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
