/*
 * axon/error.h - error codes.
 *
 * Every call that can fail returns an int: 0 on success or a negative AX_E*
 * code. Codes that mirror a system error equal -errno (AX_EPIPE == -EPIPE),
 * so they can be compared with errno values directly. Two codes describe
 * the end of a byte stream and have no errno: AX_EOF and AX_ETRUNCATED.
 */
#ifndef AXON_ERROR_H
#define AXON_ERROR_H

#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AX_EPERM (-EPERM)
#define AX_ENOENT (-ENOENT)
#define AX_ESRCH (-ESRCH)
#define AX_EINTR (-EINTR)
#define AX_EIO (-EIO)
#define AX_EBADF (-EBADF)
#define AX_ECHILD (-ECHILD)
#define AX_EAGAIN (-EAGAIN)
#define AX_ENOMEM (-ENOMEM)
#define AX_EBUSY (-EBUSY)
#define AX_EEXIST (-EEXIST)
#define AX_EINVAL (-EINVAL)
#define AX_EMFILE (-EMFILE)
#define AX_EPIPE (-EPIPE)
#define AX_ERANGE (-ERANGE)
#define AX_ENAMETOOLONG (-ENAMETOOLONG)
#define AX_ENOSYS (-ENOSYS)
#define AX_EPROTO (-EPROTO)
#define AX_EMSGSIZE (-EMSGSIZE)
#define AX_ENOTSUP (-ENOTSUP)
#define AX_ECONNRESET (-ECONNRESET)
#define AX_ETIMEDOUT (-ETIMEDOUT)
#define AX_EALREADY (-EALREADY)
#define AX_ECANCELED (-ECANCELED)
#define AX_EDEADLK (-EDEADLK)

/* The peer closed its end at a frame boundary: a clean end of stream. */
#define AX_EOF (-4095)
/* The peer closed its end in the middle of a frame: data was cut off. */
#define AX_ETRUNCATED (-4094)

/*
 * ax_strerror - the text of an error code.
 *
 * Returns a static string, never NULL ("unknown error" for codes axon does
 * not know).
 * Context: any thread, anywhere.
 */
const char *ax_strerror(int err);

/*
 * ax_error_detail - what went wrong in the latest failed call of this thread.
 *
 * Calls that fail for a reason worth more than a code (a message that does
 * not match a format, a malformed frame) leave a sentence here, e.g.
 * "ax_msg_unpack: at $[2]: expected integer ('i'), found string".
 *
 * Returns a string owned by axon, valid until the next failing call in the
 * same thread; "" if no call has left a detail yet. A successful call does
 * not clear it, so read it only right after a call returned an error.
 * Context: any thread, anywhere.
 */
const char *ax_error_detail(void);

#ifdef __cplusplus
}
#endif
#endif /* AXON_ERROR_H */
