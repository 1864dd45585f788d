/*
 * tests/base/alloc_test.c - the allocator hook: injected failures, and the
 * cache of large blocks that streams of large messages reuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ASAN 1
#else
#define ASAN 0
#endif

#define KIB 1024u

/* A freed large block comes back for the next allocation of a size close
 * to its own, and only then; small blocks are never kept. */
static void
test_alloc_big_blocks_are_reused_for_close_sizes(void **state)
{
    void *a, *b, *c, *small, *small2;

    (void)state;
    ax__big_cache(true);
    a = ax__alloc(64 * KIB);
    assert_non_null(a);
    memset(a, 1, 64 * KIB);
    ax__free(a);
    b = ax__alloc(60 * KIB); /* at least half of 64 KiB: the kept block */
    assert_ptr_equal(b, a);
    ax__free(b);
    c = ax__alloc(20 * KIB); /* less than half: a block of its own */
    assert_non_null(c);
    assert_ptr_not_equal(c, a);
    ax__free(c);
    small = ax__alloc(1 * KIB);
    assert_non_null(small);
    ax__free(small);
    small2 = ax__alloc(1 * KIB);
    assert_non_null(small2);
    ax__free(small2);
    ax__big_cache(false); /* frees what is kept: the leak checkers see */
}

/* Blocks over 4 MiB are never kept; the kept blocks are bounded in count
 * and the cache off means plain malloc/free. */
static void
test_alloc_big_cache_is_bounded_and_can_be_off(void **state)
{
    void *huge, *again, *blocks[40];

    (void)state;
    ax__big_cache(true);
    for (int i = 0; i < 40; i++) {
        blocks[i] = ax__alloc(64 * KIB);
        assert_non_null(blocks[i]);
    }
    for (int i = 0; i < 40; i++) {
        ax__free(blocks[i]); /* 8 kept, the rest freed */
    }
    huge = ax__alloc(8 * KIB * KIB);
    assert_non_null(huge);
    ax__free(huge);
    ax__big_cache(false);
    again = ax__alloc(64 * KIB);
    assert_non_null(again);
    ax__free(again);
}

/* An injected failure comes first, even with a kept block at hand. */
static void
test_alloc_injected_failure_wins_over_the_cache(void **state)
{
    void *a;

    (void)state;
    ax__big_cache(true);
    a = ax__alloc(64 * KIB);
    assert_non_null(a);
    ax__free(a);
    ax__alloc_fail_after(0);
    assert_null(ax__alloc(64 * KIB));
    ax__alloc_fail_after(-1);
    a = ax__alloc(64 * KIB);
    assert_non_null(a);
    ax_free(a); /* a kept block is a plain malloc block */
    ax__big_cache(false);
}

/* Under ASan a kept block is poisoned: a use after ax__free is reported
 * as after free(3); taken again, it is usable. */
static void
test_alloc_kept_blocks_are_poisoned_under_asan(void **state)
{
    (void)state;
#if ASAN
    char *a;

    ax__big_cache(true);
    a = ax__alloc(64 * KIB);
    assert_non_null(a);
    assert_int_equal(__asan_address_is_poisoned(a), 0);
    ax__free(a);
    assert_int_equal(__asan_address_is_poisoned(a), 1);
    assert_int_equal(__asan_address_is_poisoned(a + 64 * KIB - 1), 1);
    assert_ptr_equal(ax__alloc(64 * KIB), a);
    assert_int_equal(__asan_address_is_poisoned(a + 64 * KIB - 1), 0);
    ax__free(a);
    ax__big_cache(false);
#else
    skip(); /* poisoning exists only under ASan (and memcheck) */
#endif
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_big_blocks_are_reused_for_close_sizes),
        cmocka_unit_test(test_alloc_big_cache_is_bounded_and_can_be_off),
        cmocka_unit_test(test_alloc_injected_failure_wins_over_the_cache),
        cmocka_unit_test(test_alloc_kept_blocks_are_poisoned_under_asan),
    };

    return cmocka_run_group_tests_name("alloc", tests, NULL, NULL);
}
