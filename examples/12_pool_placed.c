/*
 * 12_pool_placed.c - a pool placed by configuration: one class, 4 actors.
 *
 * AXON_PLACE matches an actor's placement class (.place_as) when it has
 * one, else its name. Names are unique, classes are not: the 4 workers
 * here share the class "worker", so one item of AXON_PLACE places the
 * whole pool, as coroutines (unset) or as 4 processes (worker=process).
 * main sends each worker a job, ["job", n, reply-to]; each answers
 * ["answer", n, n*n, its OS pid], and main prints whether it ran in
 * another process by comparing that pid with its own.
 *
 * Run: build/examples/12_pool_placed                  (4 coroutines)
 *      AXON_PLACE="worker=process" build/examples/12_pool_placed
 */
#include <axon.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define WORKERS 4

static void
check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s %s\n", what, ax_strerror(rc),
                ax_error_detail());
        exit(1);
    }
}

/* A worker: answer one job, then end. Where it runs is not its concern. */
static int
worker(void *arg)
{
    ax_pid client;
    int n;
    ax_msg *m;

    (void)arg;
    check(ax_recv_match("job", &m, AX_FOREVER), "worker: recv");
    check(ax_msg_unpack(m, "[_ d p]", &n, &client), "worker: unpack");
    ax_msg_free(m);
    check(ax_sendf(client, "[s d d d]", "answer", n, n * n, (int)getpid()),
          "worker: send");
    return 0;
}

/* The client: spawn the pool, hand out the jobs, print the answers. */
static int
client(void *arg)
{
    ax_spawn_opts o = {.place_as = "worker"}; /* AXON_PLACE decides */
    int elsewhere = 0, *right = arg;
    ax_pid pool[WORKERS];
    ax_msg *m;

    for (int i = 0; i < WORKERS; i++) {
        check(ax_spawn(worker, NULL, &o, &pool[i]), "spawn worker");
        check(ax_sendf(pool[i], "[s d p]", "job", i + 1, ax_self()), "send");
    }
    for (int i = 0; i < WORKERS; i++) {
        int n, square, pid;

        check(ax_recv_match("answer", &m, 5000), "client: recv");
        check(ax_msg_unpack(m, "[_ d d d]", &n, &square, &pid), "unpack");
        ax_msg_free(m);
        elsewhere += pid != getpid();
        *right += square == n * n;
        printf("worker %d: %d squared is %d, %s (pid %d)\n", n, n, square,
               pid != getpid() ? "in another process" : "in this process", pid);
    }
    printf("client: %d of %d workers ran in another process\n", elsewhere,
           WORKERS);
    return 0;
}

int
main(void)
{
    const char *place = getenv("AXON_PLACE");
    int right = 0;

    printf("main: pid %d, AXON_PLACE=%s\n", (int)getpid(),
           place != NULL ? place : "(unset)");
    check(ax_init(NULL), "ax_init"); /* reads AXON_PLACE */
    check(ax_spawn(client, &right, NULL, NULL), "spawn client");
    check(ax_run(), "ax_run");
    ax_fini();
    printf("main: %d of %d answers right\n", right, WORKERS);
    return right == WORKERS ? 0 : 1;
}
