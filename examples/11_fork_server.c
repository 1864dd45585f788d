/*
 * 11_fork_server.c - many process actors, each as cheap as a small
 * program's fork, from the fork server.
 *
 * With ax_runtime_opts.forkserver, ax_init forks a small server process;
 * process actors whose arg is NULL or copied (ax_spawn_opts.arg_size)
 * start from it, so a worker costs the same with a thousand alive as
 * with ten. The price: a worker sees this program as it was at ax_init,
 * so whatever it needs comes in its copied arg or in messages.
 *
 * Here 500 workers each get a task of their own (copied: the spawner's
 * struct is reused right after each spawn), answer ["done", id, id * id],
 * then wait to be told to stop. The program checks every answer, reports
 * the private memory of one idle worker, and stops them all.
 *
 * Run: build/examples/11_fork_server [WORKERS]
 */
#include <axon.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define DEFAULT_WORKERS 500

typedef struct task {
    int id;
    ax_pid boss;
} task;

static int g_rc = 1; /* the boss's verdict */

static void
check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s %s\n", what, ax_strerror(rc),
                ax_error_detail());
        exit(1);
    }
}

/* A worker: its own copy of its task, one answer, then idle until "stop". */
static int
worker(void *arg)
{
    const task *t = arg;
    ax_msg *m;

    check(ax_sendf(t->boss, "[s d d d d]", "done", t->id, t->id * t->id,
                   (int)getpid(), (int)getppid()),
          "done");
    check(ax_recv_match("stop", &m, AX_FOREVER), "stop");
    ax_msg_free(m);
    return 0;
}

/* Private dirty KiB of process pid (the memory that is its own). */
static long
private_kib(pid_t pid)
{
    char path[64], line[128];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
    if ((f = fopen(path, "r")) == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL &&
           sscanf(line, "Private_Dirty: %ld kB", &kib) != 1) {
    }
    fclose(f);
    return kib;
}

static int
boss(void *arg)
{
    int n = *(const int *)arg, right = 0, os = 0, parent = 0;
    ax_pid *pids = calloc((size_t)n, sizeof(*pids));
    ax_spawn_opts o = {0};
    task t;

    if (pids == NULL) {
        return 1;
    }
    o.placement = AX_PLACE_PROCESS;
    o.monitor = true;       /* a DOWN tells us each one ended */
    o.arg_size = sizeof(t); /* each worker gets its own copy of t */
    for (int i = 0; i < n; i++) {
        memset(&t, 0, sizeof(t)); /* its padding is copied too */
        t.id = i;                 /* reused at once: the copy is taken */
        t.boss = ax_self();
        check(ax_spawn(worker, &t, &o, &pids[i]), "spawn");
    }
    for (int i = 0; i < n; i++) {
        ax_msg *m;
        int id, sq;

        check(ax_recv_match("done", &m, AX_FOREVER), "recv done");
        check(ax_msg_unpack(m, "[_ d d d d]", &id, &sq, &os, &parent),
              "unpack");
        right += id >= 0 && id < n && sq == id * id;
        ax_msg_free(m);
    }
    printf("%d of %d workers answered right\n", right, n);
    printf("an idle worker (pid %d) holds %ld KiB of its own memory; "
           "its parent is the fork server (pid %d), not this process "
           "(pid %d)\n",
           os, private_kib(os), parent, (int)getpid());
    for (int i = 0; i < n; i++) {
        check(ax_sendf(pids[i], "[s]", "stop"), "stop");
    }
    for (int i = 0; i < n; i++) {
        ax_msg *m;

        check(ax_recv_match("DOWN", &m, AX_FOREVER), "recv DOWN");
        ax_msg_free(m);
    }
    printf("all %d stopped\n", n);
    free(pids);
    g_rc = right == n && parent != getpid() ? 0 : 1;
    return 0;
}

int
main(int argc, char **argv)
{
    ax_runtime_opts ro = {0};
    int n = argc > 1 ? atoi(argv[1]) : DEFAULT_WORKERS;

    ro.forkserver = true; /* before any state the workers need not see */
    check(ax_init(&ro), "ax_init");
    check(ax_spawn(boss, &n, NULL, NULL), "spawn boss");
    check(ax_run(), "ax_run");
    ax_fini();
    return g_rc;
}
