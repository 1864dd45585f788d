/*
 * tests/serialize/msg_writer_test.c - ax_msg_writer: raw msgpack through
 * its packer mixed with formats, a message that is not exactly one value
 * fails at finish, the first error is the one reported, an unfinished
 * writer frees all it holds, and max_size bounds what it writes.
 *
 * The test that changes the limits restores the defaults before it ends.
 */
#include "support/testutil.h"

#include <string.h>

#include <axon/error.h>
#include <axon/msg.h>

#include "msg_util.h"

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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_writer_mixes_the_packer_and_formats),
        cmocka_unit_test(test_msg_writer_with_missing_elements_fails_at_finish),
        cmocka_unit_test(test_msg_writer_remembers_the_first_error),
        cmocka_unit_test(
            test_msg_writer_free_of_an_unfinished_writer_leaks_nothing),
        cmocka_unit_test(test_msg_writer_output_is_limited_by_max_size),
    };

    return cmocka_run_group_tests(tests, t_setup, t_teardown);
}
