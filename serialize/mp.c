/*
 * serialize/mp.c - decode and encode single msgpack headers.
 */
#include "serialize/mp.h"

#include <axon/pid.h>

/* Width in bytes of the length/count field of a sized type. */
static size_t
sized_header(const uint8_t *p, size_t n, size_t width, uint32_t *len)
{
    if (n < 1 + width) {
        return 0;
    }
    switch (width) {
    case 1:
        *len = p[1];
        break;
    case 2:
        *len = mp_load16(p + 1);
        break;
    default:
        *len = mp_load32(p + 1);
        break;
    }
    return 1 + width;
}

/* A header followed by len payload bytes (str, bin). */
static size_t
with_payload(const uint8_t *p, size_t n, size_t hdr, mp_tok *t)
{
    if (hdr == 0 || n - hdr < t->len) {
        return 0;
    }
    t->ptr = p + hdr;
    return hdr + t->len;
}

static size_t
ext_token(const uint8_t *p, size_t n, size_t hdr, mp_tok *t)
{
    if (hdr == 0 || n < hdr + 1) {
        return 0;
    }
    t->kind = MP_EXT;
    t->ext_type = (int8_t)p[hdr];
    return with_payload(p, n, hdr + 1, t);
}

static size_t
int_token(const uint8_t *p, size_t n, size_t width, bool is_signed, mp_tok *t)
{
    uint64_t raw;
    int64_t s;

    if (n < 1 + width) {
        return 0;
    }
    switch (width) {
    case 1:
        raw = p[1];
        s = (int8_t)p[1];
        break;
    case 2:
        raw = mp_load16(p + 1);
        s = (int16_t)raw;
        break;
    case 4:
        raw = mp_load32(p + 1);
        s = (int32_t)raw;
        break;
    default:
        raw = mp_load64(p + 1);
        s = (int64_t)raw;
        break;
    }
    if (is_signed && s < 0) {
        t->kind = MP_INT;
        t->v.i = s;
    } else {
        t->kind = MP_UINT;
        t->v.u = is_signed ? (uint64_t)s : raw;
    }
    return 1 + width;
}

static size_t
float_token(const uint8_t *p, size_t n, bool wide, mp_tok *t)
{
    if (!wide) {
        float f;
        uint32_t bits;

        if (n < 5) {
            return 0;
        }
        bits = mp_load32(p + 1);
        memcpy(&f, &bits, sizeof(f));
        t->kind = MP_FLOAT32;
        t->v.f = f;
        return 5;
    }
    uint64_t bits;

    if (n < 9) {
        return 0;
    }
    bits = mp_load64(p + 1);
    memcpy(&t->v.f, &bits, sizeof(t->v.f));
    t->kind = MP_FLOAT64;
    return 9;
}

/* The types whose first byte carries the value or size (fix* and nil..). */
static size_t
fixed_token(const uint8_t *p, mp_tok *t)
{
    uint8_t b = p[0];

    if (b <= 0x7f) {
        t->kind = MP_UINT;
        t->v.u = b;
    } else if (b >= 0xe0) {
        t->kind = MP_INT;
        t->v.i = (int8_t)b;
    } else if (b <= 0x8f) {
        t->kind = MP_MAP;
        t->len = b & 0x0f;
    } else if (b <= 0x9f) {
        t->kind = MP_ARRAY;
        t->len = b & 0x0f;
    } else if (b <= 0xbf) {
        t->kind = MP_STR;
        t->len = b & 0x1f;
    } else if (b == 0xc0) {
        t->kind = MP_NIL;
    } else if (b == 0xc2 || b == 0xc3) {
        t->kind = MP_BOOL;
        t->v.b = b == 0xc3;
    } else {
        return 0;
    }
    return 1;
}

size_t
mp_next(const uint8_t *p, size_t n, mp_tok *t)
{
    static const uint8_t fixext_len[] = {1, 2, 4, 8, 16};
    size_t hdr;
    uint8_t b;

    if (n == 0) {
        return 0;
    }
    b = p[0];
    t->len = 0;
    if (b < 0xc4 || b >= 0xe0) {
        hdr = fixed_token(p, t);
        /* hdr first: on 0xc1 fixed_token sets no kind at all. */
        return hdr && t->kind == MP_STR ? with_payload(p, n, 1, t) : hdr;
    }
    switch (b) {
    case 0xc4:
    case 0xc5:
    case 0xc6: /* bin 8/16/32 */
        t->kind = MP_BIN;
        return with_payload(p, n, sized_header(p, n, 1u << (b - 0xc4), &t->len),
                            t);
    case 0xc7:
    case 0xc8:
    case 0xc9: /* ext 8/16/32 */
        return ext_token(p, n, sized_header(p, n, 1u << (b - 0xc7), &t->len),
                         t);
    case 0xca:
    case 0xcb:
        return float_token(p, n, b == 0xcb, t);
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        return int_token(p, n, 1u << (b - 0xcc), false, t);
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
        return int_token(p, n, 1u << (b - 0xd0), true, t);
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: /* fixext */
        t->len = fixext_len[b - 0xd4];
        return ext_token(p, n, 1, t);
    case 0xd9:
    case 0xda:
    case 0xdb: /* str 8/16/32 */
        t->kind = MP_STR;
        return with_payload(p, n, sized_header(p, n, 1u << (b - 0xd9), &t->len),
                            t);
    case 0xdc:
    case 0xdd: /* array 16/32 */
        t->kind = MP_ARRAY;
        return sized_header(p, n, b == 0xdc ? 2 : 4, &t->len);
    default: /* 0xde, 0xdf: map 16/32 */
        t->kind = MP_MAP;
        return sized_header(p, n, b == 0xde ? 2 : 4, &t->len);
    }
}

const char *
mp_kind_name(const mp_tok *t)
{
    switch (t->kind) {
    case MP_NIL:
        return "nil";
    case MP_BOOL:
        return "boolean";
    case MP_UINT:
    case MP_INT:
        return "integer";
    case MP_FLOAT32:
    case MP_FLOAT64:
        return "float";
    case MP_STR:
        return "string";
    case MP_BIN:
        return "binary";
    case MP_ARRAY:
        return "array";
    case MP_MAP:
        return "map";
    default:
        return t->ext_type == AX_PID_EXT ? "address" : "extension";
    }
}

size_t
mp_put_uint(uint8_t *p, uint64_t v)
{
    if (v <= 0x7f) {
        p[0] = (uint8_t)v;
        return 1;
    }
    if (v <= UINT8_MAX) {
        p[0] = 0xcc;
        p[1] = (uint8_t)v;
        return 2;
    }
    if (v <= UINT16_MAX) {
        p[0] = 0xcd;
        mp_store16(p + 1, (uint16_t)v);
        return 3;
    }
    if (v <= UINT32_MAX) {
        p[0] = 0xce;
        mp_store32(p + 1, (uint32_t)v);
        return 5;
    }
    p[0] = 0xcf;
    mp_store64(p + 1, v);
    return 9;
}

size_t
mp_put_int(uint8_t *p, int64_t v)
{
    if (v >= 0) {
        return mp_put_uint(p, (uint64_t)v);
    }
    if (v >= -32) {
        p[0] = (uint8_t)(int8_t)v;
        return 1;
    }
    if (v >= INT8_MIN) {
        p[0] = 0xd0;
        p[1] = (uint8_t)(int8_t)v;
        return 2;
    }
    if (v >= INT16_MIN) {
        p[0] = 0xd1;
        mp_store16(p + 1, (uint16_t)(int16_t)v);
        return 3;
    }
    if (v >= INT32_MIN) {
        p[0] = 0xd2;
        mp_store32(p + 1, (uint32_t)(int32_t)v);
        return 5;
    }
    p[0] = 0xd3;
    mp_store64(p + 1, (uint64_t)v);
    return 9;
}

size_t
mp_put_double(uint8_t *p, double v)
{
    uint64_t bits;

    memcpy(&bits, &v, sizeof(bits));
    p[0] = 0xcb;
    mp_store64(p + 1, bits);
    return 9;
}

/* A header with a fix form (fix_base | len below fix_max) or 8/16/32 bits. */
static size_t
put_sized(uint8_t *p, uint32_t len, uint8_t fix_base, uint32_t fix_max,
          uint8_t op8, uint8_t op16)
{
    if (len < fix_max) {
        p[0] = (uint8_t)(fix_base | len);
        return 1;
    }
    if (op8 && len <= UINT8_MAX) {
        p[0] = op8;
        p[1] = (uint8_t)len;
        return 2;
    }
    if (len <= UINT16_MAX) {
        p[0] = op16;
        mp_store16(p + 1, (uint16_t)len);
        return 3;
    }
    p[0] = (uint8_t)(op16 + 1);
    mp_store32(p + 1, len);
    return 5;
}

size_t
mp_put_str_header(uint8_t *p, uint32_t len)
{
    return put_sized(p, len, 0xa0, 32, 0xd9, 0xda);
}

size_t
mp_put_bin_header(uint8_t *p, uint32_t len)
{
    return put_sized(p, len, 0, 0, 0xc4, 0xc5);
}

size_t
mp_put_array_header(uint8_t *p, uint32_t count)
{
    return put_sized(p, count, 0x90, 16, 0, 0xdc);
}

size_t
mp_put_map_header(uint8_t *p, uint32_t count)
{
    return put_sized(p, count, 0x80, 16, 0, 0xde);
}

size_t
mp_put_pid(uint8_t *p, uint64_t node, uint64_t id)
{
    p[0] = 0xd8; /* fixext 16 */
    p[1] = AX_PID_EXT;
    mp_store64(p + 2, node);
    mp_store64(p + 10, id);
    return 18;
}
