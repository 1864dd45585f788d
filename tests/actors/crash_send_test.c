/*
 * tests/actors/crash_send_test.c - a message a process actor sent is
 * delivered even if its process dies at the very next instruction: by
 * SIGSEGV, abort(), _exit(), or SIGKILL. docs/failures.md promises that
 * what an actor sent arrives before the DOWN that reports its end.
 *
 * Each round: the driver puts ["job", i] and ["crash", way] in a process
 * actor's mailbox; the actor answers ["done", i], then sends BURST
 * ["last", k, bytes] messages (the last with 700 KiB, more than the
 * channel's ring holds at once) and dies on the spot. The driver must get done,
 * every last in order, then the DOWN, and the DOWN must say how the
 * process died. 1,000 rounds, the four ways in turn (fewer under
 * valgrind, where each fork is a valgrinded process).
 */
#include "support/actor_harness.h"
#include "base/sanitizers.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define ROUNDS (RUNNING_ON_VALGRIND ? 40 : 1000)
#define BURST 20
#define BIG_AT (BURST - 1) /* the large one: the very last send */
#define BIG_LEN (700 * 1024)

/* Bytes of the k-th "last" message's payload. */
static size_t
payload_len(int64_t k)
{
    return k == BIG_AT ? BIG_LEN : 8;
}

enum way { W_SEGV, W_ABORT, W_EXIT, W_KILL, WAYS };

static const char *const way_name[WAYS] = {"SIGSEGV", "abort", "_exit",
                                           "SIGKILL"};

/* Dies at once, the way asked, with nothing flushed or cleaned up. */
static void
die(int way)
{
    switch (way) {
    case W_SEGV: /* as a bad pointer would, without the sanitizers' report */
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
        break;
    case W_ABORT:
        abort();
    case W_EXIT:
        _exit(3);
    default:
        kill(getpid(), SIGKILL);
        break;
    }
    _exit(99); /* not reached */
}

static int
crasher(void *arg)
{
    struct rlimit none = {0, 0};
    int64_t job = -1, way = -1;
    ax_msg *m;

    (void)arg;
    setrlimit(RLIMIT_CORE, &none); /* 250 cores would fill the disk */
    if (ax_recv_match("job", &m, 10000) != 0 ||
        ax_msg_unpack(m, "[_ i]", &job) != 0) {
        return 2;
    }
    ax_sendf(ax_msg_sender(m), "[s i]", "done", job);
    ax_msg_free(m);
    if (ax_recv_match("crash", &m, 10000) != 0 ||
        ax_msg_unpack(m, "[_ i]", &way) != 0) {
        return 3;
    }
    for (int64_t k = 0; k < BURST; k++) {
        static char payload[BIG_LEN];

        ax_sendf(ax_msg_sender(m), "[s i B]", "last", k, payload,
                 payload_len(k));
    }
    die((int)way);
    return 4;
}

/* The exit the DOWN must report for each way. */
static bool
is_way(const ax_exit_info *i, int way)
{
    switch (way) {
    case W_SEGV:
        return i->kind == AX_EXIT_SIGNAL && i->signal == SIGSEGV;
    case W_ABORT:
        return i->kind == AX_EXIT_SIGNAL && i->signal == SIGABRT;
    case W_EXIT:
        return i->kind == AX_EXIT_ERROR && i->code == 3;
    default:
        return i->kind == AX_EXIT_SIGNAL && i->signal == SIGKILL;
    }
}

/* One round; returns false (after saying why) on the first miss. */
static bool
round_trip(int r)
{
    ax_spawn_opts o = th_opts();
    int way = r % WAYS;
    int64_t n = -1;
    uint64_t ref = 0;
    ax_exit_info i;
    ax_pid c;
    ax_msg *m;

    o.placement = AX_PLACE_PROCESS;
    o.monitor = true;
    o.monitor_ref = &ref;
    TH_CHECK_INT(ax_spawn(crasher, NULL, &o, &c), 0);
    TH_CHECK_INT(ax_sendf(c, "[s i]", "job", (int64_t)r), 0);
    TH_CHECK_INT(ax_sendf(c, "[s i]", "crash", (int64_t)way), 0);
    for (int64_t want = -1; want < BURST; want++) {
        if (ax_recv(&m, 10000) != 0) {
            th_fail(__FILE__, __LINE__, "round %d (%s): nothing after %lld", r,
                    way_name[way], (long long)want);
            return false;
        }
        const void *bytes;
        size_t len = 0;

        if (!ax_msg_has_tag(m, want < 0 ? "done" : "last") ||
            (want < 0 ? ax_msg_unpack(m, "[_ i]", &n)
                      : ax_msg_unpack(m, "[_ i B]", &n, &bytes, &len)) != 0 ||
            n != (want < 0 ? r : want) ||
            (want >= 0 && len != payload_len(want))) {
            th_fail(__FILE__, __LINE__,
                    "round %d (%s): message %lld lost (a %s came)", r,
                    way_name[way], (long long)want,
                    ax_msg_has_tag(m, "DOWN") ? "DOWN" : "other message");
            ax_msg_free(m);
            return false;
        }
        ax_msg_free(m);
    }
    if (ax_recv_match("DOWN", &m, 10000) != 0) {
        th_fail(__FILE__, __LINE__, "round %d: no DOWN", r);
        return false;
    }
    TH_CHECK_INT(ax_down_msg_parse(m, NULL, NULL, &i), 0);
    ax_msg_free(m);
    if (!is_way(&i, way)) {
        th_fail(__FILE__, __LINE__, "round %d (%s): DOWN says %s %d %d", r,
                way_name[way], ax_exit_kind_name(i.kind), i.code, i.signal);
        return false;
    }
    return true;
}

static void
body_crash_after_send(void *arg)
{
    (void)arg;
    for (int r = 0; r < ROUNDS && round_trip(r); r++) {
    }
}

static void
test_messages_sent_before_a_crash_arrive_before_the_down(void **state)
{
    (void)state;
    th_run(body_crash_after_send, NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_messages_sent_before_a_crash_arrive_before_the_down, t_setup,
            t_teardown),
    };

    th_main_setup();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
