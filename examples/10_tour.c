/*
 * 10_tour.c - axon in one program: the flagship demo that tools/demo runs.
 *
 * 1. A coroutine actor and a process actor answer the same request: the
 *    same code, two placements, one kind of address.
 * 2. A process actor crashes in native code (NULL dereference): its
 *    monitor gets "signal 11" and the program carries on.
 * 3. A running coroutine actor promotes itself into a process of its own:
 *    its state and address survive the move.
 *
 * Run: build/examples/10_tour
 */
#define _POSIX_C_SOURCE 200809L
#include <axon.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int main_pid;

static void
check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s (%s)\n", what, ax_strerror(rc),
                ax_error_detail());
        exit(1);
    }
}

static const char *
where(void)
{
    return getpid() == main_pid ? "main process" : "own process";
}

/* Answers ["square", n] with ["squared", n*n, os_pid] until ["stop"]. */
static int
squarer(void *arg)
{
    ax_msg *m;
    int64_t n;

    (void)arg;
    while (ax_recv(&m, AX_FOREVER) == 0 && !ax_msg_has_tag(m, "stop")) {
        check(ax_msg_unpack(m, "[s i]", NULL, NULL, &n), "unpack");
        check(ax_sendf(ax_msg_sender(m), "[s i d]", "squared", n * n,
                       (int)getpid()),
              "reply");
        ax_msg_free(m);
    }
    ax_msg_free(m);
    return 0;
}

/* Native code with a bug: it dereferences NULL in its own process. */
static int
crasher(void *arg)
{
    volatile int *p = arg;

    return *p;
}

/* Keeps a running total; promotes itself after the first message. */
static int
accumulator(void *arg)
{
    int64_t total = 0, n;
    ax_msg *m;

    (void)arg;
    while (ax_recv(&m, AX_FOREVER) == 0 && !ax_msg_has_tag(m, "stop")) {
        bool move = ax_msg_has_tag(m, "add_then_move");

        check(ax_msg_unpack(m, "[s i]", NULL, NULL, &n), "unpack");
        ax_msg_free(m); /* what it holds would stay behind as a copy */
        total += n;
        printf("  accumulator: +%lld = %lld (%s, pid %d)\n", (long long)n,
               (long long)total, where(), (int)getpid());
        if (move) {
            check(ax_promote(), "promote"); /* continues in a new process */
        }
    }
    ax_msg_free(m);
    return 0;
}

static void
ask_square(ax_pid who, const char *name, int64_t n)
{
    int64_t sq;
    int pid;
    ax_msg *m;

    check(ax_sendf(who, "[s i]", "square", n), "send");
    check(ax_recv_match("squared", &m, 5000), "recv");
    check(ax_msg_unpack(m, "[s i d]", NULL, NULL, &sq, &pid), "unpack");
    printf("  %s: %lld squared is %lld (answered by pid %d)\n", name,
           (long long)n, (long long)sq, pid);
    ax_msg_free(m);
}

static int
tour(void *arg)
{
    ax_spawn_opts proc = {.placement = AX_PLACE_PROCESS, .monitor = true};
    ax_spawn_opts co = {.monitor = true};
    ax_pid a, b, c, acc;
    ax_exit_info why;
    char text[64];

    (void)arg;
    printf("1. same code, two placements (main pid %d)\n", main_pid);
    check(ax_spawn(squarer, NULL, &co, &a), "spawn");
    check(ax_spawn(squarer, NULL, &proc, &b), "spawn");
    ask_square(a, "coroutine actor", 7);
    ask_square(b, "process actor  ", 9);
    ax_sendf(a, "[s]", "stop");
    ax_sendf(b, "[s]", "stop");
    check(ax_wait(a, NULL, 5000), "wait");
    check(ax_wait(b, NULL, 5000), "wait");

    printf("2. a crash in native code, contained\n");
    check(ax_spawn(crasher, NULL, &proc, &c), "spawn");
    check(ax_wait(c, &why, 5000), "wait");
    printf("  monitor: the crasher died: %s; we carry on\n",
           ax_exit_describe(&why, text, sizeof(text)));

    printf("3. live promotion of a running actor\n");
    check(ax_spawn(accumulator, NULL, &co, &acc), "spawn");
    ax_sendf(acc, "[s i]", "add", (int64_t)10);
    ax_sendf(acc, "[s i]", "add_then_move", (int64_t)20);
    ax_sendf(acc, "[s i]", "add", (int64_t)30); /* same address after */
    ax_sendf(acc, "[s]", "stop");
    check(ax_wait(acc, &why, 5000), "wait");
    printf("  accumulator ended: %s\n",
           ax_exit_describe(&why, text, sizeof(text)));
    return 0;
}

int
main(void)
{
    main_pid = (int)getpid();
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines from all processes in order */
    check(ax_init(NULL), "ax_init");
    check(ax_spawn(tour, NULL, NULL, NULL), "spawn");
    check(ax_run(), "ax_run");
    ax_fini();
    printf("done: every actor ended, no process left\n");
    return 0;
}
