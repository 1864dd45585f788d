/*
 * bench/sup_workloads.c - supervisors (docs/supervision.md).
 *
 *   sup_restart_coroutine  a coroutine child that crashes, restarted by
 *                          its supervisor, until the new one answers a
 *                          call (target: 2 us)
 *   sup_restart_process    the same with a process child killed by
 *                          SIGSEGV; floor: proc_spawn (spawn + exit +
 *                          reap of a process actor) in the same run
 *   server_call            ax_server_call round trips to a coroutine
 *                          server; floor: inproc_pingpong (target: 1.2 x
 *                          it + 0.05 us)
 *   pool_call              calls/s from 8 callers through an ax_pool of
 *                          2 process workers; floor: the same callers
 *                          calling 2 process servers directly (target:
 *                          0.8 x)
 */
#include <axon.h>

#include <signal.h>
#include <sys/resource.h>

#include "bench.h"

#define RESTART_CORO_N 100000
#define RESTART_PROC_N 300
#define CALL_N 1000000
#define POOL_CALLERS 8
#define POOL_CALLS 20000 /* per caller */

static double measured;

/* The child: says where it is, answers calls, crashes on "crash"
 * (returns an error as a coroutine, dies of SIGSEGV as a process). */
typedef struct crasher_arg {
    ax_pid driver;
    bool process;
} crasher_arg;

static int
crasher(void *arg)
{
    const crasher_arg *a = arg;
    ax_msg *m;

    bench_check(ax_sendf(a->driver, "[s p]", "up", ax_self()), "up");
    while (ax_recv(&m, AX_FOREVER) == 0) {
        ax_msg *r = NULL;

        if (ax_msg_has_tag(m, "crash")) {
            struct rlimit none = {0, 0};

            ax_msg_free(m);
            if (a->process) {
                setrlimit(RLIMIT_CORE, &none); /* no core file to write */
                raise(SIGSEGV);
            }
            return 1;
        }
        if (ax_msg_is_call(m) && ax_msg_pack(&r, "[s]", "pong") == 0) {
            ax_reply(m, r);
        }
        ax_msg_free(m);
    }
    return 0;
}

static ax_pid
next_up(void)
{
    ax_msg *m;
    ax_pid pid = AX_PID_NONE;

    bench_check(ax_recv_match("up", &m, 30000), "child up");
    bench_check(ax_msg_unpack(m, "[_ p]", &pid), "up message");
    ax_msg_free(m);
    return pid;
}

static void
call_once(ax_pid to)
{
    ax_msg *req = NULL, *reply = NULL;

    bench_check(ax_msg_pack(&req, "[s]", "ping"), "pack");
    bench_check(ax_call(to, req, &reply, 30000), "call");
    ax_msg_free(reply);
}

typedef struct restart_arg {
    ax_placement where;
    uint64_t n;
} restart_arg;

static int
restart_driver(void *arg)
{
    const restart_arg *a = arg;
    crasher_arg ca = {ax_self(), a->where == AX_PLACE_PROCESS};
    ax_pid child, sup;
    ax_child_spec kid = {
        "crasher", crasher, &ca, {0}, AX_RESTART_PERMANENT, AX_SHUTDOWN_BRUTAL};
    ax_sup_spec spec = {AX_ONE_FOR_ONE, 1000, 1, &kid, 1}; /* never reached */
    double t0;

    kid.opts.placement = a->where;
    kid.opts.arg_size = sizeof(ca);
    bench_check(ax_supervisor_start(&spec, NULL, &sup), "supervisor");
    child = next_up();
    call_once(child);
    t0 = bench_now();
    for (uint64_t i = 0; i < a->n; i++) {
        bench_check(ax_sendf(child, "[s]", "crash"), "crash");
        child = next_up();
        call_once(child);
    }
    measured = (bench_now() - t0) / (double)a->n * 1e6;
    bench_check(ax_supervisor_stop(sup, 30000), "stop");
    return 0;
}

static double
sup_restart_coroutine(void)
{
    restart_arg a = {AX_PLACE_COROUTINE, bench_count(RESTART_CORO_N)};

    bench_run_actor(restart_driver, &a);
    return measured;
}

static double
sup_restart_process(void)
{
    restart_arg a = {AX_PLACE_PROCESS, bench_count(RESTART_PROC_N)};

    bench_run_actor(restart_driver, &a);
    return measured;
}

/* --- server_call ------------------------------------------------------------
 */

static int
echo_call(void *state, const ax_msg *req, ax_msg **reply)
{
    (void)state;
    return ax_msg_dup(reply, req) < 0;
}

static int
call_driver(void *arg)
{
    static const ax_server_callbacks cb = {NULL, echo_call, NULL, NULL, NULL};
    uint64_t n = *(const uint64_t *)arg;
    ax_pid server;
    double t0;

    (void)arg;
    bench_check(ax_server_start(&cb, NULL, NULL, &server), "server");
    t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        ax_msg *req = NULL, *reply = NULL;

        bench_check(ax_msg_pack(&req, "[s i]", "ping", (int64_t)i), "pack");
        bench_check(ax_server_call(server, req, &reply, 30000), "call");
        ax_msg_free(reply);
    }
    measured = (bench_now() - t0) / (double)n * 1e6;
    bench_check(ax_server_stop(server, 30000), "stop");
    return 0;
}

static double
server_call(void)
{
    uint64_t n = bench_count(CALL_N);

    bench_run_actor(call_driver, &n);
    return measured;
}

/* --- pool_call --------------------------------------------------------------
 */

typedef struct caller_arg {
    ax_pid to[2]; /* the pool twice, or the two servers */
    bool pool;
    uint64_t n;
    ax_pid driver;
} caller_arg;

static int
pool_caller(void *arg)
{
    const caller_arg *c = arg;

    for (uint64_t i = 0; i < c->n; i++) {
        ax_msg *req = NULL, *reply = NULL;
        ax_pid to = c->to[i & 1];

        bench_check(ax_msg_pack(&req, "[s i]", "job", (int64_t)i), "pack");
        bench_check(c->pool ? ax_pool_call(to, req, &reply, 30000)
                            : ax_server_call(to, req, &reply, 30000),
                    "call");
        ax_msg_free(reply);
    }
    return ax_sendf(c->driver, "[s]", "done");
}

static int
pool_driver(void *arg)
{
    static const ax_server_callbacks cb = {NULL, echo_call, NULL, NULL, NULL};
    bool through_pool = *(const bool *)arg;
    caller_arg c = {{AX_PID_NONE, AX_PID_NONE},
                    through_pool,
                    bench_count(POOL_CALLS),
                    ax_self()};
    ax_spawn_opts proc = {0}, copy = {0};
    double t0;

    proc.placement = AX_PLACE_PROCESS;
    if (through_pool) {
        ax_pool_spec spec = {0};

        spec.workers = 2;
        spec.cb = cb;
        spec.worker = proc;
        bench_check(ax_pool_start(&spec, NULL, &c.to[0]), "pool");
        c.to[1] = c.to[0];
    } else {
        for (int i = 0; i < 2; i++) {
            bench_check(ax_server_start(&cb, NULL, &proc, &c.to[i]), "server");
        }
    }
    copy.arg_size = sizeof(c);
    t0 = bench_now();
    for (int i = 0; i < POOL_CALLERS; i++) {
        bench_check(ax_spawn(pool_caller, &c, &copy, NULL), "caller");
    }
    for (int i = 0; i < POOL_CALLERS; i++) {
        ax_msg *m;

        bench_check(ax_recv_match("done", &m, 60000), "done");
        ax_msg_free(m);
    }
    measured = (double)(POOL_CALLERS * c.n) / (bench_now() - t0);
    if (through_pool) {
        bench_check(ax_pool_stop(c.to[0], 30000), "pool stop");
    } else {
        for (int i = 0; i < 2; i++) {
            bench_check(ax_server_stop(c.to[i], 30000), "server stop");
        }
    }
    return 0;
}

static double
pool_call(void)
{
    bool through_pool = true;

    bench_run_actor(pool_driver, &through_pool);
    return measured;
}

static double
direct_calls(void)
{
    bool through_pool = false;

    bench_run_actor(pool_driver, &through_pool);
    return measured;
}

const bench_workload bench_sup_workloads[] = {
    {"sup_restart_coroutine", "us",
     "a crashed coroutine child restarted, until it answers a call",
     sup_restart_coroutine, NULL},
    {"sup_restart_process", "us",
     "a process child killed by SIGSEGV restarted, until it answers",
     sup_restart_process, bench_proc_spawn},
    {"server_call", "us", "ax_server_call round trip to a coroutine server",
     server_call, bench_inproc_pingpong},
    {"pool_call", "calls/s",
     "8 callers through an ax_pool of 2 process workers", pool_call,
     direct_calls},
    {NULL, NULL, NULL, NULL, NULL},
};
