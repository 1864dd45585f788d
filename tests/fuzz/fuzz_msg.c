/*
 * tests/fuzz/fuzz_msg.c - libFuzzer target for the message decoder: the
 * validator (serialize/validate.c) and everything that reads a message it
 * accepted: the object tree, format unpack, dup, adopt, and re-encoding
 * through the writer.
 *
 * Input: a control byte, a limits byte if control bit 7 is set, then the
 * message bytes.
 *   control bit 7: set small limits while this input runs (the limits in
 *       force before are restored at the end): control bits 0-5 give
 *       max_depth (1..32, then 64..1024 by 32); limits bits 0-3 give
 *       max_elements (0: default, else 1..16384); limits bits 4-7 give
 *       max_size (0: default, else 8 bytes..128 KiB)
 *   control bit 6: run the reading path again with the 1st, 2nd, ...
 *       allocation failing (ax__alloc_fail_after)
 *
 * Oracles (any violation aborts):
 * - a reference validator, written here from the msgpack spec, decides
 *   whether ax_msg_from_bytes and ax_msg_adopt must accept the bytes and
 *   with which code they must refuse them;
 * - the object tree stays inside the message, within the limits, and has
 *   the elements the reference counted; every string byte is read;
 * - each format's unpack result (code and values) is what the tree says;
 *   a failed unpack stores nothing;
 * - ax_msg_pack embeds the bytes with 'x' exactly when they are accepted
 *   and fit the limits (with "[x]", one level and one element more);
 * - re-encoding the tree with the writer gives a message no larger, that
 *   is accepted and re-encodes to the same bytes; when msgpack-c's own
 *   unpacker can hold the depth, it reads the same tree from the bytes
 *   (only after our validator accepted them: on raw input msgpack-c could
 *   reserve gigabytes, which is the point of the validator).
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <axon.h>

#include <msgpack/unpack_define.h> /* MSGPACK_EMBED_STACK_SIZE */

#include "base/alloc.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: fuzz_msg: check failed: %s\n", __FILE__,   \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* The reference validator's view of one value's head. */
enum head_kind { H_SCALAR, H_BYTES, H_EXT, H_ARRAY, H_MAP };

struct head {
    enum head_kind kind;
    size_t hdr;     /* bytes before the payload or the items */
    uint64_t count; /* payload bytes (bytes, ext) or items (array, map) */
    uint8_t ext;    /* extension type */
};

struct ref {
    const uint8_t *p;         /* the message bytes */
    size_t n;                 /* their length */
    size_t off;               /* next byte to read */
    const ax_msg_limits *lim; /* the limits in force */
    size_t elements;          /* array elements + map keys and values */
    unsigned depth;           /* deepest container nesting */
};

/* What the walk over ax_msg_object's tree saw. */
struct tree {
    const uint8_t *lo, *hi; /* the message bytes: all pointers inside */
    size_t elements;        /* array elements + map keys and values */
    unsigned depth;         /* deepest container nesting */
    uint32_t sum;           /* of every string, binary and extension byte */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t
load_be(const uint8_t *p, size_t width)
{
    uint64_t v = 0;

    for (size_t i = 0; i < width; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* The heads 0xc4..0xdf: kind, width of the length field, fixed size. */
static const struct {
    uint8_t kind, width, fixed;
} sized[28] = {
    {H_BYTES, 1, 0},  {H_BYTES, 2, 0},  {H_BYTES, 4, 0},  /* bin */
    {H_EXT, 1, 0},    {H_EXT, 2, 0},    {H_EXT, 4, 0},    /* ext */
    {H_SCALAR, 0, 4}, {H_SCALAR, 0, 8},                   /* float */
    {H_SCALAR, 0, 1}, {H_SCALAR, 0, 2}, {H_SCALAR, 0, 4}, /* uint */
    {H_SCALAR, 0, 8}, {H_SCALAR, 0, 1}, {H_SCALAR, 0, 2}, /* .., int */
    {H_SCALAR, 0, 4}, {H_SCALAR, 0, 8}, {H_EXT, 0, 1},    /* .., fixext */
    {H_EXT, 0, 2},    {H_EXT, 0, 4},    {H_EXT, 0, 8},
    {H_EXT, 0, 16},   {H_BYTES, 1, 0},  {H_BYTES, 2, 0}, /* .., str */
    {H_BYTES, 4, 0},  {H_ARRAY, 2, 0},  {H_ARRAY, 4, 0},
    {H_MAP, 2, 0},    {H_MAP, 4, 0},
};

/* Decode the head at p[0..n), n >= 1; false for 0xc1 or a cut head. */
static bool
ref_head(const uint8_t *p, size_t n, struct head *h)
{
    uint8_t b = p[0];

    *h = (struct head){H_SCALAR, 1, 0, 0};
    if (b >= 0x80 && b <= 0xbf) { /* fixmap, fixarray, fixstr */
        h->kind = b < 0x90 ? H_MAP : b < 0xa0 ? H_ARRAY : H_BYTES;
        h->count = b < 0xa0 ? b & 0x0fu : b & 0x1fu;
        return true;
    }
    if (b == 0xc1) {
        return false;
    }
    if (b < 0xc4 || b > 0xdf) { /* fixint, nil, bool */
        return true;
    }
    h->kind = sized[b - 0xc4].kind;
    h->hdr = 1u + sized[b - 0xc4].width + (h->kind == H_EXT);
    if (h->kind == H_SCALAR) {
        h->hdr += sized[b - 0xc4].fixed;
    }
    if (n < h->hdr) {
        return false;
    }
    h->count = sized[b - 0xc4].width
                   ? load_be(p + 1, sized[b - 0xc4].width)
                   : (h->kind == H_EXT ? sized[b - 0xc4].fixed : 0);
    h->ext = h->kind == H_EXT ? p[h->hdr - 1] : 0;
    return true;
}

/* One well-formed value within the limits at r->off; moves past it. */
static bool
ref_value(struct ref *r, unsigned depth)
{
    struct head h;
    uint64_t items;

    if (r->off >= r->n || !ref_head(r->p + r->off, r->n - r->off, &h)) {
        return false;
    }
    r->off += h.hdr;
    if (h.kind == H_BYTES || h.kind == H_EXT) {
        if (h.kind == H_EXT && h.ext == AX_PID_EXT && h.count != 16) {
            return false; /* an address has exactly 16 bytes */
        }
        if (h.count > r->n - r->off) {
            return false;
        }
        r->off += h.count;
        return true;
    }
    if (h.kind == H_SCALAR) {
        return true;
    }
    items = h.kind == H_MAP ? 2 * h.count : h.count;
    r->elements += items;
    if (depth + 1 > r->lim->max_depth || r->elements > r->lim->max_elements) {
        return false;
    }
    r->depth = depth + 1 > r->depth ? depth + 1 : r->depth;
    for (uint64_t i = 0; i < items; i++) {
        if (!ref_value(r, depth + 1)) {
            return false;
        }
    }
    return true;
}

/* What ax_msg_from_bytes must return for p[0..n). */
static int
ref_check(const uint8_t *p, size_t n, const ax_msg_limits *lim, struct ref *r)
{
    *r = (struct ref){p, n, 0, lim, 0, 0};
    if (n > lim->max_size) {
        return AX_EMSGSIZE;
    }
    return ref_value(r, 0) && r->off == n ? 0 : AX_EPROTO;
}

static void
touch(struct tree *t, const char *ptr, uint32_t size)
{
    const uint8_t *p = (const uint8_t *)ptr;

    CHECK(p != NULL && p >= t->lo && p <= t->hi);
    CHECK(size <= (size_t)(t->hi - p));
    for (uint32_t i = 0; i < size; i++) {
        t->sum = t->sum * 31 + p[i];
    }
}

static void
check_ext(const msgpack_object *o)
{
    const uint8_t *p = (const uint8_t *)o->via.ext.ptr;
    ax_pid pid = {7, 7};
    int rc = ax_msg_object_pid(o, &pid);

    if (o->via.ext.type != AX_PID_EXT) {
        CHECK(rc == AX_EPROTO && pid.node == 7 && pid.id == 7);
        return;
    }
    CHECK(o->via.ext.size == 16 && rc == 0);
    CHECK(pid.node == load_be(p, 8) && pid.id == load_be(p + 8, 8));
}

static void walk(const msgpack_object *o, unsigned depth, struct tree *t);

static void
walk_container(const msgpack_object *o, unsigned depth, struct tree *t)
{
    t->depth = depth > t->depth ? depth : t->depth;
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        CHECK(o->via.array.size == 0 || o->via.array.ptr != NULL);
        t->elements += o->via.array.size;
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            walk(&o->via.array.ptr[i], depth, t);
        }
        return;
    }
    CHECK(o->via.map.size == 0 || o->via.map.ptr != NULL);
    t->elements += 2 * (size_t)o->via.map.size;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        walk(&o->via.map.ptr[i].key, depth, t);
        walk(&o->via.map.ptr[i].val, depth, t);
    }
}

/* Visit every node; depth counts the containers around o. */
static void
walk(const msgpack_object *o, unsigned depth, struct tree *t)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
    case MSGPACK_OBJECT_BOOLEAN:
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        CHECK(o->via.i64 < 0);
        break;
    case MSGPACK_OBJECT_STR:
        touch(t, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        touch(t, o->via.bin.ptr, o->via.bin.size);
        break;
    case MSGPACK_OBJECT_EXT:
        touch(t, o->via.ext.ptr, o->via.ext.size);
        check_ext(o);
        break;
    case MSGPACK_OBJECT_ARRAY:
    case MSGPACK_OBJECT_MAP:
        walk_container(o, depth + 1, t);
        break;
    default:
        CHECK(0 && "unknown object type");
    }
}

/* The first value of map o under the string key "key", or NULL. */
static const msgpack_object *
map_get(const msgpack_object *o, const char *key)
{
    size_t len = strlen(key);

    if (o->type != MSGPACK_OBJECT_MAP) {
        return NULL;
    }
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;

        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
            memcmp(k->via.str.ptr, key, len) == 0) {
            return &o->via.map.ptr[i].val;
        }
    }
    return NULL;
}

static int
expect_int(const msgpack_object *o, int64_t lo, uint64_t hi)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return o->via.u64 <= hi ? 0 : AX_ERANGE;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        return o->via.i64 >= lo ? 0 : AX_ERANGE;
    }
    return AX_EPROTO;
}

/* What ax_msg_unpack must return for the one-value code c on o. */
static int
expect_code(const msgpack_object *o, char c)
{
    msgpack_object_type ty = o->type;

    switch (c) {
    case 'n':
        return ty == MSGPACK_OBJECT_NIL ? 0 : AX_EPROTO;
    case 'b':
        return ty == MSGPACK_OBJECT_BOOLEAN ? 0 : AX_EPROTO;
    case 'i':
        return expect_int(o, INT64_MIN, INT64_MAX);
    case 'u':
        return expect_int(o, 0, UINT64_MAX);
    case 'd':
        return expect_int(o, INT_MIN, INT_MAX);
    case 'f':
        return expect_int(o, INT64_MIN, UINT64_MAX) == 0 ||
                       ty == MSGPACK_OBJECT_FLOAT32 ||
                       ty == MSGPACK_OBJECT_FLOAT64
                   ? 0
                   : AX_EPROTO;
    case 's':
        return ty == MSGPACK_OBJECT_STR ? 0 : AX_EPROTO;
    case 'B':
        return ty == MSGPACK_OBJECT_BIN ? 0 : AX_EPROTO;
    case 'p':
        return ty == MSGPACK_OBJECT_EXT && o->via.ext.type == AX_PID_EXT
                   ? 0
                   : AX_EPROTO;
    default: /* '_', 'x' */
        return 0;
    }
}

/*
 * What ax_msg_unpack must return for "[codes]": elements are checked in
 * order, the first mismatch decides; '{' stands for "{s:f}" with key "a".
 */
static int
expect_array(const msgpack_object *o, const char *codes)
{
    size_t want = strlen(codes);
    int rc;

    if (o->type != MSGPACK_OBJECT_ARRAY) {
        return AX_EPROTO;
    }
    for (size_t i = 0; i < want; i++) {
        const msgpack_object *e;

        if (i >= o->via.array.size) {
            return AX_EPROTO;
        }
        e = &o->via.array.ptr[i];
        if (codes[i] == '{') {
            e = map_get(e, "a");
            rc = e != NULL ? expect_code(e, 'f') : AX_EPROTO;
        } else {
            rc = expect_code(e, codes[i]);
        }
        if (rc < 0) {
            return rc;
        }
    }
    return o->via.array.size == want ? 0 : AX_EPROTO;
}

static void
check_unpack_ints(const ax_msg *m, const msgpack_object *o)
{
    bool neg = o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
    int64_t want = neg ? o->via.i64 : (int64_t)o->via.u64;
    int64_t i = 7;
    uint64_t u = 7;
    int d = 7;
    int rc;

    rc = ax_msg_unpack(m, "i", &i);
    CHECK(rc == expect_code(o, 'i'));
    CHECK(rc == 0 ? i == want : i == 7);
    rc = ax_msg_unpack(m, "u", &u);
    CHECK(rc == expect_code(o, 'u'));
    CHECK(rc == 0 ? u == o->via.u64 : u == 7);
    rc = ax_msg_unpack(m, "d", &d);
    CHECK(rc == expect_code(o, 'd'));
    CHECK(rc == 0 ? d == want : d == 7);
}

static void
check_unpack_scalars(const ax_msg *m, const msgpack_object *o)
{
    bool b = false;
    double f = 0.5, want = 0.5;
    ax_pid pid = {7, 7}, obj_pid;
    int rc;

    CHECK(ax_msg_unpack(m, "n") == expect_code(o, 'n'));
    rc = ax_msg_unpack(m, "b", &b);
    CHECK(rc == expect_code(o, 'b'));
    CHECK(rc == 0 ? b == o->via.boolean : !b);
    rc = ax_msg_unpack(m, "f", &f);
    CHECK(rc == expect_code(o, 'f'));
    if (rc == 0) {
        want = o->type == MSGPACK_OBJECT_POSITIVE_INTEGER   ? (double)o->via.u64
               : o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? (double)o->via.i64
                                                            : o->via.f64;
    }
    CHECK(memcmp(&f, &want, sizeof(f)) == 0); /* NaN too */
    rc = ax_msg_unpack(m, "p", &pid);
    CHECK(rc == expect_code(o, 'p'));
    if (rc == 0) {
        CHECK(ax_msg_object_pid(o, &obj_pid) == 0);
        CHECK(ax_pid_equal(pid, obj_pid));
    } else {
        CHECK(pid.node == 7 && pid.id == 7);
    }
}

/* Strings and binaries: pointer and length into the message, or nothing. */
static void
check_unpack_spans(const ax_msg *m, const msgpack_object *o)
{
    const char *s = NULL, *s2 = NULL;
    const void *bin = NULL;
    size_t len = 7, len2 = 7, binlen = 7;
    int rc;

    rc = ax_msg_unpack(m, "s", &s, &len);
    CHECK(rc == expect_code(o, 's'));
    CHECK(ax_msg_unpack(m, "S", &s2, &len2) == rc);
    CHECK(s == s2 && len == len2);
    if (rc == 0) {
        CHECK(s == o->via.str.ptr && len == o->via.str.size);
    } else {
        CHECK(s == NULL && len == 7);
    }
    rc = ax_msg_unpack(m, "B", &bin, &binlen);
    CHECK(rc == expect_code(o, 'B'));
    if (rc == 0) {
        CHECK(bin == o->via.bin.ptr && binlen == o->via.bin.size);
    } else {
        CHECK(bin == NULL && binlen == 7);
    }
}

static bool
same_bytes(const ax_msg *a, const ax_msg *b)
{
    size_t n = ax_msg_size(a);

    return n == ax_msg_size(b) &&
           memcmp(ax_msg_data(a, NULL), ax_msg_data(b, NULL), n) == 0;
}

/* The tree o encoded again by msgpack-c's packer through the writer. */
static ax_msg *
pack_object(const msgpack_object *o)
{
    ax_msg_writer *w;
    ax_msg *out = NULL;

    CHECK(ax_msg_writer_new(&w) == 0);
    CHECK(msgpack_pack_object(ax_msg_writer_packer(w), *o) == 0);
    CHECK(ax_msg_writer_finish(w, &out) == 0);
    return out;
}

/* A value that 'x' returned: accepted on its own, the same as tree e. */
static void
check_raw(const ax_msg *m, const void *p, size_t len, const msgpack_object *e)
{
    const uint8_t *lo = ax_msg_data(m, NULL);
    const msgpack_object *sub_obj;
    ax_msg *sub, *a, *b;

    CHECK((const uint8_t *)p >= lo && len <= ax_msg_size(m));
    CHECK((size_t)((const uint8_t *)p - lo) <= ax_msg_size(m) - len);
    CHECK(ax_msg_from_bytes(&sub, p, len) == 0);
    CHECK(ax_msg_object(sub, &sub_obj) == 0);
    a = pack_object(sub_obj);
    b = pack_object(e);
    CHECK(same_bytes(a, b));
    ax_msg_free(a);
    ax_msg_free(b);
    ax_msg_free(sub);
}

static void
check_unpack_any(const ax_msg *m, const msgpack_object *o)
{
    const void *p = NULL;
    size_t len = 0;

    CHECK(ax_msg_unpack(m, "_") == 0);
    CHECK(ax_msg_unpack(m, "x", &p, &len) == 0);
    CHECK(p == ax_msg_data(m, NULL) && len == ax_msg_size(m));
    CHECK(ax_msg_unpack(m, "[*]") ==
          (o->type == MSGPACK_OBJECT_ARRAY ? 0 : AX_EPROTO));
    CHECK(ax_msg_unpack(m, "{}") ==
          (o->type == MSGPACK_OBJECT_MAP ? 0 : AX_EPROTO));
    CHECK(ax_msg_unpack(m, "[_ _]") == expect_array(o, "__"));
    CHECK(ax_msg_unpack(m, "{s:_}", "a") ==
          (map_get(o, "a") != NULL ? 0 : AX_EPROTO));
}

static void
check_unpack_arrays(const ax_msg *m, const msgpack_object *o)
{
    bool arr = o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size > 0;
    const msgpack_object *e0 = arr ? &o->via.array.ptr[0] : NULL;
    const char *s = NULL;
    const void *p = NULL;
    size_t len = 7;
    int rc;

    rc = ax_msg_unpack(m, "[s *]", &s, &len);
    CHECK(rc == (arr && e0->type == MSGPACK_OBJECT_STR ? 0 : AX_EPROTO));
    CHECK(rc != 0 || (s == e0->via.str.ptr && len == e0->via.str.size));
    rc = ax_msg_unpack(m, "[x *]", &p, &len);
    CHECK(rc == (arr ? 0 : AX_EPROTO));
    if (rc == 0) {
        check_raw(m, p, len, e0);
    }
    rc = ax_msg_unpack(m, "[d u x]", NULL, NULL, &p, &len);
    CHECK(rc == expect_array(o, "dux"));
    if (rc == 0) {
        check_raw(m, p, len, &o->via.array.ptr[2]);
    }
}

static void
check_unpack_records(const ax_msg *m, const msgpack_object *o)
{
    const char *s = NULL;
    const void *bin = NULL, *x = NULL;
    size_t slen, binlen, xlen;
    int64_t i;
    double f;
    bool b;
    ax_pid pid;
    const msgpack_object *va = map_get(o, "a"), *vb = map_get(o, "b");
    bool map_ok = va != NULL && vb != NULL &&
                  va->type == MSGPACK_OBJECT_ARRAY && va->via.array.size > 0;
    int rc;

    rc = ax_msg_unpack(m, "[s i {s:f} b n B p]", &s, &slen, &i, "a", &f, &b,
                       &bin, &binlen, &pid);
    CHECK(rc == expect_array(o, "si{bnBp"));
    if (rc == 0) {
        CHECK(s == o->via.array.ptr[0].via.str.ptr);
        CHECK(bin == o->via.array.ptr[5].via.bin.ptr);
    }
    rc = ax_msg_unpack(m, "{s:[_ *], s:x}", "a", "b", &x, &xlen);
    CHECK(rc == (map_ok ? 0 : AX_EPROTO));
    if (rc == 0) {
        check_raw(m, x, xlen, vb);
    }
}

static void
check_dup(const ax_msg *m, const struct tree *t)
{
    const msgpack_object *o;
    struct tree t2;
    ax_msg *d;

    CHECK(ax_msg_dup(&d, m) == 0);
    CHECK(same_bytes(d, m));
    CHECK(ax_pid_equal(ax_msg_sender(d), ax_msg_sender(m)));
    CHECK(ax_msg_object(d, &o) == 0);
    t2 = (struct tree){ax_msg_data(d, NULL), NULL, 0, 0, 0};
    t2.hi = t2.lo + ax_msg_size(d);
    walk(o, 0, &t2);
    CHECK(t2.elements == t->elements && t2.depth == t->depth);
    CHECK(t2.sum == t->sum);
    ax_msg_free(d);
}

/* msgpack-c reads the bytes the validator accepted into the same tree. */
static void
check_msgpack_c(const ax_msg *m, const ax_msg *canon)
{
    msgpack_unpacked u;
    size_t off = 0;
    ax_msg *theirs;
    int rc;

    msgpack_unpacked_init(&u);
    rc = msgpack_unpack_next(&u, ax_msg_data(m, NULL), ax_msg_size(m), &off);
    CHECK(rc == MSGPACK_UNPACK_SUCCESS);
    CHECK(off == ax_msg_size(m));
    theirs = pack_object(&u.data);
    CHECK(same_bytes(theirs, canon));
    ax_msg_free(theirs);
    msgpack_unpacked_destroy(&u);
}

static void
check_reencode(const ax_msg *m, const msgpack_object *o, const struct tree *t)
{
    const msgpack_object *o1;
    ax_msg *once, *again, *twice;

    once = pack_object(o);
    CHECK(ax_msg_size(once) <= ax_msg_size(m));
    CHECK(ax_msg_from_bytes(&again, ax_msg_data(once, NULL),
                            ax_msg_size(once)) == 0);
    CHECK(ax_msg_object(again, &o1) == 0);
    twice = pack_object(o1);
    CHECK(same_bytes(once, twice));
    /* msgpack-c's unpacker holds at most MSGPACK_EMBED_STACK_SIZE levels. */
    if (t->depth <= MSGPACK_EMBED_STACK_SIZE) {
        check_msgpack_c(m, once);
    }
    ax_msg_free(twice);
    ax_msg_free(again);
    ax_msg_free(once);
}

/* Everything that reads an accepted message agrees with the tree. */
static void
check_accepted(ax_msg *m, const struct ref *r, const ax_msg_limits *lim)
{
    const msgpack_object *o, *o2;
    struct tree t = {ax_msg_data(m, NULL), NULL, 0, 0, 0};

    CHECK(ax_pid_is_none(ax_msg_sender(m)));
    CHECK(ax_msg_object(m, &o) == 0);
    CHECK(ax_msg_object(m, &o2) == 0 && o2 == o); /* cached */
    t.hi = t.lo + ax_msg_size(m);
    walk(o, 0, &t);
    CHECK(t.elements == r->elements && t.depth == r->depth);
    CHECK(t.elements <= lim->max_elements && t.depth <= lim->max_depth);
    check_unpack_any(m, o);
    check_unpack_ints(m, o);
    check_unpack_scalars(m, o);
    check_unpack_spans(m, o);
    check_unpack_arrays(m, o);
    check_unpack_records(m, o);
    check_dup(m, &t);
    check_reencode(m, o, &t);
}

/* ax_msg_adopt decides as ax_msg_from_bytes and frees nothing it refuses. */
static void
check_adopt(const uint8_t *p, size_t n, int expect)
{
    uint8_t *buf = ax__alloc(n ? n : 1);
    const msgpack_object *o;
    ax_msg *m;
    int rc;

    CHECK(buf != NULL);
    if (n > 0) {
        memcpy(buf, p, n);
    }
    rc = ax_msg_adopt(&m, buf, n);
    CHECK(rc == expect);
    if (rc < 0) {
        ax_free(buf);
        return;
    }
    CHECK(ax_msg_data(m, NULL) == buf && ax_msg_size(m) == n);
    CHECK(ax_msg_object(m, &o) == 0);
    ax_msg_free(m);
}

/*
 * ax_msg_pack's 'x' embeds encoded bytes after the same validation; inside
 * "[x]" one level and one element more count against the limits.
 */
static void
check_pack_raw(const uint8_t *p, size_t n, int expect, const struct ref *r,
               const ax_msg_limits *lim)
{
    bool fits = r->depth + 1 <= lim->max_depth &&
                r->elements + 1 <= lim->max_elements && n < lim->max_size;
    ax_msg *m = NULL;
    int rc;

    rc = ax_msg_pack(&m, "x", p, n);
    CHECK(rc == expect);
    if (rc == 0) {
        CHECK(ax_msg_size(m) == n);
        CHECK(memcmp(ax_msg_data(m, NULL), p, n) == 0);
        ax_msg_free(m);
    }
    rc = ax_msg_pack(&m, "[x]", p, n);
    CHECK(rc == (expect < 0 ? expect : fits ? 0 : AX_EMSGSIZE));
    if (rc == 0) {
        CHECK(ax_msg_size(m) == n + 1);
        CHECK(memcmp((const uint8_t *)ax_msg_data(m, NULL) + 1, p, n) == 0);
        ax_msg_free(m);
    }
}

/* Decode p[0..n) and check everything; returns what from_bytes did. */
static int
check_message(const uint8_t *p, size_t n, const ax_msg_limits *lim)
{
    struct ref r;
    int expect = ref_check(p, n, lim, &r);
    ax_msg *m = NULL;
    int rc;

    rc = ax_msg_from_bytes(&m, p, n);
    CHECK(rc == expect);
    check_adopt(p, n, expect);
    check_pack_raw(p, n, expect, &r, lim);
    if (rc < 0) {
        CHECK(m == NULL && ax_error_detail()[0] != '\0');
        return rc;
    }
    CHECK(ax_msg_size(m) == n && memcmp(ax_msg_data(m, NULL), p, n) == 0);
    check_accepted(m, &r, lim);
    ax_msg_free(m);
    return 0;
}

/* Encoding a tree while allocations fail: AX_ENOMEM at worst, no leak. */
static void
pack_may_fail(const msgpack_object *o)
{
    ax_msg_writer *w;
    ax_msg *out;
    int rc = ax_msg_writer_new(&w);

    CHECK(rc == 0 || rc == AX_ENOMEM);
    if (rc == 0) {
        (void)msgpack_pack_object(ax_msg_writer_packer(w), *o);
        rc = ax_msg_writer_finish(w, &out);
        CHECK(rc == 0 || rc == AX_ENOMEM);
        if (rc == 0) {
            ax_msg_free(out);
        }
    }
}

/*
 * Fail the k-th allocation of the reading path, for each k: every call
 * returns its usual code or AX_ENOMEM, nothing leaks, and a call that
 * failed works once memory is back (it changed nothing).
 */
static void
check_alloc_failures(const uint8_t *p, size_t n, int expect)
{
    ax_msg *packed = NULL;
    int want_packed = ax_msg_pack(&packed, "[x]", p, n);

    ax_msg_free(packed);
    for (long k = 0; k < 8; k++) {
        const msgpack_object *o = NULL;
        ax_msg *m = NULL, *d = NULL;
        int rc, orc = AX_ENOMEM;

        ax__alloc_fail_after(k);
        rc = ax_msg_pack(&packed, "[x]", p, n);
        CHECK(rc == want_packed || rc == AX_ENOMEM);
        if (rc == 0) {
            ax_msg_free(packed);
        }
        rc = ax_msg_from_bytes(&m, p, n);
        CHECK(rc == expect || rc == AX_ENOMEM);
        if (rc == 0) {
            orc = ax_msg_object(m, &o);
            CHECK(orc == 0 || orc == AX_ENOMEM);
            rc = ax_msg_dup(&d, m);
            CHECK(rc == 0 || rc == AX_ENOMEM);
        }
        if (orc == 0) {
            pack_may_fail(o);
        }
        ax__alloc_fail_after(-1);
        if (m != NULL) {
            CHECK(ax_msg_object(m, &o) == 0);
        }
        ax_msg_free(d);
        ax_msg_free(m);
    }
}

/* Set the limits the control bytes ask for; find the message bytes. */
static void
read_control(const uint8_t *data, size_t size, const uint8_t **msg, size_t *len,
             bool *inject)
{
    uint8_t c = size > 0 ? data[0] : 0;
    size_t skip = c & 0x80 ? 2 : 1;

    *inject = (c & 0x40) != 0;
    *msg = size > skip ? data + skip : NULL;
    *len = size > skip ? size - skip : 0;
    if (c & 0x80) {
        uint8_t l = size > 1 ? data[1] : 0;
        unsigned d = c & 0x3fu;
        ax_msg_limits lim = {
            l >> 4 ? (size_t)4 << (l >> 4) : 0,
            d < 32 ? d + 1 : (d - 31) * 32,
            l & 15 ? (size_t)1 << ((l & 15) - 1) : 0,
        };

        CHECK(ax_msg_limits_set(&lim) == 0);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ax_msg_limits saved, lim;
    const uint8_t *msg;
    size_t len;
    bool inject;
    int expect;

    ax_msg_limits_get(&saved);
    read_control(data, size, &msg, &len, &inject);
    ax_msg_limits_get(&lim);
    expect = check_message(msg, len, &lim);
    if (inject) {
        check_alloc_failures(msg, len, expect);
    }
    CHECK(ax_msg_limits_set(&saved) == 0);
    return 0;
}
