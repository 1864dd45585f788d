/*
 * tests/base/alloc_test.c - the allocator hook: injected failures, and the
 * cache of large blocks that streams of large messages reuse.
 *
 * The cache is off under ASan and valgrind (they must see every free):
 * there the tests check that it stays off and frees are real; a plain
 * build (CI runs this test natively in its valgrind build) checks reuse.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/sanitizers.h"

#define KIB 1024u

/* Each test starts and ends with the cache off and empty. */
static int
cache_off(void **state)
{
    (void)state;
    ax__alloc_fail_after(-1);
    ax__big_cache(false);
    return 0;
}

/* A freed large block comes back for the next allocation of a size close
 * to its own, and only then. */
static void
test_alloc_big_blocks_are_reused_for_close_sizes(void **state)
{
    void *a, *b, *c;

    (void)state;
    if (!ax__big_cache(true)) {
        skip(); /* ASan or valgrind: see the next tests */
    }
    a = ax__alloc(64 * KIB);
    assert_non_null(a);
    memset(a, 1, 64 * KIB);
    ax__free_sized(a, 64 * KIB);
    b = ax__alloc(60 * KIB); /* at least half of 64 KiB: the kept block */
    assert_ptr_equal(b, a);
    c = ax__alloc(20 * KIB); /* less than half: a block of its own */
    assert_non_null(c);
    assert_ptr_not_equal(c, a);
    ax__free_sized(c, 20 * KIB);
    ax__free_sized(b, 60 * KIB);
}

/* The most recently freed block that fits is taken first; blocks over
 * 4 MiB are not kept; off means plain malloc/free. */
static void
test_alloc_big_cache_takes_the_newest_and_is_bounded(void **state)
{
    void *x, *y, *huge, *blocks[40];

    (void)state;
    if (!ax__big_cache(true)) {
        skip();
    }
    x = ax__alloc(64 * KIB);
    y = ax__alloc(64 * KIB);
    assert_non_null(x);
    assert_non_null(y);
    ax__free_sized(x, 64 * KIB);
    ax__free_sized(y, 64 * KIB);
    assert_ptr_equal(ax__alloc(64 * KIB), y);
    assert_ptr_equal(ax__alloc(64 * KIB), x);
    ax__free_sized(x, 64 * KIB);
    ax__free_sized(y, 64 * KIB);
    for (int i = 0; i < 40; i++) {
        blocks[i] = ax__alloc(64 * KIB);
        assert_non_null(blocks[i]);
    }
    for (int i = 0; i < 40; i++) {
        ax__free_sized(blocks[i], 64 * KIB); /* 8 kept, the rest freed */
    }
    huge = ax__alloc(8 * KIB * KIB);
    assert_non_null(huge);
    ax__free_sized(huge, 8 * KIB * KIB);
    assert_false(ax__big_cache(false));
}

/* An injected failure comes first, even with a kept block at hand; a kept
 * block given out is a plain malloc block (ax_free releases it). */
static void
test_alloc_injected_failure_wins_over_the_cache(void **state)
{
    void *a;

    (void)state;
    ax__big_cache(true);
    a = ax__alloc(64 * KIB);
    assert_non_null(a);
    ax__free_sized(a, 64 * KIB);
    ax__alloc_fail_after(0);
    assert_null(ax__alloc(64 * KIB));
    ax__alloc_fail_after(-1);
    a = ax__alloc(64 * KIB);
    assert_non_null(a);
    ax_free(a);
}

/* A block freed twice while kept is a bug the cache would hide (two
 * owners of one block): the process aborts instead. */
static void
test_alloc_double_free_of_a_kept_block_aborts(void **state)
{
    int status = 0;
    pid_t pid;

    (void)state;
    if (!ax__big_cache(true)) {
        skip(); /* the sanitizer or memcheck reports it itself */
    }
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        void *a = ax__alloc(64 * KIB);

        ax__free_sized(a, 64 * KIB);
        ax__free_sized(a, 64 * KIB); /* aborts */
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* Under ASan the cache stays off, and a freed block is really freed
 * (poisoned as such), so misuse is reported exactly. */
static void
test_alloc_cache_is_off_under_asan(void **state)
{
    (void)state;
#if AX_ASAN
    char *a;

    assert_false(ax__big_cache(true));
    a = ax__alloc(64 * KIB);
    assert_non_null(a);
    assert_int_equal(__asan_address_is_poisoned(a), 0);
    ax__free_sized(a, 64 * KIB);
    assert_int_equal(__asan_address_is_poisoned(a), 1);
#else
    skip(); /* a plain build: the tests above */
#endif
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, cache_off, cache_off)
    const struct CMUnitTest tests[] = {
        T(test_alloc_big_blocks_are_reused_for_close_sizes),
        T(test_alloc_big_cache_takes_the_newest_and_is_bounded),
        T(test_alloc_injected_failure_wins_over_the_cache),
        T(test_alloc_double_free_of_a_kept_block_aborts),
        T(test_alloc_cache_is_off_under_asan),
    };

    return cmocka_run_group_tests_name("alloc", tests, NULL, NULL);
}
