/*
 * axon/msg.h - messages: one msgpack value, built and read by format strings.
 *
 * An ax_msg is an opaque, immutable msgpack value (usually an array whose
 * first element is a tag string) plus the address of its sender. It is one
 * allocation in the common case. It is what actors send and receive, and
 * its bytes are exactly the body of a frame on the wire (docs/wire.md).
 *
 * Format strings (the same codes build and read; see docs/messages.md):
 *
 *   code  pack argument(s)              unpack argument(s)
 *   n     -                             -               nil
 *   b     int (0 or not)                bool *          boolean
 *   d     int                           int *           integer
 *   i     int64_t                       int64_t *       integer
 *   u     uint64_t                      uint64_t *      integer >= 0
 *   f     double                        double *        float (ints accepted)
 *   s     const char * (NUL-terminated) const char **, size_t *   string
 *   S     const char *, size_t          const char **, size_t *   string
 *   B     const void *, size_t          const void **, size_t *   binary
 *   p     ax_pid                        ax_pid *        actor address
 *   x     const void *, size_t          const void **, size_t *
 *         (one msgpack value, already encoded: embedded / returned raw)
 *   _     -                             -               any value (skipped)
 *   [ ]   array of the values inside
 *   { }   map: keys and values alternate. In unpack, each key is given as an
 *         argument (const char *) and looked up, so order does not matter
 *         and other keys are ignored; a missing key is an error.
 *   *     unpack only, last in an array: any further elements are ignored
 *
 * Spaces, commas and colons are separators and mean nothing: "{s:i, s:f}".
 * Unpack output pointers may be NULL: the value is type-checked, not stored.
 * Strings and binaries returned by unpack point into the message (no copy)
 * and stay valid while the message lives; they are not NUL-terminated.
 *
 * Pass 64-bit arguments as 64-bit values: ax_msg_pack(&m, "i", (int64_t)5).
 * Use 'd' for plain int arguments.
 */
#ifndef AXON_MSG_H
#define AXON_MSG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include <axon/pid.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ax_msg ax_msg;
typedef struct ax_msg_writer ax_msg_writer;

/*
 * Limits applied to every message that comes from bytes (ax_msg_from_bytes,
 * ax_msg_adopt, ax_msg_writer_finish) before anything else reads them, and
 * to every message built here. They bound memory against hostile input:
 * a count that claims more elements than bytes remain is rejected at once.
 */
typedef struct ax_msg_limits {
    size_t max_size;     /* bytes of one encoded message; default 64 MiB */
    unsigned max_depth;  /* nesting of arrays/maps; default 64, at most 1024 */
    size_t max_elements; /* array elements + map keys and values in one
                            message; default 4,194,304 (ax_msg_object needs
                            24 bytes for each) */
} ax_msg_limits;

#define AX_MSG_DEFAULT_MAX_SIZE ((size_t)64 << 20)
#define AX_MSG_DEFAULT_MAX_DEPTH 64u
#define AX_MSG_MAX_DEPTH_LIMIT 1024u
#define AX_MSG_DEFAULT_MAX_ELEMENTS ((size_t)4 << 20)

/*
 * ax_msg_limits_get - the limits in force in this process.
 * Context: anywhere.
 */
void ax_msg_limits_get(ax_msg_limits *out);

/*
 * ax_msg_limits_set - replace the limits of this process. A zero field
 * keeps the default for that field.
 *
 * Returns 0, or AX_EINVAL if max_depth exceeds AX_MSG_MAX_DEPTH_LIMIT or
 * max_size exceeds 4 GiB - 64 (a frame's length field is 32 bits); nothing
 * changes then.
 * Context: process-wide and not thread-safe: set limits before starting
 * anything that uses messages.
 */
int ax_msg_limits_set(const ax_msg_limits *lim);

/*
 * ax_msg_pack - build a message from a format string and arguments.
 *
 * Returns 0 and stores the message in *out, or:
 *   AX_EINVAL   the format is malformed (unbalanced brackets, unknown code,
 *               a map with an odd number of items, not exactly one value at
 *               the top level); ax_error_detail() names the offset. Also a
 *               NULL 's' string, or a NULL pointer with a nonzero length;
 *   AX_EMSGSIZE the encoding exceeds a limit (max_size, max_depth or
 *               max_elements, counting values embedded with 'x');
 *   AX_EPROTO   an 'x' argument is not exactly one well-formed value;
 *   AX_ENOMEM   out of memory.
 * On failure *out is untouched.
 * Ownership: the caller owns *out; release it with ax_msg_free (or give it
 * away with a send). Strings and binaries are copied into the message.
 * Context: anywhere.
 */
int ax_msg_pack(ax_msg **out, const char *fmt, ...);
int ax_msg_vpack(ax_msg **out, const char *fmt, va_list ap);

/*
 * ax_msg_unpack - read a message according to a format string.
 *
 * The whole message must match the format, which describes exactly one
 * value. Nothing is stored unless everything matches.
 * Returns 0, or:
 *   AX_EPROTO   the message does not match; ax_error_detail() names the
 *               position, e.g. "at $[1].size: expected integer ('i'),
 *               found string", or a missing map key;
 *   AX_ERANGE   an integer does not fit the requested C type;
 *   AX_EINVAL   the format is malformed.
 * Ownership: pointers stored point into m; they live as long as m.
 * Context: anywhere.
 */
int ax_msg_unpack(const ax_msg *m, const char *fmt, ...);
int ax_msg_vunpack(const ax_msg *m, const char *fmt, va_list ap);

/*
 * ax_msg_has_tag - whether m is an array whose first element is the string
 * tag (the convention for telling messages apart: ["ping", ...]).
 * Context: anywhere.
 */
bool ax_msg_has_tag(const ax_msg *m, const char *tag);

/*
 * ax_msg_from_bytes - make a message from one encoded msgpack value (a
 * copy of data[0..len)), checking it against the limits first.
 *
 * Returns 0, or AX_EMSGSIZE (len over max_size), AX_EPROTO (not exactly one
 * well-formed value, too deep, too many elements, a count larger than the
 * bytes left, a malformed address; see ax_error_detail()), AX_ENOMEM.
 * Ownership: the caller owns *out; data is not kept.
 * Context: anywhere.
 */
int ax_msg_from_bytes(ax_msg **out, const void *data, size_t len);

/*
 * ax_msg_adopt - like ax_msg_from_bytes, but takes a buffer of axon's (from
 * ax_frame_take) instead of copying it.
 *
 * Returns as ax_msg_from_bytes.
 * Ownership: on success the message owns buf; on failure the caller still
 * does (release it with ax_free).
 */
int ax_msg_adopt(ax_msg **out, void *buf, size_t len);

/*
 * ax_msg_dup - a copy of m (same bytes, same sender) for a second owner.
 * Returns 0 or AX_ENOMEM.
 */
int ax_msg_dup(ax_msg **out, const ax_msg *m);

/* ax_msg_free - release a message and everything it owns. Accepts NULL. */
void ax_msg_free(ax_msg *m);

/*
 * ax_msg_data - the encoded msgpack bytes of m; their length in *len.
 * Ownership: the bytes belong to m.
 */
const void *ax_msg_data(const ax_msg *m, size_t *len);

/* ax_msg_size - the length of the encoded bytes of m. */
size_t ax_msg_size(const ax_msg *m);

/*
 * ax_msg_sender - the address of the actor that sent m (AX_PID_NONE if it
 * was never sent, or was sent from outside any actor).
 */
ax_pid ax_msg_sender(const ax_msg *m);

/*
 * ax_msg_object - the message as a msgpack-c object tree, for values no
 * format can describe (unknown shapes, iteration over maps).
 *
 * The tree is built on first use in one allocation and cached in m; its
 * strings point into m. An address appears as MSGPACK_OBJECT_EXT with type
 * AX_PID_EXT (decode it with ax_msg_object_pid).
 * Returns 0 and stores a pointer in *out, or AX_ENOMEM.
 * Ownership: *out belongs to m and lives as long as m.
 * Context: anywhere; not thread-safe on one message.
 */
int ax_msg_object(ax_msg *m, const msgpack_object **out);

/*
 * ax_msg_object_pid - decode an address from a msgpack-c object.
 * Returns 0, or AX_EPROTO if o is not an address extension.
 */
int ax_msg_object_pid(const msgpack_object *o, ax_pid *out);

/*
 * ax_msg_writer_new - start building a message piece by piece: with the
 * msgpack-c packer (anything msgpack can say) and with format strings
 * (ax_msg_writer_packf), mixed freely, for exactly one top-level value.
 *
 * Returns 0 or AX_ENOMEM.
 * Ownership: the caller owns *out until ax_msg_writer_finish or
 * ax_msg_writer_free.
 */
int ax_msg_writer_new(ax_msg_writer **out);

/*
 * ax_msg_writer_packer - the msgpack-c packer that appends to w.
 * Pack addresses with ax_msg_writer_packf(w, "p", pid) (or as fixext 16 of
 * type AX_PID_EXT). Packer errors (out of memory, too large) are remembered
 * and reported by ax_msg_writer_finish.
 * Ownership: belongs to w.
 */
msgpack_packer *ax_msg_writer_packer(ax_msg_writer *w);

/*
 * ax_msg_writer_packf - append the values of a format string to w.
 * Returns 0, AX_EINVAL (malformed format), AX_EMSGSIZE, AX_EPROTO (a bad
 * 'x' value) or AX_ENOMEM, as ax_msg_pack; after an error every later call
 * returns it again and ax_msg_writer_finish reports it. The format may
 * hold several values: they are appended one after the other (e.g. the
 * elements of an array begun with msgpack_pack_array).
 */
int ax_msg_writer_packf(ax_msg_writer *w, const char *fmt, ...);

/*
 * ax_msg_writer_finish - turn what was written into a message.
 *
 * The bytes are checked like ax_msg_from_bytes: they must be exactly one
 * well-formed value (an array header with too few elements after it is
 * AX_EPROTO).
 * Returns 0, or the first error met while writing, or AX_EPROTO,
 * AX_EMSGSIZE, AX_ENOMEM.
 * Ownership: always consumes w (success or not); the caller owns *out.
 */
int ax_msg_writer_finish(ax_msg_writer *w, ax_msg **out);

/* ax_msg_writer_free - abandon a writer. Accepts NULL. */
void ax_msg_writer_free(ax_msg_writer *w);

#ifdef __cplusplus
}
#endif
#endif /* AXON_MSG_H */
