/*
 * serialize/msg_internal.h - the layout of ax_msg and the helpers the
 * serialize files share (internal).
 */
#ifndef AXON_SERIALIZE_MSG_INTERNAL_H
#define AXON_SERIALIZE_MSG_INTERNAL_H

#include <stdarg.h>

#include <axon/msg.h>

#include "serialize/mp.h"

struct ax_msg {
    struct ax_msg *next; /* link for the queue that holds the message
                            (mailbox, write queue); owned by that queue */
    ax_pid from;         /* sender, set by whoever sends the message */
    uint64_t ref;        /* the runtime's: request reference of a call */
    uint8_t kind;        /* the runtime's: plain, call request, reply */
    uint8_t *data;       /* encoded value: inline_data or an adopted buffer */
    size_t len;          /* bytes used at data */
    size_t cap;          /* bytes of inline_data; 0 when data is adopted */
    msgpack_object *obj; /* ax_msg_object's tree, built on first use */
    uint8_t inline_data[];
};

/* What ax__mp_validate counted, for sizing ax_msg_object's tree. */
typedef struct mp_counts {
    size_t array_elems; /* array elements, all arrays together */
    size_t map_pairs;   /* key/value pairs, all maps together */
    unsigned depth;     /* deepest nesting of arrays/maps (0: a scalar) */
} mp_counts;

/* The limits in force (never NULL). */
const ax_msg_limits *ax__msg_limits(void);

/*
 * ax__mp_validate - check that p[0..n) is exactly one well-formed value
 * within the limits. counts may be NULL.
 * Returns 0, AX_EMSGSIZE, AX_EPROTO (with a detail) or AX_ENOMEM.
 */
int ax__mp_validate(const uint8_t *p, size_t n, const ax_msg_limits *lim,
                    mp_counts *counts);

/*
 * ax__mp_skip - the length of the (already validated) value at p[0..n),
 * or 0 if it is not complete.
 */
size_t ax__mp_skip(const uint8_t *p, size_t n);

/* ax__msg_has_tag - ax_msg_has_tag with the tag's length known. */
bool ax__msg_has_tag(const ax_msg *m, const char *tag, size_t taglen);

/* ax__msg_new - a message with room for cap inline bytes, len 0. */
ax_msg *ax__msg_new(size_t cap);

/*
 * ax__msg_reserve - make room for extra more bytes at the end of *mp (which
 * must use inline storage), moving it if needed.
 * Returns 0, AX_EMSGSIZE (past max_size) or AX_ENOMEM (*mp unchanged).
 */
int ax__msg_reserve(ax_msg **mp, size_t extra);

/* The encoder both ax_msg_pack and the writer use (pack.c). */
typedef struct mp_enc {
    ax_msg *m;        /* message being written (inline storage) */
    size_t elements;  /* container items written, against max_elements */
    unsigned depth;   /* current nesting, against max_depth */
    const char *fmt0; /* whole format, for error offsets */
} mp_enc;

/*
 * ax__pack_values - append the values described by fmt to e->m.
 * want_one: the format must hold exactly one value (ax_msg_pack).
 * Returns 0, AX_EINVAL, AX_EMSGSIZE, AX_EPROTO ('x' bytes) or AX_ENOMEM.
 */
int ax__pack_values(mp_enc *e, const char *fmt, va_list *ap, int want_one);

/* ax__enc_put - append raw bytes. */
int ax__enc_put(mp_enc *e, const void *p, size_t n);

/*
 * ax__enc_bytes - append a string or binary: put's header for n, then the
 * n bytes at p (NULL only with n of 0).
 * Returns 0, AX_EINVAL, AX_EMSGSIZE or AX_ENOMEM.
 */
int ax__enc_bytes(mp_enc *e, size_t (*put)(uint8_t *, uint32_t), const void *p,
                  size_t n);

#endif /* AXON_SERIALIZE_MSG_INTERNAL_H */
