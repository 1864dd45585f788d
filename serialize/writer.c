/*
 * serialize/writer.c - build a message with msgpack-c's packer and format
 * strings mixed, for shapes a single format cannot say (arrays whose
 * length is known only at run time, maps built in a loop).
 */
#include "serialize/msg_internal.h"

#include "base/alloc.h"
#include "base/error.h"

struct ax_msg_writer {
    mp_enc enc;        /* the message being written */
    msgpack_packer pk; /* appends through packer_write */
    int err;           /* first error met, reported by finish */
};

/* msgpack-c's write callback: append, remember the first failure. */
static int
packer_write(void *data, const char *buf, size_t len)
{
    ax_msg_writer *w = data;
    int rc;

    if (w->err < 0) {
        return -1;
    }
    rc = ax__enc_put(&w->enc, buf, len);
    if (rc < 0) {
        w->err = rc;
        return -1;
    }
    return 0;
}

int
ax_msg_writer_new(ax_msg_writer **out)
{
    ax_msg_writer *w;

    AX_REQUIRE(out != NULL, "ax_msg_writer_new: out is NULL");
    w = ax__alloc(sizeof(*w));
    if (w == NULL) {
        return AX_ENOMEM;
    }
    w->enc = (mp_enc){ax__msg_new(256), 0, 0, ""};
    if (w->enc.m == NULL) {
        ax__free(w);
        return AX_ENOMEM;
    }
    msgpack_packer_init(&w->pk, w, packer_write);
    w->err = 0;
    *out = w;
    return 0;
}

msgpack_packer *
ax_msg_writer_packer(ax_msg_writer *w)
{
    AX_REQUIRE(w != NULL, "ax_msg_writer_packer: writer is NULL");
    return &w->pk;
}

int
ax_msg_writer_packf(ax_msg_writer *w, const char *fmt, ...)
{
    va_list ap;
    int rc;

    AX_REQUIRE(w != NULL && fmt != NULL, "ax_msg_writer_packf: NULL argument");
    if (w->err < 0) {
        return w->err;
    }
    va_start(ap, fmt);
    rc = ax__pack_values(&w->enc, fmt, &ap, 0);
    va_end(ap);
    if (rc < 0) {
        w->err = rc;
    }
    return rc;
}

int
ax_msg_writer_finish(ax_msg_writer *w, ax_msg **out)
{
    ax_msg *m;
    int rc;

    AX_REQUIRE(w != NULL && out != NULL, "ax_msg_writer_finish: NULL argument");
    m = w->enc.m;
    rc = w->err;
    if (rc == 0) {
        rc = ax__mp_validate(m->data, m->len, ax__msg_limits(), NULL);
    }
    ax__free(w);
    if (rc < 0) {
        ax_msg_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void
ax_msg_writer_free(ax_msg_writer *w)
{
    if (w == NULL) {
        return;
    }
    ax_msg_free(w->enc.m);
    ax__free(w);
}
