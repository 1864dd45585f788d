/*
 * 08_live_promotion.c - a running actor moves into a process of its own.
 *
 * An accumulator (a coroutine actor whose running total is a local
 * variable) adds up what a client sends it and answers each ["add", n]
 * with ["total", t, pid] (pid: its OS pid). After three numbers the client
 * sends ["promote"], then three more numbers at once, without waiting.
 * The accumulator calls ax_promote(): it continues in a new child process,
 * with its stack (so its total), its address and the three numbers still
 * unread. The client keeps sending to the same address and checks every
 * total: the state survived and the messages came in order. The client
 * and main never moved.
 *
 * Run: build/examples/08_live_promotion
 */
#include <axon.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define NUMBERS 9 /* the client sends 1..NUMBERS */
#define PROMOTE_AFTER 3

static void
check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s %s\n", what, ax_strerror(rc),
                ax_error_detail());
        exit(1);
    }
}

/* The accumulator: its state lives on its own stack, which moves. */
static int
accumulator(void *arg)
{
    int total = 0, n, before;
    ax_msg *m;

    (void)arg;
    for (;;) {
        check(ax_recv(&m, AX_FOREVER), "acc: recv");
        if (ax_msg_has_tag(m, "stop")) {
            ax_msg_free(m);
            return 0;
        }
        if (ax_msg_has_tag(m, "promote")) {
            ax_msg_free(m);
            before = getpid();
            check(ax_promote(), "ax_promote");
            printf("acc: moved from pid %d to pid %d, total still %d\n", before,
                   (int)getpid(), total);
            fflush(stdout); /* this process ends with _exit */
            continue;
        }
        check(ax_msg_unpack(m, "[s d]", NULL, NULL, &n), "acc: unpack");
        total += n;
        /* ax_msg_sender: who sent m; the client does not say. */
        check(ax_sendf(ax_msg_sender(m), "[s d d]", "total", total,
                       (int)getpid()),
              "acc: send");
        ax_msg_free(m);
    }
}

/* Take the answer to "add n"; false unless the total is 1 + ... + n and
 * it came from acc's address. Prints where acc answered from. */
static bool
expect_total(ax_pid acc, int n, const char *note)
{
    int total, pid;
    bool ok;
    ax_msg *m;

    check(ax_recv_match("total", &m, 5000), "client: recv");
    check(ax_msg_unpack(m, "[s d d]", NULL, NULL, &total, &pid), "unpack");
    ok = total == n * (n + 1) / 2 && ax_pid_equal(ax_msg_sender(m), acc);
    ax_msg_free(m);
    printf("client: add %d -> total %2d, acc in pid %d%s%s\n", n, total, pid,
           note, ok ? "" : " WRONG");
    return ok;
}

struct demo {
    ax_pid acc; /* the accumulator's address: it never changes */
    bool ok;    /* every total was right and acc ended normally */
};

/* The client: numbers, the promotion, numbers queued behind it, more. */
static int
client(void *arg)
{
    struct demo *d = arg;
    ax_pid acc = d->acc;
    ax_exit_info info;
    bool ok = true;

    /* A monitor set before the move still fires after it. */
    check(ax_monitor(acc, NULL), "ax_monitor");
    for (int n = 1; n <= PROMOTE_AFTER; n++) {
        check(ax_sendf(acc, "[s d]", "add", n), "client: send");
        ok = expect_total(acc, n, "") && ok;
    }
    /* The next three wait, unread, in acc's mailbox while it moves. */
    check(ax_sendf(acc, "[s]", "promote"), "client: send");
    for (int n = PROMOTE_AFTER + 1; n <= PROMOTE_AFTER + 3; n++) {
        check(ax_sendf(acc, "[s d]", "add", n), "client: send");
    }
    for (int n = PROMOTE_AFTER + 1; n <= NUMBERS; n++) {
        const char *when = " (sent before it moved)";

        if (n > PROMOTE_AFTER + 3) {
            when = " (sent after)";
            check(ax_sendf(acc, "[s d]", "add", n), "client: send");
        }
        ok = expect_total(acc, n, when) && ok;
    }
    check(ax_sendf(acc, "[s]", "stop"), "client: send");
    check(ax_wait(acc, &info, 5000), "client: wait");
    printf("client: acc ended: %s; the client stayed in pid %d\n",
           ax_exit_kind_name(info.kind), (int)getpid());
    d->ok = ok && info.kind == AX_EXIT_NORMAL;
    return 0;
}

int
main(void)
{
    struct demo d = {AX_PID_NONE, false};

    check(ax_init(NULL), "ax_init");
    check(ax_spawn(accumulator, NULL, NULL, &d.acc), "spawn accumulator");
    check(ax_spawn(client, &d, NULL, NULL), "spawn client");
    printf("main: pid %d, two coroutine actors: accumulator and client\n",
           (int)getpid());
    check(ax_run(), "ax_run");
    ax_fini();
    printf("main: still pid %d, %s\n", (int)getpid(),
           d.ok ? "every total right, every reply from one address" : "FAILED");
    return d.ok ? 0 : 1;
}
