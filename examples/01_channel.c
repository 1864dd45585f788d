/*
 * 01_channel.c - structured messages between a parent and a forked child
 * over an axon channel: framed, nonblocking pipes driven by libev.
 *
 * The parent asks a worker process to square numbers and to greet it; the
 * worker answers each request with a message of its own. Both sides build
 * and read messages with format strings. The worker shuts its side down
 * when told to stop, so the parent reads a clean end of stream.
 *
 * Run: build/examples/01_channel
 */
#include <axon.h>
#include <ev.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static const ax_frame_hdr hdr = {0, 0, {0, 0}, {0, 0}};

/* Build a message from a format and send it (a program that sends a lot
 * would wait for on_drain when ax_chan_send says AX_EAGAIN). */
static void
send_fmt(ax_chan *ch, const char *fmt, ...)
{
    ax_msg *m;
    va_list ap;
    size_t len;
    int rc;

    va_start(ap, fmt);
    rc = ax_msg_vpack(&m, fmt, ap);
    va_end(ap);
    if (rc == 0) {
        const void *data = ax_msg_data(m, &len);

        rc = ax_chan_send(ch, &hdr, data, len);
        ax_msg_free(m);
    }
    if (rc < 0) {
        fprintf(stderr, "send: %s %s\n", ax_strerror(rc), ax_error_detail());
        exit(1);
    }
}

/* Worker: answer ["square", n] and ["greet", name]; shut down on "stop". */
static void
worker_frame(ax_chan *ch, ax_frame *f, void *ud)
{
    const char *tag, *name;
    size_t tlen, nlen;
    int64_t n;
    ax_msg *req;

    (void)ud;
    if (ax_msg_from_bytes(&req, f->body, f->len) < 0 ||
        ax_msg_unpack(req, "[s *]", &tag, &tlen) < 0) {
        fprintf(stderr, "worker: bad request: %s\n", ax_error_detail());
        exit(1);
    }
    if (ax_msg_unpack(req, "[s i]", &tag, &tlen, &n) == 0) {
        send_fmt(ch, "[s i i]", "squared", n, n * n);
    } else if (ax_msg_unpack(req, "[s s]", &tag, &tlen, &name, &nlen) == 0) {
        send_fmt(ch, "[s S {s:d}]", "hello", name, nlen, "pid", (int)getpid());
    } else {
        ax_chan_shutdown(ch); /* "stop": the parent will read AX_EOF */
    }
    ax_msg_free(req);
}

/* Parent: print every answer. */
static void
parent_frame(ax_chan *ch, ax_frame *f, void *ud)
{
    ax_msg *m;
    int64_t n, sq;
    const char *tag, *name;
    size_t tlen, nlen;
    int pid;

    (void)ch;
    (void)ud;
    if (ax_msg_from_bytes(&m, f->body, f->len) < 0) {
        fprintf(stderr, "parent: bad reply: %s\n", ax_error_detail());
        exit(1);
    }
    if (ax_msg_unpack(m, "[s i i]", &tag, &tlen, &n, &sq) == 0) {
        printf("parent: %lld squared is %lld\n", (long long)n, (long long)sq);
    } else if (ax_msg_unpack(m, "[s s {s:d}]", &tag, &tlen, &name, &nlen, "pid",
                             &pid) == 0) {
        printf("parent: worker (pid %d) says hello to %.*s\n", pid, (int)nlen,
               name);
    }
    ax_msg_free(m);
}

/* Either side: the peer closed. AX_EOF is the clean end. */
static void
on_error(ax_chan *ch, int err, void *ud)
{
    int *status = ud;

    *status = err == AX_EOF ? 0 : 1;
    if (err != AX_EOF) {
        fprintf(stderr, "channel: %s\n", ax_strerror(err));
    }
    ev_break(EV_DEFAULT, EVBREAK_ALL);
    (void)ch;
}

/* Run a channel on a fresh default loop until the peer closes. */
static int
serve(int rfd, int wfd, void (*on_frame)(ax_chan *, ax_frame *, void *),
      void (*before)(ax_chan *))
{
    ax_chan_cbs cbs = {on_frame, on_error, NULL};
    ax_chan *ch;
    int status = 1;

    if (ax_chan_new(EV_DEFAULT, rfd, wfd, NULL, &cbs, &status, &ch) < 0) {
        return 1;
    }
    if (before != NULL) {
        before(ch);
    }
    ev_run(EV_DEFAULT, 0);
    ax_chan_close(ch);
    return status;
}

/* The parent's requests, queued before its loop runs. */
static void
ask(ax_chan *ch)
{
    for (int64_t n = 1; n <= 3; n++) {
        send_fmt(ch, "[s i]", "square", n);
    }
    send_fmt(ch, "[s s]", "greet", "parent");
    send_fmt(ch, "[s]", "stop");
}

int
main(void)
{
    int parent[2], child[2], status;
    pid_t pid;

    if (ax_chan_pipes(parent, child) < 0) {
        return 1;
    }
    fflush(stdout); /* nothing buffered may be printed twice */
    pid = fork();
    if (pid == 0) {
        /* The child: its own fresh loop, only its own two fds. */
        close(parent[0]);
        close(parent[1]);
        _exit(serve(child[0], child[1], worker_frame, NULL));
    }
    close(child[0]);
    close(child[1]);
    if (pid < 0 || serve(parent[0], parent[1], parent_frame, ask) != 0) {
        return 1;
    }
    waitpid(pid, &status, 0);
    printf("parent: worker exited with status %d\n", WEXITSTATUS(status));
    return WEXITSTATUS(status);
}
