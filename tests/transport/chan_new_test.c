/*
 * tests/transport/chan_new_test.c - ax_chan_new and ax_chan_pipes: the
 * fds a channel takes, and the options it accepts.
 *
 * A channel makes its fds nonblocking and close-on-exec, is listed while
 * open and closes its fds when closed (a socketpair end once); bad fds and
 * options out of range are refused and change nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include <axon/chan.h>
#include <axon/error.h>

#include "transport/chan_internal.h"

#include "chan_util.h"

static bool
fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static bool
fd_nonblock_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    int fdfl = fcntl(fd, F_GETFD);

    return fl >= 0 && fdfl >= 0 && (fl & O_NONBLOCK) && (fdfl & FD_CLOEXEC);
}

static int
listed(const ax_chan *ch)
{
    for (ax_chan *c = ax__chan_first(); c != NULL; c = ax__chan_next(c)) {
        if (c == ch) {
            return 1;
        }
    }
    return 0;
}

static void
test_chan_fds_are_nonblocking_cloexec_and_closed_by_close(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    ax_chan_opts opts = {0, 0, 0, 0, MiB};
    int fds[2], sv[2], parent[2], child[2], r, w;
    ax_chan *first = ax__chan_first(), *ch;
    char c;

    (void)state;
    assert_non_null(loop);
    /* Two plain blocking, inheritable pipe ends become the channel's. */
    assert_int_equal(pipe2(fds, 0), 0);
    assert_true(fd_blocking_inheritable(fds[0]));
    assert_int_equal(
        ax_chan_new(loop, fds[0], fds[1], &opts, &quiet_cbs, NULL, &ch), 0);
    assert_true(fd_nonblock_cloexec(fds[0]));
    assert_true(fd_nonblock_cloexec(fds[1]));
    assert_true(fcntl(fds[1], F_GETPIPE_SZ) >= (int)MiB);
    ax_chan_fds(ch, &r, &w);
    assert_int_equal(r, fds[0]);
    assert_int_equal(w, fds[1]);
    assert_ptr_equal(ax__chan_first(), ch);
    ax_chan_close(ch);
    assert_false(fd_is_open(fds[0]));
    assert_false(fd_is_open(fds[1]));
    assert_ptr_equal(ax__chan_first(), first);
    ax_chan_close(NULL);

    /* Every open channel is on the list a forked child walks to close
     * what is not its own; a closed one is not. */
    {
        int p1[2], p2[2];
        ax_chan *c1, *c2;

        assert_int_equal(pipe2(p1, 0), 0);
        assert_int_equal(pipe2(p2, 0), 0);
        assert_int_equal(
            ax_chan_new(loop, p1[0], p1[1], NULL, &quiet_cbs, NULL, &c1), 0);
        assert_int_equal(
            ax_chan_new(loop, p2[0], p2[1], NULL, &quiet_cbs, NULL, &c2), 0);
        assert_int_equal(listed(c1) + listed(c2), 2);
        ax_chan_close(c1);
        assert_true(listed(c2));
        assert_ptr_equal(ax__chan_first(), c2);
        assert_ptr_equal(ax__chan_next(c2), first);
        ax_chan_close(c2);
        assert_ptr_equal(ax__chan_first(), first);
        for (int i = 0; i < 2; i++) {
            assert_false(fd_is_open(p1[i]) || fd_is_open(p2[i]));
        }
    }

    /* A socketpair end is both fds; close closes it once. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(
        ax_chan_new(loop, sv[0], sv[0], NULL, &quiet_cbs, NULL, &ch), 0);
    assert_true(fd_nonblock_cloexec(sv[0]));
    ax_chan_fds(ch, &r, &w);
    assert_int_equal(r, sv[0]);
    assert_int_equal(w, sv[0]);
    ax_chan_close(ch);
    assert_false(fd_is_open(sv[0]));
    close(sv[1]);

    /* ax_chan_pipes: four nonblocking close-on-exec fds, wired across. */
    assert_int_equal(ax_chan_pipes(parent, child), 0);
    for (int i = 0; i < 2; i++) {
        assert_true(fd_nonblock_cloexec(parent[i]));
        assert_true(fd_nonblock_cloexec(child[i]));
    }
    assert_int_equal(write(parent[1], "d", 1), 1);
    assert_int_equal(read(child[0], &c, 1), 1);
    assert_int_equal(c, 'd');
    assert_int_equal(write(child[1], "u", 1), 1);
    assert_int_equal(read(parent[0], &c, 1), 1);
    assert_int_equal(c, 'u');
    assert_int_equal(read(parent[0], &c, 1), -1);
    assert_int_equal(errno, EAGAIN);
    for (int i = 0; i < 2; i++) {
        close(parent[i]);
        close(child[i]);
    }
    ev_loop_destroy(loop);
}

/* ax_chan_new must fail with err and leave rfd/wfd (open ones) as they were:
 * open, blocking, inheritable. */
static void
new_fails(struct ev_loop *loop, int rfd, int wfd, const ax_chan_opts *opts,
          int err)
{
    ax_chan *ch = (ax_chan *)&ch; /* a marker that must not change */
    ax_chan *first = ax__chan_first();

    assert_int_equal(ax_chan_new(loop, rfd, wfd, opts, &quiet_cbs, NULL, &ch),
                     err);
    assert_ptr_equal(ch, (ax_chan *)&ch);
    assert_ptr_equal(ax__chan_first(), first);
    if (rfd >= 0 && fd_is_open(rfd)) {
        assert_true(fd_blocking_inheritable(rfd));
    }
    if (wfd >= 0 && fd_is_open(wfd)) {
        assert_true(fd_blocking_inheritable(wfd));
    }
}

static void
test_chan_new_rejects_bad_fds_and_options_and_changes_nothing(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    const size_t ceiling = (size_t)UINT32_MAX - AX_FRAME_HEADER;
    int fds[2], gone[2];
    ax_chan_opts o;
    ax_chan *ch;

    (void)state;
    assert_non_null(loop);
    assert_int_equal(pipe2(fds, 0), 0);
    assert_int_equal(pipe2(gone, 0), 0);
    close(gone[0]);
    close(gone[1]);
    /* Bad fds: AX_EBADF, the good fd untouched. */
    new_fails(loop, fds[0], gone[1], NULL, AX_EBADF);
    new_fails(loop, gone[0], fds[1], NULL, AX_EBADF);
    new_fails(loop, -1, -1, NULL, AX_EBADF);
    /* Options out of range: AX_EINVAL. */
    o = (ax_chan_opts){0, 1000, 1001, 0, 0}; /* low > high */
    new_fails(loop, fds[0], fds[1], &o, AX_EINVAL);
    o = (ax_chan_opts){0, 0, 2 * MiB, 0, 0}; /* low > the default high */
    new_fails(loop, fds[0], fds[1], &o, AX_EINVAL);
    o = (ax_chan_opts){0, 0, 0, 32 * KiB, 0};
    new_fails(loop, fds[0], fds[1], &o, AX_EINVAL);
    o = (ax_chan_opts){0, 0, 0, 64 * KiB - 1, 0};
    new_fails(loop, fds[0], fds[1], &o, AX_EINVAL);
    o = (ax_chan_opts){ceiling + 1, 0, 0, 0, 0};
    new_fails(loop, fds[0], fds[1], &o, AX_EINVAL);
    assert_true(fd_is_open(fds[0]) && fd_is_open(fds[1]));
    /* The boundaries themselves are accepted. */
    o = (ax_chan_opts){ceiling, 1000, 1000, 64 * KiB, 0};
    assert_int_equal(
        ax_chan_new(loop, fds[0], fds[1], &o, &quiet_cbs, NULL, &ch), 0);
    ax_chan_close(ch);
    ev_loop_destroy(loop);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_chan_fds_are_nonblocking_cloexec_and_closed_by_close),
        T(test_chan_new_rejects_bad_fds_and_options_and_changes_nothing),
    };

    chan_test_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
