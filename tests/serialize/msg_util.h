/*
 * tests/serialize/msg_util.h - what the ax_msg tests (msg_*_test.c) share:
 * messages from hex bytes, assertions on a message's bytes and on the error
 * detail, setting the limits, and sentinel outputs that a failed call must
 * leave alone.
 *
 * msg_util.c is compiled into each of those tests (SOURCES in
 * CMakeLists.txt). The helpers fail the running cmocka test on a mismatch.
 */
#ifndef AXON_TESTS_SERIALIZE_MSG_UTIL_H
#define AXON_TESTS_SERIALIZE_MSG_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <axon/msg.h>

/* Outputs of failed calls must keep this value: nothing may be stored. */
extern max_align_t sentinel_storage;
#define SENTINEL_MSG ((ax_msg *)(void *)&sentinel_storage)
#define SENTINEL_PTR ((const void *)&sentinel_storage)

/* An address and its encoding: fixext 16 of type AX_PID_EXT. */
extern const ax_pid sample_pid;
#define SAMPLE_PID_HEX "d8 01 01 02 03 04 05 06 07 08 11 12 13 14 15 16 17 18"

/* Decode hex such as "cc 80" or "cc-80" into out; returns the length. */
size_t unhex(const char *hex, uint8_t *out, size_t cap);

/* A message made from hex bytes, which must be accepted. */
ax_msg *msg_from_hex(const char *hex);

/* The result of ax_msg_from_bytes on hex (the message, if any, is freed). */
int from_hex_rc(const char *hex);

/* The encoded bytes of m are exactly those of hex. */
void assert_msg_bytes(const ax_msg *m, const char *hex);

/* ax_error_detail() contains needle. */
void assert_detail_has(const char *needle);

/* p[0..len) lies inside the encoded bytes of m (no copy was made). */
void assert_points_into(const ax_msg *m, const void *p, size_t len);

/* ax_msg_limits_set with these fields, which must succeed (0: default). */
void set_limits(size_t max_size, unsigned max_depth, size_t max_elements);

/* Back to the default limits. */
void restore_default_limits(void);

/*
 * "[" + n copies of code + "]" (or braces), for containers of any size.
 * The caller frees the result with free(3).
 */
char *repeat_format(char open, char code, size_t n, char close);

/*
 * n nested arrays around nil: 91 91 ... c0 (depth n), through
 * ax_msg_from_bytes, whose result goes to *rc (the message is NULL when it
 * failed).
 */
ax_msg *nested_arrays(size_t n, int *rc);

#endif /* AXON_TESTS_SERIALIZE_MSG_UTIL_H */
