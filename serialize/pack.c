/*
 * serialize/pack.c - build messages from format strings.
 *
 * The encoder writes msgpack straight into the message's inline storage
 * (one allocation, grown by doubling). Containers need their count before
 * their elements, so the format between brackets is counted first; formats
 * are short, so this costs less than a second pass over the arguments.
 */
#include "serialize/msg_internal.h"

#include <stdbool.h>

#include "base/alloc.h"
#include "base/error.h"

static bool
is_separator(char c)
{
    return c == ' ' || c == ',' || c == ':' || c == '\t' || c == '\n';
}

static const char *
skip_separators(const char *f)
{
    while (is_separator(*f)) {
        f++;
    }
    return f;
}

static int
bad_format(const mp_enc *e, const char *at, const char *why)
{
    return ax__fail(AX_EINVAL,
                    "ax_msg_pack: bad format \"%s\" at offset %td: %s", e->fmt0,
                    at - e->fmt0, why);
}

int
ax__enc_put(mp_enc *e, const void *p, size_t n)
{
    int rc = ax__msg_reserve(&e->m, n);

    if (rc < 0) {
        return rc;
    }
    if (n > 0) { /* p may be NULL for an empty 'S' or 'B' */
        memcpy(e->m->data + e->m->len, p, n);
        e->m->len += n;
    }
    return 0;
}

/*
 * Count the items between an opening bracket (f points after it) and its
 * closing partner. Returns the count or -1 if the brackets do not balance.
 */
static long
count_items(const char *f, char close)
{
    long count = 0;
    int nest = 0;

    for (; *f; f++) {
        if (is_separator(*f)) {
            continue;
        }
        if (*f == '[' || *f == '{') {
            if (nest++ == 0) {
                count++;
            }
        } else if (*f == ']' || *f == '}') {
            if (nest == 0) {
                return *f == close ? count : -1;
            }
            nest--;
        } else if (nest == 0) {
            count++;
        }
    }
    return -1;
}

static int
put_header(mp_enc *e, size_t (*put)(uint8_t *, uint32_t), uint32_t v)
{
    uint8_t hdr[MP_MAX_HEADER];

    return ax__enc_put(e, hdr, put(hdr, v));
}

int
ax__enc_bytes(mp_enc *e, size_t (*put)(uint8_t *, uint32_t), const void *p,
              size_t n)
{
    int rc;

    if (n > UINT32_MAX) {
        return ax__fail(AX_EMSGSIZE, "pack: %zu bytes in one value", n);
    }
    if (n > 0 && p == NULL) {
        return ax__fail(AX_EINVAL, "pack: NULL pointer with length %zu", n);
    }
    rc = put_header(e, put, (uint32_t)n);
    return rc < 0 ? rc : ax__enc_put(e, p, n);
}

/*
 * 'x': one value that is already encoded; it must be exactly one value, and
 * its containers count against the limits like those of the format.
 */
static int
put_raw(mp_enc *e, const void *p, size_t n)
{
    const ax_msg_limits *lim = ax__msg_limits();
    mp_counts c;
    int rc = ax__mp_validate(p, n, lim, &c);

    if (rc < 0) {
        return rc;
    }
    if (e->depth + c.depth > lim->max_depth) {
        return ax__fail(AX_EMSGSIZE, "ax_msg_pack: nesting over max_depth");
    }
    e->elements += c.array_elems + 2 * c.map_pairs;
    if (e->elements > lim->max_elements) {
        return ax__fail(AX_EMSGSIZE, "ax_msg_pack: over max_elements");
    }
    return ax__enc_put(e, p, n);
}

static int pack_one(mp_enc *e, const char **fp, va_list *ap);

static int
pack_container(mp_enc *e, const char **fp, va_list *ap)
{
    const char *open = *fp;
    char close = *open == '[' ? ']' : '}';
    long count = count_items(open + 1, close);
    const char *f = open + 1;
    int rc;

    if (count < 0) {
        return bad_format(e, open, "unbalanced brackets");
    }
    if (close == '}' && count % 2 != 0) {
        return bad_format(e, open, "map with an odd number of items");
    }
    if (++e->depth > ax__msg_limits()->max_depth) {
        return ax__fail(AX_EMSGSIZE, "ax_msg_pack: nesting over max_depth");
    }
    e->elements += (size_t)count;
    if (e->elements > ax__msg_limits()->max_elements) {
        return ax__fail(AX_EMSGSIZE, "ax_msg_pack: over max_elements");
    }
    rc = close == ']' ? put_header(e, mp_put_array_header, (uint32_t)count)
                      : put_header(e, mp_put_map_header, (uint32_t)count / 2);
    for (long i = 0; rc == 0 && i < count; i++) {
        rc = pack_one(e, &f, ap);
    }
    e->depth--;
    *fp = skip_separators(f) + 1; /* past the closing bracket */
    return rc;
}

static int
pack_scalar(mp_enc *e, char c, va_list *ap)
{
    uint8_t b[MP_MAX_HEADER];
    const char *s;
    const void *p;
    size_t n;

    switch (c) {
    case 'n':
        b[0] = 0xc0;
        return ax__enc_put(e, b, 1);
    case 'b':
        b[0] = va_arg(*ap, int) ? 0xc3 : 0xc2;
        return ax__enc_put(e, b, 1);
    case 'd':
        return ax__enc_put(e, b, mp_put_int(b, va_arg(*ap, int)));
    case 'i':
        return ax__enc_put(e, b, mp_put_int(b, va_arg(*ap, int64_t)));
    case 'u':
        return ax__enc_put(e, b, mp_put_uint(b, va_arg(*ap, uint64_t)));
    case 'f':
        return ax__enc_put(e, b, mp_put_double(b, va_arg(*ap, double)));
    case 's':
        s = va_arg(*ap, const char *);
        if (s == NULL) {
            return ax__fail(AX_EINVAL, "ax_msg_pack: NULL string for 's'");
        }
        return ax__enc_bytes(e, mp_put_str_header, s, strlen(s));
    case 'S':
        s = va_arg(*ap, const char *);
        n = va_arg(*ap, size_t);
        return ax__enc_bytes(e, mp_put_str_header, s, n);
    case 'B':
        p = va_arg(*ap, const void *);
        n = va_arg(*ap, size_t);
        return ax__enc_bytes(e, mp_put_bin_header, p, n);
    case 'x':
        p = va_arg(*ap, const void *);
        n = va_arg(*ap, size_t);
        return put_raw(e, p, n);
    default: { /* 'p' */
        ax_pid pid = va_arg(*ap, ax_pid);

        return ax__enc_put(e, b, mp_put_pid(b, pid.node, pid.id));
    }
    }
}

/* Whether c is a scalar's code (a switch: no strchr per value). */
static bool
is_scalar_code(char c)
{
    switch (c) {
    case 'n':
    case 'b':
    case 'd':
    case 'i':
    case 'u':
    case 'f':
    case 's':
    case 'S':
    case 'B':
    case 'p':
    case 'x':
        return true;
    default:
        return false;
    }
}

/* Pack the one value that starts at *fp and move *fp past it. */
static int
pack_one(mp_enc *e, const char **fp, va_list *ap)
{
    const char *f = skip_separators(*fp);

    if (*f == '[' || *f == '{') {
        *fp = f;
        return pack_container(e, fp, ap);
    }
    if (!is_scalar_code(*f)) {
        return bad_format(e, f, *f ? "unknown code" : "a value is missing");
    }
    *fp = f + 1;
    return pack_scalar(e, *f, ap);
}

int
ax__pack_values(mp_enc *e, const char *fmt, va_list *ap, int want_one)
{
    const char *f = skip_separators(fmt);
    int rc;

    e->fmt0 = fmt;
    if (*f == '\0') {
        return bad_format(e, f, "no value");
    }
    do {
        rc = pack_one(e, &f, ap);
        f = skip_separators(f);
    } while (rc == 0 && !want_one && *f != '\0');
    if (rc == 0 && *f != '\0') {
        return bad_format(e, f, "more than one top-level value");
    }
    return rc;
}

int
ax_msg_vpack(ax_msg **out, const char *fmt, va_list ap)
{
    mp_enc e = {NULL, 0, 0, fmt};
    va_list aq;
    int rc;

    AX_REQUIRE(out != NULL && fmt != NULL, "ax_msg_pack: NULL argument");
    e.m = ax__msg_new(64 + 2 * strlen(fmt));
    if (e.m == NULL) {
        return AX_ENOMEM;
    }
    va_copy(aq, ap);
    rc = ax__pack_values(&e, fmt, &aq, 1);
    va_end(aq);
    if (rc < 0) {
        ax_msg_free(e.m);
        return rc;
    }
    *out = e.m;
    return 0;
}

int
ax_msg_pack(ax_msg **out, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = ax_msg_vpack(out, fmt, ap);
    va_end(ap);
    return rc;
}
