/*
 * tests/actors/sched_test.c - an actor that gives up its turn: ax_yield
 * lets the other runnable actors run (strictly in turn), ax_sleep waits
 * at least the asked time even after a busy turn, ax_recv and
 * ax_recv_match poll at 0 and expire after their time, and ax_wait_fd
 * reports reading, writing, a timeout and its bad arguments.
 *
 * Actor-level: the bodies run in the harness's driver actor, the actors
 * under test are spawned with th_opts() and talk to the driver only with
 * messages, so the list runs with coroutine placement and again with
 * process placement. Shared helpers: lifecycle_util.h.
 */
#include "support/actor_harness.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "lifecycle_util.h"

/* Keep the CPU busy: a long turn of the scheduler before a timed wait. */
static void
spin_ms(int ms)
{
    uint64_t t0 = t_now_ns();

    while (t_now_ns() - t0 < (uint64_t)ms * 1000000u) {
    }
}

/* --- yield --------------------------------------------------------------- */

/* ["tick-me", to, id, n]: send n ["tick", id, i] to `to`, yielding after
 * each one. */
static int
ticker_actor(void *arg)
{
    ax_pid to;
    int64_t n;
    int id;

    (void)arg;
    if (recv_args("[_ p d i]", &to, &id, &n) < 0) {
        return 2;
    }
    for (int64_t i = 0; i < n; i++) {
        ax_sendf(to, "[s d i]", "tick", id, i);
        ax_yield();
    }
    return 0;
}

/*
 * ["pair", to, n]: run two tickers as coroutines of this actor's process
 * (yield is about one scheduler, whatever this actor's own placement),
 * check that their ticks alternate strictly (ticker 0 tick 0, ticker 1
 * tick 0, ticker 0 tick 1, ...),
 * and report ["pair", ticks out of place, ticks seen].
 */
static int
yield_pair_actor(void *arg)
{
    int64_t n, bad = 0, seen = 0;
    ax_spawn_opts co;
    ax_pid to, t[2];
    ax_msg *m;

    (void)arg;
    memset(&co, 0, sizeof(co));
    co.placement = AX_PLACE_COROUTINE;
    co.monitor = true;
    if (recv_args("[_ p i]", &to, &n) < 0) {
        return 2;
    }
    for (int k = 0; k < 2; k++) {
        if (ax_spawn(ticker_actor, NULL, &co, &t[k]) < 0) {
            return 4;
        }
        ax_sendf(t[k], "[s p d i]", "tick-me", ax_self(), k, n);
    }
    for (int64_t j = 0; j < 2 * n; j++) {
        int64_t i;
        int id;

        if (ax_recv_match("tick", &m, 5000) < 0) {
            break;
        }
        if (ax_msg_unpack(m, "[_ d i]", &id, &i) < 0 || id != j % 2 ||
            i != j / 2) {
            bad++;
        }
        seen++;
        ax_msg_free(m);
    }
    for (int k = 0; k < 2; k++) {
        ax_wait(t[k], NULL, 5000);
    }
    ax_sendf(to, "[s i i]", "pair", bad, seen);
    return 0;
}

/* --- time and fds -------------------------------------------------------- */

/* ["sleep", to, ms, busy_ms]: spin busy_ms, then sleep ms; report
 * ["slept", microseconds measured around ax_sleep]. */
static int
sleeper_actor(void *arg)
{
    int ms, busy_ms;
    uint64_t t0;
    ax_pid to;

    (void)arg;
    if (recv_args("[_ p d d]", &to, &ms, &busy_ms) < 0) {
        return 2;
    }
    spin_ms(busy_ms);
    t0 = t_now_ns();
    ax_sleep(ms);
    ax_sendf(to, "[s i]", "slept", elapsed_us(t0));
    return 0;
}

/*
 * ["recv", to]: time receives with timeouts and report ["recv",
 *   poll rc, poll us,          ax_recv(0) with an empty mailbox
 *   poll-a-message rc,         ax_recv(0) with one message waiting
 *   timeout rc, timeout us,    ax_recv(100) after a busy 30 ms
 *   match rc, match us,        ax_recv_match(100) with another message
 *   kept rc]                   that message is still there
 */
static int
recv_timer_actor(void *arg)
{
    int rc_poll, rc_one, rc_timeout, rc_match, rc_kept;
    int64_t us_poll, us_timeout, us_match;
    uint64_t t0;
    ax_pid to;
    ax_msg *m;

    (void)arg;
    if (recv_args("[_ p]", &to) < 0) {
        return 2;
    }
    t0 = t_now_ns();
    rc_poll = ax_recv(&m, 0);
    us_poll = elapsed_us(t0);

    ax_sendf(ax_self(), "[s]", "mine");
    rc_one = ax_recv(&m, 0);
    if (rc_one == 0) {
        rc_one = ax_msg_has_tag(m, "mine") ? 0 : -1;
        ax_msg_free(m);
    }

    spin_ms(30);
    t0 = t_now_ns();
    rc_timeout = ax_recv(&m, 100);
    us_timeout = elapsed_us(t0);
    if (rc_timeout == 0) {
        ax_msg_free(m);
    }

    ax_sendf(ax_self(), "[s]", "keep");
    t0 = t_now_ns();
    rc_match = ax_recv_match("other", &m, 100);
    us_match = elapsed_us(t0);
    if (rc_match == 0) {
        ax_msg_free(m);
    }
    rc_kept = ax_recv(&m, 0);
    if (rc_kept == 0) {
        rc_kept = ax_msg_has_tag(m, "keep") ? 0 : -1;
        ax_msg_free(m);
    }
    ax_sendf(to, "[s d i d d i d i d]", "recv", rc_poll, us_poll, rc_one,
             rc_timeout, us_timeout, rc_match, us_match, rc_kept);
    return 0;
}

/* ["write", fd, ms]: sleep ms, then write one byte to fd. */
static int
fd_writer_actor(void *arg)
{
    int fd, ms;

    (void)arg;
    if (recv_args("[_ d d]", &fd, &ms) < 0) {
        return 2;
    }
    ax_sleep(ms);
    return write(fd, "x", 1) == 1 ? 0 : 4;
}

/*
 * ["probe", to]: on a pipe of its own, with a writer actor that writes
 * after 50 ms, report ["fd",
 *   read rc, read us,       ax_wait_fd(read end, AX_READ) until written
 *   write rc, write us,     ax_wait_fd(write end, AX_WRITE), empty pipe
 *   timeout rc, timeout us, ax_wait_fd(read end, AX_READ, 50), nothing
 *   zero-events rc, unknown-events rc, closed-fd rc, negative-fd rc]
 */
static int
fd_probe_actor(void *arg)
{
    int rc_read, rc_write, rc_timeout, rc_zero, rc_bits, rc_closed, rc_neg;
    int64_t us_read, us_write, us_timeout;
    ax_spawn_opts o = th_opts();
    ax_pid to, writer;
    uint64_t t0;
    int p[2];
    char c;

    (void)arg;
    if (recv_args("[_ p]", &to) < 0) {
        return 2;
    }
    o.monitor = true;
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0 ||
        ax_spawn(fd_writer_actor, NULL, &o, &writer) < 0) {
        return 4;
    }
    t0 = t_now_ns();
    ax_sendf(writer, "[s d d]", "write", p[1], 50);
    rc_read = ax_wait_fd(p[0], AX_READ, 5000);
    us_read = elapsed_us(t0);
    if (read(p[0], &c, 1) != 1) {
        rc_read = -1;
    }

    t0 = t_now_ns();
    rc_write = ax_wait_fd(p[1], AX_WRITE, 5000);
    us_write = elapsed_us(t0);

    t0 = t_now_ns();
    rc_timeout = ax_wait_fd(p[0], AX_READ, 50);
    us_timeout = elapsed_us(t0);

    rc_zero = ax_wait_fd(p[0], 0, 50);
    rc_bits = ax_wait_fd(p[0], AX_READ | 4, 50);
    ax_wait(writer, NULL, 5000);
    close(p[0]);
    close(p[1]);
    rc_closed = ax_wait_fd(p[0], AX_READ, 50);
    rc_neg = ax_wait_fd(-1, AX_READ, 50);
    ax_sendf(to, "[s d i d i d i d d d d]", "fd", rc_read, us_read, rc_write,
             us_write, rc_timeout, us_timeout, rc_zero, rc_bits, rc_closed,
             rc_neg);
    return 0;
}

/* --- yield, sleep, receive timeouts, fd waits ---------------------------- */

static void
body_yield(void *arg)
{
    ax_pid pair = spawn_monitored(yield_pair_actor);
    int64_t bad = -1, seen = -1;
    ax_msg *m;

    (void)arg;
    TH_CHECK_INT(ax_sendf(pair, "[s p i]", "pair", ax_self(), (int64_t)100), 0);
    if ((m = expect("pair", 10000)) != NULL) {
        TH_CHECK_INT(ax_msg_unpack(m, "[_ i i]", &bad, &seen), 0);
        ax_msg_free(m);
    }
    TH_CHECK_INT(seen, 200);
    TH_CHECK_INT(bad, 0);
    TH_CHECK_INT(th_join(pair).kind, AX_EXIT_NORMAL);
}

static void
test_lifecycle_yield_lets_the_other_runnable_actors_run(void **state)
{
    (void)state;
    run(body_yield, NULL);
}

/*
 * Each case: {ms, busy_ms}. A busy turn before the sleep must not shorten
 * it: the timer counts from the call, not from when the loop last looked
 * at the clock.
 */
static void
body_sleep(void *arg)
{
    static const int cases[][2] = {{50, 0}, {100, 30}, {0, 0}, {20, 60}};
    int64_t us;

    (void)arg;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        int ms = cases[k][0];
        ax_pid s = spawn_monitored(sleeper_actor);
        ax_msg *m;

        TH_CHECK_INT(
            ax_sendf(s, "[s p d d]", "sleep", ax_self(), ms, cases[k][1]), 0);
        if ((m = expect("slept", 5000)) != NULL) {
            us = -1;
            TH_CHECK_INT(ax_msg_unpack(m, "[_ i]", &us), 0);
            if (us < (int64_t)ms * 1000 || us >= (int64_t)(ms + 500) * 1000) {
                th_fail(__FILE__, __LINE__,
                        "ax_sleep(%d) after %d ms busy took %lld us", ms,
                        cases[k][1], (long long)us);
            }
            ax_msg_free(m);
        }
        TH_CHECK_INT(th_join(s).kind, AX_EXIT_NORMAL);
    }
}

static void
test_lifecycle_sleep_waits_at_least_the_asked_time(void **state)
{
    (void)state;
    run(body_sleep, NULL);
}

static void
body_recv_timeouts(void *arg)
{
    int rc_poll, rc_one, rc_timeout, rc_match, rc_kept;
    int64_t us_poll, us_timeout, us_match;
    ax_pid r = spawn_monitored(recv_timer_actor);
    ax_msg *m;

    (void)arg;
    TH_CHECK_INT(ax_sendf(r, "[s p]", "recv", ax_self()), 0);
    if ((m = expect("recv", 5000)) == NULL) {
        return;
    }
    TH_CHECK_INT(ax_msg_unpack(m, "[_ d i d d i d i d]", &rc_poll, &us_poll,
                               &rc_one, &rc_timeout, &us_timeout, &rc_match,
                               &us_match, &rc_kept),
                 0);
    ax_msg_free(m);
    TH_CHECK_INT(rc_poll, AX_ETIMEDOUT);
    TH_CHECK(us_poll < 100000); /* timeout 0 polls: no wait */
    TH_CHECK_INT(rc_one, 0);
    TH_CHECK_INT(rc_timeout, AX_ETIMEDOUT);
    TH_CHECK(us_timeout >= 100000 && us_timeout < 600000);
    TH_CHECK_INT(rc_match, AX_ETIMEDOUT);
    TH_CHECK(us_match >= 100000 && us_match < 600000);
    TH_CHECK_INT(rc_kept, 0);
    TH_CHECK_INT(th_join(r).kind, AX_EXIT_NORMAL);
}

static void
test_lifecycle_recv_timeouts_poll_at_zero_and_expire_after_the_time(
    void **state)
{
    (void)state;
    run(body_recv_timeouts, NULL);
}

static void
body_wait_fd(void *arg)
{
    int rc_read, rc_write, rc_timeout, rc_zero, rc_bits, rc_closed, rc_neg;
    int64_t us_read, us_write, us_timeout;
    ax_pid p = spawn_monitored(fd_probe_actor);
    ax_msg *m;

    (void)arg;
    TH_CHECK_INT(ax_sendf(p, "[s p]", "probe", ax_self()), 0);
    if ((m = expect("fd", 5000)) == NULL) {
        return;
    }
    TH_CHECK_INT(ax_msg_unpack(m, "[_ d i d i d i d d d d]", &rc_read, &us_read,
                               &rc_write, &us_write, &rc_timeout, &us_timeout,
                               &rc_zero, &rc_bits, &rc_closed, &rc_neg),
                 0);
    ax_msg_free(m);
    TH_CHECK_INT(rc_read, AX_READ);
    TH_CHECK(us_read >= 50000 && us_read < 550000); /* the writer slept 50 */
    TH_CHECK_INT(rc_write, AX_WRITE);
    TH_CHECK(us_write < 500000); /* at once: an empty pipe is writable */
    TH_CHECK_INT(rc_timeout, AX_ETIMEDOUT);
    TH_CHECK(us_timeout >= 50000 && us_timeout < 550000);
    TH_CHECK_INT(rc_zero, AX_EINVAL);
    TH_CHECK_INT(rc_bits, AX_EINVAL);
    TH_CHECK_INT(rc_closed, AX_EBADF);
    TH_CHECK_INT(rc_neg, AX_EBADF);
    TH_CHECK_INT(th_join(p).kind, AX_EXIT_NORMAL);
}

static void
test_lifecycle_wait_fd_reports_read_write_timeout_and_bad_arguments(
    void **state)
{
    (void)state;
    run(body_wait_fd, NULL);
}

int
main(void)
{
    const struct CMUnitTest list[] = {
        cmocka_unit_test_setup_teardown(
            test_lifecycle_yield_lets_the_other_runnable_actors_run, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_sleep_waits_at_least_the_asked_time, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_recv_timeouts_poll_at_zero_and_expire_after_the_time,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_wait_fd_reports_read_write_timeout_and_bad_arguments,
            t_setup, t_teardown),
    };
    int failed = 0;

    th_main_setup();
    th_placement = AX_PLACE_COROUTINE;
    failed +=
        cmocka_run_group_tests_name("coroutine placement", list, NULL, NULL);
    th_placement = AX_PLACE_PROCESS;
    failed +=
        cmocka_run_group_tests_name("process placement", list, NULL, NULL);
    return failed;
}
