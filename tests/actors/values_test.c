/*
 * tests/actors/values_test.c - AX_PACK and AX_SEND (include/axon/values.h):
 * each C value packed by its type, read back with the format a reader
 * would use; the same across processes; bad values refused with their
 * error. That a value of another type does not compile is the ctest
 * actors/values_wrong_type (values_wrong_type.c, expected to fail).
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <axon/values.h>

#include "support/actor_harness.h"

static void
test_values_pack_each_c_type_as_its_msgpack_type(void **state)
{
    const char *cs = "const";
    char buf[] = "mutable";
    unsigned char bin[3] = {1, 2, 3};
    short sh = -7;
    unsigned long long big = ULLONG_MAX;
    int64_t i64 = INT64_MIN;
    bool yes = true; /* a bool: `true` itself is an int before C23 */
    const void *bp;
    const char *s1, *s2;
    size_t bn, n1, n2;
    bool b = false;
    int d;
    int64_t i, j;
    uint64_t u;
    double f, g;
    ax_pid p, me = {12, 34};
    ax_msg *m;

    (void)state;
    assert_int_equal(AX_PACK(&m, cs, buf, sh, big, i64, 2.5, 1.5f, yes, me,
                             AX_BIN(bin, sizeof(bin)), AX_NIL, 'x'),
                     0);
    assert_int_equal(ax_msg_unpack(m, "[s s i u i f f b p B n d]", &s1, &n1,
                                   &s2, &n2, &i, &u, &j, &f, &g, &b, &p, &bp,
                                   &bn, &d),
                     0);
    assert_true(n1 == 5 && memcmp(s1, "const", 5) == 0);
    assert_true(n2 == 7 && memcmp(s2, "mutable", 7) == 0);
    assert_int_equal(i, -7);
    assert_true(u == ULLONG_MAX);
    assert_true(j == INT64_MIN);
    assert_true(f == 2.5 && g == 1.5);
    assert_true(b);
    assert_true(p.node == 12 && p.id == 34);
    assert_int_equal(bn, 3);
    assert_memory_equal(bp, bin, 3);
    assert_int_equal(d, 'x');
    ax_msg_free(m);
}

static void
test_values_refuse_what_cannot_be_packed(void **state)
{
    const char *none = NULL;
    ax_value v[2] = {AX_VALUE(1), AX_VALUE(2)};
    ax_msg *m = NULL;

    (void)state;
    assert_int_equal(AX_PACK(&m, "ok", none), AX_EINVAL);
    assert_non_null(strstr(ax_error_detail(), "value 1 is a NULL string"));
    assert_int_equal(AX_PACK(&m, AX_BIN(NULL, 4)), AX_EINVAL);
    assert_int_equal(ax_msg_pack_values(&m, v, 0), AX_EINVAL);
    v[1].type = (ax_value_type)99;
    assert_int_equal(ax_msg_pack_values(&m, v, 2), AX_EINVAL);
    assert_non_null(strstr(ax_error_detail(), "unknown type 99"));
    assert_null(m); /* never set on an error */
}

/* ["sq", n] -> ["is", n * n], typed both ways. */
static int
square_actor(void *arg)
{
    ax_msg *m;
    int n;

    (void)arg;
    while (ax_recv(&m, AX_FOREVER) == 0 && ax_msg_unpack(m, "[_ d]", &n) == 0) {
        AX_SEND(ax_msg_sender(m), "is", n * n);
        ax_msg_free(m);
    }
    ax_msg_free(m); /* ["stop"] */
    return 0;
}

static void
body_send(void *arg)
{
    ax_pid sq = th_spawn(square_actor);
    ax_msg *m;
    int v = 0;

    (void)arg;
    for (int n = 1; n <= 3; n++) {
        TH_CHECK_INT(AX_SEND(sq, "sq", n), 0);
        TH_CHECK_INT(ax_recv(&m, 5000), 0);
        TH_CHECK_INT(ax_msg_unpack(m, "[_ d]", &v), 0);
        TH_CHECK_INT(v, n * n);
        ax_msg_free(m);
    }
    TH_CHECK_INT(AX_SEND(sq, (const char *)NULL), AX_EINVAL); /* not sent */
    TH_CHECK_INT(AX_SEND(sq, "stop"), 0);
    TH_CHECK_INT(th_join(sq).kind, AX_EXIT_NORMAL);
}

static void
test_values_send_reaches_the_actor_and_back(void **state)
{
    (void)state;
    th_run(body_send, NULL);
}

int
main(void)
{
    const struct CMUnitTest plain[] = {
        cmocka_unit_test(test_values_pack_each_c_type_as_its_msgpack_type),
        cmocka_unit_test(test_values_refuse_what_cannot_be_packed),
    };
    const struct CMUnitTest list[] = {
        cmocka_unit_test_setup_teardown(
            test_values_send_reaches_the_actor_and_back, t_setup, t_teardown),
    };
    int failed = 0;

    th_main_setup();
    failed += cmocka_run_group_tests_name("packing", plain, NULL, NULL);
    th_placement = AX_PLACE_COROUTINE;
    failed +=
        cmocka_run_group_tests_name("coroutine placement", list, NULL, NULL);
    th_placement = AX_PLACE_PROCESS;
    failed +=
        cmocka_run_group_tests_name("process placement", list, NULL, NULL);
    return failed;
}
