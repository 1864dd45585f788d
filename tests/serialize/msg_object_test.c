/*
 * tests/serialize/msg_object_test.c - a message read without a format:
 * the msgpack object tree of ax_msg_object (built once, pointing into the
 * message), ax_msg_object_pid, ax_msg_dup, and the accessors ax_msg_data,
 * ax_msg_size and ax_msg_sender.
 */
#include "support/testutil.h"

#include <stdint.h>

#include <axon/error.h>
#include <axon/msg.h>

#include "base/alloc.h"
#include "serialize/msg_internal.h"
#include "msg_util.h"

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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_object_tree_matches_the_message),
        cmocka_unit_test(
            test_msg_object_pid_decodes_addresses_and_rejects_other_values),
        cmocka_unit_test(test_msg_object_is_built_once_and_cached),
        cmocka_unit_test(test_msg_dup_copies_bytes_and_sender),
        cmocka_unit_test(test_msg_data_and_size_describe_the_encoding),
    };

    return cmocka_run_group_tests(tests, t_setup, t_teardown);
}
