/*
 * bench/proc_workloads.c - actors in two processes, next to raw floors.
 *
 *   proc_pingpong    round trip of a small message between a coroutine
 *                    actor and a process actor; floor: blocking pipes
 *   proc_stream_32   one-way 32-byte payloads to a process actor; floor:
 *                    one write(2) per message
 *   proc_stream_64k  one-way 64 KiB payloads; floor: 64 KiB write(2)s
 *   proc_bulk_256m   one 256 MiB message; floor: the same bytes through a
 *                    raw pipe in 1 MiB writes
 *   proc_spawn       spawn + exit + reap of a process actor; floor: fork,
 *                    _exit, waitpid
 *   promote          ax_promote of an idle actor until its first answer
 *                    comes from the new process
 *   pool_speedup     a CPU-bound job on 2 process actors versus 1
 */
#include <axon.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define PING_N 100000
#define STREAM32_N 5000000
#define STREAM64K_N 20000
#define BULK ((size_t)256 << 20)
#define SPAWN_N 500
#define PROMOTE_N 200
#define POOL_CHUNKS 64
#define POOL_LIMIT 4000000

static double measured; /* set by the driver actor of a run */

/* Run driver(arg) in a fresh runtime; return what it measured. */
static double
run(ax_actor_fn driver, void *arg)
{
    bench_run_actor(driver, arg);
    return measured;
}

static ax_pid
spawn_process(ax_actor_fn fn, void *arg)
{
    ax_spawn_opts o = {0};
    ax_pid pid;

    o.placement = AX_PLACE_PROCESS;
    o.monitor = true;
    bench_check(ax_spawn(fn, arg, &o, &pid), "spawn process");
    return pid;
}

static void
join(ax_pid pid)
{
    ax_exit_info i;

    bench_check(ax_wait(pid, &i, AX_FOREVER), "wait");
    if (i.kind != AX_EXIT_NORMAL) {
        char b[64];

        bench_die("a process actor ended: %s", ax_exit_describe(&i, b, 64));
    }
}

/* --- proc_pingpong -------------------------------------------------------- */

static int
ping_driver(void *arg)
{
    uint64_t n = bench_count(PING_N);
    ax_pid e = spawn_process(bench_echo_actor, NULL);
    ax_msg *m;
    double t0;

    (void)arg;
    bench_check(ax_msg_pack(&m, "[s i]", "ping", (int64_t)1), "pack");
    bench_check(ax_send(e, m), "warm-up");
    bench_check(ax_recv(&m, AX_FOREVER), "recv");
    t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        bench_check(ax_send(e, m), "ping");
        bench_check(ax_recv(&m, AX_FOREVER), "recv");
    }
    measured = (bench_now() - t0) / (double)n * 1e6;
    ax_msg_free(m);
    bench_check(ax_sendf(e, "[s]", "stop"), "stop");
    join(e);
    return 0;
}

static double
proc_pingpong(void)
{
    return run(ping_driver, NULL);
}

/* --- proc_stream_32 / proc_stream_64k --------------------------------------
 */

struct stream {
    uint64_t n;
    size_t len;
};

static int
sink_actor(void *arg)
{
    const struct stream *s = arg; /* a copy in this process (fork) */
    ax_pid from = AX_PID_NONE;
    ax_msg *m;

    for (uint64_t i = 0; i < s->n; i++) {
        bench_check(ax_recv(&m, AX_FOREVER), "recv");
        from = ax_msg_sender(m);
        ax_msg_free(m);
    }
    return ax_sendf(from, "[s]", "done");
}

static int
stream_driver(void *arg)
{
    const struct stream *s = arg;
    void *payload = calloc(1, s->len);
    ax_pid sink = spawn_process(sink_actor, arg);
    ax_msg *m;
    double t0;

    t0 = bench_now();
    for (uint64_t i = 0; i < s->n; i++) {
        bench_check(ax_msg_pack(&m, "B", payload, s->len), "pack");
        bench_check(ax_send(sink, m), "send");
    }
    bench_check(ax_recv_match("done", &m, AX_FOREVER), "done");
    measured = bench_now() - t0;
    ax_msg_free(m);
    free(payload);
    join(sink);
    return 0;
}

static double
proc_stream_32(void)
{
    struct stream s = {bench_count(STREAM32_N), 32};

    return (double)s.n / run(stream_driver, &s);
}

static double
proc_stream_64k(void)
{
    struct stream s = {bench_count(STREAM64K_N), 65536};

    return (double)s.n * 65536 / run(stream_driver, &s) / 1e6;
}

/*
 * proc_stream_sized: the size sweep behind bench/plot.sh. AXON_BENCH_SIZE
 * bytes per message (default 1024), about 512 MB per run, MB/s, next to
 * raw writes of the same size.
 */
static struct stream
sized(void)
{
    const char *e = getenv("AXON_BENCH_SIZE");
    size_t len = e ? (size_t)atol(e) : 1024;
    uint64_t n = ((uint64_t)512 << 20) / (len ? len : 1);

    if (len == 0 || len > ((size_t)16 << 20)) {
        bench_die("AXON_BENCH_SIZE must be 1 .. 16 MiB");
    }
    n = n < 1000 ? 1000 : n > 4000000 ? 4000000 : n;
    return (struct stream){bench_count(n), len};
}

static double
proc_stream_sized(void)
{
    struct stream s = sized();

    return (double)s.n * (double)s.len / run(stream_driver, &s) / 1e6;
}

static double
floor_stream_sized(void)
{
    struct stream s = sized();

    return (double)s.n * (double)s.len / bench_raw_stream(s.n, s.len) / 1e6;
}

/* --- proc_bulk_256m ---------------------------------------------------------
 */

static int
bulk_sink(void *arg)
{
    ax_msg *m;
    const void *p;
    size_t len;

    (void)arg;
    bench_check(ax_recv(&m, AX_FOREVER), "recv");
    bench_check(ax_msg_unpack(m, "B", &p, &len), "unpack");
    if (len != BULK) {
        bench_die("bulk: %zu bytes", len);
    }
    bench_check(ax_sendf(ax_msg_sender(m), "[s]", "done"), "done");
    ax_msg_free(m);
    return 0;
}

static int
bulk_driver(void *arg)
{
    void *payload = malloc(BULK);
    ax_pid sink = spawn_process(bulk_sink, NULL);
    ax_msg *m;
    double t0;

    (void)arg;
    if (payload == NULL) {
        bench_die("bulk: out of memory");
    }
    memset(payload, 1, BULK); /* touched, as the floor's source is */
    ax_sleep(50);             /* the child is up: time the transfer only */
    t0 = bench_now();
    bench_check(ax_msg_pack(&m, "B", payload, BULK), "pack");
    bench_check(ax_send(sink, m), "send");
    bench_check(ax_recv_match("done", &m, AX_FOREVER), "done");
    measured = bench_now() - t0;
    ax_msg_free(m);
    free(payload);
    join(sink);
    return 0;
}

static double
proc_bulk_256m(void)
{
    ax_msg_limits lim = {BULK + 64, 0, 0};

    bench_check(ax_msg_limits_set(&lim), "limits");
    double t = run(bulk_driver, NULL);

    bench_check(ax_msg_limits_set(&(ax_msg_limits){0, 0, 0}), "limits");
    return (double)BULK / t / 1e6;
}

/* Raw floor: 256 MiB through a 1 MiB pipe in 1 MiB writes, read into one
 * buffer, as the message is. */
static double
floor_bulk_256m(void)
{
    char *buf = calloc(1, BULK);
    int fd[2];
    pid_t pid;
    double t0, t;

    if (buf == NULL || pipe(fd) < 0) {
        bench_die("floor_bulk: %s", strerror(errno));
    }
    fcntl(fd[1], F_SETPIPE_SZ, 1 << 20);
    pid = fork();
    if (pid == 0) {
        size_t got = 0;

        close(fd[1]);
        while (got < BULK) {
            ssize_t r = read(fd[0], buf + got, BULK - got);

            if (r <= 0) {
                _exit(3);
            }
            got += (size_t)r;
        }
        _exit(0);
    }
    close(fd[0]);
    t0 = bench_now();
    for (size_t off = 0; off < BULK;) {
        ssize_t w = write(fd[1], buf + off, 1 << 20);

        if (w <= 0) {
            bench_die("floor_bulk: write: %s", strerror(errno));
        }
        off += (size_t)w;
    }
    close(fd[1]);
    waitpid(pid, NULL, 0);
    t = bench_now() - t0;
    free(buf);
    return (double)BULK / t / 1e6;
}

/* --- proc_spawn ------------------------------------------------------------
 */

static int
nothing_actor(void *arg)
{
    (void)arg;
    return 0;
}

static int
spawn_driver(void *arg)
{
    uint64_t n = bench_count(SPAWN_N);
    double t0 = bench_now();

    (void)arg;
    for (uint64_t i = 0; i < n; i++) {
        join(spawn_process(nothing_actor, NULL));
    }
    measured = (bench_now() - t0) / (double)n * 1e6;
    return 0;
}

double
bench_proc_spawn(void)
{
    return run(spawn_driver, NULL);
}

static double
floor_spawn(void)
{
    uint64_t n = bench_count(SPAWN_N);
    double t0 = bench_now();

    for (uint64_t i = 0; i < n; i++) {
        pid_t pid = fork();

        if (pid == 0) {
            _exit(0);
        }
        waitpid(pid, NULL, 0);
    }
    return (bench_now() - t0) / (double)n * 1e6;
}

/* --- promote -------------------------------------------------------------- */

static int
promotee_actor(void *arg)
{
    ax_msg *m;

    (void)arg;
    bench_check(ax_recv_match("promote", &m, AX_FOREVER), "recv");
    ax_msg_free(m);
    bench_check(ax_promote(), "promote");
    bench_check(ax_recv_match("ping", &m, AX_FOREVER), "recv");
    bench_check(ax_sendf(ax_msg_sender(m), "[s d]", "pong", (int)getpid()),
                "pong");
    ax_msg_free(m);
    return 0;
}

static int
promote_driver(void *arg)
{
    uint64_t n = bench_count(PROMOTE_N);
    double total = 0;
    ax_spawn_opts o = {0};

    (void)arg;
    o.monitor = true;
    for (uint64_t i = 0; i < n; i++) {
        ax_pid p;
        ax_msg *m;
        int pid = 0;
        double t0;

        bench_check(ax_spawn(promotee_actor, NULL, &o, &p), "spawn");
        ax_yield(); /* it waits, idle */
        t0 = bench_now();
        bench_check(ax_sendf(p, "[s]", "promote"), "promote");
        bench_check(ax_sendf(p, "[s p]", "ping", ax_self()), "ping");
        bench_check(ax_recv_match("pong", &m, AX_FOREVER), "pong");
        total += bench_now() - t0;
        bench_check(ax_msg_unpack(m, "[_ d]", &pid), "unpack");
        if (pid == getpid()) {
            bench_die("promote: the answer came from the old process");
        }
        ax_msg_free(m);
        join(p);
    }
    measured = total / (double)n * 1e6;
    return 0;
}

static double
promote(void)
{
    return run(promote_driver, NULL);
}

/* --- pool_speedup -----------------------------------------------------------
 */

/* Primes below hi counted from lo: a CPU job with nothing to share. */
static int64_t
count_primes(int64_t lo, int64_t hi)
{
    int64_t n = 0;

    for (int64_t k = lo < 2 ? 2 : lo; k < hi; k++) {
        bool prime = true;

        for (int64_t d = 2; d * d <= k && prime; d++) {
            prime = k % d != 0;
        }
        n += prime;
    }
    return n;
}

static int
pool_worker(void *arg)
{
    ax_pid master = *(ax_pid *)arg;
    ax_msg *m;
    int64_t lo, hi;

    for (;;) {
        bench_check(ax_sendf(master, "[s p]", "ready", ax_self()), "ready");
        bench_check(ax_recv(&m, AX_FOREVER), "recv");
        if (ax_msg_unpack(m, "[s i i]", NULL, NULL, &lo, &hi) < 0) {
            ax_msg_free(m);
            return 0; /* ["done"] */
        }
        ax_msg_free(m);
        bench_check(ax_sendf(master, "[s i]", "count", count_primes(lo, hi)),
                    "count");
    }
}

struct pool {
    int workers;
    int64_t limit;
};

/* Workers ask for chunks; a worker asking when none is left is told to
 * stop. Done when every chunk is counted and every worker stopped. */
static int
pool_driver(void *arg)
{
    const struct pool *pl = arg;
    ax_pid self = ax_self(), w[8], who;
    int64_t step = pl->limit / POOL_CHUNKS, next = 0, total = 0, c;
    int results = 0, stopped = 0;
    double t0 = bench_now();
    ax_msg *m;

    for (int i = 0; i < pl->workers; i++) {
        w[i] = spawn_process(pool_worker, &self);
    }
    while (results < POOL_CHUNKS || stopped < pl->workers) {
        bench_check(ax_recv(&m, AX_FOREVER), "recv");
        if (ax_msg_unpack(m, "[s i]", NULL, NULL, &c) == 0) {
            total += c;
            results++;
        } else if (ax_msg_unpack(m, "[s p]", NULL, NULL, &who) == 0) {
            if (next < step * POOL_CHUNKS) {
                bench_check(
                    ax_sendf(who, "[s i i]", "chunk", next, next + step),
                    "chunk");
                next += step;
            } else {
                bench_check(ax_sendf(who, "[s]", "done"), "done");
                stopped++;
            }
        }
        ax_msg_free(m);
    }
    for (int i = 0; i < pl->workers; i++) {
        join(w[i]);
    }
    measured = bench_now() - t0;
    if (total != count_primes(0, step * POOL_CHUNKS)) {
        bench_die("pool: wrong count %lld", (long long)total);
    }
    return 0;
}

static double
pool_speedup(void)
{
    struct pool one = {1, (int64_t)bench_count(POOL_LIMIT)};
    struct pool two = {2, one.limit};
    double t1 = run(pool_driver, &one);
    double t2 = run(pool_driver, &two);

    return t1 / t2;
}

const bench_workload bench_proc_workloads[] = {
    {"proc_pingpong", "us", "round trip between actors in two processes",
     proc_pingpong, bench_floor_pingpong},
    {"proc_stream_32", "msg/s", "one-way 32-byte payloads to a process actor",
     proc_stream_32, bench_floor_stream_32},
    {"proc_stream_64k", "MB/s", "one-way 64 KiB payloads to a process actor",
     proc_stream_64k, bench_floor_stream_64k},
    {"proc_stream_sized", "MB/s",
     "one-way AXON_BENCH_SIZE-byte payloads (plot.sh's sweep)",
     proc_stream_sized, floor_stream_sized},
    {"proc_bulk_256m", "MB/s", "one 256 MiB message to a process actor",
     proc_bulk_256m, floor_bulk_256m},
    {"proc_spawn", "us", "spawn + exit + reap of a process actor",
     bench_proc_spawn, floor_spawn},
    {"promote", "us", "ax_promote of an idle actor until its first answer",
     promote, NULL},
    {"pool_speedup", "x", "CPU job on 2 process actors versus 1", pool_speedup,
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};
