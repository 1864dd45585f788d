/*
 * serialize/object.c - the msgpack-c object tree of a message.
 *
 * Built by our own walker, not msgpack-c's unpacker: the validator already
 * counted every array element and map pair, so the whole tree is one
 * allocation of exactly the right size, and strings point into the message.
 */
#include "serialize/msg_internal.h"

#include "base/alloc.h"
#include "base/error.h"

struct arena {
    msgpack_object *objs;  /* next free array element */
    msgpack_object_kv *kv; /* next free map pair */
};

static size_t build(const uint8_t *p, size_t n, msgpack_object *o,
                    struct arena *a);

static size_t
build_container(const uint8_t *p, size_t n, const mp_tok *t, size_t off,
                msgpack_object *o, struct arena *a)
{
    size_t used;

    if (t->kind == MP_ARRAY) {
        o->type = MSGPACK_OBJECT_ARRAY;
        o->via.array.size = t->len;
        o->via.array.ptr = t->len ? a->objs : NULL;
        a->objs += t->len;
        for (uint32_t i = 0; i < t->len; i++, off += used) {
            used = build(p + off, n - off, &o->via.array.ptr[i], a);
        }
        return off;
    }
    o->type = MSGPACK_OBJECT_MAP;
    o->via.map.size = t->len;
    o->via.map.ptr = t->len ? a->kv : NULL;
    a->kv += t->len;
    for (uint32_t i = 0; i < t->len; i++) {
        off += build(p + off, n - off, &o->via.map.ptr[i].key, a);
        off += build(p + off, n - off, &o->via.map.ptr[i].val, a);
    }
    return off;
}

/* Fill o from the validated value at p; return the bytes it took. */
static size_t
build(const uint8_t *p, size_t n, msgpack_object *o, struct arena *a)
{
    mp_tok t;
    size_t used = mp_next(p, n, &t);

    switch (t.kind) {
    case MP_NIL:
        o->type = MSGPACK_OBJECT_NIL;
        break;
    case MP_BOOL:
        o->type = MSGPACK_OBJECT_BOOLEAN;
        o->via.boolean = t.v.b;
        break;
    case MP_UINT:
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = t.v.u;
        break;
    case MP_INT:
        o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o->via.i64 = t.v.i;
        break;
    case MP_FLOAT32:
    case MP_FLOAT64:
        o->type = t.kind == MP_FLOAT32 ? MSGPACK_OBJECT_FLOAT32
                                       : MSGPACK_OBJECT_FLOAT64;
        o->via.f64 = t.v.f;
        break;
    case MP_STR:
    case MP_BIN:
        o->type = t.kind == MP_STR ? MSGPACK_OBJECT_STR : MSGPACK_OBJECT_BIN;
        o->via.str.size = t.len; /* str and bin share one layout */
        o->via.str.ptr = (const char *)t.ptr;
        break;
    case MP_EXT:
        o->type = MSGPACK_OBJECT_EXT;
        o->via.ext.type = t.ext_type;
        o->via.ext.size = t.len;
        o->via.ext.ptr = (const char *)t.ptr;
        break;
    default:
        return build_container(p, n, &t, used, o, a);
    }
    return used;
}

int
ax_msg_object(ax_msg *m, const msgpack_object **out)
{
    mp_counts c;
    struct arena a;
    msgpack_object *root;
    int rc;

    AX_REQUIRE(m != NULL && out != NULL, "ax_msg_object: NULL argument");
    if (m->obj == NULL) {
        rc = ax__mp_validate(m->data, m->len, ax__msg_limits(), &c);
        if (rc < 0) {
            return rc;
        }
        root = ax__alloc((1 + c.array_elems) * sizeof(msgpack_object) +
                         c.map_pairs * sizeof(msgpack_object_kv));
        if (root == NULL) {
            return AX_ENOMEM;
        }
        a.objs = root + 1;
        a.kv = (msgpack_object_kv *)(a.objs + c.array_elems);
        build(m->data, m->len, root, &a);
        m->obj = root;
    }
    *out = m->obj;
    return 0;
}

int
ax_msg_object_pid(const msgpack_object *o, ax_pid *out)
{
    const uint8_t *p;

    AX_REQUIRE(o != NULL && out != NULL, "ax_msg_object_pid: NULL argument");
    if (o->type != MSGPACK_OBJECT_EXT || o->via.ext.type != AX_PID_EXT ||
        o->via.ext.size != 16) {
        return ax__fail(AX_EPROTO, "ax_msg_object_pid: not an address");
    }
    p = (const uint8_t *)o->via.ext.ptr;
    out->node = mp_load64(p);
    out->id = mp_load64(p + 8);
    return 0;
}
