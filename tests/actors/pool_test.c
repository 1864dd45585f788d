/*
 * tests/actors/pool_test.c - pools (include/axon/pool.h) with workers of
 * both placements (one list, two groups; the SIGKILL test with process
 * workers only): every request answered by some worker, spread over the
 * least loaded; a worker that crashes in a request gives its caller
 * AX_ECONNRESET and is replaced; a pool keeps answering while its
 * workers are SIGKILLed at random, each request answered or failed,
 * none lost; a stop ends every worker through its terminate.
 */
#include "support/actor_harness.h"
#include "support/testutil.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <axon/pool.h>

#define WAIT_MS 10000
#define WORKERS 4

typedef struct wstate {
    ax_pid observer;
} wstate;

static int
w_init(void *arg, void **state)
{
    wstate *s = malloc(sizeof(*s));

    if (s == NULL) {
        return AX_ENOMEM;
    }
    s->observer = *(const ax_pid *)arg;
    *state = s;
    return ax_on_exit(free, s);
}

/* ["sq", n, sleep_ms] -> [n * n, worker]; ["die"] crashes. */
static int
w_call(void *state, const ax_msg *req, ax_msg **reply)
{
    int64_t n = 0, ms = 0;

    (void)state;
    if (ax_msg_has_tag(req, "die")) {
        if (th_placement == AX_PLACE_PROCESS) {
            struct rlimit none = {0, 0};

            setrlimit(RLIMIT_CORE, &none);
            raise(SIGSEGV);
        }
        ax_exit(9);
    }
    if (ax_msg_unpack(req, "[_ i i]", &n, &ms) == 0 && ms > 0) {
        ax_sleep((int)ms);
    }
    return ax_msg_pack(reply, "[i p]", n * n, ax_self()) < 0;
}

static void
w_terminate(void *state, int code)
{
    wstate *s = state;

    ax_sendf(s->observer, "[s d]", "terminated", code);
}

static ax_pid
start_pool(void)
{
    ax_pid observer = ax_self(), pool = AX_PID_NONE;
    ax_pool_spec spec = {0};

    spec.workers = WORKERS;
    spec.cb = (ax_server_callbacks){w_init, w_call, NULL, NULL, w_terminate};
    spec.arg = &observer;
    spec.arg_size = sizeof(observer);
    spec.worker = th_opts();
    spec.intensity = 1000;
    TH_CHECK_INT(ax_pool_start(&spec, NULL, &pool), 0);
    return pool;
}

/* One request: its square and the worker that did it, or the error. */
static int
square(ax_pid pool, int64_t n, int64_t ms, int64_t *sq, ax_pid *worker)
{
    ax_msg *req = NULL, *reply = NULL;
    int rc;

    TH_CHECK_INT(ax_msg_pack(&req, "[s i i]", "sq", n, ms), 0);
    rc = ax_pool_call(pool, req, &reply, WAIT_MS);
    if (rc == 0) {
        TH_CHECK_INT(ax_msg_unpack(reply, "[i p]", sq, worker), 0);
        ax_msg_free(reply);
    }
    return rc;
}

static void
stop_pool(ax_pid pool)
{
    TH_CHECK_INT(ax_pool_stop(pool, WAIT_MS), 0);
    for (int i = 0; i < WORKERS; i++) {
        ax_msg *m = th_expect("terminated", WAIT_MS);

        ax_msg_free(m);
    }
}

/* --- answers, spread ---------------------------------------------------------
 */

typedef struct client_arg {
    ax_pid pool, driver;
    int64_t ms;
} client_arg;

/* A concurrent caller: one slow request, the worker back to the driver. */
static int
slow_client(void *arg)
{
    const client_arg *c = arg;
    int64_t sq = 0;
    ax_pid w = AX_PID_NONE;
    int rc = square(c->pool, 7, c->ms, &sq, &w);

    ax_sendf(c->driver, "[s d i p]", "did", rc, sq, w);
    return 0;
}

static void
answers_body(void *arg)
{
    ax_pid pool = start_pool(), seen[WORKERS];
    client_arg c = {pool, ax_self(), 200};
    ax_spawn_opts o = {0};
    int64_t sq = 0;
    ax_pid w;

    (void)arg;
    for (int64_t n = 0; n < 300; n++) {
        TH_CHECK_INT(square(pool, n, 0, &sq, &w), 0);
        TH_CHECK_INT(sq, n * n);
    }
    o.arg_size = sizeof(c);
    for (int i = 0; i < WORKERS; i++) { /* 4 at once: 4 workers */
        TH_CHECK_INT(ax_spawn(slow_client, &c, &o, NULL), 0);
    }
    for (int i = 0; i < WORKERS; i++) {
        ax_msg *m = th_expect("did", WAIT_MS);
        int rc = -1;

        seen[i] = AX_PID_NONE;
        if (m != NULL) {
            TH_CHECK_INT(ax_msg_unpack(m, "[_ d i p]", &rc, &sq, &seen[i]), 0);
            TH_CHECK_INT(rc, 0);
            TH_CHECK_INT(sq, 49);
            ax_msg_free(m);
        }
        for (int j = 0; j < i; j++) {
            TH_CHECK(!ax_pid_equal(seen[i], seen[j])); /* least loaded */
        }
    }
    stop_pool(pool);
}

static void
test_every_request_is_answered_by_the_least_loaded_worker(void **state)
{
    (void)state;
    th_run(answers_body, NULL);
}

/* --- a crash in a request ----------------------------------------------------
 */

static void
crash_body(void *arg)
{
    ax_pid pool = start_pool(), w;
    ax_msg *req = NULL, *reply = NULL;
    int64_t sq = 0;

    (void)arg;
    TH_CHECK_INT(ax_msg_pack(&req, "[s]", "die"), 0);
    TH_CHECK_INT(ax_pool_call(pool, req, &reply, WAIT_MS), AX_ECONNRESET);
    TH_CHECK(reply == NULL);
    TH_CHECK(strstr(ax_error_detail(), "the worker ended") != NULL);
    for (int64_t n = 0; n < 20; n++) { /* the pool goes on */
        TH_CHECK_INT(square(pool, n, 0, &sq, &w), 0);
        TH_CHECK_INT(sq, n * n);
    }
    stop_pool(pool);
}

static void
test_a_crash_in_a_request_is_its_callers_error_and_the_worker_replaced(
    void **state)
{
    (void)state;
    th_run(crash_body, NULL);
}

/* --- SIGKILL at random (process workers) -------------------------------------
 */

static ax_pid last_worker; /* the client's last answer's (same process) */
static bool done_killing;

static int
killer(void *arg)
{
    unsigned seed = 12345;
    int kills = 0;

    (void)arg;
    while (!done_killing) {
        int os;

        ax_sleep(5 + (int)(rand_r(&seed) % 20));
        os = done_killing ? -1 : ax_pid_os_pid(last_worker);
        if (os > 0 && kill(os, SIGKILL) == 0) {
            kills++;
        }
    }
    return kills > 0 ? 0 : 1;
}

static void
sigkill_body(void *arg)
{
    ax_pid pool = start_pool(), w, k;
    int answered = 0, reset = 0, other = 0;
    ax_exit_info info;
    int64_t sq = 0;
    uint64_t ref;

    (void)arg;
    last_worker = AX_PID_NONE;
    done_killing = false;
    TH_CHECK_INT(ax_spawn(killer, NULL, NULL, &k), 0);
    TH_CHECK_INT(ax_monitor(k, &ref), 0);
    for (int64_t n = 0; n < 400; n++) {
        int rc = square(pool, n, 1, &sq, &w);

        if (rc == 0) {
            TH_CHECK_INT(sq, n * n);
            last_worker = w;
            answered++;
        } else if (rc == AX_ECONNRESET) {
            reset++;
        } else {
            other++; /* a timeout would be a request lost */
        }
    }
    done_killing = true;
    TH_CHECK_INT(ax_wait(k, &info, WAIT_MS), 0);
    TH_CHECK_INT(info.kind, AX_EXIT_NORMAL); /* it did kill workers */
    TH_CHECK_INT(other, 0);
    TH_CHECK_INT(answered + reset, 400);
    TH_CHECK(answered > 200);
    TH_CHECK_INT(ax_pool_stop(pool, WAIT_MS), 0);
    for (int i = 0; i < WORKERS; i++) { /* the live ones end by terminate */
        ax_msg *m = th_expect("terminated", WAIT_MS);

        ax_msg_free(m);
    }
}

static void
test_a_pool_answers_while_its_workers_are_sigkilled_at_random(void **state)
{
    (void)state;
    th_run(sigkill_body, NULL);
}

int
main(void)
{
    const struct CMUnitTest list[] = {
        cmocka_unit_test_setup_teardown(
            test_every_request_is_answered_by_the_least_loaded_worker, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_a_crash_in_a_request_is_its_callers_error_and_the_worker_replaced,
            t_setup, t_teardown),
    };
    const struct CMUnitTest process_only[] = {
        cmocka_unit_test_setup_teardown(
            test_a_pool_answers_while_its_workers_are_sigkilled_at_random,
            t_setup, t_teardown),
    };
    int failed = 0;

    th_main_setup();
    th_placement = AX_PLACE_COROUTINE;
    failed +=
        cmocka_run_group_tests_name("coroutine workers", list, NULL, NULL);
    th_placement = AX_PLACE_PROCESS;
    failed += cmocka_run_group_tests_name("process workers", list, NULL, NULL);
    failed += cmocka_run_group_tests_name("process workers, SIGKILL",
                                          process_only, NULL, NULL);
    return failed;
}
