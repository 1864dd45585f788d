/*
 * axon/values.h - messages built from C values, each packed by its C type.
 *
 * A format string says twice what the arguments already say, and the
 * compiler checks neither: `ax_sendf(p, "[s i]", "x", 5)` passes an int
 * where 'i' reads an int64_t. AX_SEND and AX_PACK take the values alone
 * and pack each by its type, chosen at compile time (C11 _Generic):
 *
 *     AX_SEND(worker, "sq", n);             sends ["sq", n]
 *     AX_SEND(log, "at", ax_self(), 2.5);   sends ["at", <pid>, 2.5]
 *     AX_SEND(sink, "data", AX_BIN(buf, len), AX_NIL);
 *
 * Integers of any C type become msgpack integers (read back with 'd',
 * 'i' or 'u'), float and double a float ('f'), _Bool true/false ('b'),
 * char * and const char * a string ('s'; NULL is AX_EINVAL), ax_pid an
 * address ('p'); AX_BIN(p, n) a binary ('B'), AX_NIL nil ('n'). A value
 * of any other type (a struct, a void *, a pointer to int) does not
 * compile. 1 to 16 values, always packed as one array.
 *
 * The macros are C only (C++ has no _Generic); ax_msg_pack_values and
 * ax_send_values, which they call, work from both.
 */
#ifndef AXON_VALUES_H
#define AXON_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <axon/msg.h>
#include <axon/pid.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The kind of one ax_value. */
typedef enum ax_value_type {
    AX_VALUE_NIL,
    AX_VALUE_BOOL,
    AX_VALUE_INT,
    AX_VALUE_UINT,
    AX_VALUE_DOUBLE,
    AX_VALUE_STR,
    AX_VALUE_BIN,
    AX_VALUE_PID
} ax_value_type;

/* One value to pack: what AX_VALUE makes of a C value. */
typedef struct ax_value {
    ax_value_type type;
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double f;
        struct {
            const void *p;
            size_t n;
        } bytes; /* a string (p is a NUL-terminated char *) or a binary */
        ax_pid pid;
    } v;
} ax_value;

/*
 * ax_msg_pack_values - build a message holding the array [v[0], ...,
 * v[n-1]].
 *
 * A string's bytes are those before its NUL. What v points to is copied;
 * the caller keeps it.
 * Returns 0 (*out owned by the caller), AX_EINVAL (a NULL string, a NULL
 * binary with a length, an unknown type, n of 0), AX_EMSGSIZE (past
 * max_size or max_elements) or AX_ENOMEM.
 * Context: any thread, anywhere.
 */
int ax_msg_pack_values(ax_msg **out, const ax_value *v, size_t n);

/*
 * ax_send_values - ax_msg_pack_values, then ax_send of the message to
 * `to`.
 *
 * Returns what those return; on an error nothing was sent.
 * Context: where ax_send may be called.
 */
int ax_send_values(ax_pid to, const ax_value *v, size_t n);

#ifndef __cplusplus

/*
 * ax__value_int, ax__value_uint, ax__value_bool, ax__value_double,
 * ax__value_str, ax__value_pid, ax__value_same - what AX_VALUE calls for a
 * value of each type; not for direct use (they may change).
 */
static inline ax_value
ax__value_int(long long x)
{
    return (ax_value){.type = AX_VALUE_INT, .v.i = x};
}
static inline ax_value
ax__value_uint(unsigned long long x)
{
    return (ax_value){.type = AX_VALUE_UINT, .v.u = x};
}
static inline ax_value
ax__value_bool(bool x)
{
    return (ax_value){.type = AX_VALUE_BOOL, .v.b = x};
}
static inline ax_value
ax__value_double(double x)
{
    return (ax_value){.type = AX_VALUE_DOUBLE, .v.f = x};
}
static inline ax_value
ax__value_str(const char *s)
{
    return (ax_value){.type = AX_VALUE_STR, .v.bytes = {s, 0}};
}
static inline ax_value
ax__value_pid(ax_pid p)
{
    return (ax_value){.type = AX_VALUE_PID, .v.pid = p};
}
static inline ax_value
ax__value_same(ax_value x)
{
    return x;
}

/* AX_BIN - n bytes at p, packed as a binary. */
#define AX_BIN(p, n) ((ax_value){.type = AX_VALUE_BIN, .v.bytes = {(p), (n)}})

/* AX_NIL - msgpack nil. */
#define AX_NIL ((ax_value){.type = AX_VALUE_NIL})

/* AX_VALUE - the ax_value of x, chosen by x's type; others do not compile. */
#define AX_VALUE(x)                                                            \
    _Generic((x),                                                              \
        _Bool: ax__value_bool,                                                 \
        char: ax__value_int,                                                   \
        signed char: ax__value_int,                                            \
        short: ax__value_int,                                                  \
        int: ax__value_int,                                                    \
        long: ax__value_int,                                                   \
        long long: ax__value_int,                                              \
        unsigned char: ax__value_uint,                                         \
        unsigned short: ax__value_uint,                                        \
        unsigned int: ax__value_uint,                                          \
        unsigned long: ax__value_uint,                                         \
        unsigned long long: ax__value_uint,                                    \
        float: ax__value_double,                                               \
        double: ax__value_double,                                              \
        char *: ax__value_str,                                                 \
        const char *: ax__value_str,                                           \
        ax_pid: ax__value_pid,                                                 \
        ax_value: ax__value_same)(x)

/* How many arguments (1 to 16), and AX_VALUE of each, comma-separated. */
#define AX__NARG(...)                                                          \
    AX__NARG_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, \
              1, 0)
#define AX__NARG_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, \
                  a15, a16, n, ...)                                            \
    n
#define AX__CAT(a, b) AX__CAT_(a, b)
#define AX__CAT_(a, b) a##b
#define AX__V1(a) AX_VALUE(a)
#define AX__V2(a, ...) AX_VALUE(a), AX__V1(__VA_ARGS__)
#define AX__V3(a, ...) AX_VALUE(a), AX__V2(__VA_ARGS__)
#define AX__V4(a, ...) AX_VALUE(a), AX__V3(__VA_ARGS__)
#define AX__V5(a, ...) AX_VALUE(a), AX__V4(__VA_ARGS__)
#define AX__V6(a, ...) AX_VALUE(a), AX__V5(__VA_ARGS__)
#define AX__V7(a, ...) AX_VALUE(a), AX__V6(__VA_ARGS__)
#define AX__V8(a, ...) AX_VALUE(a), AX__V7(__VA_ARGS__)
#define AX__V9(a, ...) AX_VALUE(a), AX__V8(__VA_ARGS__)
#define AX__V10(a, ...) AX_VALUE(a), AX__V9(__VA_ARGS__)
#define AX__V11(a, ...) AX_VALUE(a), AX__V10(__VA_ARGS__)
#define AX__V12(a, ...) AX_VALUE(a), AX__V11(__VA_ARGS__)
#define AX__V13(a, ...) AX_VALUE(a), AX__V12(__VA_ARGS__)
#define AX__V14(a, ...) AX_VALUE(a), AX__V13(__VA_ARGS__)
#define AX__V15(a, ...) AX_VALUE(a), AX__V14(__VA_ARGS__)
#define AX__V16(a, ...) AX_VALUE(a), AX__V15(__VA_ARGS__)
#define AX__VALUES(...) AX__CAT(AX__V, AX__NARG(__VA_ARGS__))(__VA_ARGS__)

/*
 * AX_PACK - build in *out the array of the values that follow, each packed
 * by its C type (see the top of this header). AX_PACK(&m, "job", 7).
 * Returns what ax_msg_pack_values returns.
 */
#define AX_PACK(out, ...)                                                      \
    ax_msg_pack_values((out), (const ax_value[]){AX__VALUES(__VA_ARGS__)},     \
                       AX__NARG(__VA_ARGS__))

/*
 * AX_SEND - send `to` the array of the values that follow, each packed by
 * its C type. AX_SEND(worker, "sq", n).
 * Returns what ax_send_values returns.
 */
#define AX_SEND(to, ...)                                                       \
    ax_send_values((to), (const ax_value[]){AX__VALUES(__VA_ARGS__)},          \
                   AX__NARG(__VA_ARGS__))

#endif /* !__cplusplus */

#ifdef __cplusplus
}
#endif

#endif /* AXON_VALUES_H */
