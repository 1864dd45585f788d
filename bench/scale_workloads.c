/*
 * bench/scale_workloads.c - what a process actor costs as they grow in
 * number, each beside a floor measured in the same run.
 *
 *   proc_idle_mem_10    private dirty KiB of an idle process actor (one
 *   proc_idle_mem_100   message answered, waiting in ax_recv) with 10,
 *   proc_idle_mem_1000  100 or 1,000 alive; floor: a bare fork child
 *                       blocked in read(2), as many alive
 *   proc_spawn_at_1000  spawn + first message back with 1,000 process
 *                       actors alive; floor: the same with 10 alive
 *   proc_idle_cpu_100   CPU time of the whole process tree, in percent of
 *                       one core, over 2 s while 100 process actors
 *                       idle (each answered one message)
 *   proc_10k            seconds until 10,000 idle process actors each
 *                       answered one message (all are then stopped and
 *                       reaped); floor: 10,000 bare fork children with a
 *                       one-byte pipe handshake
 *
 * Process actors start from the fork server (ax_runtime_opts.forkserver);
 * the _fork variants fork them from the driver's process instead.
 */
#include <axon.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define SAMPLE 100     /* children whose memory is read */
#define SPAWN_AT_N 100 /* spawns timed at a given population */

static double measured; /* set by the driver actor of a run */

/* Run driver(arg) in a fresh runtime, its process actors started by the
 * fork server (server) or forked from the driver's process; return what
 * it measured. */
static double
run_on(bool server, ax_actor_fn driver, void *arg)
{
    ax_runtime_opts o = {0};

    o.forkserver = server;
    bench_run_actor_with(&o, driver, arg);
    return measured;
}

static double
run(ax_actor_fn driver, void *arg)
{
    return run_on(true, driver, arg);
}

/* Private dirty KiB of OS process pid (smaps_rollup), < 0 if unknown. */
static double
private_dirty_kib(pid_t pid)
{
    char path[64], line[256];
    double kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "Private_Dirty: %lf kB", &kib) == 1) {
            break;
        }
    }
    fclose(f);
    return kib;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The median private dirty KiB of up to SAMPLE of the n processes. */
static double
median_dirty(const pid_t *os, size_t n)
{
    double kib[SAMPLE];
    size_t k = 0, step = n > SAMPLE ? n / SAMPLE : 1;

    for (size_t i = 0; i < n && k < SAMPLE; i += step) {
        kib[k] = private_dirty_kib(os[i]);
        if (kib[k] < 0) {
            bench_die("cannot read the memory of process %d", (int)os[i]);
        }
        k++;
    }
    qsort(kib, k, sizeof(kib[0]), cmp_double);
    return kib[k / 2];
}

/* --- the process actors ----------------------------------------------------
 */

/* Answer ["ping", from] with ["pong", getpid()], then wait for ["stop"]. */
static int
idle_actor(void *arg)
{
    ax_msg *m;
    ax_pid from;

    (void)arg;
    bench_check(ax_recv_match("ping", &m, AX_FOREVER), "recv ping");
    bench_check(ax_msg_unpack(m, "[_ p]", &from), "unpack ping");
    ax_msg_free(m);
    bench_check(ax_sendf(from, "[s d]", "pong", (int)getpid()), "pong");
    bench_check(ax_recv_match("stop", &m, AX_FOREVER), "recv stop");
    ax_msg_free(m);
    return 0;
}

/* A population of idle process actors, each answered. */
typedef struct crowd {
    ax_pid *pid;
    pid_t *os;
    size_t n;
} crowd;

/* Spawn n idle process actors and ping them; their OS pids in c->os. */
static void
crowd_grow(crowd *c, size_t n)
{
    ax_spawn_opts o = {0};
    size_t first = c->n;

    o.placement = AX_PLACE_PROCESS;
    o.monitor = true; /* its DOWN tells crowd_stop it ended */
    c->pid = realloc(c->pid, (first + n) * sizeof(*c->pid));
    c->os = realloc(c->os, (first + n) * sizeof(*c->os));
    if (c->pid == NULL || c->os == NULL) {
        bench_die("out of memory");
    }
    for (size_t i = first; i < first + n; i++) {
        bench_check(ax_spawn(idle_actor, NULL, &o, &c->pid[i]), "spawn");
        bench_check(ax_sendf(c->pid[i], "[s p]", "ping", ax_self()), "ping");
    }
    for (size_t i = first; i < first + n; i++) {
        ax_msg *m;
        int os;

        bench_check(ax_recv_match("pong", &m, AX_FOREVER), "recv pong");
        bench_check(ax_msg_unpack(m, "[_ d]", &os), "unpack pong");
        c->os[i] = os;
        ax_msg_free(m);
    }
    c->n += n;
}

/* Stop every actor of the crowd and wait for all their DOWNs. */
static void
crowd_stop(crowd *c)
{
    for (size_t i = 0; i < c->n; i++) {
        bench_check(ax_sendf(c->pid[i], "[s]", "stop"), "stop");
    }
    for (size_t i = 0; i < c->n; i++) {
        ax_exit_info e;
        ax_msg *m;

        bench_check(ax_recv_match("DOWN", &m, AX_FOREVER), "recv DOWN");
        bench_check(ax_down_msg_parse(m, NULL, NULL, &e), "DOWN");
        ax_msg_free(m);
        if (e.kind != AX_EXIT_NORMAL) {
            char b[64];

            bench_die("an idle actor ended: %s", ax_exit_describe(&e, b, 64));
        }
    }
    free(c->pid);
    free(c->os);
    *c = (crowd){0};
}

/* --- proc_idle_mem ----------------------------------------------------------
 */

static int
idle_mem_driver(void *arg)
{
    crowd c = {0};

    crowd_grow(&c, *(const size_t *)arg);
    measured = median_dirty(c.os, c.n);
    crowd_stop(&c);
    return 0;
}

static double
idle_mem(size_t n)
{
    return run(idle_mem_driver, &n);
}

/* n bare fork children blocked in read(2) of one pipe, each having
 * written one byte to another first; the median private dirty KiB. */
static double
floor_idle_mem_n(size_t n, double *start_s)
{
    int up[2], stop[2];
    pid_t *os = calloc(n, sizeof(*os));
    double t0 = bench_now(), kib;
    char b;

    if (os == NULL || pipe(up) < 0 || pipe(stop) < 0) {
        bench_die("floor: %s", strerror(errno));
    }
    for (size_t i = 0; i < n; i++) {
        os[i] = fork();
        if (os[i] < 0) {
            bench_die("floor: fork: %s", strerror(errno));
        }
        if (os[i] == 0) {
            close(stop[1]);
            close(up[0]);
            if (write(up[1], "u", 1) != 1 || read(stop[0], &b, 1) < 0) {
                _exit(1);
            }
            _exit(0);
        }
    }
    close(up[1]);
    close(stop[0]);
    for (size_t i = 0; i < n; i++) {
        if (read(up[0], &b, 1) != 1) {
            bench_die("floor: a child did not start");
        }
    }
    if (start_s != NULL) {
        *start_s = bench_now() - t0;
    }
    kib = median_dirty(os, n);
    close(stop[1]); /* EOF: every child exits */
    close(up[0]);
    for (size_t i = 0; i < n; i++) {
        waitpid(os[i], NULL, 0);
    }
    free(os);
    return kib;
}

static double
proc_idle_mem_10(void)
{
    return idle_mem(10);
}

static double
floor_idle_mem_10(void)
{
    return floor_idle_mem_n(10, NULL);
}

static double
proc_idle_mem_100(void)
{
    return idle_mem(100);
}

static double
floor_idle_mem_100(void)
{
    return floor_idle_mem_n(100, NULL);
}

static double
proc_idle_mem_100_fork(void)
{
    size_t n = 100;

    return run_on(false, idle_mem_driver, &n);
}

static double
proc_idle_mem_1000(void)
{
    return idle_mem(bench_count(1000));
}

static double
floor_idle_mem_1000(void)
{
    return floor_idle_mem_n(bench_count(1000), NULL);
}

/* --- proc_spawn_at_1000 ----------------------------------------------------
 */

/* With *arg process actors alive, the mean µs of SPAWN_AT_N spawns each
 * until its first message back (they join the crowd). */
static int
spawn_at_driver(void *arg)
{
    crowd c = {0};
    double t0;

    crowd_grow(&c, *(const size_t *)arg);
    t0 = bench_now();
    for (int i = 0; i < SPAWN_AT_N; i++) {
        crowd_grow(&c, 1);
    }
    measured = (bench_now() - t0) / SPAWN_AT_N * 1e6;
    crowd_stop(&c);
    return 0;
}

static double
proc_spawn_at_1000(void)
{
    size_t n = bench_count(1000);

    return run(spawn_at_driver, &n);
}

static double
proc_spawn_at_10(void)
{
    size_t n = 10;

    return run(spawn_at_driver, &n);
}

static double
proc_spawn_at_1000_fork(void)
{
    size_t n = bench_count(1000);

    return run_on(false, spawn_at_driver, &n);
}

static double
proc_spawn_at_10_fork(void)
{
    size_t n = 10;

    return run_on(false, spawn_at_driver, &n);
}

/* --- proc_idle_cpu_100 ------------------------------------------------------
 */

/* CPU seconds (user + system) of OS process pid, < 0 if unknown. */
static double
cpu_s(pid_t pid)
{
    char path[64];
    unsigned long ut = 0, st = 0;
    FILE *f;
    int n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    /* fields 14 and 15, after "pid (comm) state" and ten numbers */
    n = fscanf(f,
               "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
               "%lu %lu",
               &ut, &st);
    fclose(f);
    return n == 2 ? (double)(ut + st) / (double)sysconf(_SC_CLK_TCK) : -1;
}

static double
tree_cpu_s(const crowd *c)
{
    double s = cpu_s(getpid());

    for (size_t i = 0; i < c->n; i++) {
        s += cpu_s(c->os[i]);
    }
    return s;
}

static int
idle_cpu_driver(void *arg)
{
    crowd c = {0};
    double c0, t0;

    (void)arg;
    crowd_grow(&c, 100);
    ax_sleep(200); /* settled */
    c0 = tree_cpu_s(&c);
    t0 = bench_now();
    ax_sleep(2000);
    measured = (tree_cpu_s(&c) - c0) / (bench_now() - t0) * 100.0;
    crowd_stop(&c);
    return 0;
}

static double
proc_idle_cpu_100(void)
{
    return run(idle_cpu_driver, NULL);
}

/* --- proc_10k ---------------------------------------------------------------
 */

static int
tenk_driver(void *arg)
{
    crowd c = {0};
    double t0 = bench_now();

    crowd_grow(&c, *(const size_t *)arg);
    measured = bench_now() - t0;
    crowd_stop(&c);
    return 0;
}

static double
proc_10k(void)
{
    size_t n = bench_count(10000);

    return run(tenk_driver, &n);
}

static double
proc_10k_fork(void)
{
    size_t n = bench_count(10000);

    return run_on(false, tenk_driver, &n);
}

static double
floor_10k(void)
{
    double s = 0;

    floor_idle_mem_n(bench_count(10000), &s);
    return s;
}

const bench_workload bench_scale_workloads[] = {
    {"proc_idle_mem_10", "KiB",
     "private dirty memory of an idle process actor, 10 alive",
     proc_idle_mem_10, floor_idle_mem_10},
    {"proc_idle_mem_100", "KiB",
     "private dirty memory of an idle process actor, 100 alive",
     proc_idle_mem_100, floor_idle_mem_100},
    {"proc_idle_mem_100_fork", "KiB",
     "the same, 100 alive, forked from the spawner's process (no server)",
     proc_idle_mem_100_fork, floor_idle_mem_100},
    {"proc_idle_mem_1000", "KiB",
     "private dirty memory of an idle process actor, 1,000 alive",
     proc_idle_mem_1000, floor_idle_mem_1000},
    {"proc_spawn_at_1000", "us",
     "spawn + first message, 1,000 alive (floor: 10 alive)", proc_spawn_at_1000,
     proc_spawn_at_10},
    {"proc_spawn_at_1000_fork", "us",
     "the same, forked from the spawner's process (no server)",
     proc_spawn_at_1000_fork, proc_spawn_at_10_fork},
    {"proc_idle_cpu_100", "%",
     "CPU of the process tree while 100 process actors idle, 2 s",
     proc_idle_cpu_100, NULL},
    {"proc_10k", "s", "start 10,000 idle process actors, one message each",
     proc_10k, floor_10k},
    {"proc_10k_fork", "s",
     "the same, forked from the spawner's process (no server)", proc_10k_fork,
     floor_10k},
    {NULL, NULL, NULL, NULL, NULL},
};
