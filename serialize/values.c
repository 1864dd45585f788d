/*
 * serialize/values.c - messages from ax_values (what AX_PACK and AX_SEND
 * make of C values, include/axon/values.h).
 */
#include "serialize/msg_internal.h"

#include <string.h>

#include <axon/values.h>

#include "base/error.h"
#include "serialize/mp.h"

static int
put_value(mp_enc *e, const ax_value *v, size_t i)
{
    uint8_t b[MP_MAX_HEADER];

    switch (v->type) {
    case AX_VALUE_NIL:
        b[0] = 0xc0;
        return ax__enc_put(e, b, 1);
    case AX_VALUE_BOOL:
        b[0] = v->v.b ? 0xc3 : 0xc2;
        return ax__enc_put(e, b, 1);
    case AX_VALUE_INT:
        return ax__enc_put(e, b, mp_put_int(b, v->v.i));
    case AX_VALUE_UINT:
        return ax__enc_put(e, b, mp_put_uint(b, v->v.u));
    case AX_VALUE_DOUBLE:
        return ax__enc_put(e, b, mp_put_double(b, v->v.f));
    case AX_VALUE_STR:
        if (v->v.bytes.p == NULL) {
            return ax__fail(AX_EINVAL,
                            "ax_msg_pack_values: value %zu is a "
                            "NULL string",
                            i);
        }
        return ax__enc_bytes(e, mp_put_str_header, v->v.bytes.p,
                             strlen(v->v.bytes.p));
    case AX_VALUE_BIN:
        return ax__enc_bytes(e, mp_put_bin_header, v->v.bytes.p, v->v.bytes.n);
    case AX_VALUE_PID:
        return ax__enc_put(e, b, mp_put_pid(b, v->v.pid.node, v->v.pid.id));
    }
    return ax__fail(AX_EINVAL,
                    "ax_msg_pack_values: value %zu has unknown "
                    "type %d",
                    i, (int)v->type);
}

int
ax_msg_pack_values(ax_msg **out, const ax_value *v, size_t n)
{
    mp_enc e = {NULL, n, 1, ""};
    uint8_t hdr[MP_MAX_HEADER];
    int rc;

    AX_REQUIRE(out != NULL && (v != NULL || n == 0),
               "ax_msg_pack_values: NULL argument");
    if (n == 0) {
        return ax__fail(AX_EINVAL, "ax_msg_pack_values: no value");
    }
    if (n > ax__msg_limits()->max_elements || n > UINT32_MAX) {
        return ax__fail(AX_EMSGSIZE,
                        "ax_msg_pack_values: %zu values, over "
                        "max_elements",
                        n);
    }
    e.m = ax__msg_new(16 + 9 * n);
    if (e.m == NULL) {
        return AX_ENOMEM;
    }
    rc = ax__enc_put(&e, hdr, mp_put_array_header(hdr, (uint32_t)n));
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = put_value(&e, &v[i], i);
    }
    if (rc < 0) {
        ax_msg_free(e.m);
        return rc;
    }
    *out = e.m;
    return 0;
}
