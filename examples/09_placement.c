/*
 * 09_placement.c - where actors run is configuration, not code.
 *
 * main spawns two named actors, "logger" and "worker", without saying
 * where they run (AX_PLACE_DEFAULT). The environment decides: AXON_PLACE
 * lists names to run as process actors (or as coroutines); every other
 * actor is a coroutine in the spawner's process. The code is the same
 * either way: the worker finds the logger by name (ax_whereis, answered
 * by the main process's registry) and sends it lines, which the logger
 * prints. Each actor says where it runs, comparing its OS pid with
 * main's.
 *
 * Run: build/examples/09_placement                 (both coroutines)
 *      AXON_PLACE="worker=process" build/examples/09_placement
 *      AXON_PLACE="worker=process,logger=process" build/examples/09_placement
 */
#include <axon.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

static void
check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s %s\n", what, ax_strerror(rc),
                ax_error_detail());
        exit(1);
    }
}

/* Main's pid: a global, so a process actor's copy of memory has it. */
static pid_t main_pid;

/* Say where the running actor is, in a process or as a coroutine. */
static void
say_where(const char *name)
{
    if (getpid() == main_pid) {
        printf("%s: a coroutine in the main process (pid %d)\n", name,
               (int)getpid());
    } else {
        printf("%s: in a process of its own (pid %d, main is pid %d)\n", name,
               (int)getpid(), (int)main_pid);
    }
    fflush(stdout); /* a process actor's process ends with _exit */
}

/* The logger: print every ["log", who, pid, step, value] until "stop". */
static int
logger(void *arg)
{
    int pid, step, value, lines = 0;
    const char *who;
    size_t wlen;
    ax_msg *m;

    (void)arg;
    say_where("logger");
    for (;;) {
        check(ax_recv(&m, AX_FOREVER), "logger: recv");
        if (ax_msg_has_tag(m, "stop")) {
            ax_msg_free(m);
            break;
        }
        check(ax_msg_unpack(m, "[s s d d d]", NULL, NULL, &who, &wlen, &pid,
                            &step, &value),
              "logger: unpack");
        printf("logger: %.*s (pid %d) says: step %d, sum of squares %d\n",
               (int)wlen, who, pid, step, value);
        ax_msg_free(m);
        lines++;
    }
    printf("logger: %d lines logged, bye\n", lines);
    fflush(stdout);
    return 0;
}

/* The worker: find the logger by name, log some work, stop the logger. */
static int
worker(void *arg)
{
    int sum = 0;
    ax_pid log;

    (void)arg;
    say_where("worker");
    check(ax_whereis("logger", &log), "worker: whereis logger");
    for (int i = 1; i <= 3; i++) {
        sum += i * i;
        check(ax_sendf(log, "[s s d d d]", "log", "worker", (int)getpid(), i,
                       sum),
              "worker: send");
    }
    check(ax_sendf(log, "[s]", "stop"), "worker: send stop");
    return 0;
}

int
main(void)
{
    const char *place = getenv("AXON_PLACE");
    ax_spawn_opts lo = {.name = "logger"}, wo = {.name = "worker"};

    main_pid = getpid();
    printf("main: pid %d, AXON_PLACE=%s\n", (int)main_pid,
           place != NULL ? place : "(unset: every actor a coroutine)");
    check(ax_init(NULL), "ax_init"); /* reads AXON_PLACE */
    /* The logger first: its name must exist before the worker asks. */
    check(ax_spawn(logger, NULL, &lo, NULL), "spawn logger");
    check(ax_spawn(worker, NULL, &wo, NULL), "spawn worker");
    check(ax_run(), "ax_run");
    ax_fini();
    printf("main: every actor ended\n");
    return 0;
}
