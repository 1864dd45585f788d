/*
 * serialize/mp.h - msgpack tokens: decode one header, encode one header
 * (internal).
 *
 * The format walkers (pack.c, unpack.c, validate.c, object.c) work on these
 * tokens instead of msgpack-c's object tree, so reading a message allocates
 * nothing and hostile bytes are checked before anything trusts them.
 */
#ifndef AXON_SERIALIZE_MP_H
#define AXON_SERIALIZE_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/endian.h"

typedef enum mp_kind {
    MP_NIL,
    MP_BOOL,
    MP_UINT, /* an integer >= 0, whatever its encoding */
    MP_INT,  /* an integer < 0 */
    MP_FLOAT32,
    MP_FLOAT64,
    MP_STR,
    MP_BIN,
    MP_ARRAY,
    MP_MAP,
    MP_EXT,
} mp_kind;

/* One decoded header (and, for scalars, its value). */
typedef struct mp_tok {
    mp_kind kind;
    union {
        bool b;
        uint64_t u;
        int64_t i;
        double f;
    } v;
    uint32_t len;       /* str/bin/ext payload bytes, or container count */
    int8_t ext_type;    /* MP_EXT only */
    const uint8_t *ptr; /* str/bin/ext payload */
} mp_tok;

/*
 * mp_next - decode the value header at p[0..n).
 * Returns the bytes it occupies (for str/bin/ext including the payload, for
 * arrays/maps only the header), or 0 if it is truncated or the byte 0xc1
 * (never used).
 */
size_t mp_next(const uint8_t *p, size_t n, mp_tok *t);

/* mp_kind_name - "integer", "string", ... for error messages. */
const char *mp_kind_name(const mp_tok *t);

/* Big-endian loads and stores: base/endian.h, under the names the
 * format walkers use. */
#define mp_load16 ax__load16
#define mp_load32 ax__load32
#define mp_load64 ax__load64
#define mp_store16 ax__store16
#define mp_store32 ax__store32
#define mp_store64 ax__store64

/* Longest header any mp_put_* below writes (ext pid: 2 + 16 bytes). */
#define MP_MAX_HEADER 18

/*
 * The mp_put_* functions write one header (or a whole scalar) at p, which
 * must have MP_MAX_HEADER bytes of room, and return the bytes written.
 */
size_t mp_put_uint(uint8_t *p, uint64_t v);
size_t mp_put_int(uint8_t *p, int64_t v);
size_t mp_put_double(uint8_t *p, double v);
size_t mp_put_str_header(uint8_t *p, uint32_t len);
size_t mp_put_bin_header(uint8_t *p, uint32_t len);
size_t mp_put_array_header(uint8_t *p, uint32_t count);
size_t mp_put_map_header(uint8_t *p, uint32_t count);
size_t mp_put_pid(uint8_t *p, uint64_t node, uint64_t id);

#endif /* AXON_SERIALIZE_MP_H */
