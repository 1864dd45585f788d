/*
 * serialize/validate.c - check untrusted bytes before anything reads them.
 *
 * One pass, no recursion, memory bounded by max_depth. The key check is
 * `pending <= bytes left`: every value takes at least one byte, so a header
 * that announces more elements than bytes remain is a lie and is refused
 * at once. That is what stops `dd ff ff ff ff` (an array of 4 billion
 * elements) or `df ff ff ff ff ...` from making anyone reserve gigabytes.
 */
#include "serialize/msg_internal.h"

#include "base/alloc.h"
#include "base/error.h"

/* Nesting levels tracked on the C stack; deeper limits use the heap. */
#define STACK_LEVELS 64

struct walk {
    const uint8_t *p;
    size_t n;
    size_t off;
    uint64_t pending; /* values announced but not read yet */
    unsigned depth;   /* open containers */
    uint64_t *left;   /* per open container: values not read yet */
    size_t elements;  /* container items announced so far */
    const ax_msg_limits *lim;
    mp_counts *counts;
};

static int
bad(const struct walk *w, const char *what)
{
    return ax__fail(AX_EPROTO, "malformed message: %s at byte %zu of %zu", what,
                    w->off, w->n);
}

/* Account for a container of `values` items that starts here. */
static int
open_container(struct walk *w, const mp_tok *t)
{
    uint64_t values = t->kind == MP_MAP ? 2 * (uint64_t)t->len : t->len;

    if (w->depth + 1 > w->lim->max_depth) {
        return bad(w, "nesting deeper than max_depth");
    }
    if (w->pending + values > w->n - w->off) {
        return bad(w, "container count larger than the bytes left");
    }
    w->elements += values;
    if (w->elements > w->lim->max_elements) {
        return bad(w, "more elements than max_elements");
    }
    if (t->kind == MP_MAP) {
        w->counts->map_pairs += t->len;
    } else {
        w->counts->array_elems += t->len;
    }
    if (w->depth + 1 > w->counts->depth) {
        w->counts->depth = w->depth + 1;
    }
    if (values > 0) {
        w->left[w->depth++] = values;
        w->pending += values;
    }
    return 0;
}

static int
walk_values(struct walk *w)
{
    mp_tok t;
    size_t used;
    int rc;

    while (w->pending > 0) {
        used = mp_next(w->p + w->off, w->n - w->off, &t);
        if (used == 0) {
            return bad(w, w->off < w->n && w->p[w->off] == 0xc1
                              ? "invalid byte 0xc1"
                              : "truncated value");
        }
        w->pending--;
        if (w->depth > 0) {
            w->left[w->depth - 1]--;
        }
        if (t.kind == MP_EXT && t.ext_type == AX_PID_EXT && t.len != 16) {
            return bad(w, "address extension that is not 16 bytes");
        }
        w->off += used;
        if (t.kind == MP_ARRAY || t.kind == MP_MAP) {
            rc = open_container(w, &t);
            if (rc < 0) {
                return rc;
            }
        }
        while (w->depth > 0 && w->left[w->depth - 1] == 0) {
            w->depth--;
        }
    }
    return 0;
}

int
ax__mp_validate(const uint8_t *p, size_t n, const ax_msg_limits *lim,
                mp_counts *counts)
{
    uint64_t levels[STACK_LEVELS];
    mp_counts ignored = {0, 0, 0};
    struct walk w = {p, n, 0, 1, 0, levels, 0, lim, counts ? counts : &ignored};
    int rc;

    if (n > lim->max_size) {
        return ax__fail(AX_EMSGSIZE, "message of %zu bytes over max_size %zu",
                        n, lim->max_size);
    }
    if (n == 0) {
        return bad(&w, "empty message");
    }
    w.counts->array_elems = 0;
    w.counts->map_pairs = 0;
    w.counts->depth = 0;
    if (lim->max_depth > STACK_LEVELS) {
        w.left = ax__alloc(lim->max_depth * sizeof(*w.left));
        if (w.left == NULL) {
            return AX_ENOMEM;
        }
    }
    rc = walk_values(&w);
    if (rc == 0 && w.off != n) {
        rc = bad(&w, "trailing bytes after the value");
    }
    if (w.left != levels) {
        ax__free(w.left);
    }
    return rc;
}

size_t
ax__mp_skip(const uint8_t *p, size_t n)
{
    uint64_t pending = 1;
    size_t off = 0;
    size_t used;
    mp_tok t;

    while (pending > 0) {
        used = mp_next(p + off, n - off, &t);
        if (used == 0) {
            return 0;
        }
        off += used;
        pending--;
        if (t.kind == MP_ARRAY) {
            pending += t.len;
        } else if (t.kind == MP_MAP) {
            pending += 2 * (uint64_t)t.len;
        }
    }
    return off;
}
