/*
 * tests/serialize/msg_util.c - the helpers the ax_msg tests share: hex,
 * assertions, limits and sentinels (the contract is in msg_util.h).
 */
#include "support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <axon/error.h>
#include <axon/msg.h>

#include "msg_util.h"

/* Only its address matters: SENTINEL_MSG and SENTINEL_PTR. */
max_align_t sentinel_storage;

/* Encoded as SAMPLE_PID_HEX. */
const ax_pid sample_pid = {0x0102030405060708u, 0x1112131415161718u};

/* Decode hex such as "cc 80" or "cc-80" into out; returns the length. */
size_t
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
ax_msg *
msg_from_hex(const char *hex)
{
    ax_msg *m = NULL;

    assert_int_equal(from_hex(&m, hex), 0);
    return m;
}

/* The result of ax_msg_from_bytes on hex (the message, if any, is freed). */
int
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

void
assert_msg_bytes(const ax_msg *m, const char *hex)
{
    uint8_t want[512];
    size_t n = unhex(hex, want, sizeof(want));
    size_t len = 0;
    const void *data = ax_msg_data(m, &len);

    assert_int_equal(len, n);
    assert_memory_equal(data, want, n);
}

void
assert_detail_has(const char *needle)
{
    if (strstr(ax_error_detail(), needle) == NULL) {
        fail_msg("error detail \"%s\" does not mention \"%s\"",
                 ax_error_detail(), needle);
    }
}

/* p[0..len) lies inside the encoded bytes of m (no copy was made). */
void
assert_points_into(const ax_msg *m, const void *p, size_t len)
{
    size_t size;
    const uint8_t *data = ax_msg_data(m, &size);
    const uint8_t *q = p;

    assert_true(q >= data && q + len <= data + size);
}

void
set_limits(size_t max_size, unsigned max_depth, size_t max_elements)
{
    ax_msg_limits lim = {max_size, max_depth, max_elements};

    assert_int_equal(ax_msg_limits_set(&lim), 0);
}

void
restore_default_limits(void)
{
    set_limits(0, 0, 0);
}

/* "[" + n copies of code + "]" (or braces), for containers of any size. */
char *
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
ax_msg *
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
