/*
 * 07_crash_isolation.c - a crash kills one process actor, not the program.
 *
 * A supervisor (a coroutine actor in the main process) starts a worker in
 * a process of its own (AX_PLACE_PROCESS) and monitors it. The first
 * worker dereferences NULL, the second calls abort(): each time the OS
 * kills only the worker's process, and the supervisor receives
 *   ["DOWN", ref, worker, kind, code, signal, core_dumped]
 * which ax_exit_describe turns into "signal 11". The supervisor starts a
 * replacement each time; the third worker does the job and returns
 * normally. The main process never stops and exits 0. (In a sanitizer
 * build, the sanitizer catches the NULL read first and ends the worker
 * with exit status 1: "error 1".)
 *
 * Run: build/examples/07_crash_isolation
 */
#include <axon.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define ATTEMPTS 3

static void
check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s %s\n", what, ax_strerror(rc),
                ax_error_detail());
        exit(1);
    }
}

/* The supervisor's address, for the workers: each worker's process
 * starts as a copy of this one, so what the supervisor stored before the
 * spawn (here, a global) is there to read. */
static ax_pid supervisor_pid;

/* A worker: ask for the job (telling its OS pid), then do it. Jobs 1 and
 * 2 hit bugs; job 3 sums 1..100 and sends the result. */
static int
worker(void *arg)
{
    volatile int *nowhere = NULL;
    int job, sum = 0;
    ax_msg *req, *m;

    (void)arg;
    check(ax_msg_pack(&req, "[s d]", "hello", (int)getpid()), "pack");
    check(ax_call(supervisor_pid, req, &m, AX_FOREVER), "call supervisor");
    check(ax_msg_unpack(m, "[s d]", NULL, NULL, &job), "unpack job");
    ax_msg_free(m);
    if (job == 1) {
        return *nowhere; /* SIGSEGV */
    }
    if (job == 2) {
        abort(); /* SIGABRT */
    }
    for (int i = 1; i <= 100; i++) {
        sum += i;
    }
    check(ax_sendf(supervisor_pid, "[s d]", "result", sum), "send");
    return 0;
}

/* Start workers until one finishes normally; store its result. */
static int
supervisor(void *arg)
{
    ax_spawn_opts o = {.placement = AX_PLACE_PROCESS, .monitor = true};
    int *result = arg, os_pid;
    char why[64];
    ax_exit_info info;
    ax_msg *m, *reply;

    supervisor_pid = ax_self();
    for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
        check(ax_spawn(worker, NULL, &o, NULL), "spawn worker");
        check(ax_recv_match("hello", &m, AX_FOREVER), "recv hello");
        check(ax_msg_unpack(m, "[s d]", NULL, NULL, &os_pid), "unpack");
        check(ax_msg_pack(&reply, "[s d]", "job", attempt), "pack");
        check(ax_reply(m, reply), "reply");
        ax_msg_free(m);
        printf("supervisor: started worker %d in pid %d\n", attempt, os_pid);

        /* The monitor's DOWN comes however the worker ends. */
        check(ax_recv_match("DOWN", &m, AX_FOREVER), "recv DOWN");
        check(ax_down_msg_parse(m, NULL, NULL, &info), "parse DOWN");
        ax_msg_free(m);
        ax_exit_describe(&info, why, sizeof(why));
        if (info.kind == AX_EXIT_NORMAL) {
            check(ax_recv_match("result", &m, 1000), "recv result");
            check(ax_msg_unpack(m, "[s d]", NULL, NULL, result), "unpack");
            ax_msg_free(m);
            printf("supervisor: worker %d (pid %d) finished: %s, "
                   "result %d\n",
                   attempt, os_pid, why, *result);
            return 0;
        }
        printf("supervisor: worker %d (pid %d) died: %s; the supervisor "
               "in pid %d carries on\n",
               attempt, os_pid, why, (int)getpid());
    }
    return 1;
}

int
main(void)
{
    int result = 0;

    check(ax_init(NULL), "ax_init");
    check(ax_spawn(supervisor, &result, NULL, NULL), "spawn supervisor");
    check(ax_run(), "ax_run");
    ax_fini();
    printf("main: pid %d still running, result %d (expected 5050)\n",
           (int)getpid(), result);
    return result == 5050 ? 0 : 1;
}
