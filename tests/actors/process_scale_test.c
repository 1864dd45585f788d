/*
 * tests/actors/process_scale_test.c - process actors in depth and in
 * numbers: three levels below the test process talk and join across
 * processes, two hundred children at once are all reaped, and a fast
 * producer is slowed with bounded memory.
 *
 * One test each of gipc's lessons (seeds/gipc-challenges.rst, DESIGN.md
 * invariants 1-7); process_util.h says how every body runs and checks.
 */
#include "process_util.h"

#include <ev.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if AX_ASAN
/* <sanitizer/allocator_interface.h> is clang's; GCC's runtime has it. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* --- 6. three levels below the test process --------------------------------
 */

static void
on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    put_record(g_record_fd, 'T');
}

/* Level 1 and 2 spawn the next level as a process and join it; level 3
 * answers pings to whoever sends them until ["bye"]. Each says hello to
 * the driver straight away, wherever it is. */
static int
level_actor(void *arg)
{
    int level = (int)(intptr_t)arg;
    ax_spawn_opts o = proc_opts();
    ax_exit_info i = no_info;
    ax_pid next;
    ax_msg *m;
    int64_t n;

    ax_sendf(g_driver, "[s d d d p]", "hello", level, (int)getpid(),
             (int)getppid(), ax_self());
    if (level < 3) {
        o.monitor = true;
        if (ax_spawn(level_actor, (void *)(intptr_t)(level + 1), &o, &next) <
                0 ||
            ax_wait(next, &i, AX_FOREVER) < 0) {
            return 1;
        }
        ax_sendf(g_driver, "[s d d d]", "joined", level, (int)i.kind, i.code);
        return 10 * level;
    }
    while (ax_recv(&m, AX_FOREVER) == 0) {
        if (ax_msg_has_tag(m, "bye")) {
            ax_msg_free(m);
            return 30;
        }
        if (ax_msg_unpack(m, "[_ i]", &n) == 0) {
            ax_sendf(ax_msg_sender(m), "[s i]", "pong", n);
        }
        ax_msg_free(m);
    }
    return 3;
}

static void
expect_joined(int level, int code)
{
    int lv = 0, kind = -1, c = -1;

    if (expect_args("joined", "[_ d d d]", &lv, &kind, &c) == 0) {
        TH_CHECK_INT(lv, level);
        TH_CHECK_INT(kind, AX_EXIT_ERROR);
        TH_CHECK_INT(c, code);
    }
}

static void
body_three_levels(void *arg)
{
    ax_spawn_opts o = proc_opts();
    ax_pid lv[4], said[4];
    int os[4] = {0}, ppid[4] = {0};

    (void)arg;
    g_driver = ax_self();
    o.monitor = true;
    lv[1] = spawn(level_actor, (void *)1, &o);
    for (int k = 0; k < 3; k++) {
        int level = 0, pid = 0, parent = 0;
        ax_pid who;

        if (expect_args("hello", "[_ d d d p]", &level, &pid, &parent, &who) <
                0 ||
            level < 1 || level > 3) {
            TH_CHECK(!"a bad hello");
            return;
        }
        os[level] = pid;
        ppid[level] = parent;
        said[level] = who;
    }
    TH_CHECK(ax_pid_equal(said[1], lv[1]));
    lv[2] = said[2];
    lv[3] = said[3];
    TH_CHECK_INT(ppid[1], getpid());
    TH_CHECK_INT(ppid[2], os[1]);
    TH_CHECK_INT(ppid[3], os[2]);
    TH_CHECK(os[1] != getpid() && os[2] != os[1] && os[3] != os[2]);
    TH_CHECK_INT(ax_monitor(lv[2], NULL), 0);
    TH_CHECK_INT(ax_monitor(lv[3], NULL), 0);
    for (int64_t n = 0; n < 20; n++) { /* straight to the great-grandchild */
        ax_msg *m;
        int64_t got = -1;

        TH_CHECK_INT(ax_sendf(lv[3], "[s i]", "ping", n), 0);
        if ((m = expect_tag("pong")) != NULL) {
            TH_CHECK_INT(ax_msg_unpack(m, "[_ i]", &got), 0);
            TH_CHECK_INT(got, n);
            TH_CHECK(ax_pid_equal(ax_msg_sender(m), lv[3]));
            ax_msg_free(m);
        }
    }
    ax_sendf(lv[3], "[s]", "bye");
    CHECK_REASON(join(lv[3]), AX_EXIT_ERROR, 30, 0);
    expect_joined(2, 30);
    CHECK_REASON(join(lv[2]), AX_EXIT_ERROR, 20, 0);
    expect_joined(1, 20);
    CHECK_REASON(join(lv[1]), AX_EXIT_ERROR, 10, 0);
}

/*
 * Test process -> A -> B -> C, all processes: each one's getppid() is
 * the one above; C and the driver talk straight to each other's address;
 * joins and monitors work across levels with exact codes. A timer the
 * test process started on libev's default loop keeps firing here and
 * never fires in any of the three children (each has a fresh loop).
 */
static void
test_process_three_levels_talk_and_join_across_processes(void **state)
{
    char got[16384], want[32];
    ev_timer tick;
    int p[2], ticks = 0;

    (void)state;
    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    g_record_fd = p[1];
    ev_timer_init(&tick, on_tick, 0.001, 0.002); /* a run may take 10 ms */
    ev_timer_start(EV_DEFAULT, &tick);
    run(body_three_levels, NULL);
    ev_timer_stop(EV_DEFAULT, &tick);
    close(p[1]);
    read_all(p[0], got, sizeof(got));
    close(p[0]);
    snprintf(want, sizeof(want), "T%ld", (long)getpid());
    for (char *s = got, *nl; (nl = strchr(s, '\n')) != NULL; s = nl + 1) {
        *nl = '\0';
        assert_string_equal(s, want);
        ticks++;
    }
    assert_true(ticks > 0);
}

/* --- 7. two hundred at once ------------------------------------------------
 */

#define SPAWNERS 10
/* Valgrind: each fork copies a valgrinded process and each child ends
 * with a leak check; 4 each (40) keeps the run to seconds. */
#define PER_SPAWNER (RUNNING_ON_VALGRIND ? 4 : 20)

typedef struct fan_job {
    ax_pid spawner;
    int code;
} fan_job;

static fan_job g_jobs[SPAWNERS * 20];

static int
coded_actor(void *arg)
{
    const fan_job *j = arg;

    ax_sendf(j->spawner, "[s d]", "pid", (int)getpid());
    ax_sleep(50); /* so that many are alive at once */
    return j->code;
}

/* Spawn PER_SPAWNER process actors at once (jobs from index arg on), join
 * them; report ["fanout", right codes, distinct OS pids not the test's]. */
static int
fanout_actor(void *arg)
{
    int first = (int)(intptr_t)arg;
    ax_spawn_opts o = proc_opts();
    ax_pid pids[20];
    int os[20], ok = 0, distinct = 0;

    o.monitor = true;
    for (int k = 0; k < PER_SPAWNER; k++) {
        g_jobs[first + k] = (fan_job){ax_self(), 1000 + first + k};
        if (ax_spawn(coded_actor, &g_jobs[first + k], &o, &pids[k]) < 0) {
            return 1;
        }
    }
    for (int k = 0; k < PER_SPAWNER; k++) {
        ax_exit_info i = no_info;

        ax_wait(pids[k], &i, WAIT_MS);
        ok += i.kind == AX_EXIT_ERROR && i.code == 1000 + first + k;
    }
    for (int k = 0; k < PER_SPAWNER; k++) {
        ax_msg *m;

        os[k] = 0;
        if (ax_recv_match("pid", &m, WAIT_MS) == 0) {
            ax_msg_unpack(m, "[_ d]", &os[k]);
            ax_msg_free(m);
        }
        distinct += os[k] > 0 && os[k] != getpid();
        for (int j = 0; j < k; j++) {
            distinct -= os[j] == os[k] && os[k] > 0 && os[k] != getpid();
        }
    }
    ax_sendf(g_driver, "[s d d]", "fanout", ok, distinct);
    return 0;
}

static void
body_two_hundred(void *arg)
{
    ax_spawn_opts o = coro_opts();
    ax_pid sp[SPAWNERS];
    ax_runtime_stats st;
    uint64_t t0 = t_now_ns();

    (void)arg;
    g_driver = ax_self();
    o.monitor = true;
    for (int k = 0; k < SPAWNERS; k++) {
        sp[k] = spawn(fanout_actor, (void *)(intptr_t)(k * 20), &o);
    }
    for (int k = 0; k < SPAWNERS; k++) {
        int ok = -1, distinct = -1;

        if (expect_args("fanout", "[_ d d]", &ok, &distinct) == 0) {
            TH_CHECK_INT(ok, PER_SPAWNER);
            TH_CHECK_INT(distinct, PER_SPAWNER);
        }
    }
    for (int k = 0; k < SPAWNERS; k++) {
        CHECK_REASON(join(sp[k]), AX_EXIT_NORMAL, 0, 0);
    }
    ax_runtime_stats_get(&st);
    TH_CHECK_INT(st.actors, 1); /* the driver */
    print_message("  %d process actors spawned and joined in %lld ms\n",
                  SPAWNERS * PER_SPAWNER, (long long)ms_since(t0));
}

/*
 * 200 process actors (40 under valgrind) spawned at once by 10 coroutine
 * actors, each returning its own code (1000..1199, beyond the 8-bit exit
 * status), all joined with the right code; afterwards the actor count is
 * back to the driver alone, and t_teardown finds no fd and no child left.
 */
static void
test_process_two_hundred_concurrent_children_are_all_reaped(void **state)
{
    (void)state;
    run(body_two_hundred, NULL);
}

/* --- 8. backpressure ----------------------------------------------------- */

/* Valgrind: fewer, larger messages; the unbounded case is still 160 MiB. */
#define BP_COUNT (RUNNING_ON_VALGRIND ? 20000L : 200000L)
#define BP_SIZE (RUNNING_ON_VALGRIND ? 8192 : 1024)
#define BP_BOUND_KIB (64 * 1024L)

/*
 * Heap bytes in use (KiB), or -1 where they cannot be read. Under ASan
 * the RSS grows by its quarantine of freed memory (256 MiB) whatever the
 * runtime does, so there the heap in use is what shows a growing queue.
 */
static long
heap_kib(void)
{
#if AX_ASAN
    return (long)(__sanitizer_get_current_allocated_bytes() / 1024);
#else
    struct mallinfo2 mi = mallinfo2();

    return RUNNING_ON_VALGRIND ? -1 : (long)((mi.uordblks + mi.hblkhd) / 1024);
#endif
}

typedef struct mem_watch {
    long rss0, rss_peak, heap0, heap_peak;
} mem_watch;

static void
mem_start(mem_watch *w)
{
    w->rss0 = w->rss_peak = t_rss_kib();
    w->heap0 = w->heap_peak = heap_kib();
}

static void
mem_sample(mem_watch *w)
{
    long rss = t_rss_kib(), heap = heap_kib();

    w->rss_peak = rss > w->rss_peak ? rss : w->rss_peak;
    w->heap_peak = heap > w->heap_peak ? heap : w->heap_peak;
}

/* Slow, with a mailbox of 64: checks the order and the payloads, sleeps
 * 1 ms every 1000 messages, watches its memory; at ["end"] reports
 * ["done", count, bad, rss0, rss_peak, heap0, heap_peak]. */
static int
slow_consumer_actor(void *arg)
{
    int64_t got = 0, seq, bad = 0;
    const unsigned char *data;
    mem_watch w;
    size_t len;
    ax_msg *m;

    (void)arg;
    mem_start(&w);
    while (ax_recv(&m, AX_FOREVER) == 0) {
        if (ax_msg_has_tag(m, "end")) {
            ax_msg_free(m);
            break;
        }
        if (ax_msg_unpack(m, "[_ i B]", &seq, &data, &len) < 0 || seq != got ||
            len != BP_SIZE || data[0] != (unsigned char)seq ||
            data[len - 1] != (unsigned char)(seq >> 8)) {
            bad++;
        }
        ax_msg_free(m);
        if (++got % 1000 == 0) {
            ax_sleep(1);
        }
        if (got % 10000 == 0) {
            mem_sample(&w);
        }
    }
    mem_sample(&w);
    ax_sendf(g_driver, "[s i i i i i i]", "done", got, bad, (int64_t)w.rss0,
             (int64_t)w.rss_peak, (int64_t)w.heap0, (int64_t)w.heap_peak);
    return 0;
}

static void
check_growth(const char *who, const char *what, long start, long peak)
{
    print_message("  %s %s: %ld KiB at start, peak %+ld KiB\n", who, what,
                  start, peak - start);
    if (peak - start >= BP_BOUND_KIB) {
        th_fail(__FILE__, __LINE__, "%s %s grew by %ld KiB", who, what,
                peak - start);
    }
}

static void
body_backpressure(void *arg)
{
    static unsigned char payload[8192]; /* BP_SIZE at most */
    ax_spawn_opts o = proc_opts();
    int64_t got = -1, bad = -1, rss0, rss_peak, heap0, heap_peak;
    uint64_t t0 = t_now_ns();
    int sent_bad = 0;
    mem_watch w;
    ax_pid c;

    (void)arg;
    g_driver = ax_self();
    o.monitor = true;
    o.mailbox_capacity = 64;
    c = spawn(slow_consumer_actor, NULL, &o);
    mem_start(&w);
    for (long i = 0; i < BP_COUNT; i++) {
        payload[0] = (unsigned char)i;
        payload[BP_SIZE - 1] = (unsigned char)(i >> 8);
        sent_bad += ax_sendf(c, "[s i B]", "d", (int64_t)i, payload,
                             (size_t)BP_SIZE) != 0;
        if (i % 10000 == 0) {
            mem_sample(&w);
        }
    }
    mem_sample(&w);
    TH_CHECK_INT(sent_bad, 0);
    ax_sendf(c, "[s]", "end");
    if (expect_args("done", "[_ i i i i i i]", &got, &bad, &rss0, &rss_peak,
                    &heap0, &heap_peak) == 0) {
        TH_CHECK_INT(got, BP_COUNT);
        TH_CHECK_INT(bad, 0);
        print_message("  %ld messages of %d bytes in %lld ms\n", BP_COUNT,
                      BP_SIZE, (long long)ms_since(t0));
        if (!AX_ASAN) { /* see heap_kib */
            check_growth("consumer", "RSS", (long)rss0, (long)rss_peak);
            check_growth("producer", "RSS", w.rss0, w.rss_peak);
        }
        if (heap0 >= 0) {
            check_growth("consumer", "heap", (long)heap0, (long)heap_peak);
            check_growth("producer", "heap", w.heap0, w.heap_peak);
        }
    }
    CHECK_REASON(join(c), AX_EXIT_NORMAL, 0, 0);
}

/*
 * A fast producer (the driver) sends 200,000 messages of 1 KiB (200 MiB;
 * under valgrind 20,000 of 8 KiB) to a slow process actor with a mailbox
 * of 64. Every message arrives, in order, intact; the consumer's memory
 * and the producer's stay within 64 MiB of where they started: the
 * producer was slowed instead of queueing.
 */
static void
test_process_fast_producer_is_slowed_with_bounded_memory(void **state)
{
    (void)state;
    run(body_backpressure, NULL);
}

/* --- main --------------------------------------------------------------- */

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_process_three_levels_talk_and_join_across_processes),
        T(test_process_two_hundred_concurrent_children_are_all_reaped),
        T(test_process_fast_producer_is_slowed_with_bounded_memory),
    };

    return process_test_main(tests, sizeof(tests) / sizeof(tests[0]));
}
