/*
 * base/error.c - error texts, per-thread details, misuse aborts.
 */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* The latest detail sentence of this thread. */
static _Thread_local char detail[256];

struct code_text {
    int code;
    const char *text;
};

/* Our own table: strerror(3) is not thread-safe and varies by libc. */
static const struct code_text texts[] = {
    {0, "success"},
    {AX_EPERM, "operation not permitted"},
    {AX_ENOENT, "no such entry"},
    {AX_ESRCH, "no such actor"},
    {AX_EINTR, "interrupted"},
    {AX_EIO, "input/output error"},
    {AX_EBADF, "bad file descriptor"},
    {AX_ECHILD, "no such child process"},
    {AX_EAGAIN, "resource temporarily unavailable"},
    {AX_ENOMEM, "out of memory"},
    {AX_EBUSY, "busy"},
    {AX_EEXIST, "already exists"},
    {AX_EINVAL, "invalid argument"},
    {AX_EMFILE, "too many open files"},
    {AX_EPIPE, "broken pipe: the peer closed its reading end"},
    {AX_ERANGE, "value out of range"},
    {AX_ENAMETOOLONG, "name too long"},
    {AX_ENOSYS, "not implemented"},
    {AX_EPROTO, "protocol error: malformed data"},
    {AX_EMSGSIZE, "message too large"},
    {AX_ENOTSUP, "not supported"},
    {AX_ECONNRESET, "connection reset by peer"},
    {AX_ETIMEDOUT, "timed out"},
    {AX_EALREADY, "already done or in progress"},
    {AX_ECANCELED, "canceled"},
    {AX_EDEADLK, "deadlock: every actor waits for something that cannot come"},
    {AX_EOF, "end of stream"},
    {AX_ETRUNCATED, "end of stream in the middle of a frame"},
};

const char *
ax_strerror(int err)
{
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        if (texts[i].code == err) {
            return texts[i].text;
        }
    }
    return "unknown error";
}

const char *
ax_error_detail(void)
{
    return detail;
}

int
ax__fail(int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return err;
}

void
ax__misuse(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fprintf(stderr, "axon: misuse at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
