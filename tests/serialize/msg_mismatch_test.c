/*
 * tests/serialize/msg_mismatch_test.c - ax_msg_unpack on a message that
 * does not match its format: wrong types, too few or too many elements,
 * missing keys and out-of-range integers are AX_EPROTO or AX_ERANGE, the
 * error detail names the path and both types, and nothing is stored.
 */
#include "support/testutil.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <axon/error.h>
#include <axon/msg.h>

#include "msg_util.h"

static void
test_msg_unpack_wrong_type_names_the_path(void **state)
{
    ax_msg *m;
    const char *s;
    size_t len;
    int d;

    (void)state;
    assert_int_equal(ax_msg_pack(&m, "[s d]", "a", 5), 0);
    assert_int_equal(ax_msg_unpack(m, "[s s]", &s, &len, &s, &len), AX_EPROTO);
    assert_detail_has("at $[1]: expected string ('s'), found integer");
    ax_msg_free(m);

    assert_int_equal(ax_msg_pack(&m, "{s:[d {s:s}]}", "user", 1, "age", "x"),
                     0);
    assert_int_equal(ax_msg_unpack(m, "{s:[d {s:d}]}", "user", &d, "age", &d),
                     AX_EPROTO);
    assert_detail_has("at $.user[1].age: expected integer ('d')");
    assert_int_equal(ax_msg_unpack(m, "[d]", &d), AX_EPROTO);
    assert_detail_has("expected array");
    assert_detail_has("found map");
    assert_int_equal(ax_msg_unpack(m, "{s:{}}", "user"), AX_EPROTO);
    assert_detail_has("at $.user: expected map");
    ax_msg_free(m);
}

static void
test_msg_unpack_detail_keeps_the_reason_for_a_long_format(void **state)
{
    char *nils = repeat_format('[', 'n', 300, ']');
    char *ints = repeat_format('[', 'd', 300, ']');
    ax_msg *m;

    (void)state;
    assert_int_equal(ax_msg_pack(&m, nils), 0);
    assert_int_equal(ax_msg_unpack(m, ints), AX_EPROTO);
    assert_detail_has("at $[0]: expected integer ('d'), found nil");
    ax_msg_free(m);
    free(nils);
    free(ints);
}

static void
test_msg_unpack_names_the_found_type_of_every_kind(void **state)
{
    static const struct {
        const char *hex;
        const char *name;
    } kinds[] = {
        {"c0", "found nil"},
        {"c3", "found boolean"},
        {"ca 00 00 00 00", "found float"},
        {"a0", "found string"},
        {"c4 00", "found binary"},
        {"90", "found array"},
        {"80", "found map"},
        {SAMPLE_PID_HEX, "found address"},
        {"d4 05 00", "found extension"},
    };
    double f = 0;
    int d;

    (void)state;
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        ax_msg *m = msg_from_hex(kinds[k].hex);

        assert_int_equal(ax_msg_unpack(m, "d", &d), AX_EPROTO);
        assert_detail_has(kinds[k].name);
        if (strcmp(kinds[k].name, "found float") != 0) {
            assert_int_equal(ax_msg_unpack(m, "f", &f), AX_EPROTO);
            assert_detail_has(kinds[k].name);
        }
        ax_msg_free(m);
    }
}

static void
test_msg_unpack_array_too_short_or_too_long_is_eproto(void **state)
{
    ax_msg *m = msg_from_hex("92 01 02");
    int a = 0, b = 0, c = 0;

    (void)state;
    assert_int_equal(ax_msg_unpack(m, "[d d d]", &a, &b, &c), AX_EPROTO);
    assert_detail_has("fewer elements");
    assert_int_equal(ax_msg_unpack(m, "[d]", &a), AX_EPROTO);
    assert_detail_has("more elements");
    assert_int_equal(ax_msg_unpack(m, "[]"), AX_EPROTO);
    assert_int_equal(a, 0);
    ax_msg_free(m);
}

static void
test_msg_unpack_missing_map_key_names_the_key(void **state)
{
    ax_msg *m = msg_from_hex("82 a1 61 01 a1 62 02");
    int a = 0, c = 0;

    (void)state;
    assert_int_equal(ax_msg_unpack(m, "{s:d s:d}", "a", &a, "colour", &c),
                     AX_EPROTO);
    assert_detail_has("missing key \"colour\"");
    assert_int_equal(a, 0);
    /* A key is matched whole, not by prefix. */
    assert_int_equal(ax_msg_unpack(m, "{s:d}", "aa", &a), AX_EPROTO);
    assert_int_equal(ax_msg_unpack(m, "{s:d}", "", &a), AX_EPROTO);
    ax_msg_free(m);
}

static void
test_msg_unpack_out_of_range_integers_are_erange(void **state)
{
    ax_msg *m;
    int d = 0;
    int64_t i = 0;
    uint64_t u = 0;

    (void)state;
    assert_int_equal(ax_msg_pack(&m, "[i i i u]", (int64_t)-1,
                                 (int64_t)INT_MAX + 1, (int64_t)INT_MIN - 1,
                                 (uint64_t)INT64_MAX + 1),
                     0);
    assert_int_equal(ax_msg_unpack(m, "[u *]", &u), AX_ERANGE);
    assert_detail_has("$[0]");
    assert_int_equal(ax_msg_unpack(m, "[_ d *]", &d), AX_ERANGE);
    assert_detail_has("$[1]");
    assert_int_equal(ax_msg_unpack(m, "[_ _ d *]", &d), AX_ERANGE);
    assert_int_equal(ax_msg_unpack(m, "[_ _ _ i]", &i), AX_ERANGE);
    assert_detail_has("$[3]");
    assert_int_equal(d, 0);
    assert_true(i == 0 && u == 0);
    /* The same values fit wider types. */
    assert_int_equal(ax_msg_unpack(m, "[i i i u]", &i, &i, &i, &u), 0);
    assert_true(u == (uint64_t)INT64_MAX + 1);
    ax_msg_free(m);

    assert_int_equal(ax_msg_pack(&m, "[d d]", INT_MAX, INT_MIN), 0);
    assert_int_equal(ax_msg_unpack(m, "[d i]", &d, &i), 0);
    assert_int_equal(d, INT_MAX);
    assert_true(i == INT_MIN);
    ax_msg_free(m);
}

static void
test_msg_failed_unpack_stores_nothing(void **state)
{
    ax_msg *m;
    int d = -99;
    const char *s = SENTINEL_PTR;
    size_t len = 77;
    int64_t i = -99;
    uint64_t u = 99;
    bool b = false;

    (void)state;
    assert_int_equal(ax_msg_pack(&m, "[d s b d]", 7, "s", 1, 3), 0);
    /* Everything matches but the last element. */
    assert_int_equal(ax_msg_unpack(m, "[d s b s]", &d, &s, &len, &b, &s, &len),
                     AX_EPROTO);
    assert_int_equal(ax_msg_unpack(m, "[i s b *] _", &i, &s, &len, &b),
                     AX_EINVAL);
    assert_int_equal(ax_msg_unpack(m, "[d s b d d]", &d, &s, &len, &b, &d, &d),
                     AX_EPROTO);
    ax_msg_free(m);

    assert_int_equal(ax_msg_pack(&m, "{s:d s:i}", "a", 1, "b", (int64_t)-1), 0);
    assert_int_equal(ax_msg_unpack(m, "{s:i s:u}", "a", &i, "b", &u),
                     AX_ERANGE);
    assert_int_equal(ax_msg_unpack(m, "{s:d s:d}", "a", &d, "c", &d),
                     AX_EPROTO);
    ax_msg_free(m);

    assert_int_equal(d, -99);
    assert_ptr_equal(s, SENTINEL_PTR);
    assert_int_equal(len, 77);
    assert_false(b);
    assert_true(i == -99);
    assert_true(u == 99);
}

static void
test_msg_deep_mismatch_path_is_shortened(void **state)
{
    /* 20 nested arrays around nil; the format asks for an int. */
    char fmt[64] = "";
    ax_msg *m;
    int rc;
    int d;

    (void)state;
    for (int k = 0; k < 20; k++) {
        strcat(fmt, "[");
    }
    strcat(fmt, "d");
    for (int k = 0; k < 20; k++) {
        strcat(fmt, "]");
    }
    m = nested_arrays(20, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(ax_msg_unpack(m, fmt, &d), AX_EPROTO);
    assert_detail_has("$[0][0][0]");
    assert_detail_has("...");
    assert_detail_has("expected integer");
    ax_msg_free(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_unpack_wrong_type_names_the_path),
        cmocka_unit_test(
            test_msg_unpack_detail_keeps_the_reason_for_a_long_format),
        cmocka_unit_test(test_msg_unpack_names_the_found_type_of_every_kind),
        cmocka_unit_test(test_msg_unpack_array_too_short_or_too_long_is_eproto),
        cmocka_unit_test(test_msg_unpack_missing_map_key_names_the_key),
        cmocka_unit_test(test_msg_unpack_out_of_range_integers_are_erange),
        cmocka_unit_test(test_msg_failed_unpack_stores_nothing),
        cmocka_unit_test(test_msg_deep_mismatch_path_is_shortened),
    };

    return cmocka_run_group_tests(tests, t_setup, t_teardown);
}
