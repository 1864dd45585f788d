/*
 * serialize/msg.c - the message object: allocation, limits, accessors.
 *
 * A message is one allocation: the struct, then the encoded bytes inline.
 * Only a message that adopts a large frame body (ax_msg_adopt) points
 * outside itself, so reading a 256 MiB frame never copies it again.
 */
#include "serialize/msg_internal.h"

#include "base/alloc.h"
#include "base/error.h"

/*
 * Largest max_size: 4 GiB - 64, so a message fits a 32-bit frame length
 * with room for the frame header.
 */
#define MSG_SIZE_CEILING ((size_t)UINT32_MAX - 63)

static ax_msg_limits limits = {
    AX_MSG_DEFAULT_MAX_SIZE,
    AX_MSG_DEFAULT_MAX_DEPTH,
    AX_MSG_DEFAULT_MAX_ELEMENTS,
};

const ax_msg_limits *
ax__msg_limits(void)
{
    return &limits;
}

void
ax_msg_limits_get(ax_msg_limits *out)
{
    AX_REQUIRE(out != NULL, "ax_msg_limits_get: out is NULL");
    *out = limits;
}

int
ax_msg_limits_set(const ax_msg_limits *lim)
{
    ax_msg_limits next;

    AX_REQUIRE(lim != NULL, "ax_msg_limits_set: lim is NULL");
    next.max_size = lim->max_size ? lim->max_size : AX_MSG_DEFAULT_MAX_SIZE;
    next.max_depth = lim->max_depth ? lim->max_depth : AX_MSG_DEFAULT_MAX_DEPTH;
    next.max_elements =
        lim->max_elements ? lim->max_elements : AX_MSG_DEFAULT_MAX_ELEMENTS;
    if (next.max_depth > AX_MSG_MAX_DEPTH_LIMIT) {
        return ax__fail(AX_EINVAL, "ax_msg_limits_set: max_depth %u > %u",
                        next.max_depth, AX_MSG_MAX_DEPTH_LIMIT);
    }
    if (next.max_size > MSG_SIZE_CEILING) {
        return ax__fail(AX_EINVAL, "ax_msg_limits_set: max_size %zu > %zu",
                        next.max_size, MSG_SIZE_CEILING);
    }
    limits = next;
    return 0;
}

ax_msg *
ax__msg_new(size_t cap)
{
    ax_msg *m = ax__alloc(sizeof(*m) + cap);

    if (m == NULL) {
        return NULL;
    }
    m->next = NULL;
    m->from = AX_PID_NONE;
    m->ref = 0;
    m->kind = 0;
    m->data = m->inline_data;
    m->len = 0;
    m->cap = cap;
    m->obj = NULL;
    return m;
}

int
ax__msg_reserve(ax_msg **mp, size_t extra)
{
    ax_msg *m = *mp;
    size_t need = m->len + extra;
    size_t cap;

    /* Checked before the capacity: the first buffer may exceed max_size. */
    if (need > limits.max_size || need < m->len) {
        return ax__fail(AX_EMSGSIZE, "message larger than max_size (%zu)",
                        limits.max_size);
    }
    if (need <= m->cap) {
        return 0;
    }
    cap = m->cap * 2 > need ? m->cap * 2 : need;
    m = ax__realloc(m, sizeof(*m) + cap);
    if (m == NULL) {
        return AX_ENOMEM;
    }
    m->data = m->inline_data;
    m->cap = cap;
    *mp = m;
    return 0;
}

void
ax_msg_free(ax_msg *m)
{
    if (m == NULL) {
        return;
    }
    if (m->obj != NULL) {
        ax__free(m->obj);
    }
    if (m->data != m->inline_data) {
        ax__free_sized(m->data, m->len);
    }
    ax__free_sized(m, sizeof(*m) + m->cap);
}

int
ax_msg_from_bytes(ax_msg **out, const void *data, size_t len)
{
    ax_msg *m;
    int rc;

    AX_REQUIRE(out != NULL && (data != NULL || len == 0),
               "ax_msg_from_bytes: NULL argument");
    rc = ax__mp_validate(data, len, &limits, NULL);
    if (rc < 0) {
        return rc;
    }
    m = ax__msg_new(len);
    if (m == NULL) {
        return AX_ENOMEM;
    }
    memcpy(m->data, data, len);
    m->len = len;
    *out = m;
    return 0;
}

int
ax_msg_adopt(ax_msg **out, void *buf, size_t len)
{
    ax_msg *m;
    int rc;

    AX_REQUIRE(out != NULL && buf != NULL, "ax_msg_adopt: NULL argument");
    rc = ax__mp_validate(buf, len, &limits, NULL);
    if (rc < 0) {
        return rc;
    }
    m = ax__msg_new(0);
    if (m == NULL) {
        return AX_ENOMEM;
    }
    m->data = buf;
    m->len = len;
    *out = m;
    return 0;
}

int
ax_msg_dup(ax_msg **out, const ax_msg *m)
{
    ax_msg *copy;

    AX_REQUIRE(out != NULL && m != NULL, "ax_msg_dup: NULL argument");
    copy = ax__msg_new(m->len);
    if (copy == NULL) {
        return AX_ENOMEM;
    }
    memcpy(copy->data, m->data, m->len);
    copy->len = m->len;
    copy->from = m->from;
    copy->ref = m->ref;
    *out = copy;
    return 0;
}

const void *
ax_msg_data(const ax_msg *m, size_t *len)
{
    AX_REQUIRE(m != NULL, "ax_msg_data: message is NULL");
    if (len != NULL) {
        *len = m->len;
    }
    return m->data;
}

size_t
ax_msg_size(const ax_msg *m)
{
    AX_REQUIRE(m != NULL, "ax_msg_size: message is NULL");
    return m->len;
}

ax_pid
ax_msg_sender(const ax_msg *m)
{
    AX_REQUIRE(m != NULL, "ax_msg_sender: message is NULL");
    return m->from;
}

bool
ax__msg_has_tag(const ax_msg *m, const char *tag, size_t taglen)
{
    mp_tok t;
    size_t used = mp_next(m->data, m->len, &t);

    if (used == 0 || t.kind != MP_ARRAY || t.len == 0) {
        return false;
    }
    if (mp_next(m->data + used, m->len - used, &t) == 0) {
        return false;
    }
    return t.kind == MP_STR && t.len == taglen &&
           memcmp(t.ptr, tag, taglen) == 0;
}

bool
ax_msg_has_tag(const ax_msg *m, const char *tag)
{
    AX_REQUIRE(m != NULL && tag != NULL, "ax_msg_has_tag: NULL argument");
    return ax__msg_has_tag(m, tag, strlen(tag));
}
