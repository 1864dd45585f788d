/*
 * bench/actor_workloads.c - in-process actor workloads.
 *
 *   inproc_pingpong   round trip of a small message between two actors
 *   inproc_stream     one producer to one consumer, 32-byte payloads
 *   spawn_coroutine   spawn + exit + reap of a coroutine actor, amortised
 *   skynet            1,000,000 leaf actors in a 10-way tree, summed
 *   idle_memory       RSS per actor of 100,000 actors blocked in ax_recv
 *
 * Each run starts a fresh runtime (ax_init ... ax_fini) and times only the
 * work, not the set-up.
 */
#include <axon.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define PINGPONG_N 1000000
#define STREAM_N 10000000
#define SPAWN_N 1000000
#define SKYNET_LEAVES 1000000
#define IDLE_N 100000

void
bench_check(int rc, const char *what)
{
    if (rc < 0) {
        bench_die("%s: %s (%s)", what, ax_strerror(rc), ax_error_detail());
    }
}

double
bench_run_actor(ax_actor_fn fn, void *arg)
{
    return bench_run_actor_with(NULL, fn, arg);
}

double
bench_run_actor_with(const ax_runtime_opts *o, ax_actor_fn fn, void *arg)
{
    double t0, t;

    bench_check(ax_init(o), "ax_init");
    bench_check(ax_spawn(fn, arg, NULL, NULL), "spawn");
    t0 = bench_now();
    bench_check(ax_run(), "ax_run");
    t = bench_now() - t0;
    ax_fini();
    if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD) {
        bench_die("a child process was left unreaped");
    }
    return t;
}

/* --- inproc_pingpong ------------------------------------------------------ */

int
bench_echo_actor(void *arg)
{
    ax_msg *m;

    (void)arg;
    for (;;) {
        bench_check(ax_recv(&m, AX_FOREVER), "recv");
        if (ax_msg_has_tag(m, "stop")) {
            ax_msg_free(m);
            return 0;
        }
        bench_check(ax_send(ax_msg_sender(m), m),
                    "pong"); /* the same message */
    }
}

static double pingpong_time;

static int
ping_actor(void *arg)
{
    uint64_t n = *(uint64_t *)arg;
    ax_pid pong;
    ax_msg *m;
    double t0;

    bench_check(ax_spawn(bench_echo_actor, NULL, NULL, &pong), "spawn");
    bench_check(ax_msg_pack(&m, "[s i]", "ping", (int64_t)1), "pack");
    t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        bench_check(ax_send(pong, m), "ping");
        bench_check(ax_recv(&m, AX_FOREVER), "recv");
    }
    pingpong_time = bench_now() - t0;
    ax_msg_free(m);
    return ax_sendf(pong, "[s]", "stop");
}

double
bench_inproc_pingpong(void)
{
    uint64_t n = bench_count(PINGPONG_N);

    bench_run_actor(ping_actor, &n);
    return pingpong_time / (double)n * 1e6;
}

/* --- inproc_stream -------------------------------------------------------- */

static int
sink_actor(void *arg)
{
    uint64_t n = *(uint64_t *)arg;
    ax_msg *m;

    for (uint64_t i = 0; i < n; i++) {
        bench_check(ax_recv(&m, AX_FOREVER), "recv");
        ax_msg_free(m);
    }
    return 0;
}

static double stream_time;

static int
producer_actor(void *arg)
{
    uint64_t n = *(uint64_t *)arg;
    static const char payload[32] = "0123456789abcdef0123456789abcde";
    ax_spawn_opts o = {0};
    ax_pid sink;
    ax_msg *m;
    double t0;

    o.mailbox_capacity = 1024; /* the producer waits: memory stays flat */
    bench_check(ax_spawn(sink_actor, arg, &o, &sink), "spawn");
    t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        bench_check(ax_msg_pack(&m, "B", payload, sizeof(payload)), "pack");
        bench_check(ax_send(sink, m), "send");
    }
    bench_check(ax_wait(sink, NULL, AX_FOREVER), "wait");
    stream_time = bench_now() - t0;
    return 0;
}

static double
inproc_stream(void)
{
    uint64_t n = bench_count(STREAM_N);

    bench_run_actor(producer_actor, &n);
    return (double)n / stream_time;
}

/* --- spawn_coroutine --------------------------------------------------------
 */

static int
nothing_actor(void *arg)
{
    (void)arg;
    return 0;
}

static int
spawner_actor(void *arg)
{
    uint64_t n = *(uint64_t *)arg;

    for (uint64_t i = 0; i < n; i++) {
        bench_check(ax_spawn(nothing_actor, NULL, NULL, NULL), "spawn");
        if (i % 256 == 255) {
            ax_yield(); /* let the batch run and be reaped */
        }
    }
    return 0;
}

static double
spawn_coroutine(void)
{
    uint64_t n = bench_count(SPAWN_N);

    return bench_run_actor(spawner_actor, &n) / (double)n * 1e6;
}

/* --- skynet --------------------------------------------------------------- */

struct skynet_arg {
    int64_t num;
    int64_t size;
    ax_pid parent;
};

static int
skynet_actor(void *p)
{
    struct skynet_arg a = *(struct skynet_arg *)p;
    struct skynet_arg kids[10];
    int64_t sum = 0, part;
    ax_msg *m;

    free(p);
    if (a.size > 1) {
        for (int i = 0; i < 10; i++) {
            struct skynet_arg *k = malloc(sizeof(*k));

            if (k == NULL) {
                bench_die("skynet: out of memory");
            }
            kids[i] = (struct skynet_arg){a.num + i * (a.size / 10),
                                          a.size / 10, ax_self()};
            *k = kids[i];
            bench_check(ax_spawn(skynet_actor, k, NULL, NULL), "spawn");
        }
        for (int i = 0; i < 10; i++) {
            bench_check(ax_recv(&m, AX_FOREVER), "recv");
            bench_check(ax_msg_unpack(m, "i", &part), "unpack");
            ax_msg_free(m);
            sum += part;
        }
    } else {
        sum = a.num;
    }
    return ax_sendf(a.parent, "i", sum);
}

static int
skynet_root(void *arg)
{
    int64_t *result = arg;
    struct skynet_arg *a = malloc(sizeof(*a));
    ax_msg *m;

    *a = (struct skynet_arg){0, SKYNET_LEAVES, ax_self()};
    bench_check(ax_spawn(skynet_actor, a, NULL, NULL), "spawn");
    bench_check(ax_recv(&m, AX_FOREVER), "recv");
    bench_check(ax_msg_unpack(m, "i", result), "unpack");
    ax_msg_free(m);
    return 0;
}

static double
skynet(void)
{
    int64_t result = 0;
    double t = bench_run_actor(skynet_root, &result);

    if (result != 499999500000) {
        bench_die("skynet: sum %lld, expected 499999500000", (long long)result);
    }
    return t * 1e3;
}

/* --- idle_memory ------------------------------------------------------------
 */

static long
rss_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f == NULL || fscanf(f, "%ld %ld", &pages, &rss) != 2) {
        bench_die("cannot read /proc/self/statm");
    }
    fclose(f);
    return rss * sysconf(_SC_PAGESIZE);
}

static int
idle_actor(void *arg)
{
    ax_msg *m;

    (void)arg;
    bench_check(ax_recv(&m, AX_FOREVER), "recv");
    ax_msg_free(m);
    return 0;
}

static double idle_per_actor;

static int
idle_driver(void *arg)
{
    uint64_t n = *(uint64_t *)arg;
    ax_pid *pids = malloc(n * sizeof(*pids));
    long before;

    before = rss_bytes();
    for (uint64_t i = 0; i < n; i++) {
        bench_check(ax_spawn(idle_actor, NULL, NULL, &pids[i]), "spawn");
    }
    ax_yield(); /* every actor runs once and blocks in ax_recv */
    idle_per_actor = (double)(rss_bytes() - before) / (double)n;
    for (uint64_t i = 0; i < n; i++) {
        bench_check(ax_sendf(pids[i], "[s]", "stop"), "stop");
    }
    free(pids);
    return 0;
}

static double
idle_memory(void)
{
    uint64_t n = bench_count(IDLE_N);

    bench_run_actor(idle_driver, &n);
    return idle_per_actor;
}

const bench_workload bench_actor_workloads[] = {
    {"inproc_pingpong", "us", "round trip of a small message, two actors",
     bench_inproc_pingpong, NULL},
    {"inproc_stream", "msg/s", "producer to consumer, 32-byte payloads",
     inproc_stream, NULL},
    {"spawn_coroutine", "us", "spawn + exit + reap, amortised", spawn_coroutine,
     NULL},
    {"skynet", "ms", "1,000,000 leaf actors in a 10-way tree", skynet, NULL},
    {"idle_memory", "bytes", "RSS per actor blocked in ax_recv (100,000)",
     idle_memory, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};
