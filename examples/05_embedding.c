/*
 * 05_embedding.c - actors inside an existing libev program.
 *
 * The program owns libev's default loop and runs it itself (ev_run): a
 * timer ticks, an io watcher reads a pipe. It calls ax_init, and actors
 * run inside that loop. The timer callback, outside any actor, sends each
 * tick to a "counter" actor (ax_sendf), which writes its running total to
 * the pipe. After the last tick the timer stops, the counter ends, its
 * end of the pipe closes and the io watcher stops: with none of the
 * program's watchers left, ev_run returns although a "sleeper" actor
 * still waits (waiting actors do not keep the loop alive). ax_fini ends
 * it.
 *
 * Run: build/examples/05_embedding
 */
#define _GNU_SOURCE /* pipe2 under -std=c11 */

#include <axon.h>
#include <ev.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define TICKS 5

static ax_pid counter_pid;
static int ticks;               /* ticks sent so far */
static int64_t last_total = -1; /* what the counter reported last */

static void
check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s %s\n", what, ax_strerror(rc),
                ax_error_detail());
        exit(1);
    }
}

static void
close_fd(void *fd)
{
    close((int)(intptr_t)fd);
}

/* An actor: sum the ticks, write each total (8 bytes) to the pipe. */
static int
counter(void *arg)
{
    int fd = (int)(intptr_t)arg, n;
    int64_t total = 0;
    ax_msg *m;

    /* However the counter ends, the program sees its pipe close. */
    check(ax_on_exit(close_fd, arg), "ax_on_exit");
    for (;;) {
        check(ax_recv(&m, AX_FOREVER), "counter: recv");
        if (ax_msg_has_tag(m, "stop")) {
            ax_msg_free(m);
            return 0;
        }
        check(ax_msg_unpack(m, "[s d]", NULL, NULL, &n), "counter: unpack");
        ax_msg_free(m);
        total += n;
        /* A write this small to a pipe is all or nothing (EAGAIN). */
        while (write(fd, &total, sizeof(total)) < 0) {
            if (errno != EAGAIN) {
                perror("counter: write");
                return 1;
            }
            check(ax_wait_fd(fd, AX_WRITE, AX_FOREVER), "ax_wait_fd");
        }
    }
}

/* An actor that waits for a message nobody sends. */
static int
sleeper(void *arg)
{
    ax_msg *m;

    (void)arg;
    check(ax_recv(&m, AX_FOREVER), "sleeper: recv");
    ax_msg_free(m);
    return 0;
}

/* libev callback, outside any actor: send a tick; stop after the last.
 * A send from outside never waits (AX_EAGAIN if a bounded mailbox is full;
 * the counter's is unbounded). */
static void
on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    printf("app: tick %d\n", ++ticks);
    check(ax_sendf(counter_pid, "[s d]", "tick", ticks), "ax_sendf");
    if (ticks == TICKS) {
        check(ax_sendf(counter_pid, "[s]", "stop"), "ax_sendf");
        ev_timer_stop(loop, w);
    }
}

/* libev callback: print the counter's totals; stop at the end of stream.
 * libev calls again while the pipe stays readable: one total a call. */
static void
on_report(struct ev_loop *loop, ev_io *w, int revents)
{
    int64_t total;
    ssize_t n = read(w->fd, &total, sizeof(total));

    (void)revents;
    if (n == (ssize_t)sizeof(total)) {
        last_total = total;
        printf("app: counter reports total %" PRId64 "\n", total);
    } else if (n >= 0 || errno != EAGAIN) {
        printf("app: pipe %s, stopping the io watcher\n",
               n == 0 ? "closed by the counter" : "failed");
        ev_io_stop(loop, w);
    }
}

int
main(void)
{
    struct ev_loop *loop = EV_DEFAULT;
    ax_runtime_stats st;
    ev_timer tick;
    ev_io report;
    int p[2];

    /* The program as it was before axon: its loop and its watchers. */
    if (loop == NULL || pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
        perror("setup");
        return 1;
    }
    ev_timer_init(&tick, on_tick, 0.01, 0.01);
    ev_timer_start(loop, &tick);
    ev_io_init(&report, on_report, p[0], EV_READ);
    ev_io_start(loop, &report);

    /* axon joins the loop; the counter owns the pipe's write end. */
    check(ax_init(NULL), "ax_init");
    check(ax_spawn(counter, (void *)(intptr_t)p[1], NULL, &counter_pid),
          "spawn counter");
    check(ax_spawn(sleeper, NULL, NULL, NULL), "spawn sleeper");

    /* Nonzero would mean watchers were still active (ev_break). */
    if (ev_run(loop, 0) != 0) {
        fprintf(stderr, "app: ev_run returned early\n");
        return 1;
    }
    ax_runtime_stats_get(&st);
    printf("app: ev_run returned, %zu actor still waiting\n", st.actors);
    ax_fini(); /* ends the sleeper */
    if (close(p[0]) != 0) {
        perror("close");
        return 1;
    }
    printf("app: final total %" PRId64 " (expected %d)\n", last_total,
           TICKS * (TICKS + 1) / 2);
    return last_total == TICKS * (TICKS + 1) / 2 ? 0 : 1;
}
