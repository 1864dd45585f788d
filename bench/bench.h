/*
 * bench/bench.h - the workload registry of axon-bench.
 *
 * A workload measures one number per run (a rate or a time). Where a raw
 * floor applies (the same job done with plain system calls), the floor is
 * measured in the same run, interleaved with the workload, so the ratio
 * compares like with like on a shared, noisy machine.
 */
#ifndef AXON_BENCH_H
#define AXON_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <axon.h>

typedef struct bench_workload {
    const char *name;
    const char *unit; /* "us", "msg/s", "MB/s", "ms", "bytes", "x" */
    const char *what; /* one line: what a run measures */
    /* One run of the workload: returns the measured value, < 0 on error. */
    double (*run)(void);
    /* One run of the raw floor, or NULL if none applies. */
    double (*floor)(void);
} bench_workload;

/* Workload tables, each ended by an entry with name NULL. */
extern const bench_workload bench_chan_workloads[];
extern const bench_workload bench_actor_workloads[];
extern const bench_workload bench_proc_workloads[];
extern const bench_workload bench_scale_workloads[];
extern const bench_workload bench_sup_workloads[];
extern const bench_workload bench_floor_workloads[];

/* Raw floors shared by the channel and process workloads. */
double bench_floor_pingpong(void);
double bench_floor_stream_32(void);
double bench_floor_stream_64k(void);
double bench_floor_spin_pingpong(void);
/* proc_spawn's run (the floor of sup_restart_process). */
double bench_proc_spawn(void);
/* inproc_pingpong's run (the floor of server_call). */
double bench_inproc_pingpong(void);

/* Wait for child pid; bench_die unless it exited with 0. */
void bench_reap(pid_t pid);

/* Seconds to write n messages of len bytes to a child, one write each. */
double bench_raw_stream(uint64_t n, size_t len);

/* bench_scale - 1.0 normally; smaller with --quick (counts shrink). */
double bench_scale(void);

/* bench_count - n scaled by bench_scale(), at least 1. */
uint64_t bench_count(uint64_t n);

/* bench_now - CLOCK_MONOTONIC in seconds. */
double bench_now(void);

/*
 * bench_run_actor - init a runtime, run fn(arg) as its only top actor
 * until every actor is gone, fini, and check that no child process is
 * left unreaped; the seconds ax_run took.
 */
double bench_run_actor(int (*fn)(void *arg), void *arg);

/* bench_run_actor_with - the same with runtime options o (NULL: none). */
double bench_run_actor_with(const ax_runtime_opts *o, int (*fn)(void *arg),
                            void *arg);

/* bench_check - bench_die with the error's name and detail if rc < 0. */
void bench_check(int rc, const char *what);

/* bench_echo_actor - send every message back to its sender, until one
 * tagged "stop" (the other end of the ping-pong workloads). */
int bench_echo_actor(void *arg);

/* bench_die - print a sentence and exit(2): a workload cannot go on. */
_Noreturn void bench_die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif /* AXON_BENCH_H */
