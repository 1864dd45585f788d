/*
 * tests/serialize/msg_test.c - ax_msg: format strings both ways, the
 * smallest encodings, mismatches, malformed formats, limits and hostile
 * bytes, the writer, the object tree, and allocation failures.
 *
 * Every test that changes the limits restores the defaults before it ends.
 */
#include "support/testutil.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <axon/error.h>
#include <axon/msg.h>

#include "base/alloc.h"
#include "serialize/msg_internal.h"

/* Outputs of failed calls must keep this value: nothing may be stored. */
static max_align_t sentinel_storage;
#define SENTINEL_MSG ((ax_msg *)(void *)&sentinel_storage)
#define SENTINEL_PTR ((const void *)&sentinel_storage)

static const ax_pid sample_pid = {0x0102030405060708u, 0x1112131415161718u};
#define SAMPLE_PID_HEX "d8 01 01 02 03 04 05 06 07 08 11 12 13 14 15 16 17 18"

/* Decode hex such as "cc 80" or "cc-80" into out; returns the length. */
static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    unsigned byte;

    while (*hex != '\0') {
        if (*hex == ' ' || *hex == '-') {
            hex++;
            continue;
        }
        assert_true(n < cap);
        assert_int_equal(sscanf(hex, "%2x", &byte), 1);
        out[n++] = (uint8_t)byte;
        hex += 2;
    }
    return n;
}

/* ax_msg_from_bytes on hex bytes. */
static int
from_hex(ax_msg **out, const char *hex)
{
    uint8_t buf[512];
    size_t n = unhex(hex, buf, sizeof(buf));

    return ax_msg_from_bytes(out, buf, n);
}

/* A message made from hex bytes, which must be accepted. */
static ax_msg *
msg_from_hex(const char *hex)
{
    ax_msg *m = NULL;

    assert_int_equal(from_hex(&m, hex), 0);
    return m;
}

/* The result of ax_msg_from_bytes on hex (the message, if any, is freed). */
static int
from_hex_rc(const char *hex)
{
    ax_msg *m = SENTINEL_MSG;
    int rc = from_hex(&m, hex);

    if (rc == 0) {
        ax_msg_free(m);
    } else {
        assert_ptr_equal(m, SENTINEL_MSG);
    }
    return rc;
}

static void
assert_msg_bytes(const ax_msg *m, const char *hex)
{
    uint8_t want[512];
    size_t n = unhex(hex, want, sizeof(want));
    size_t len = 0;
    const void *data = ax_msg_data(m, &len);

    assert_int_equal(len, n);
    assert_memory_equal(data, want, n);
}

/* The message starts with the bytes of hex and is len bytes long. */
static void
assert_msg_prefix(const ax_msg *m, const char *hex, size_t len)
{
    uint8_t want[32];
    size_t n = unhex(hex, want, sizeof(want));

    assert_int_equal(ax_msg_size(m), len);
    assert_memory_equal(ax_msg_data(m, NULL), want, n);
}

static void
assert_detail_has(const char *needle)
{
    if (strstr(ax_error_detail(), needle) == NULL) {
        fail_msg("error detail \"%s\" does not mention \"%s\"",
                 ax_error_detail(), needle);
    }
}

/* p[0..len) lies inside the encoded bytes of m (no copy was made). */
static void
assert_points_into(const ax_msg *m, const void *p, size_t len)
{
    size_t size;
    const uint8_t *data = ax_msg_data(m, &size);
    const uint8_t *q = p;

    assert_true(q >= data && q + len <= data + size);
}

static void
set_limits(size_t max_size, unsigned max_depth, size_t max_elements)
{
    ax_msg_limits lim = {max_size, max_depth, max_elements};

    assert_int_equal(ax_msg_limits_set(&lim), 0);
}

static void
restore_default_limits(void)
{
    set_limits(0, 0, 0);
}

/* "[" + n copies of code + "]" (or braces), for containers of any size. */
static char *
repeat_format(char open, char code, size_t n, char close)
{
    char *f = malloc(n + 3);

    assert_non_null(f);
    f[0] = open;
    memset(f + 1, code, n);
    f[n + 1] = close;
    f[n + 2] = '\0';
    return f;
}

/* n nested arrays around nil: 91 91 ... c0 (depth n). */
static ax_msg *
nested_arrays(size_t n, int *rc)
{
    uint8_t *buf = malloc(n + 1);
    ax_msg *m = NULL;

    assert_non_null(buf);
    memset(buf, 0x91, n);
    buf[n] = 0xc0;
    *rc = ax_msg_from_bytes(&m, buf, n + 1);
    free(buf);
    return m;
}

/* --- 1. round trips ---------------------------------------------------- */

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

/* --- 2. mismatches ----------------------------------------------------- */

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

/* --- 3. malformed formats ---------------------------------------------- */

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

/* --- 4. limits and hostile bytes --------------------------------------- */

static void
test_msg_hostile_counts_are_rejected_without_allocating(void **state)
{
    static const char *const hostile[] = {
        "df ff ff ff ff ff ff 0a", /* map of 4G pairs */
        "dd ff ff ff ff",          /* array of 4G elements */
        "dc ff ff",                /* array of 64K elements */
        "c6 ff ff ff ff",          /* binary of 4 GiB */
        "db ff ff ff ff 61",       /* string of 4 GiB */
        "c9 ff ff ff ff 05",       /* extension of 4 GiB */
        "dd 00 00 00 03 01 02",    /* 3 elements, 2 bytes left */
        "92 dc 00 02 01 01",       /* pending values count too */
        "de 00 02 01 02 03",       /* 4 values, 3 bytes left */
    };
    uint64_t start = t_now_ns();

    (void)state;
    for (size_t k = 0; k < sizeof(hostile) / sizeof(hostile[0]); k++) {
        uint8_t bytes[16];
        size_t n = unhex(hostile[k], bytes, sizeof(bytes));
        ax_msg *m = SENTINEL_MSG;
        uint8_t *buf;

        ax__alloc_fail_after(-1);
        assert_int_equal(ax_msg_from_bytes(&m, bytes, n), AX_EPROTO);
        assert_int_equal(ax__alloc_fail_after(-1), 0);
        assert_ptr_equal(m, SENTINEL_MSG);

        /* ax_msg_adopt refuses too and leaves the buffer to the caller. */
        buf = ax__alloc(n);
        assert_non_null(buf);
        memcpy(buf, bytes, n);
        ax__alloc_fail_after(-1);
        assert_int_equal(ax_msg_adopt(&m, buf, n), AX_EPROTO);
        assert_int_equal(ax__alloc_fail_after(-1), 0);
        assert_ptr_equal(m, SENTINEL_MSG);
        ax_free(buf);
    }
    assert_true(t_now_ns() - start < 2000000000u);
}

/* One complete value of every type and width, to cut short. */
static const char *const whole_values[] = {
    "c0",
    "c3",
    "7f",
    "e0",
    "cc 80",
    "cd 01 00",
    "ce 00 01 00 00",
    "cf 00 00 00 01 00 00 00 00",
    "d0 df",
    "d1 ff 7f",
    "d2 ff ff 7f ff",
    "d3 ff ff ff ff 7f ff ff ff",
    "ca 3f c0 00 00",
    "cb 40 04 00 00 00 00 00 00",
    "a3 61 62 63",
    "d9 03 61 62 63",
    "da 00 03 61 62 63",
    "db 00 00 00 03 61 62 63",
    "c4 02 00 ff",
    "c5 00 02 00 ff",
    "c6 00 00 00 02 00 ff",
    "d4 05 10",
    "d5 05 10 11",
    "d6 05 10 11 12 13",
    "d7 05 10 11 12 13 14 15 16 17",
    "d8 05 10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f",
    "c7 02 05 aa bb",
    "c8 00 02 05 aa bb",
    "c9 00 00 00 02 05 aa bb",
    SAMPLE_PID_HEX,
    "92 01 02",
    "dc 00 02 01 02",
    "dd 00 00 00 02 01 02",
    "81 a1 61 01",
    "de 00 01 a1 61 01",
    "df 00 00 00 01 a1 61 01",
    "92 91 a1 61 82 01 02 03 c4 01 ff",
};

static void
test_msg_every_truncated_value_is_rejected(void **state)
{
    size_t n_values = sizeof(whole_values) / sizeof(whole_values[0]);

    (void)state;
    for (size_t k = 0; k < n_values; k++) {
        uint8_t bytes[64];
        size_t n = unhex(whole_values[k], bytes, sizeof(bytes));
        ax_msg *m;

        assert_int_equal(ax_msg_from_bytes(&m, bytes, n), 0);
        ax_msg_free(m);
        for (size_t cut = 1; cut < n; cut++) {
            m = SENTINEL_MSG;
            if (ax_msg_from_bytes(&m, bytes, cut) != AX_EPROTO) {
                fail_msg("%s cut to %zu bytes was accepted", whole_values[k],
                         cut);
            }
            assert_ptr_equal(m, SENTINEL_MSG);
        }
    }
}

static void
test_msg_byte_c1_trailing_bytes_and_empty_input_are_rejected(void **state)
{
    uint8_t none[1] = {0};
    ax_msg *m = SENTINEL_MSG;

    (void)state;
    assert_int_equal(from_hex_rc("c1"), AX_EPROTO);
    assert_detail_has("0xc1");
    assert_int_equal(from_hex_rc("92 01 c1"), AX_EPROTO);
    assert_detail_has("0xc1");
    assert_int_equal(from_hex_rc("01 02"), AX_EPROTO);
    assert_detail_has("trailing bytes");
    assert_int_equal(from_hex_rc("91 01 c0"), AX_EPROTO);
    assert_int_equal(ax_msg_from_bytes(&m, none, 0), AX_EPROTO);
    assert_detail_has("empty");
    assert_ptr_equal(m, SENTINEL_MSG);
}

static void
test_msg_nesting_is_limited_by_max_depth(void **state)
{
    static const unsigned depths[] = {4, AX_MSG_DEFAULT_MAX_DEPTH,
                                      AX_MSG_MAX_DEPTH_LIMIT};
    ax_msg *m;
    int rc;

    (void)state;
    for (size_t k = 0; k < sizeof(depths) / sizeof(depths[0]); k++) {
        const msgpack_object *o;

        set_limits(0, depths[k], 0);
        m = nested_arrays(depths[k], &rc);
        assert_int_equal(rc, 0);
        assert_int_equal(ax_msg_object(m, &o), 0);
        assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
        ax_msg_free(m);
        m = nested_arrays(depths[k] + 1, &rc);
        assert_int_equal(rc, AX_EPROTO);
        assert_null(m);
        assert_detail_has("max_depth");
    }
    /* Empty containers count as a level too. */
    set_limits(0, 2, 0);
    assert_int_equal(from_hex_rc("91 90"), 0);
    assert_int_equal(from_hex_rc("91 91 90"), AX_EPROTO);
    assert_int_equal(from_hex_rc("81 01 81 01 80"), AX_EPROTO);
    assert_int_equal(from_hex_rc("92 91 01 91 01"), 0);
    restore_default_limits();
}

static void
test_msg_element_count_is_limited_by_max_elements(void **state)
{
    (void)state;
    set_limits(0, 0, 3);
    assert_int_equal(from_hex_rc("93 01 02 03"), 0);
    assert_int_equal(from_hex_rc("94 01 02 03 04"), AX_EPROTO);
    assert_detail_has("max_elements");
    assert_int_equal(from_hex_rc("92 91 01 01"), 0);
    assert_int_equal(from_hex_rc("92 92 01 01 01"), AX_EPROTO);
    /* A map pair is two elements: a key and a value. */
    assert_int_equal(from_hex_rc("81 01 02"), 0);
    assert_int_equal(from_hex_rc("82 01 02 03 04"), AX_EPROTO);
    restore_default_limits();
}

static void
test_msg_bytes_over_max_size_are_emsgsize(void **state)
{
    uint8_t *buf;
    ax_msg *m = SENTINEL_MSG;

    (void)state;
    set_limits(4, 0, 0);
    assert_int_equal(from_hex_rc("93 01 02 03"), 0);
    assert_int_equal(from_hex_rc("94 01 02 03 04"), AX_EMSGSIZE);
    buf = ax__alloc(5);
    assert_non_null(buf);
    memcpy(buf, "\x94\x01\x02\x03\x04", 5);
    assert_int_equal(ax_msg_adopt(&m, buf, 5), AX_EMSGSIZE);
    assert_ptr_equal(m, SENTINEL_MSG);
    ax_free(buf);
    restore_default_limits();
}

static void
test_msg_address_extension_must_be_16_bytes(void **state)
{
    ax_msg *m;
    ax_pid pid = AX_PID_NONE;

    (void)state;
    assert_int_equal(from_hex_rc("d7 01 00 00 00 00 00 00 00 01"), AX_EPROTO);
    assert_detail_has("address");
    assert_int_equal(from_hex_rc("d4 01 00"), AX_EPROTO);
    assert_int_equal(from_hex_rc("c7 00 01"), AX_EPROTO);
    assert_int_equal(from_hex_rc("91 c7 11 01 00 00 00 00 00 00 00 00"
                                 " 00 00 00 00 00 00 00 00 00"),
                     AX_EPROTO);
    /* Other extension types may have any length. */
    assert_int_equal(from_hex_rc("d7 02 00 00 00 00 00 00 00 01"), 0);
    /* 16 bytes of type 1 in an ext 8 is an address as well. */
    m = msg_from_hex("c7 10 01 01 02 03 04 05 06 07 08"
                     " 11 12 13 14 15 16 17 18");
    assert_int_equal(ax_msg_unpack(m, "p", &pid), 0);
    assert_true(ax_pid_equal(pid, sample_pid));
    ax_msg_free(m);
}

static void
test_msg_adopt_takes_the_buffer_only_on_success(void **state)
{
    uint8_t *buf = ax__alloc(3);
    ax_msg *m;
    int a = 0, b = 0;

    (void)state;
    assert_non_null(buf);
    memcpy(buf, "\x92\x01\x02", 3);
    assert_int_equal(ax_msg_adopt(&m, buf, 3), 0);
    assert_ptr_equal(ax_msg_data(m, NULL), buf);
    assert_int_equal(ax_msg_size(m), 3);
    assert_int_equal(ax_msg_unpack(m, "[d d]", &a, &b), 0);
    assert_int_equal(a + b, 3);
    ax_msg_free(m); /* frees buf */

    buf = ax__alloc(3);
    assert_non_null(buf);
    memcpy(buf, "\x92\x01\xc1", 3);
    assert_int_equal(ax_msg_adopt(&m, buf, 3), AX_EPROTO);
    ax_free(buf);
}

static void
test_msg_limits_round_trip_and_zero_fields_mean_default(void **state)
{
    ax_msg_limits got;
    ax_msg_limits want = {1000, 10, 50};

    (void)state;
    ax_msg_limits_get(&got);
    assert_int_equal(got.max_size, AX_MSG_DEFAULT_MAX_SIZE);
    assert_int_equal(got.max_depth, AX_MSG_DEFAULT_MAX_DEPTH);
    assert_int_equal(got.max_elements, AX_MSG_DEFAULT_MAX_ELEMENTS);

    assert_int_equal(ax_msg_limits_set(&want), 0);
    ax_msg_limits_get(&got);
    assert_int_equal(got.max_size, 1000);
    assert_int_equal(got.max_depth, 10);
    assert_int_equal(got.max_elements, 50);

    set_limits(0, 5, 0);
    ax_msg_limits_get(&got);
    assert_int_equal(got.max_size, AX_MSG_DEFAULT_MAX_SIZE);
    assert_int_equal(got.max_depth, 5);
    assert_int_equal(got.max_elements, AX_MSG_DEFAULT_MAX_ELEMENTS);

    set_limits(7, 0, 9);
    ax_msg_limits_get(&got);
    assert_int_equal(got.max_size, 7);
    assert_int_equal(got.max_depth, AX_MSG_DEFAULT_MAX_DEPTH);
    assert_int_equal(got.max_elements, 9);

    /* The largest accepted values. */
    set_limits(((size_t)4 << 30) - 64, AX_MSG_MAX_DEPTH_LIMIT, SIZE_MAX);
    ax_msg_limits_get(&got);
    assert_int_equal(got.max_size, ((size_t)4 << 30) - 64);
    assert_int_equal(got.max_depth, AX_MSG_MAX_DEPTH_LIMIT);
    assert_true(got.max_elements == SIZE_MAX);

    restore_default_limits();
    ax_msg_limits_get(&got);
    assert_int_equal(got.max_size, AX_MSG_DEFAULT_MAX_SIZE);
    assert_int_equal(got.max_depth, AX_MSG_DEFAULT_MAX_DEPTH);
    assert_int_equal(got.max_elements, AX_MSG_DEFAULT_MAX_ELEMENTS);
}

static void
test_msg_invalid_limits_are_einval_and_change_nothing(void **state)
{
    ax_msg_limits deep = {1000, AX_MSG_MAX_DEPTH_LIMIT + 1, 50};
    ax_msg_limits huge = {((size_t)4 << 30) - 63, 10, 50};
    ax_msg_limits got;

    (void)state;
    set_limits(1000, 10, 50);
    assert_int_equal(ax_msg_limits_set(&deep), AX_EINVAL);
    assert_detail_has("max_depth");
    assert_int_equal(ax_msg_limits_set(&huge), AX_EINVAL);
    assert_detail_has("max_size");
    huge.max_size = SIZE_MAX;
    assert_int_equal(ax_msg_limits_set(&huge), AX_EINVAL);
    ax_msg_limits_get(&got);
    assert_int_equal(got.max_size, 1000);
    assert_int_equal(got.max_depth, 10);
    assert_int_equal(got.max_elements, 50);
    restore_default_limits();
}

/* --- 5. the writer ----------------------------------------------------- */

static void
test_msg_writer_mixes_the_packer_and_formats(void **state)
{
    ax_msg_writer *w;
    msgpack_packer *pk;
    ax_msg *m;

    (void)state;
    assert_int_equal(ax_msg_writer_new(&w), 0);
    pk = ax_msg_writer_packer(w);
    assert_non_null(pk);
    assert_int_equal(msgpack_pack_array(pk, 4), 0);
    assert_int_equal(msgpack_pack_str(pk, 3), 0);
    assert_int_equal(msgpack_pack_str_body(pk, "get", 3), 0);
    assert_int_equal(ax_msg_writer_packf(w, "p d", sample_pid, 7), 0);
    assert_int_equal(msgpack_pack_map(pk, 1), 0);
    assert_int_equal(ax_msg_writer_packf(w, "s [b n]", "k", 1), 0);
    assert_int_equal(ax_msg_writer_finish(w, &m), 0);
    assert_msg_bytes(m,
                     "94 a3 67 65 74 " SAMPLE_PID_HEX " 07 81 a1 6b 92 c3 c0");
    assert_true(ax_pid_is_none(ax_msg_sender(m)));
    ax_msg_free(m);
}

static void
test_msg_writer_with_missing_elements_fails_at_finish(void **state)
{
    ax_msg_writer *w;
    ax_msg *m = SENTINEL_MSG;

    (void)state;
    assert_int_equal(ax_msg_writer_new(&w), 0);
    assert_int_equal(msgpack_pack_array(ax_msg_writer_packer(w), 3), 0);
    assert_int_equal(ax_msg_writer_packf(w, "d d", 1, 2), 0);
    assert_int_equal(ax_msg_writer_finish(w, &m), AX_EPROTO);
    assert_ptr_equal(m, SENTINEL_MSG);

    /* Nothing written at all, and two values, fail the same way. */
    assert_int_equal(ax_msg_writer_new(&w), 0);
    assert_int_equal(ax_msg_writer_finish(w, &m), AX_EPROTO);
    assert_int_equal(ax_msg_writer_new(&w), 0);
    assert_int_equal(ax_msg_writer_packf(w, "d d", 1, 2), 0);
    assert_int_equal(ax_msg_writer_finish(w, &m), AX_EPROTO);
    assert_ptr_equal(m, SENTINEL_MSG);
}

static void
test_msg_writer_remembers_the_first_error(void **state)
{
    ax_msg_writer *w;
    ax_msg *m = SENTINEL_MSG;

    (void)state;
    assert_int_equal(ax_msg_writer_new(&w), 0);
    assert_int_equal(msgpack_pack_array(ax_msg_writer_packer(w), 2), 0);
    assert_int_equal(ax_msg_writer_packf(w, "[d", 1), AX_EINVAL);
    assert_int_equal(ax_msg_writer_packf(w, "d d", 1, 2), AX_EINVAL);
    assert_int_equal(ax_msg_writer_finish(w, &m), AX_EINVAL);
    assert_ptr_equal(m, SENTINEL_MSG);
}

static void
test_msg_writer_free_of_an_unfinished_writer_leaks_nothing(void **state)
{
    char big[1000];
    ax_msg_writer *w;

    (void)state;
    memset(big, 'x', sizeof(big));
    assert_int_equal(ax_msg_writer_new(&w), 0);
    assert_int_equal(msgpack_pack_array(ax_msg_writer_packer(w), 3), 0);
    assert_int_equal(ax_msg_writer_packf(w, "S", big, sizeof(big)), 0);
    ax_msg_writer_free(w);
    ax_msg_writer_free(NULL);
    /* The leak checkers running this test say whether the buffer went. */
    assert_int_equal(ax_msg_writer_new(&w), 0);
    ax_msg_writer_free(w);
}

static void
test_msg_writer_output_is_limited_by_max_size(void **state)
{
    char big[64];
    ax_msg_writer *w;
    ax_msg *m = SENTINEL_MSG;

    (void)state;
    memset(big, 'x', sizeof(big));
    set_limits(16, 0, 0);
    assert_int_equal(ax_msg_writer_new(&w), 0);
    assert_int_equal(msgpack_pack_array(ax_msg_writer_packer(w), 1), 0);
    assert_int_equal(ax_msg_writer_packf(w, "B", big, sizeof(big)),
                     AX_EMSGSIZE);
    assert_int_equal(ax_msg_writer_finish(w, &m), AX_EMSGSIZE);
    assert_ptr_equal(m, SENTINEL_MSG);

    /* Through the packer alone the error is reported by finish. */
    assert_int_equal(ax_msg_writer_new(&w), 0);
    msgpack_pack_bin(ax_msg_writer_packer(w), sizeof(big));
    msgpack_pack_bin_body(ax_msg_writer_packer(w), big, sizeof(big));
    assert_int_equal(ax_msg_writer_finish(w, &m), AX_EMSGSIZE);
    assert_ptr_equal(m, SENTINEL_MSG);
    restore_default_limits();
}

/* --- 6. the object tree, dup, accessors -------------------------------- */

static void
test_msg_object_tree_matches_the_message(void **state)
{
    static const uint8_t bin[2] = {0xde, 0xad};
    const msgpack_object *o, *e;
    ax_msg *m;

    (void)state;
    assert_int_equal(ax_msg_pack(&m, "[n b d d f s B p {s:u} []]", 1, 5, -5,
                                 1.5, "hi", bin, sizeof(bin), sample_pid, "k",
                                 UINT64_MAX),
                     0);
    assert_int_equal(ax_msg_object(m, &o), 0);
    assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(o->via.array.size, 10);
    e = o->via.array.ptr;
    assert_int_equal(e[0].type, MSGPACK_OBJECT_NIL);
    assert_int_equal(e[1].type, MSGPACK_OBJECT_BOOLEAN);
    assert_true(e[1].via.boolean);
    assert_int_equal(e[2].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(e[2].via.u64, 5);
    assert_int_equal(e[3].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    assert_true(e[3].via.i64 == -5);
    assert_int_equal(e[4].type, MSGPACK_OBJECT_FLOAT64);
    assert_true(e[4].via.f64 == 1.5);
    assert_int_equal(e[5].type, MSGPACK_OBJECT_STR);
    assert_int_equal(e[5].via.str.size, 2);
    assert_memory_equal(e[5].via.str.ptr, "hi", 2);
    assert_points_into(m, e[5].via.str.ptr, 2);
    assert_int_equal(e[6].type, MSGPACK_OBJECT_BIN);
    assert_int_equal(e[6].via.bin.size, 2);
    assert_memory_equal(e[6].via.bin.ptr, bin, 2);
    assert_points_into(m, e[6].via.bin.ptr, 2);
    assert_int_equal(e[7].type, MSGPACK_OBJECT_EXT);
    assert_int_equal(e[7].via.ext.type, AX_PID_EXT);
    assert_int_equal(e[7].via.ext.size, 16);
    assert_int_equal(e[8].type, MSGPACK_OBJECT_MAP);
    assert_int_equal(e[8].via.map.size, 1);
    assert_int_equal(e[8].via.map.ptr[0].key.type, MSGPACK_OBJECT_STR);
    assert_memory_equal(e[8].via.map.ptr[0].key.via.str.ptr, "k", 1);
    assert_int_equal(e[8].via.map.ptr[0].val.type,
                     MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_true(e[8].via.map.ptr[0].val.via.u64 == UINT64_MAX);
    assert_int_equal(e[9].type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(e[9].via.array.size, 0);
    ax_msg_free(m);

    m = msg_from_hex("92 ca 3f c0 00 00 d4 05 7a");
    assert_int_equal(ax_msg_object(m, &o), 0);
    assert_int_equal(o->via.array.ptr[0].type, MSGPACK_OBJECT_FLOAT32);
    assert_true(o->via.array.ptr[0].via.f64 == 1.5);
    assert_int_equal(o->via.array.ptr[1].type, MSGPACK_OBJECT_EXT);
    assert_int_equal(o->via.array.ptr[1].via.ext.type, 5);
    assert_int_equal(o->via.array.ptr[1].via.ext.size, 1);
    assert_int_equal(o->via.array.ptr[1].via.ext.ptr[0], 0x7a);
    ax_msg_free(m);
}

static void
test_msg_object_pid_decodes_addresses_and_rejects_other_values(void **state)
{
    const msgpack_object *o;
    ax_pid pid = AX_PID_NONE;
    ax_msg *m;

    (void)state;
    assert_int_equal(ax_msg_pack(&m, "[p s]", sample_pid, "p"), 0);
    assert_int_equal(ax_msg_object(m, &o), 0);
    assert_int_equal(ax_msg_object_pid(&o->via.array.ptr[0], &pid), 0);
    assert_true(ax_pid_equal(pid, sample_pid));
    pid = AX_PID_NONE;
    assert_int_equal(ax_msg_object_pid(&o->via.array.ptr[1], &pid), AX_EPROTO);
    assert_int_equal(ax_msg_object_pid(o, &pid), AX_EPROTO);
    assert_true(ax_pid_is_none(pid));
    ax_msg_free(m);

    /* An extension of another type, even 16 bytes long, is no address. */
    m = msg_from_hex("d8 02 01 02 03 04 05 06 07 08"
                     " 11 12 13 14 15 16 17 18");
    assert_int_equal(ax_msg_object(m, &o), 0);
    assert_int_equal(ax_msg_object_pid(o, &pid), AX_EPROTO);
    assert_true(ax_pid_is_none(pid));
    ax_msg_free(m);
}

static void
test_msg_object_is_built_once_and_cached(void **state)
{
    const msgpack_object *first, *again;
    ax_msg *m = msg_from_hex("92 01 a1 61");

    (void)state;
    assert_int_equal(ax_msg_object(m, &first), 0);
    ax__alloc_fail_after(-1);
    assert_int_equal(ax_msg_object(m, &again), 0);
    assert_int_equal(ax__alloc_fail_after(-1), 0);
    assert_ptr_equal(first, again);
    ax_msg_free(m);
}

static void
test_msg_dup_copies_bytes_and_sender(void **state)
{
    static const ax_pid from = {7, 9};
    const msgpack_object *o;
    ax_msg *m, *copy;

    (void)state;
    assert_int_equal(ax_msg_pack(&m, "[s d]", "tag", 42), 0);
    assert_int_equal(ax_msg_object(m, &o), 0);
    m->from = from; /* what a send does */
    assert_int_equal(ax_msg_dup(&copy, m), 0);
    assert_ptr_not_equal(ax_msg_data(copy, NULL), ax_msg_data(m, NULL));
    assert_int_equal(ax_msg_size(copy), ax_msg_size(m));
    assert_memory_equal(ax_msg_data(copy, NULL), ax_msg_data(m, NULL),
                        ax_msg_size(m));
    assert_true(ax_pid_equal(ax_msg_sender(copy), from));
    ax_msg_free(m);
    /* The copy stands alone once the original is gone. */
    assert_int_equal(ax_msg_object(copy, &o), 0);
    assert_int_equal(o->via.array.ptr[1].via.u64, 42);
    ax_msg_free(copy);
    ax_msg_free(NULL);
}

static void
test_msg_data_and_size_describe_the_encoding(void **state)
{
    ax_msg *m;
    size_t len = 0;
    const uint8_t *data;

    (void)state;
    assert_int_equal(ax_msg_pack(&m, "[d s]", 1, "ab"), 0);
    data = ax_msg_data(m, &len);
    assert_int_equal(len, 5);
    assert_int_equal(ax_msg_size(m), 5);
    assert_memory_equal(data,
                        "\x92\x01\xa2"
                        "ab",
                        5);
    assert_ptr_equal(ax_msg_data(m, NULL), data);
    assert_true(ax_pid_is_none(ax_msg_sender(m)));
    ax_msg_free(m);
}

/* --- 7. allocation failures -------------------------------------------- */

/*
 * A call under fault injection: prepare what it needs, then
 * ax__alloc_fail_after(fail_at), the call, and free everything. Returns the
 * call's result and stores in *allocs how many allocations the call made.
 */
typedef int (*faulty_call)(long fail_at, long *allocs);

/* Fail each allocation of call in turn: every run must be AX_ENOMEM. */
static void
fail_each_allocation(faulty_call call, long min_allocs)
{
    long count = 0;
    long ignored;

    assert_int_equal(call(-1, &count), 0);
    assert_true(count >= min_allocs);
    for (long k = 0; k < count; k++) {
        int rc = call(k, &ignored);

        if (rc != AX_ENOMEM) {
            fail_msg("allocation %ld of %ld failed: %d, expected AX_ENOMEM", k,
                     count, rc);
        }
    }
    ax__alloc_fail_after(-1);
}

static char long_text[600];

static int
pack_call(long fail_at, long *allocs)
{
    ax_msg *m = SENTINEL_MSG;
    int rc;

    ax__alloc_fail_after(fail_at);
    rc = ax_msg_pack(&m, "[s B S p]", long_text, long_text, sizeof(long_text),
                     long_text, (size_t)300, sample_pid);
    *allocs = ax__alloc_fail_after(-1);
    if (rc == 0) {
        assert_int_equal(ax_msg_size(m), 1 + 3 + 599 + 3 + 600 + 3 + 300 + 18);
        ax_msg_free(m);
    } else {
        assert_ptr_equal(m, SENTINEL_MSG);
    }
    return rc;
}

static int
from_bytes_call(long fail_at, long *allocs)
{
    static const uint8_t bytes[] = {0x92, 0x91, 0x01, 0xa1, 0x61};
    ax_msg *m = SENTINEL_MSG;
    int rc;

    ax__alloc_fail_after(fail_at);
    rc = ax_msg_from_bytes(&m, bytes, sizeof(bytes));
    *allocs = ax__alloc_fail_after(-1);
    if (rc == 0) {
        ax_msg_free(m);
    } else {
        assert_ptr_equal(m, SENTINEL_MSG);
    }
    return rc;
}

static int
object_call(long fail_at, long *allocs)
{
    const msgpack_object *o = SENTINEL_PTR;
    ax_msg *m = msg_from_hex("93 91 01 81 a1 61 02 a1 62");
    int rc;

    ax__alloc_fail_after(fail_at);
    rc = ax_msg_object(m, &o);
    *allocs = ax__alloc_fail_after(-1);
    if (rc == 0) {
        assert_int_equal(o->via.array.size, 3);
    } else {
        assert_ptr_equal(o, SENTINEL_PTR);
        /* A later call, with memory, still builds the tree. */
        assert_int_equal(ax_msg_object(m, &o), 0);
        assert_int_equal(o->via.array.size, 3);
    }
    ax_msg_free(m);
    return rc;
}

static int
writer_call(long fail_at, long *allocs)
{
    ax_msg_writer *w;
    ax_msg *m = SENTINEL_MSG;
    int rc;

    ax__alloc_fail_after(fail_at);
    rc = ax_msg_writer_new(&w);
    if (rc == 0) {
        msgpack_packer *pk = ax_msg_writer_packer(w);

        msgpack_pack_array(pk, 3);
        msgpack_pack_bin(pk, sizeof(long_text));
        msgpack_pack_bin_body(pk, long_text, sizeof(long_text));
        ax_msg_writer_packf(w, "s p", long_text, sample_pid);
        rc = ax_msg_writer_finish(w, &m);
    }
    *allocs = ax__alloc_fail_after(-1);
    if (rc == 0) {
        ax_msg_free(m);
    } else {
        assert_ptr_equal(m, SENTINEL_MSG);
    }
    return rc;
}

static int
dup_call(long fail_at, long *allocs)
{
    ax_msg *m = msg_from_hex("92 01 02");
    ax_msg *copy = SENTINEL_MSG;
    int rc;

    ax__alloc_fail_after(fail_at);
    rc = ax_msg_dup(&copy, m);
    *allocs = ax__alloc_fail_after(-1);
    if (rc == 0) {
        ax_msg_free(copy);
    } else {
        assert_ptr_equal(copy, SENTINEL_MSG);
    }
    ax_msg_free(m);
    return rc;
}

static int
adopt_call(long fail_at, long *allocs)
{
    uint8_t *buf = ax__alloc(3);
    ax_msg *m = SENTINEL_MSG;
    int rc;

    assert_non_null(buf);
    memcpy(buf, "\x92\x01\x02", 3);
    ax__alloc_fail_after(fail_at);
    rc = ax_msg_adopt(&m, buf, 3);
    *allocs = ax__alloc_fail_after(-1);
    if (rc == 0) {
        ax_msg_free(m);
    } else {
        assert_ptr_equal(m, SENTINEL_MSG);
        ax_free(buf); /* still ours */
    }
    return rc;
}

static void
test_msg_pack_survives_every_allocation_failure(void **state)
{
    (void)state;
    memset(long_text, 'q', sizeof(long_text) - 1);
    /* One for the message, at least one to grow it. */
    fail_each_allocation(pack_call, 2);
}

static void
test_msg_from_bytes_survives_every_allocation_failure(void **state)
{
    (void)state;
    fail_each_allocation(from_bytes_call, 1);
    /* Past 64 levels the validator needs memory of its own. */
    set_limits(0, 100, 0);
    fail_each_allocation(from_bytes_call, 2);
    restore_default_limits();
}

static void
test_msg_object_survives_every_allocation_failure(void **state)
{
    (void)state;
    fail_each_allocation(object_call, 1);
    set_limits(0, 100, 0);
    fail_each_allocation(object_call, 2);
    restore_default_limits();
}

static void
test_msg_writer_survives_every_allocation_failure(void **state)
{
    (void)state;
    memset(long_text, 'q', sizeof(long_text) - 1);
    /* The writer, its message, and growth of the message. */
    fail_each_allocation(writer_call, 3);
}

static void
test_msg_dup_and_adopt_survive_every_allocation_failure(void **state)
{
    (void)state;
    fail_each_allocation(dup_call, 1);
    fail_each_allocation(adopt_call, 1);
}

/* --- 8. max_size while packing ----------------------------------------- */

static void
test_msg_pack_over_max_size_is_emsgsize_and_leaves_out_untouched(void **state)
{
    char big[4096];
    ax_msg *m = SENTINEL_MSG;

    (void)state;
    memset(big, 'b', sizeof(big));
    set_limits(16, 0, 0);
    /* 2 header bytes + 15: one byte over, well inside the first buffer. */
    assert_int_equal(ax_msg_pack(&m, "B", big, (size_t)15), AX_EMSGSIZE);
    assert_ptr_equal(m, SENTINEL_MSG);
    assert_int_equal(ax_msg_pack(&m, "B", big, sizeof(big)), AX_EMSGSIZE);
    assert_ptr_equal(m, SENTINEL_MSG);
    assert_int_equal(ax_msg_pack(&m, "[B d]", big, (size_t)13, 1), AX_EMSGSIZE);
    assert_ptr_equal(m, SENTINEL_MSG);
    /* Exactly max_size is allowed. */
    assert_int_equal(ax_msg_pack(&m, "B", big, (size_t)14), 0);
    assert_int_equal(ax_msg_size(m), 16);
    ax_msg_free(m);

    set_limits(1000, 0, 0);
    m = SENTINEL_MSG;
    assert_int_equal(ax_msg_pack(&m, "B", big, sizeof(big)), AX_EMSGSIZE);
    assert_ptr_equal(m, SENTINEL_MSG);
    restore_default_limits();
}

static void
test_msg_pack_respects_depth_and_element_limits(void **state)
{
    static const uint8_t deep_raw[] = {0x91, 0x91, 0x90};
    static const uint8_t wide_raw[] = {0x94, 0x01, 0x02, 0x03, 0x04};
    ax_msg *m = SENTINEL_MSG;

    (void)state;
    set_limits(0, 3, 4);
    assert_int_equal(ax_msg_pack(&m, "[[[d]]]", 1), 0);
    ax_msg_free(m);
    m = SENTINEL_MSG;
    assert_int_equal(ax_msg_pack(&m, "[[[[d]]]]", 1), AX_EMSGSIZE);
    assert_int_equal(ax_msg_pack(&m, "[d d d d d]", 1, 2, 3, 4, 5),
                     AX_EMSGSIZE);
    assert_int_equal(ax_msg_pack(&m, "[[d d] [d]]", 1, 2, 3), AX_EMSGSIZE);
    /* Values embedded with 'x' count against the limits too. */
    assert_int_equal(ax_msg_pack(&m, "[x]", deep_raw, sizeof(deep_raw)),
                     AX_EMSGSIZE);
    assert_int_equal(ax_msg_pack(&m, "[x]", wide_raw, sizeof(wide_raw)),
                     AX_EMSGSIZE);
    assert_ptr_equal(m, SENTINEL_MSG);
    assert_int_equal(ax_msg_pack(&m, "x", deep_raw, sizeof(deep_raw)), 0);
    ax_msg_free(m);
    restore_default_limits();
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
        cmocka_unit_test(test_msg_unpack_wrong_type_names_the_path),
        cmocka_unit_test(
            test_msg_unpack_detail_keeps_the_reason_for_a_long_format),
        cmocka_unit_test(test_msg_unpack_names_the_found_type_of_every_kind),
        cmocka_unit_test(test_msg_unpack_array_too_short_or_too_long_is_eproto),
        cmocka_unit_test(test_msg_unpack_missing_map_key_names_the_key),
        cmocka_unit_test(test_msg_unpack_out_of_range_integers_are_erange),
        cmocka_unit_test(test_msg_failed_unpack_stores_nothing),
        cmocka_unit_test(test_msg_deep_mismatch_path_is_shortened),
        cmocka_unit_test(test_msg_pack_rejects_malformed_formats),
        cmocka_unit_test(test_msg_unpack_rejects_malformed_formats),
        cmocka_unit_test(
            test_msg_hostile_counts_are_rejected_without_allocating),
        cmocka_unit_test(test_msg_every_truncated_value_is_rejected),
        cmocka_unit_test(
            test_msg_byte_c1_trailing_bytes_and_empty_input_are_rejected),
        cmocka_unit_test(test_msg_nesting_is_limited_by_max_depth),
        cmocka_unit_test(test_msg_element_count_is_limited_by_max_elements),
        cmocka_unit_test(test_msg_bytes_over_max_size_are_emsgsize),
        cmocka_unit_test(test_msg_address_extension_must_be_16_bytes),
        cmocka_unit_test(test_msg_adopt_takes_the_buffer_only_on_success),
        cmocka_unit_test(
            test_msg_limits_round_trip_and_zero_fields_mean_default),
        cmocka_unit_test(test_msg_invalid_limits_are_einval_and_change_nothing),
        cmocka_unit_test(test_msg_writer_mixes_the_packer_and_formats),
        cmocka_unit_test(test_msg_writer_with_missing_elements_fails_at_finish),
        cmocka_unit_test(test_msg_writer_remembers_the_first_error),
        cmocka_unit_test(
            test_msg_writer_free_of_an_unfinished_writer_leaks_nothing),
        cmocka_unit_test(test_msg_writer_output_is_limited_by_max_size),
        cmocka_unit_test(test_msg_object_tree_matches_the_message),
        cmocka_unit_test(
            test_msg_object_pid_decodes_addresses_and_rejects_other_values),
        cmocka_unit_test(test_msg_object_is_built_once_and_cached),
        cmocka_unit_test(test_msg_dup_copies_bytes_and_sender),
        cmocka_unit_test(test_msg_data_and_size_describe_the_encoding),
        cmocka_unit_test(test_msg_pack_survives_every_allocation_failure),
        cmocka_unit_test(test_msg_from_bytes_survives_every_allocation_failure),
        cmocka_unit_test(test_msg_object_survives_every_allocation_failure),
        cmocka_unit_test(test_msg_writer_survives_every_allocation_failure),
        cmocka_unit_test(
            test_msg_dup_and_adopt_survive_every_allocation_failure),
        cmocka_unit_test(
            test_msg_pack_over_max_size_is_emsgsize_and_leaves_out_untouched),
        cmocka_unit_test(test_msg_pack_respects_depth_and_element_limits),
    };

    return cmocka_run_group_tests(tests, t_setup, t_teardown);
}
