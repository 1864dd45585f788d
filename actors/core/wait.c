/*
 * actors/core/wait.c - sleeping and waiting for fds without blocking the loop.
 *
 * Each actor owns one ev_timer and one ev_io, started only while it waits:
 * an actor killed mid-wait has them stopped by its exit, so it leaves no
 * watcher behind.
 */
#include "actors/core/core.h"

#include <fcntl.h>

#include "base/error.h"

static ax_rt *const rt = &ax__rt;

int
ax_sleep(int ms)
{
    ax_actor *a = ax__self_actor("ax_sleep");

    ax__park(a, W_SLEEP, ms < 0 ? 0 : ms);
    return 0;
}

int
ax_wait_fd(int fd, int events, int timeout_ms)
{
    ax_actor *a = ax__self_actor("ax_wait_fd");
    int ev =
        (events & AX_READ ? EV_READ : 0) | (events & AX_WRITE ? EV_WRITE : 0);

    if (ev == 0 || (events & ~(AX_READ | AX_WRITE)) != 0) {
        return ax__fail(AX_EINVAL, "ax_wait_fd: events must be AX_READ "
                                   "and/or AX_WRITE");
    }
    if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
        return ax__fail(AX_EBADF, "ax_wait_fd: bad fd %d", fd);
    }
    ev_io_set(&a->io, fd, ev);
    ev_io_start(rt->loop, &a->io);
    a->ready_events = 0;
    ax__park(a, W_FD, timeout_ms);
    if (a->timed_out) {
        return ax__fail(AX_ETIMEDOUT,
                        "ax_wait_fd: fd %d not ready within %d ms", fd,
                        timeout_ms);
    }
    return a->ready_events;
}
