/*
 * bench/axon-bench.c - run workloads, report median/min/max and the ratio
 * to the raw floor measured in the same run.
 *
 *   axon-bench                 every workload, readable table
 *   axon-bench NAME...         some workloads
 *   axon-bench floors          the machine's floors (floor_*), no axon
 *   axon-bench --list          workload names, one per line
 *   axon-bench --json          one JSON object per line
 *   axon-bench --runs N        runs per workload (default 5)
 *   axon-bench --quick         smaller counts (smoke test, numbers rough)
 *   axon-bench --warmup        one run first that is not counted
 *
 * Several workloads run one after the other, each in a fresh process.
 */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 101

static int warmup; /* --warmup: one uncounted run first */

static double scale = 1.0;

static const bench_workload *const tables[] = {
    bench_chan_workloads,  bench_actor_workloads, bench_proc_workloads,
    bench_scale_workloads, bench_sup_workloads,   bench_floor_workloads,
};

double
bench_scale(void)
{
    return scale;
}

uint64_t
bench_count(uint64_t n)
{
    uint64_t c = (uint64_t)((double)n * scale);

    return c ? c : 1;
}

double
bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void
bench_die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "axon-bench: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

struct summary {
    double median, min, max;
};

static struct summary
summarise(double *v, int n)
{
    struct summary s;

    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    s.min = v[0];
    s.max = v[n - 1];
    s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    return s;
}

static void
print_number(double v)
{
    if (v >= 1e5) {
        printf("%14.0f", v);
    } else {
        printf("%14.3f", v);
    }
}

static void
report(const bench_workload *w, struct summary s, const struct summary *f,
       int runs, int json)
{
    if (json) {
        printf("{\"workload\": \"%s\", \"unit\": \"%s\", \"median\": %.6g, "
               "\"min\": %.6g, \"max\": %.6g, \"runs\": %d, ",
               w->name, w->unit, s.median, s.min, s.max, runs);
        if (f != NULL) {
            printf("\"floor_median\": %.6g, \"ratio\": %.4g}\n", f->median,
                   s.median / f->median);
        } else {
            printf("\"floor_median\": null, \"ratio\": null}\n");
        }
        fflush(stdout);
        return;
    }
    printf("%-18s %-6s", w->name, w->unit);
    print_number(s.median);
    print_number(s.min);
    print_number(s.max);
    if (f != NULL) {
        print_number(f->median);
        printf("%8.3f\n", s.median / f->median);
    } else {
        printf("%14s%8s\n", "-", "-");
    }
    fflush(stdout);
}

static void
run_workload(const bench_workload *w, int runs, int json)
{
    double v[MAX_RUNS], fl[MAX_RUNS];
    struct summary s, f;

    if (warmup) { /* caches, heap and stack pool as a second run finds them */
        if ((w->floor != NULL && w->floor() < 0) || w->run() < 0) {
            bench_die("%s: the warm-up run failed", w->name);
        }
    }
    for (int i = 0; i < runs; i++) {
        if (w->floor != NULL) { /* interleaved: same noise for both */
            fl[i] = w->floor();
        }
        v[i] = w->run();
        if (v[i] < 0 || (w->floor != NULL && fl[i] < 0)) {
            bench_die("%s: run %d failed", w->name, i);
        }
    }
    s = summarise(v, runs);
    if (w->floor != NULL) {
        f = summarise(fl, runs);
    }
    report(w, s, w->floor != NULL ? &f : NULL, runs, json);
}

/*
 * With several workloads, each runs in a process of its own, forked from
 * this one before it has run anything: what a workload leaves behind (a
 * million actors' heap and stacks, an address space that makes every
 * later fork slower) must not weigh on the next one.
 */
static void
run_isolated(const bench_workload *w, int runs, int json)
{
    int status;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        bench_die("fork: %s", strerror(errno));
    }
    if (pid == 0) { /* _exit: no second atexit, no LeakSanitizer here */
        run_workload(w, runs, json);
        fflush(stdout);
        _exit(0);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            bench_die("%s: waitpid: %s", w->name, strerror(errno));
        }
    }
    if (WIFSIGNALED(status)) {
        bench_die("%s: its process died of signal %d", w->name,
                  WTERMSIG(status));
    }
    if (WEXITSTATUS(status) != 0) {
        bench_die("%s: its process exited with %d", w->name,
                  WEXITSTATUS(status));
    }
}

static const bench_workload *
find(const char *name)
{
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        for (const bench_workload *w = tables[t]; w->name; w++) {
            if (strcmp(w->name, name) == 0) {
                return w;
            }
        }
    }
    return NULL;
}

static void
list(void)
{
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        for (const bench_workload *w = tables[t]; w->name; w++) {
            printf("%-18s %-6s %s\n", w->name, w->unit, w->what);
        }
    }
}

static void
usage(void)
{
    fprintf(stderr, "usage: axon-bench [--list] [--json] [--runs N] "
                    "[--quick] [--warmup] [floors] [WORKLOAD...]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    const bench_workload *chosen[64];
    int n = 0, runs = 5, json = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0) {
            list();
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--warmup") == 0) {
            warmup = 1;
        } else if (strcmp(argv[i], "--quick") == 0) {
            scale = 0.05;
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
            if (runs < 1 || runs > MAX_RUNS) {
                usage();
            }
        } else if (argv[i][0] == '-' || n == 64) {
            usage();
        } else if (strcmp(argv[i], "floors") == 0) {
            for (const bench_workload *w = bench_floor_workloads;
                 w->name && n < 64; w++) {
                chosen[n++] = w;
            }
        } else if ((chosen[n++] = find(argv[i])) == NULL) {
            bench_die("no workload named %s (see --list)", argv[i]);
        }
    }
    if (n == 0) {
        for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
            for (const bench_workload *w = tables[t]; w->name && n < 64; w++) {
                chosen[n++] = w;
            }
        }
    }
    if (!json) {
        printf("%-18s %-6s%14s%14s%14s%14s%8s\n", "workload", "unit", "median",
               "min", "max", "floor", "ratio");
    }
    for (int i = 0; i < n; i++) {
        if (n == 1) {
            run_workload(chosen[i], runs, json);
        } else {
            run_isolated(chosen[i], runs, json);
        }
    }
    return 0;
}
