/*
 * 06_worker_pool.c - a pool of process actors that uses every core.
 *
 * Counting the primes below N by trial division is CPU-bound: coroutines
 * in one process would take turns on one core. These workers are process
 * actors (AX_PLACE_PROCESS), each in a forked process of its own, so they
 * run in parallel. A master actor cuts [0, N) into chunks and the workers
 * ask for them; each request carries the count of the chunk just done:
 *   ["ready", worker, primes] -> ["chunk", lo, hi] or ["done"]
 * Fast workers just ask more often. The job runs with 1 worker, then with
 * one per core (at least 2); both counts must equal a sieve's.
 *
 * Run: build/examples/06_worker_pool [N]   (or PRIMES_BELOW=N in the env)
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <axon.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_N 7000000
#define CHUNKS 64

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

/* The slow way, on purpose: this is the work the pool shares. */
static int64_t
count_primes(int64_t lo, int64_t hi)
{
    int64_t count = 0;

    for (int64_t n = lo < 2 ? 2 : lo; n < hi; n++) {
        bool prime = n == 2 || n % 2 != 0;

        for (int64_t d = 3; prime && d * d <= n; d += 2) {
            prime = n % d != 0;
        }
        count += prime;
    }
    return count;
}

/* The fast way, to know the answer: a sieve of Eratosthenes. */
static int64_t
sieve_count(int64_t n)
{
    char *composite = calloc((size_t)n, 1);
    int64_t count = 0;

    if (composite == NULL) {
        return -1;
    }
    for (int64_t i = 2; i < n; i++) {
        count += !composite[i];
        for (int64_t j = i * i; !composite[i] && j < n; j += i) {
            composite[j] = 1;
        }
    }
    free(composite);
    return count;
}

/* Lives in main's frame: a worker's process keeps a copy of it (not of
 * the spawning actor's stack, which it does not keep). */
struct job {
    ax_pid master; /* where workers ask for work */
    int64_t n;     /* count the primes below n */
    int workers;   /* how many workers share the job */
    int64_t found; /* what they counted */
};

/* A worker, in its own process: ask, count, ask again, until "done". */
static int
worker(void *arg)
{
    const struct job *j = arg;
    int64_t lo, hi, found = 0, total = 0;
    int chunks = 0;
    ax_msg *m;

    for (;; chunks++) {
        check(ax_sendf(j->master, "[s p i]", "ready", ax_self(), found),
              "worker: send");
        check(ax_recv(&m, AX_FOREVER), "worker: recv");
        if (ax_msg_has_tag(m, "done")) {
            ax_msg_free(m);
            break;
        }
        check(ax_msg_unpack(m, "[s i i]", NULL, NULL, &lo, &hi), "unpack");
        ax_msg_free(m);
        found = count_primes(lo, hi);
        total += found;
    }
    printf("  worker in pid %d: %2d chunks, %" PRId64 " primes\n",
           (int)getpid(), chunks, total);
    fflush(stdout); /* its process ends with _exit */
    return 0;
}

/* The master: start the workers, hand out chunks, sum the counts. */
static int
master(void *arg)
{
    ax_spawn_opts o = {.placement = AX_PLACE_PROCESS};
    struct job *j = arg;
    int64_t next = 0, step = (j->n + CHUNKS - 1) / CHUNKS, found, hi;
    int done = 0;
    ax_pid from;
    ax_msg *m;

    j->master = ax_self();
    for (int i = 0; i < j->workers; i++) {
        check(ax_spawn(worker, j, &o, NULL), "spawn worker");
    }
    while (done < j->workers) {
        check(ax_recv(&m, AX_FOREVER), "master: recv");
        check(ax_msg_unpack(m, "[s p i]", NULL, NULL, &from, &found), "read");
        ax_msg_free(m);
        j->found += found;
        hi = next + step < j->n ? next + step : j->n;
        if (next < j->n) {
            check(ax_sendf(from, "[s i i]", "chunk", next, hi), "send chunk");
        } else {
            check(ax_sendf(from, "[s]", "done"), "send done");
            done++;
        }
        next = hi;
    }
    return 0; /* the workers end and their processes exit */
}

int
main(int argc, char **argv)
{
    const char *arg = argc > 1 ? argv[1] : getenv("PRIMES_BELOW");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t n = arg ? atoll(arg) : DEFAULT_N, expected;
    int workers[2] = {1, cores < 2 ? 2 : (int)cores};
    double secs[2];
    bool ok = true;

    if (n < CHUNKS || (expected = sieve_count(n)) < 0) {
        fprintf(stderr, "usage: %s [N >= %d]\n", argv[0], CHUNKS);
        return 2;
    }
    printf("main (pid %d): count the primes below %" PRId64 " in %d chunks; "
           "the sieve says %" PRId64 "\n",
           (int)getpid(), n, CHUNKS, expected);
    check(ax_init(NULL), "ax_init");
    for (int r = 0; r < 2; r++) {
        struct job j = {AX_PID_NONE, n, workers[r], 0};
        double start = now();

        check(ax_spawn(master, &j, NULL, NULL), "spawn master");
        check(ax_run(), "ax_run"); /* until every process has ended */
        secs[r] = now() - start;
        printf("run %d: %d worker%s, %" PRId64 " primes in %.0f ms\n", r + 1,
               workers[r], workers[r] > 1 ? "s" : "", j.found, secs[r] * 1e3);
        ok = ok && j.found == expected;
    }
    ax_fini();
    if (ok) {
        printf("both runs right: speed-up %.1fx on %ld cores\n",
               secs[0] / secs[1], cores);
    }
    return ok ? 0 : 1;
}
