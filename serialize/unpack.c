/*
 * serialize/unpack.c - read messages with format strings.
 *
 * The format is checked first, on its own. Then the message is walked
 * twice: a first pass checks every type and range and stores nothing, a
 * second pass stores. So a failed unpack changes nothing the caller can
 * see. Nothing is allocated; strings and binaries are handed out as
 * pointers into the message.
 */
#include "serialize/msg_internal.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "base/error.h"

/* Path entries kept for error messages; deeper levels print as "...". */
#define PATH_DEPTH 16

struct path_step {
    const char *key; /* map key, or NULL for an array index */
    size_t keylen;
    uint32_t index;
};

struct dec {
    const uint8_t *p;
    size_t n;
    size_t off; /* next byte to read */
    bool store; /* second pass: write the outputs */
    va_list *ap;
    const char *fmt0; /* whole format, for error offsets */
    const char *f;    /* current code, for error offsets */
    unsigned depth;   /* path steps in use (may exceed PATH_DEPTH) */
    struct path_step path[PATH_DEPTH];
};

static const char *
skip_separators(const char *f)
{
    while (*f == ' ' || *f == ',' || *f == ':' || *f == '\t' || *f == '\n') {
        f++;
    }
    return f;
}

static void
render_path(const struct dec *d, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "$");

    for (unsigned i = 0; i < d->depth && used < size; i++) {
        const struct path_step *s = &d->path[i];

        if (i == PATH_DEPTH) {
            snprintf(buf + used, size - used, "...");
            return;
        }
        if (s->key != NULL) {
            used += (size_t)snprintf(buf + used, size - used, ".%.*s",
                                     (int)(s->keylen > 32 ? 32 : s->keylen),
                                     s->key);
        } else {
            used += (size_t)snprintf(buf + used, size - used, "[%u]", s->index);
        }
    }
}

/*
 * A message that does not match: AX_EPROTO or AX_ERANGE with a position,
 * in the form msg.h documents ("at $[1].size: expected ..."). The format
 * comes last: the detail has a fixed size and a long format may be cut.
 */
static int
mismatch(const struct dec *d, int err, const char *what)
{
    char path[128];

    render_path(d, path, sizeof(path));
    return ax__fail(err, "ax_msg_unpack: at %s: %s (format \"%s\" offset %td)",
                    path, what, d->fmt0, d->f - d->fmt0);
}

static int
wrong_type(const struct dec *d, const char *expected, const mp_tok *t)
{
    char what[96];

    snprintf(what, sizeof(what), "expected %s ('%c'), found %s", expected,
             *d->f, mp_kind_name(t));
    return mismatch(d, AX_EPROTO, what);
}

static int
bad_format(const struct dec *d, const char *why)
{
    return ax__fail(AX_EINVAL,
                    "ax_msg_unpack: bad format \"%s\" at offset %td: %s",
                    d->fmt0, d->f - d->fmt0, why);
}

/* Read the header of the next value into *t and move past it. */
static int
next_token(struct dec *d, mp_tok *t)
{
    size_t used = mp_next(d->p + d->off, d->n - d->off, t);

    if (used == 0) {
        return mismatch(d, AX_EPROTO, "the message ends early");
    }
    d->off += used;
    return 0;
}

/* Skip count whole values. */
static int
skip_values(struct dec *d, uint64_t count)
{
    for (; count > 0; count--) {
        size_t used = ax__mp_skip(d->p + d->off, d->n - d->off);

        if (used == 0) {
            return mismatch(d, AX_EPROTO, "the message ends early");
        }
        d->off += used;
    }
    return 0;
}

static int unpack_one(struct dec *d, const char **fp);

static int
unpack_element(struct dec *d, const char **fp, const char *key, size_t keylen,
               uint32_t index)
{
    int rc;

    if (d->depth < PATH_DEPTH) {
        d->path[d->depth] = (struct path_step){key, keylen, index};
    }
    d->depth++;
    rc = unpack_one(d, fp);
    d->depth--;
    return rc;
}

static int
unpack_array(struct dec *d, const char **fp)
{
    const char *f = *fp + 1;
    uint32_t i = 0;
    mp_tok t;
    int rc = next_token(d, &t);

    if (rc == 0 && t.kind != MP_ARRAY) {
        return wrong_type(d, "array", &t);
    }
    for (f = skip_separators(f); rc == 0 && *f != ']'; f = skip_separators(f)) {
        d->f = f;
        if (*f == '\0') {
            return bad_format(d, "unbalanced brackets");
        }
        if (*f == '*') {
            f = skip_separators(f + 1);
            if (*f != ']') {
                return bad_format(d, "'*' must end an array");
            }
            rc = skip_values(d, t.len - i);
            i = t.len;
            break;
        }
        if (i >= t.len) {
            return mismatch(d, AX_EPROTO,
                            "the array has fewer elements than the format");
        }
        rc = unpack_element(d, &f, NULL, 0, i++);
    }
    if (rc == 0 && i < t.len) {
        d->f = f;
        return mismatch(d, AX_EPROTO,
                        "the array has more elements than the format");
    }
    *fp = f + 1;
    return rc;
}

/* Find the value of key in the map of count pairs at start; 0 if absent. */
static size_t
find_key(const struct dec *d, size_t start, uint32_t count, const char *key)
{
    size_t keylen = strlen(key);
    size_t off = start;
    mp_tok t;

    for (uint32_t j = 0; j < count; j++) {
        size_t used = mp_next(d->p + off, d->n - off, &t);

        if (used == 0) {
            return 0;
        }
        if (t.kind == MP_STR && t.len == keylen &&
            memcmp(t.ptr, key, keylen) == 0) {
            return off + used;
        }
        off += ax__mp_skip(d->p + off, d->n - off);
        off += ax__mp_skip(d->p + off, d->n - off);
    }
    return 0;
}

static int
unpack_map(struct dec *d, const char **fp)
{
    const char *f = *fp + 1;
    size_t start;
    mp_tok t;
    int rc = next_token(d, &t);

    if (rc == 0 && t.kind != MP_MAP) {
        return wrong_type(d, "map", &t);
    }
    start = d->off;
    for (f = skip_separators(f); rc == 0 && *f != '}'; f = skip_separators(f)) {
        const char *key;
        size_t at;

        d->f = f;
        if (*f != 's') {
            return bad_format(d, *f ? "map keys in unpack must be 's'"
                                    : "unbalanced brackets");
        }
        key = va_arg(*d->ap, const char *);
        if (key == NULL) {
            return ax__fail(AX_EINVAL, "ax_msg_unpack: NULL map key");
        }
        at = find_key(d, start, t.len, key);
        if (at == 0) {
            char what[96];

            snprintf(what, sizeof(what), "missing key \"%.40s\"", key);
            return mismatch(d, AX_EPROTO, what);
        }
        d->off = at;
        f++;
        rc = unpack_element(d, &f, key, strlen(key), 0);
    }
    if (rc == 0) {
        d->off = start;
        rc = skip_values(d, 2 * (uint64_t)t.len);
    }
    *fp = f + 1;
    return rc;
}

static int
unpack_int(struct dec *d, const mp_tok *t, char c)
{
    bool neg = t->kind == MP_INT;

    if (t->kind != MP_UINT && !neg) {
        return wrong_type(d, "integer", t);
    }
    if ((c == 'u' && neg) || (c == 'i' && !neg && t->v.u > INT64_MAX) ||
        (c == 'd' && (neg ? t->v.i < INT_MIN : t->v.u > INT_MAX))) {
        return mismatch(d, AX_ERANGE, "integer out of range for the C type");
    }
    if (c == 'd') {
        int *out = va_arg(*d->ap, int *);

        if (d->store && out) {
            *out = neg ? (int)t->v.i : (int)t->v.u;
        }
    } else if (c == 'i') {
        int64_t *out = va_arg(*d->ap, int64_t *);

        if (d->store && out) {
            *out = neg ? t->v.i : (int64_t)t->v.u;
        }
    } else {
        uint64_t *out = va_arg(*d->ap, uint64_t *);

        if (d->store && out) {
            *out = t->v.u;
        }
    }
    return 0;
}

/* Store a pointer and a length (s, S, B, x). */
static void
store_span(struct dec *d, const void *p, size_t len)
{
    const void **pp = va_arg(*d->ap, const void **);
    size_t *lp = va_arg(*d->ap, size_t *);

    if (d->store) {
        if (pp) {
            *pp = p;
        }
        if (lp) {
            *lp = len;
        }
    }
}

static int
unpack_scalar(struct dec *d, char c)
{
    mp_tok t;
    int rc = next_token(d, &t);

    if (rc < 0) {
        return rc;
    }
    switch (c) {
    case 'n':
        return t.kind == MP_NIL ? 0 : wrong_type(d, "nil", &t);
    case 'b': {
        bool *out = va_arg(*d->ap, bool *);

        if (t.kind != MP_BOOL) {
            return wrong_type(d, "boolean", &t);
        }
        if (d->store && out) {
            *out = t.v.b;
        }
        return 0;
    }
    case 'd':
    case 'i':
    case 'u':
        return unpack_int(d, &t, c);
    case 'f': {
        double *out = va_arg(*d->ap, double *);
        double v = t.kind == MP_UINT  ? (double)t.v.u
                   : t.kind == MP_INT ? (double)t.v.i
                                      : t.v.f;

        if (t.kind != MP_FLOAT32 && t.kind != MP_FLOAT64 && t.kind != MP_UINT &&
            t.kind != MP_INT) {
            return wrong_type(d, "float", &t);
        }
        if (d->store && out) {
            *out = v;
        }
        return 0;
    }
    case 's':
    case 'S':
        if (t.kind != MP_STR) {
            return wrong_type(d, "string", &t);
        }
        store_span(d, t.ptr, t.len);
        return 0;
    case 'B':
        if (t.kind != MP_BIN) {
            return wrong_type(d, "binary", &t);
        }
        store_span(d, t.ptr, t.len);
        return 0;
    default: { /* 'p' */
        ax_pid *out = va_arg(*d->ap, ax_pid *);

        if (t.kind != MP_EXT || t.ext_type != AX_PID_EXT || t.len != 16) {
            return wrong_type(d, "address", &t);
        }
        if (d->store && out) {
            out->node = mp_load64(t.ptr);
            out->id = mp_load64(t.ptr + 8);
        }
        return 0;
    }
    }
}

/* Unpack the one value whose code starts at *fp; move *fp past it. */
static int
unpack_one(struct dec *d, const char **fp)
{
    const char *f = skip_separators(*fp);
    size_t start = d->off;
    int rc;

    d->f = f;
    *fp = f + 1;
    switch (*f) {
    case '[':
        *fp = f;
        return unpack_array(d, fp);
    case '{':
        *fp = f;
        return unpack_map(d, fp);
    case '_':
        return skip_values(d, 1);
    case 'x':
        rc = skip_values(d, 1);
        if (rc == 0) {
            store_span(d, d->p + start, d->off - start);
        }
        return rc;
    case '\0':
        return bad_format(d, "a value is missing");
    default:
        if (strchr("nbdiufsSBp", *f) == NULL) {
            return bad_format(d, "unknown code");
        }
        return unpack_scalar(d, *f);
    }
}

/*
 * Check the syntax of the value whose code starts at *fp and move *fp past
 * it. The walk above stops at the first part of the message that does not
 * match, so without this a malformed format would be reported as a
 * mismatch (or not at all) depending on the message.
 */
static int
check_value(struct dec *d, const char **fp)
{
    const char *f = skip_separators(*fp);
    char close;
    int rc = 0;

    d->f = f;
    if (*f != '[' && *f != '{') {
        if (*f == '\0' || *f == ']' || *f == '}') {
            return bad_format(d, "a value is missing");
        }
        if (strchr("nbdiufsSBpx_", *f) == NULL) {
            return bad_format(d, "unknown code");
        }
        *fp = f + 1;
        return 0;
    }
    close = *f == '[' ? ']' : '}';
    for (f = skip_separators(f + 1); rc == 0 && *f != close;
         f = skip_separators(f)) {
        d->f = f;
        if (*f == '\0' || *f == ']' || *f == '}') {
            return bad_format(d, "unbalanced brackets");
        }
        if (close == ']' && *f == '*') {
            f = skip_separators(f + 1);
            if (*f != ']') {
                return bad_format(d, "'*' must end an array");
            }
            break;
        }
        if (close == '}') {
            if (*f != 's') {
                return bad_format(d, "map keys in unpack must be 's'");
            }
            f++; /* the key; its value follows */
        }
        rc = check_value(d, &f);
    }
    *fp = f + 1;
    return rc;
}

/* Check that fmt is exactly one well-formed value. */
static int
check_format(const char *fmt)
{
    struct dec d;
    const char *f = fmt;
    int rc;

    d.fmt0 = fmt;
    d.f = fmt;
    d.depth = 0;
    rc = check_value(&d, &f);
    f = skip_separators(f);
    if (rc == 0 && *f != '\0') {
        d.f = f;
        return bad_format(&d, *f == ']' || *f == '}'
                                  ? "unbalanced brackets"
                                  : "more than one top-level value");
    }
    return rc;
}

static int
unpack_pass(const ax_msg *m, const char *fmt, va_list ap, bool store)
{
    struct dec d; /* path[] is written before it is read: not cleared */
    const char *f = fmt;
    va_list aq;
    int rc;

    d.p = m->data;
    d.n = m->len;
    d.off = 0;
    d.store = store;
    d.fmt0 = fmt;
    d.f = fmt;
    d.depth = 0;
    va_copy(aq, ap);
    d.ap = &aq;
    rc = unpack_one(&d, &f);
    va_end(aq);
    if (rc == 0 && *skip_separators(f) != '\0') {
        d.f = skip_separators(f);
        return bad_format(&d, "more than one top-level value");
    }
    if (rc == 0 && d.off != d.n) {
        return mismatch(&d, AX_EPROTO, "bytes left after the value");
    }
    return rc;
}

int
ax_msg_vunpack(const ax_msg *m, const char *fmt, va_list ap)
{
    int rc;

    AX_REQUIRE(m != NULL && fmt != NULL, "ax_msg_unpack: NULL argument");
    rc = check_format(fmt);
    if (rc < 0) {
        return rc;
    }
    /* One scalar either matches or fails before anything is stored: one
     * pass is enough. Containers are checked whole before any store. */
    if (*skip_separators(fmt) != '[' && *skip_separators(fmt) != '{') {
        return unpack_pass(m, fmt, ap, true);
    }
    rc = unpack_pass(m, fmt, ap, false);
    return rc < 0 ? rc : unpack_pass(m, fmt, ap, true);
}

int
ax_msg_unpack(const ax_msg *m, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = ax_msg_vunpack(m, fmt, ap);
    va_end(ap);
    return rc;
}
