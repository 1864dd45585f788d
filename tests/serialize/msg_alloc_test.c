/*
 * tests/serialize/msg_alloc_test.c - fault injection: each allocation of
 * ax_msg_pack, ax_msg_from_bytes, ax_msg_object, the writer, ax_msg_dup
 * and ax_msg_adopt fails in turn; every run is AX_ENOMEM, stores no
 * output and leaks nothing (the leak checkers running the test say so).
 *
 * Every test that changes the limits restores the defaults before it ends.
 */
#include "support/testutil.h"

#include <string.h>

#include <axon/error.h>
#include <axon/msg.h>

#include "base/alloc.h"
#include "msg_util.h"

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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_pack_survives_every_allocation_failure),
        cmocka_unit_test(test_msg_from_bytes_survives_every_allocation_failure),
        cmocka_unit_test(test_msg_object_survives_every_allocation_failure),
        cmocka_unit_test(test_msg_writer_survives_every_allocation_failure),
        cmocka_unit_test(
            test_msg_dup_and_adopt_survive_every_allocation_failure),
    };

    return cmocka_run_group_tests(tests, t_setup, t_teardown);
}
