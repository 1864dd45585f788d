/*
 * 13_supervised_pool.c - native code that crashes, kept running.
 *
 * A "parser" written in C evaluates inputs like "6*7"; on some inputs it
 * dereferences NULL or calls abort(), as native code does. It runs in a
 * pool of 3 process actors (<axon/pool.h>), so a crash takes down one
 * worker process, never this program: the pool answers that input's
 * caller with AX_ECONNRESET and starts a new worker. The pool is the
 * child of a supervisor (<axon/supervisor.h>), which would restart it,
 * and stops it in order at the end.
 *
 * The client sends every input once and counts what came back: each is
 * either parsed or reported as the crash it caused, none is lost.
 *
 * Run: build/examples/13_supervised_pool
 */
#include <axon.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char *const inputs[] = {
    "1+2",   "6*7",  "crash", "10-3", "9*9", "abort",
    "100/4", "2*21", "crash", "8-8",  "5+5", "7*7",
};
#define NINPUTS (sizeof(inputs) / sizeof(inputs[0]))

static void
check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s %s\n", what, ax_strerror(rc),
                ax_error_detail());
        exit(1);
    }
}

/* The native parser: "a op b" with integers. Its bugs are on purpose. */
static long
parse(const char *text)
{
    long a = 0, b = 0;
    char op = 0;

    if (strcmp(text, "crash") == 0) {
        volatile int *nowhere = NULL;

        return *nowhere; /* SIGSEGV */
    }
    if (strcmp(text, "abort") == 0) {
        abort(); /* SIGABRT */
    }
    sscanf(text, "%ld%c%ld", &a, &op, &b);
    return op == '+'   ? a + b
           : op == '-' ? a - b
           : op == '*' ? a * b
           : b != 0    ? a / b
                       : 0;
}

/* A worker's whole job: a request ["parse", text] -> [value]. */
static int
parse_call(void *state, const ax_msg *req, ax_msg **reply)
{
    char text[64] = "";
    const char *s = NULL;
    size_t len = 0;
    struct rlimit no_core = {0, 0};

    (void)state;
    setrlimit(RLIMIT_CORE, &no_core); /* the crashes write no core file */
    if (ax_msg_unpack(req, "[_ s]", &s, &len) == 0 && len < sizeof(text)) {
        memcpy(text, s, len);
    }
    return ax_msg_pack(reply, "[i]", (int64_t)parse(text)) < 0;
}

/* Send every input once, count what came back. */
static int
run_inputs(ax_pid pool)
{
    int parsed = 0, crashed = 0;

    for (size_t i = 0; i < NINPUTS; i++) {
        ax_msg *req = NULL, *reply = NULL;
        int64_t value = 0;
        int rc;

        check(ax_msg_pack(&req, "[s s]", "parse", inputs[i]), "pack");
        rc = ax_pool_call(pool, req, &reply, 10000);
        if (rc == 0 && ax_msg_unpack(reply, "[i]", &value) == 0) {
            printf("parsed %-6s = %lld\n", inputs[i], (long long)value);
            parsed++;
        } else if (rc == AX_ECONNRESET) {
            printf("crashed on %-6s: %s; a new worker took its place\n",
                   inputs[i], ax_error_detail());
            crashed++;
        } else {
            check(rc, "ax_pool_call");
        }
        ax_msg_free(reply);
    }
    printf("summary: %zu inputs, %d parsed, %d crashed a worker, %zu lost\n",
           NINPUTS, parsed, crashed, NINPUTS - (size_t)(parsed + crashed));
    return parsed + crashed == (int)NINPUTS ? 0 : 1;
}

/* Start the tree (supervisor -> pool "parsers" -> 3 workers), use it,
 * stop it in order. */
static int
boss(void *arg)
{
    ax_pool_spec pool = {0};
    ax_child_spec kids[1];
    char buf[1024];
    ax_sup_spec spec = {AX_ONE_FOR_ONE, 3, 5000, kids, 1};
    ax_pid sup, parsers;
    int rc;

    pool.workers = 3;
    pool.cb.handle_call = parse_call;
    pool.worker.placement = AX_PLACE_PROCESS; /* each crash: one process */
    pool.intensity = 10;
    check(
        ax_pool_child_spec(&kids[0], "parsers", &pool, buf, sizeof(buf), NULL),
        "pool spec");
    kids[0].opts.name = "parsers";
    check(ax_supervisor_start(&spec, NULL, &sup), "supervisor");
    check(ax_whereis("parsers", &parsers), "whereis parsers");
    rc = run_inputs(parsers);
    check(ax_supervisor_stop(sup, 10000), "stop"); /* pool, then workers */
    printf("done: the supervisor, the pool and its workers stopped\n");
    *(int *)arg = rc;
    return rc;
}

int
main(void)
{
    int result = 1;

    check(ax_init(NULL), "ax_init");
    check(ax_spawn(boss, &result, NULL, NULL), "boss");
    check(ax_run(), "ax_run");
    ax_fini();
    return result;
}
