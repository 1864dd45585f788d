/*
 * tests/serialize/msg_from_bytes_test.c - ax_msg_from_bytes and
 * ax_msg_adopt on a peer's bytes: hostile counts (refused without
 * allocating), every truncated value, byte 0xc1, trailing bytes and empty
 * input are AX_EPROTO; an address is exactly 16 bytes; ax_msg_adopt takes
 * the buffer only on success.
 */
#include "support/testutil.h"

#include <stdint.h>
#include <string.h>

#include <axon/error.h>
#include <axon/msg.h>

#include "base/alloc.h"
#include "msg_util.h"

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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_msg_hostile_counts_are_rejected_without_allocating),
        cmocka_unit_test(test_msg_every_truncated_value_is_rejected),
        cmocka_unit_test(
            test_msg_byte_c1_trailing_bytes_and_empty_input_are_rejected),
        cmocka_unit_test(test_msg_address_extension_must_be_16_bytes),
        cmocka_unit_test(test_msg_adopt_takes_the_buffer_only_on_success),
    };

    return cmocka_run_group_tests(tests, t_setup, t_teardown);
}
