/*
 * 04_tcp_echo.c - a TCP echo server and its clients, all actors, one loop.
 *
 * The server listens on 127.0.0.1, on a port the kernel picks. An acceptor
 * actor waits for connections with ax_wait_fd and spawns one echo actor
 * per connection. Client actors connect, send lines, check each echo and
 * close. Every socket is nonblocking: an actor that would block waits for
 * its fd instead, and the loop serves everyone else meanwhile. When all
 * clients are done, the acceptor is killed; its ax_on_exit closes the
 * listening socket. main checks that no fd was left open.
 *
 * Run: build/examples/04_tcp_echo
 */
#define _GNU_SOURCE /* accept4 under -std=c11 */

#include <axon.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CLIENTS 3
#define LINES 3 /* per client */

static struct sockaddr_in server_addr;
static int failures;        /* actors that failed; main exits 1 if any */
static int lines_ok;        /* lines that came back right */
static size_t bytes_echoed; /* by all the echo actors */

static void
check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s %s\n", what, ax_strerror(rc),
                ax_error_detail());
        exit(1);
    }
}

/* An actor's failed system call: say so and end the actor with code 1. */
static int
fail(const char *what)
{
    perror(what);
    failures++;
    return 1;
}

/* Registered with ax_on_exit: the fd goes with its actor, however it ends. */
static void
close_fd(void *fd)
{
    close((int)(intptr_t)fd);
}

/* Send or receive all len bytes (dir: AX_WRITE or AX_READ); while the
 * socket would block, wait for it and let other actors run. Returns 0, or
 * -1 with errno (ECONNRESET if the stream ends first). */
static int
io_all(int fd, int dir, char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = dir == AX_READ ? recv(fd, buf, len, 0)
                                   : send(fd, buf, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EAGAIN) {
            check(ax_wait_fd(fd, dir, AX_FOREVER), "ax_wait_fd");
        } else if (n <= 0) {
            errno = n == 0 ? ECONNRESET : errno;
            return -1;
        } else {
            buf += n;
            len -= (size_t)n;
        }
    }
    return 0;
}

/* One connection: echo whatever arrives until the client closes. */
static int
echo(void *arg)
{
    int fd = (int)(intptr_t)arg;
    size_t total = 0;
    char buf[512];
    ssize_t n;

    check(ax_on_exit(close_fd, arg), "ax_on_exit");
    while ((n = recv(fd, buf, sizeof(buf), 0)) != 0) {
        if (n < 0 && errno == EAGAIN) {
            check(ax_wait_fd(fd, AX_READ, AX_FOREVER), "ax_wait_fd");
        } else if (n < 0 || io_all(fd, AX_WRITE, buf, (size_t)n) < 0) {
            return fail("echo");
        } else {
            total += (size_t)n;
            bytes_echoed += (size_t)n;
        }
    }
    printf("server: client closed, %zu bytes echoed\n", total);
    return 0;
}

/* Accept forever; only ax_kill stops it. */
static int
acceptor(void *arg)
{
    int lfd = (int)(intptr_t)arg, fd;

    check(ax_on_exit(close_fd, arg), "ax_on_exit");
    for (;;) {
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0 && errno == EAGAIN) {
            check(ax_wait_fd(lfd, AX_READ, AX_FOREVER), "ax_wait_fd");
        } else if (fd < 0) {
            return fail("accept4");
        } else {
            check(ax_spawn(echo, (void *)(intptr_t)fd, NULL, NULL), "spawn");
        }
    }
}

/* Connect, then send LINES lines, each checked when it comes back. */
static int
client(void *arg)
{
    int id = (int)(intptr_t)arg, fd;
    char line[64], back[64];

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return fail("socket");
    }
    check(ax_on_exit(close_fd, (void *)(intptr_t)fd), "ax_on_exit");
    /* In progress: a refused connection shows as the first send's error. */
    if (connect(fd, (const struct sockaddr *)&server_addr,
                sizeof(server_addr)) < 0 &&
        errno != EINPROGRESS) {
        return fail("connect");
    }
    for (int i = 1; i <= LINES; i++) {
        size_t len = (size_t)snprintf(line, sizeof(line),
                                      "line %d of client %d\n", i, id);

        if (io_all(fd, AX_WRITE, line, len) < 0 ||
            io_all(fd, AX_READ, back, len) < 0) {
            return fail("client");
        }
        if (memcmp(line, back, len) != 0) {
            errno = EPROTO;
            return fail("client: wrong echo");
        }
        lines_ok++;
    }
    printf("client %d: %d lines sent and echoed\n", id, LINES);
    return 0;
}

/* Run the clients, wait for them all, then stop the acceptor. */
static int
clients(void *arg)
{
    ax_pid pids[CLIENTS];
    ax_spawn_opts opts = {.monitor = true}; /* ax_wait sees every end */

    for (int i = 0; i < CLIENTS; i++) {
        check(ax_spawn(client, (void *)(intptr_t)(i + 1), &opts, &pids[i]),
              "spawn client");
    }
    for (int i = 0; i < CLIENTS; i++) {
        check(ax_wait(pids[i], NULL, AX_FOREVER), "ax_wait");
    }
    printf("clients: all done, stopping the acceptor\n");
    check(ax_kill(*(ax_pid *)arg, 0), "ax_kill");
    return 0;
}

/* Open descriptors of this process, to show that none was left open. */
static int
open_fds(void)
{
    int n = 0;

    for (int fd = 0; fd < 1024; fd++) {
        n += fcntl(fd, F_GETFD) >= 0;
    }
    return n;
}

int
main(void)
{
    struct sockaddr_in *sa = &server_addr;
    socklen_t len = sizeof(*sa);
    int lfd, fds;
    ax_pid acc;

    check(ax_init(NULL), "ax_init");
    fds = open_fds();
    /* Port 0: the kernel picks a free one; getsockname tells which. */
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)sa, len) < 0 ||
        listen(lfd, CLIENTS) < 0 ||
        getsockname(lfd, (struct sockaddr *)sa, &len) < 0) {
        perror("listen");
        return 1;
    }
    printf("server: listening on 127.0.0.1:%d\n", ntohs(sa->sin_port));
    check(ax_spawn(acceptor, (void *)(intptr_t)lfd, NULL, &acc), "spawn");
    check(ax_spawn(clients, &acc, NULL, NULL), "spawn");
    check(ax_run(), "ax_run");
    ax_fini();
    fds = open_fds() - fds;
    printf("main: %d lines echoed (%zu bytes), %d failures, %d fds left "
           "open\n",
           lines_ok, bytes_echoed, failures, fds);
    return lines_ok == CLIENTS * LINES && failures == 0 && fds == 0 ? 0 : 1;
}
