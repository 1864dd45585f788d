/*
 * tests/serialize/msg_format_test.c - ax_msg_pack and ax_msg_unpack with
 * format strings: every code round trips, integers, strings, binaries,
 * arrays and maps take their smallest encoding, and a malformed format is
 * AX_EINVAL for both.
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

/* The message starts with the bytes of hex and is len bytes long. */
static void
assert_msg_prefix(const ax_msg *m, const char *hex, size_t len)
{
    uint8_t want[32];
    size_t n = unhex(hex, want, sizeof(want));

    assert_int_equal(ax_msg_size(m), len);
    assert_memory_equal(ax_msg_data(m, NULL), want, n);
}

/* --- round trips ------------------------------------------------------- */

static void
test_msg_scalar_codes_round_trip(void **state)
{
    ax_msg *m;
    bool yes = false, no = true;
    int d = 0;
    int64_t i = 0;
    uint64_t u = 0;
    double f = 0;

    (void)state;
    assert_int_equal(ax_msg_pack(&m, "[n b b d i u f]", 1, 0, -7,
                                 (int64_t)-5000000000, (uint64_t)5000000000u,
                                 2.5),
                     0);
    assert_msg_bytes(m,
                     "97 c0 c3 c2 f9 d3 ff ff ff fe d5 fa 0e 00"
                     " cf 00 00 00 01 2a 05 f2 00 cb 40 04 00 00 00 00 00 00");
    assert_int_equal(
        ax_msg_unpack(m, "[n b b d i u f]", &yes, &no, &d, &i, &u, &f), 0);
    assert_true(yes);
    assert_false(no);
    assert_int_equal(d, -7);
    assert_true(i == -5000000000);
    assert_true(u == 5000000000u);
    assert_true(f == 2.5);
    ax_msg_free(m);
}

static void
test_msg_strings_and_binaries_round_trip_pointing_into_the_message(void **state)
{
    static const uint8_t bin[3] = {1, 2, 3};
    ax_msg *m;
    const char *s, *S;
    const void *b;
    size_t slen, Slen, blen;

    (void)state;
    assert_int_equal(ax_msg_pack(&m, "[s, S, B]", "hello", "wo\0rld", (size_t)6,
                                 bin, sizeof(bin)),
                     0);
    assert_msg_bytes(m, "93 a5 68 65 6c 6c 6f a6 77 6f 00 72 6c 64"
                        " c4 03 01 02 03");
    assert_int_equal(
        ax_msg_unpack(m, "[s S B]", &s, &slen, &S, &Slen, &b, &blen), 0);
    assert_int_equal(slen, 5);
    assert_memory_equal(s, "hello", 5);
    assert_int_equal(Slen, 6);
    assert_memory_equal(S, "wo\0rld", 6);
    assert_int_equal(blen, 3);
    assert_memory_equal(b, bin, 3);
    assert_points_into(m, s, slen);
    assert_points_into(m, S, Slen);
    assert_points_into(m, b, blen);
    ax_msg_free(m);
}

static void
test_msg_address_round_trips_as_fixext16(void **state)
{
    ax_msg *m;
    ax_pid out = AX_PID_NONE;

    (void)state;
    assert_int_equal(ax_msg_pack(&m, "p", sample_pid), 0);
    assert_msg_bytes(m, SAMPLE_PID_HEX);
    assert_int_equal(ax_msg_unpack(m, "p", &out), 0);
    assert_true(ax_pid_equal(out, sample_pid));
    ax_msg_free(m);
}

static void
test_msg_raw_value_is_embedded_and_returned_encoded(void **state)
{
    static const uint8_t raw[] = {0x92, 0xa1, 0x61, 0xc0};
    ax_msg *m;
    const void *got;
    size_t len;
    int one = 0, three = 0;

    (void)state;
    assert_int_equal(ax_msg_pack(&m, "[d x d]", 1, raw, sizeof(raw), 3), 0);
    assert_msg_bytes(m, "93 01 92 a1 61 c0 03");
    assert_int_equal(ax_msg_unpack(m, "[d x d]", &one, &got, &len, &three), 0);
    assert_int_equal(one, 1);
    assert_int_equal(three, 3);
    assert_int_equal(len, sizeof(raw));
    assert_memory_equal(got, raw, sizeof(raw));
    assert_points_into(m, got, len);
    ax_msg_free(m);
}

static void
test_msg_raw_value_must_be_exactly_one_value(void **state)
{
    static const uint8_t two[] = {0x01, 0x02};
    static const uint8_t cut[] = {0x92, 0x01};
    ax_msg *m = SENTINEL_MSG;

    (void)state;
    assert_int_equal(ax_msg_pack(&m, "[x]", two, sizeof(two)), AX_EPROTO);
    assert_int_equal(ax_msg_pack(&m, "[x]", cut, sizeof(cut)), AX_EPROTO);
    assert_int_equal(ax_msg_pack(&m, "[x]", cut, (size_t)0), AX_EPROTO);
    assert_ptr_equal(m, SENTINEL_MSG);
}

static void
test_msg_underscore_skips_any_value(void **state)
{
    ax_msg *m = msg_from_hex("93 81 a1 61 92 01 02 05 a3 73 74 72");
    int d = 0;

    (void)state;
    assert_int_equal(ax_msg_unpack(m, "[_ d _]", &d), 0);
    assert_int_equal(d, 5);
    assert_int_equal(ax_msg_unpack(m, "_"), 0);
    ax_msg_free(m);
}

static void
test_msg_nested_arrays_and_maps_round_trip(void **state)
{
    ax_msg *m;
    int one = 0, deep = 0;
    const char *v;
    size_t vlen;

    (void)state;
    assert_int_equal(
        ax_msg_pack(&m, "{s:[d,{s:s}], s:[]}", "name", 1, "k", "v", "e"), 0);
    assert_msg_bytes(m, "82 a4 6e 61 6d 65 92 01 81 a1 6b a1 76 a1 65 90");
    assert_int_equal(ax_msg_unpack(m, "{s:[d {s:s}], s:[]}", "name", &one, "k",
                                   &v, &vlen, "e"),
                     0);
    assert_int_equal(one, 1);
    assert_int_equal(vlen, 1);
    assert_memory_equal(v, "v", 1);
    ax_msg_free(m);

    assert_int_equal(ax_msg_pack(&m, "[[[[d]]] {}]", 9), 0);
    assert_msg_bytes(m, "92 91 91 91 09 80");
    assert_int_equal(ax_msg_unpack(m, "[[[[d]]] {}]", &deep), 0);
    assert_int_equal(deep, 9);
    ax_msg_free(m);
}

static void
test_msg_star_ignores_the_rest_of_an_array(void **state)
{
    ax_msg *m = msg_from_hex("94 01 a1 61 92 02 03 c0");
    int first = 0;
    const char *s;
    size_t len;

    (void)state;
    assert_int_equal(ax_msg_unpack(m, "[d *]", &first), 0);
    assert_int_equal(first, 1);
    assert_int_equal(ax_msg_unpack(m, "[*]"), 0);
    assert_int_equal(
        ax_msg_unpack(m, "[d s [d *] n *]", &first, &s, &len, &first), 0);
    assert_int_equal(first, 2);
    assert_int_equal(ax_msg_unpack(m, "[d s _ n _ *]", &first, &s, &len),
                     AX_EPROTO);
    assert_detail_has("fewer elements");
    ax_msg_free(m);
}

static void
test_msg_null_outputs_are_type_checked_but_not_stored(void **state)
{
    static const uint8_t raw[] = {0xc0};
    ax_msg *m;
    size_t slen = 0;

    (void)state;
    assert_int_equal(ax_msg_pack(&m, "[b d i u f s B p x]", 1, 2, (int64_t)3,
                                 (uint64_t)4, 5.0, "six", "7", (size_t)1,
                                 sample_pid, raw, sizeof(raw)),
                     0);
    assert_int_equal(ax_msg_unpack(m, "[b d i u f s B p x]", NULL, NULL, NULL,
                                   NULL, NULL, NULL, &slen, NULL, NULL, NULL,
                                   NULL, NULL),
                     0);
    assert_int_equal(slen, 3);
    /* The same NULLs where the type does not match still fail. */
    assert_int_equal(ax_msg_unpack(m, "[b d i u f B *]", NULL, NULL, NULL, NULL,
                                   NULL, NULL, NULL),
                     AX_EPROTO);
    assert_detail_has("$[5]");
    ax_msg_free(m);
}

static void
test_msg_64_bit_extremes_round_trip(void **state)
{
    ax_msg *m;
    int64_t lo = 0, hi = 0;
    uint64_t top = 0, zero = 1;

    (void)state;
    assert_int_equal(ax_msg_pack(&m, "[i i u u]", INT64_MIN, INT64_MAX,
                                 UINT64_MAX, (uint64_t)0),
                     0);
    assert_msg_bytes(m, "94 d3 80 00 00 00 00 00 00 00"
                        " cf 7f ff ff ff ff ff ff ff"
                        " cf ff ff ff ff ff ff ff ff 00");
    assert_int_equal(ax_msg_unpack(m, "[i i u u]", &lo, &hi, &top, &zero), 0);
    assert_true(lo == INT64_MIN);
    assert_true(hi == INT64_MAX);
    assert_true(top == UINT64_MAX);
    assert_true(zero == 0);
    ax_msg_free(m);
}

/* Every boundary of every msgpack integer width, as 'i' (and 'd', 'u'). */
static const struct {
    int64_t v;
    const char *hex;
} int_encodings[] = {
    {0, "00"},
    {1, "01"},
    {127, "7f"},
    {128, "cc 80"},
    {255, "cc ff"},
    {256, "cd 01 00"},
    {65535, "cd ff ff"},
    {65536, "ce 00 01 00 00"},
    {4294967295, "ce ff ff ff ff"},
    {4294967296, "cf 00 00 00 01 00 00 00 00"},
    {INT64_MAX, "cf 7f ff ff ff ff ff ff ff"},
    {-1, "ff"},
    {-32, "e0"},
    {-33, "d0 df"},
    {-128, "d0 80"},
    {-129, "d1 ff 7f"},
    {-32768, "d1 80 00"},
    {-32769, "d2 ff ff 7f ff"},
    {INT32_MIN, "d2 80 00 00 00"},
    {(int64_t)INT32_MIN - 1, "d3 ff ff ff ff 7f ff ff ff"},
    {INT64_MIN, "d3 80 00 00 00 00 00 00 00"},
};

static void
test_msg_integers_use_the_smallest_encoding(void **state)
{
    size_t n = sizeof(int_encodings) / sizeof(int_encodings[0]);
    ax_msg *m;
    int64_t back;

    (void)state;
    for (size_t k = 0; k < n; k++) {
        int64_t v = int_encodings[k].v;

        assert_int_equal(ax_msg_pack(&m, "i", v), 0);
        assert_msg_bytes(m, int_encodings[k].hex);
        assert_int_equal(ax_msg_unpack(m, "i", &back), 0);
        assert_true(back == v);
        ax_msg_free(m);
        if (v >= INT_MIN && v <= INT_MAX) {
            int dv = 0;

            assert_int_equal(ax_msg_pack(&m, "d", (int)v), 0);
            assert_msg_bytes(m, int_encodings[k].hex);
            assert_int_equal(ax_msg_unpack(m, "d", &dv), 0);
            assert_int_equal(dv, v);
            ax_msg_free(m);
        }
        if (v >= 0) {
            assert_int_equal(ax_msg_pack(&m, "u", (uint64_t)v), 0);
            assert_msg_bytes(m, int_encodings[k].hex);
            ax_msg_free(m);
        }
    }
}

static void
test_msg_empty_string_and_binary_round_trip(void **state)
{
    ax_msg *m;
    const char *s = NULL, *S = NULL;
    const void *b = NULL;
    size_t slen = 1, Slen = 1, blen = 1;

    (void)state;
    /* A NULL pointer with length 0 is an empty value, not an error. */
    assert_int_equal(ax_msg_pack(&m, "[s S B]", "", (const char *)NULL,
                                 (size_t)0, (const void *)NULL, (size_t)0),
                     0);
    assert_msg_bytes(m, "93 a0 a0 c4 00");
    assert_int_equal(
        ax_msg_unpack(m, "[s S B]", &s, &slen, &S, &Slen, &b, &blen), 0);
    assert_int_equal(slen, 0);
    assert_int_equal(Slen, 0);
    assert_int_equal(blen, 0);
    assert_non_null(s);
    assert_non_null(b);
    ax_msg_free(m);
}

static void
test_msg_null_pointer_with_a_length_is_einval(void **state)
{
    ax_msg *m = SENTINEL_MSG;

    (void)state;
    assert_int_equal(ax_msg_pack(&m, "s", (const char *)NULL), AX_EINVAL);
    assert_int_equal(ax_msg_pack(&m, "B", (const void *)NULL, (size_t)1),
                     AX_EINVAL);
    assert_ptr_equal(m, SENTINEL_MSG);
}

static void
test_msg_string_and_binary_headers_switch_at_their_boundaries(void **state)
{
    static const struct {
        size_t len;
        const char *str_hdr;
        const char *bin_hdr;
    } sizes[] = {
        {31, "bf", "c4 1f"},
        {32, "d9 20", "c4 20"},
        {255, "d9 ff", "c4 ff"},
        {256, "da 01 00", "c5 01 00"},
        {65535, "da ff ff", "c5 ff ff"},
        {65536, "db 00 01 00 00", "c6 00 01 00 00"},
    };
    char *buf = malloc(65536);

    (void)state;
    assert_non_null(buf);
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k].len;
        size_t hdr = (strlen(sizes[k].str_hdr) + 1) / 3;
        const char *s;
        const void *b;
        size_t got;
        ax_msg *m;

        memset(buf, 'a' + (int)k, n);
        assert_int_equal(ax_msg_pack(&m, "S", buf, n), 0);
        assert_msg_prefix(m, sizes[k].str_hdr, hdr + n);
        assert_int_equal(ax_msg_unpack(m, "S", &s, &got), 0);
        assert_int_equal(got, n);
        assert_memory_equal(s, buf, n);
        ax_msg_free(m);

        hdr = (strlen(sizes[k].bin_hdr) + 1) / 3;
        assert_int_equal(ax_msg_pack(&m, "B", buf, n), 0);
        assert_msg_prefix(m, sizes[k].bin_hdr, hdr + n);
        assert_int_equal(ax_msg_unpack(m, "B", &b, &got), 0);
        assert_int_equal(got, n);
        assert_memory_equal(b, buf, n);
        ax_msg_free(m);
    }
    free(buf);
}

static void
test_msg_array_and_map_headers_switch_at_their_boundaries(void **state)
{
    static const struct {
        size_t items;
        char open, close;
        const char *hdr;
    } sizes[] = {
        {15, '[', ']', "9f"},           {16, '[', ']', "dc 00 10"},
        {65535, '[', ']', "dc ff ff"},  {65536, '[', ']', "dd 00 01 00 00"},
        {30, '{', '}', "8f"},           {32, '{', '}', "de 00 10"},
        {131070, '{', '}', "de ff ff"}, {131072, '{', '}', "df 00 01 00 00"},
    };

    (void)state;
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        char *fmt =
            repeat_format(sizes[k].open, 'n', sizes[k].items, sizes[k].close);
        size_t hdr = (strlen(sizes[k].hdr) + 1) / 3;
        const msgpack_object *o;
        ax_msg *m;

        assert_int_equal(ax_msg_pack(&m, fmt), 0);
        assert_msg_prefix(m, sizes[k].hdr, hdr + sizes[k].items);
        assert_int_equal(ax_msg_object(m, &o), 0);
        if (sizes[k].open == '[') {
            assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
            assert_int_equal(o->via.array.size, sizes[k].items);
        } else {
            assert_int_equal(o->type, MSGPACK_OBJECT_MAP);
            assert_int_equal(o->via.map.size, sizes[k].items / 2);
        }
        ax_msg_free(m);
        free(fmt);
    }
}

static void
test_msg_float_code_accepts_integers_and_float32(void **state)
{
    ax_msg *m = msg_from_hex("94 01 d0 fe cb 40 04 00 00 00 00 00 00"
                             " ca 3f c0 00 00");
    double a = 0, b = 0, c = 0, d = 0;

    (void)state;
    assert_int_equal(ax_msg_unpack(m, "[f f f f]", &a, &b, &c, &d), 0);
    assert_true(a == 1.0);
    assert_true(b == -2.0);
    assert_true(c == 2.5);
    assert_true(d == 1.5);
    ax_msg_free(m);
}

static void
test_msg_map_lookup_ignores_key_order_and_extra_keys(void **state)
{
    /* {"z": 1, "extra": [1, 2], "a": "x", "m": {"k": true}} */
    ax_msg *m = msg_from_hex("84 a1 7a 01 a5 65 78 74 72 61 92 01 02"
                             " a1 61 a1 78 a1 6d 81 a1 6b c3");
    const char *a;
    size_t alen;
    int z = 0;
    bool k = false;

    (void)state;
    assert_int_equal(ax_msg_unpack(m, "{s:{s:b}, s:s, s:d}", "m", "k", &k, "a",
                                   &a, &alen, "z", &z),
                     0);
    assert_true(k);
    assert_int_equal(alen, 1);
    assert_memory_equal(a, "x", 1);
    assert_int_equal(z, 1);
    assert_int_equal(ax_msg_unpack(m, "{}"), 0);
    ax_msg_free(m);
}

/* --- malformed formats ------------------------------------------------- */

static void
test_msg_pack_rejects_malformed_formats(void **state)
{
    static const char *const bad[] = {
        "",  "  ",    "[d",  "d]",    "[d}", "{d]",   "[[d]", "{d}",  "{d d d}",
        "q", "[d q]", "d d", "[d] d", "*",   "[d *]", "_",    "{s:d",
    };
    ax_msg *m = SENTINEL_MSG;

    (void)state;
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        int rc = ax_msg_pack(&m, bad[k], 1, 2, 3);

        if (rc != AX_EINVAL) {
            fail_msg("format \"%s\": %d, expected AX_EINVAL", bad[k], rc);
        }
        assert_ptr_equal(m, SENTINEL_MSG);
    }
    assert_int_equal(ax_msg_pack(&m, "{d}", 1), AX_EINVAL);
    assert_detail_has("odd number");
    assert_int_equal(ax_msg_pack(&m, "[d] d", 1, 2), AX_EINVAL);
    assert_detail_has("more than one top-level value");
    assert_int_equal(ax_msg_pack(&m, "[d q]", 1), AX_EINVAL);
    assert_detail_has("offset 3");
}

static void
test_msg_unpack_rejects_malformed_formats(void **state)
{
    /* Each is malformed whatever the message holds. */
    static const char *const bad[] = {
        "",
        " ",
        "[d",
        "[d]]",
        "d]",
        "[q]",
        "[d q]",
        "[d d d q]",
        "[* d]",
        "[d * d]",
        "*",
        "[d] d",
        "{d:d}",
        "{s:d",
        "{s}",
        "{s:d s:q}",
        "[d, {s:d}, q]",
        "[d, [q]]",
    };
    ax_msg *m = msg_from_hex("92 01 81 a1 61 02");
    int a = -1, b = -1;

    (void)state;
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        int rc = ax_msg_unpack(m, bad[k], &a, "a", &b, &b, &b);

        if (rc != AX_EINVAL) {
            fail_msg("format \"%s\": %d, expected AX_EINVAL", bad[k], rc);
        }
    }
    assert_int_equal(a, -1);
    assert_int_equal(b, -1);
    assert_int_equal(ax_msg_unpack(m, "[d * d]", &a, &b), AX_EINVAL);
    assert_detail_has("'*' must end an array");
    ax_msg_free(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_scalar_codes_round_trip),
        cmocka_unit_test(
            test_msg_strings_and_binaries_round_trip_pointing_into_the_message),
        cmocka_unit_test(test_msg_address_round_trips_as_fixext16),
        cmocka_unit_test(test_msg_raw_value_is_embedded_and_returned_encoded),
        cmocka_unit_test(test_msg_raw_value_must_be_exactly_one_value),
        cmocka_unit_test(test_msg_underscore_skips_any_value),
        cmocka_unit_test(test_msg_nested_arrays_and_maps_round_trip),
        cmocka_unit_test(test_msg_star_ignores_the_rest_of_an_array),
        cmocka_unit_test(test_msg_null_outputs_are_type_checked_but_not_stored),
        cmocka_unit_test(test_msg_64_bit_extremes_round_trip),
        cmocka_unit_test(test_msg_integers_use_the_smallest_encoding),
        cmocka_unit_test(test_msg_empty_string_and_binary_round_trip),
        cmocka_unit_test(test_msg_null_pointer_with_a_length_is_einval),
        cmocka_unit_test(
            test_msg_string_and_binary_headers_switch_at_their_boundaries),
        cmocka_unit_test(
            test_msg_array_and_map_headers_switch_at_their_boundaries),
        cmocka_unit_test(test_msg_float_code_accepts_integers_and_float32),
        cmocka_unit_test(test_msg_map_lookup_ignores_key_order_and_extra_keys),
        cmocka_unit_test(test_msg_pack_rejects_malformed_formats),
        cmocka_unit_test(test_msg_unpack_rejects_malformed_formats),
    };

    return cmocka_run_group_tests(tests, t_setup, t_teardown);
}
