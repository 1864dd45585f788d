/*
 * 02_ping_pong.c - two actors play ping-pong: the smallest actor program.
 *
 * main() starts the runtime (ax_init), spawns a "pong" actor and a "ping"
 * actor, and runs the loop (ax_run) until both have ended. Each message is
 * built with a format string and carries its tag, a counter and the
 * sender's own address, so the receiver knows where to answer:
 *   ["ping", n, from]   ["pong", n, from]   ["stop", from]
 * ping prints the first rounds, then the total and the time per round trip.
 *
 * Run: build/examples/02_ping_pong
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <axon.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ROUNDS 100000
#define SHOWN 3 /* rounds printed in full */

/* Any failure of the runtime is a bug here: say what and stop. */
static void
check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s %s\n", what, ax_strerror(rc),
                ax_error_detail());
        exit(1);
    }
}

static double
now(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        perror("clock_gettime");
        exit(1);
    }
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* pong: answer every ping to the address it carries, until "stop". */
static int
pong(void *arg)
{
    ax_msg *m;
    ax_pid from;
    int n, answered = 0;

    (void)arg;
    for (;;) {
        check(ax_recv(&m, AX_FOREVER), "pong: recv");
        if (ax_msg_has_tag(m, "stop")) {
            ax_msg_free(m);
            break;
        }
        check(ax_msg_unpack(m, "[s d p]", NULL, NULL, &n, &from),
              "pong: unpack");
        ax_msg_free(m);
        if (n <= SHOWN) {
            printf("pong: got ping %d from actor %" PRIx64 "\n", n, from.id);
        }
        check(ax_sendf(from, "[s d p]", "pong", n, ax_self()), "pong: send");
        answered++;
    }
    printf("pong: answered %d pings, bye\n", answered);
    return 0;
}

/* What main gives ping, and what ping leaves for main to check. */
struct game {
    ax_pid pong; /* where to send pings */
    int rounds;  /* round trips completed with the right answer */
};

/* ping: send ROUNDS pings, check each answer, then stop pong. */
static int
ping(void *arg)
{
    struct game *g = arg;
    ax_pid peer = g->pong, from;
    double start = now(), secs;
    ax_msg *m;
    int n;

    for (int i = 1; i <= ROUNDS; i++) {
        check(ax_sendf(peer, "[s d p]", "ping", i, ax_self()), "ping: send");
        /* Selective receive: only a "pong" can end this wait. */
        check(ax_recv_match("pong", &m, AX_FOREVER), "ping: recv");
        check(ax_msg_unpack(m, "[s d p]", NULL, NULL, &n, &from),
              "ping: unpack");
        ax_msg_free(m);
        if (n != i || !ax_pid_equal(from, peer)) {
            fprintf(stderr, "ping: expected pong %d, got %d\n", i, n);
            break; /* main sees g->rounds < ROUNDS */
        }
        g->rounds = i;
        if (n <= SHOWN) {
            printf("ping: got pong %d from actor %" PRIx64 "\n", n, from.id);
        }
    }
    secs = now() - start;
    check(ax_sendf(peer, "[s p]", "stop", ax_self()), "ping: send stop");
    printf("ping: %d round trips in %.1f ms, %.0f ns per round trip\n",
           g->rounds, secs * 1e3, secs * 1e9 / ROUNDS);
    return 0;
}

int
main(void)
{
    struct game g = {AX_PID_NONE, 0};
    ax_pid ping_pid;
    ax_runtime_stats st;

    check(ax_init(NULL), "ax_init");
    /* Spawning only queues the actors: they start inside ax_run. */
    check(ax_spawn(pong, NULL, NULL, &g.pong), "spawn pong");
    check(ax_spawn(ping, &g, NULL, &ping_pid), "spawn ping");
    printf("main: ping is actor %" PRIx64 ", pong is actor %" PRIx64 "\n",
           ping_pid.id, g.pong.id);
    check(ax_run(), "ax_run"); /* returns when no actor is left */
    ax_runtime_stats_get(&st);
    ax_fini();
    printf("main: %d of %d rounds right, %" PRIu64 " context switches\n",
           g.rounds, ROUNDS, st.switches);
    return g.rounds == ROUNDS ? 0 : 1;
}
