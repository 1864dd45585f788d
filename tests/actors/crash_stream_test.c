/*
 * tests/actors/crash_stream_test.c - a process actor streaming numbered
 * messages is SIGKILLed from outside at a random moment: every message
 * whose ax_send had returned arrives, in order, once, before its DOWN.
 *
 * Each round: a process actor sends ["n", 0, pad], ["n", 1, pad], ... up
 * to COUNT (with PAD bytes each, so the stream is five times what the
 * channel's ring holds and the sender is paced by the reader) to the
 * driver as fast as it can, and after each send that returned 0
 * stores the number sent in memory the test process shares with it. The
 * driver SIGKILLs the process once that number passes a random point (a
 * seeded draw, printed), while it streams, then reads on until the DOWN. It
 * must have got 0 .. m-1 with no gap or repeat, and m at least the count
 * the child had stored (a send that returned) and at most one more (the
 * one in flight when the signal hit). ROUNDS rounds (fewer under
 * valgrind).
 */
#include "support/actor_harness.h"
#include "base/sanitizers.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS (RUNNING_ON_VALGRIND ? 10 : 100)
#define COUNT 10000
#define PAD 240 /* bytes in each: 2.5 MB in all, five times the ring */

typedef struct shared {
    _Atomic int64_t sent; /* sends that returned 0 */
    _Atomic int os_pid;
} shared;

static shared *g_sh;
static ax_pid g_driver;

static int
streamer_actor(void *arg)
{
    static const char pad[PAD];

    (void)arg;
    g_sh->os_pid = (int)getpid();
    for (int64_t i = 0; i < COUNT; i++) {
        if (ax_sendf(g_driver, "[s i S]", "n", i, pad, sizeof(pad)) != 0) {
            return 2;
        }
        g_sh->sent = i + 1;
    }
    return th_blocked_actor(NULL); /* all sent: wait for the signal */
}

static void
body_random_kills(void *arg)
{
    unsigned seed = *(const unsigned *)arg;
    ax_spawn_opts o = th_opts();
    int mid = 0; /* rounds where the signal hit before the last send */

    g_driver = ax_self();
    o.monitor = true;
    for (int round = 0; round < ROUNDS; round++) {
        int64_t kill_at = rand_r(&seed) % COUNT, got = 0, n;
        bool killed = false, down = false;
        ax_pid p;

        g_sh->sent = 0;
        g_sh->os_pid = 0;
        if (ax_spawn(streamer_actor, NULL, &o, &p) < 0) {
            th_fail(__FILE__, __LINE__, "spawn failed");
            return;
        }
        while (!down) {
            ax_msg *m;
            ax_exit_info i;

            if (!killed && g_sh->sent >= kill_at && g_sh->os_pid > 0) {
                kill(g_sh->os_pid, SIGKILL);
                killed = true;
            }
            if (ax_recv(&m, 20000) < 0) {
                th_fail(__FILE__, __LINE__, "round %d: nothing for 20 s",
                        round);
                return;
            }
            if (ax_down_msg_parse(m, NULL, NULL, &i) == 0) {
                down = true;
                if (i.kind != AX_EXIT_SIGNAL || i.signal != SIGKILL) {
                    char b[64];

                    th_fail(__FILE__, __LINE__,
                            "round %d: DOWN says %s, not signal 9", round,
                            ax_exit_describe(&i, b, sizeof(b)));
                }
            } else if (ax_msg_unpack(m, "[_ i _]", &n) == 0 && n != got++) {
                th_fail(__FILE__, __LINE__,
                        "round %d: got %lld where %lld was due", round,
                        (long long)n, (long long)(got - 1));
                ax_msg_free(m);
                return;
            }
            ax_msg_free(m);
        }
        mid += g_sh->sent < COUNT;
        if (got < g_sh->sent || got > g_sh->sent + 1) {
            th_fail(__FILE__, __LINE__,
                    "round %d (killed after %lld): got %lld, the child had "
                    "sent %lld",
                    round, (long long)kill_at, (long long)got,
                    (long long)g_sh->sent);
        }
    }
    print_message("  %d of %d rounds killed mid-stream\n", mid, ROUNDS);
    TH_CHECK(mid >= ROUNDS / 2);
}

/*
 * ROUNDS process actors each SIGKILLed at a random point of a stream of
 * up to 10,000 numbered messages: the driver gets every message whose
 * send had returned, in order and once, then the DOWN (signal 9).
 */
static void
test_random_sigkill_loses_no_sent_message(void **state)
{
    const char *env = getenv("AXON_TEST_SEED");
    unsigned seed =
        env != NULL ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);

    (void)state;
    print_message("  seed %u (AXON_TEST_SEED=%u replays it)\n", seed, seed);
    th_run(body_random_kills, &seed);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_random_sigkill_loses_no_sent_message, t_setup, t_teardown),
    };
    int failed = 0;

    g_sh = mmap(NULL, sizeof(*g_sh), PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g_sh == MAP_FAILED) {
        return 1;
    }
    th_main_setup();
    th_placement = AX_PLACE_PROCESS;
    failed += cmocka_run_group_tests(tests, NULL, NULL);
    munmap(g_sh, sizeof(*g_sh));
    return failed;
}
