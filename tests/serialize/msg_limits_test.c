/*
 * tests/serialize/msg_limits_test.c - ax_msg_limits: max_depth,
 * max_elements and max_size enforced on bytes received and on messages
 * packed; ax_msg_limits_get and _set (a zero field means the default, an
 * invalid limit is AX_EINVAL and changes nothing).
 *
 * Every test that changes the limits restores the defaults before it ends.
 */
#include "support/testutil.h"

#include <stdint.h>
#include <string.h>

#include <axon/error.h>
#include <axon/msg.h>

#include "base/alloc.h"
#include "msg_util.h"

/* --- limits on bytes received ------------------------------------------ */

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

/* --- getting and setting the limits ------------------------------------ */

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

/* --- limits while packing ---------------------------------------------- */

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
        cmocka_unit_test(test_msg_nesting_is_limited_by_max_depth),
        cmocka_unit_test(test_msg_element_count_is_limited_by_max_elements),
        cmocka_unit_test(test_msg_bytes_over_max_size_are_emsgsize),
        cmocka_unit_test(
            test_msg_limits_round_trip_and_zero_fields_mean_default),
        cmocka_unit_test(test_msg_invalid_limits_are_einval_and_change_nothing),
        cmocka_unit_test(
            test_msg_pack_over_max_size_is_emsgsize_and_leaves_out_untouched),
        cmocka_unit_test(test_msg_pack_respects_depth_and_element_limits),
    };

    return cmocka_run_group_tests(tests, t_setup, t_teardown);
}
