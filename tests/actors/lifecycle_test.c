/*
 * tests/actors/lifecycle_test.c - how actors wait and how they end: a kill
 * in every kind of wait, on_exit functions, yield, timers and fd waits,
 * exit propagation along a long chain of links, trapped exits, demonitor,
 * joins; then, once, what is about this process: 100,000 spawns, a stack
 * overflow, a deadlock, misuse, ax_init and ax_fini.
 *
 * The first list is actor-level: its bodies run in the harness's driver
 * actor, the actors under test are spawned with th_opts() and talk to the
 * driver only with messages, so it can run again with process placement.
 * The second list is about this process (memory, stacks, forks, the
 * runtime's own calls, a white-box look at an actor's exit reason) and
 * runs once.
 */
#include "support/actor_harness.h"

#include <ev.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "actors/core/core.h" /* white-box: the run-once list only */
#include "actors/core/stack.h"
#include "base/sanitizers.h"

/*
 * Timed waits of the actors killed mid-wait last this long: the test is
 * over long before, so a timer left running after the kill is still
 * active in the loop when run() checks that ax_fini left none.
 */
#define WAIT_MS 10000

/* What the waiter waits in (see waiter_actor). */
enum {
    WK_RECV,         /* ax_recv, no time limit */
    WK_RECV_TIMEOUT, /* ax_recv with WAIT_MS */
    WK_RECV_MATCH,   /* ax_recv_match of a tag that never comes */
    WK_SLEEP,        /* ax_sleep(WAIT_MS) */
    WK_CALL,         /* ax_call of a callee that does not answer */
    WK_FD,           /* ax_wait_fd for reading a pipe nobody writes */
    WK_SEND,         /* ax_send into a full mailbox */
    WK_JOIN,         /* ax_wait for another actor */
};

/* --- small helpers ------------------------------------------------------- */

static int64_t
elapsed_us(uint64_t t0)
{
    return (int64_t)((t_now_ns() - t0) / 1000);
}

/* Keep the CPU busy: a long turn of the scheduler before a timed wait. */
static void
spin_ms(int ms)
{
    uint64_t t0 = t_now_ns();

    while (t_now_ns() - t0 < (uint64_t)ms * 1000000u) {
    }
}

static size_t
live_actors(void)
{
    ax_runtime_stats st;

    ax_runtime_stats_get(&st);
    return st.actors;
}

/*
 * In an actor: receive the first message and unpack it with fmt (strings
 * must not be asked for: the message is freed). Returns 0 or an error.
 */
static int
recv_args(const char *fmt, ...)
{
    va_list ap;
    ax_msg *m;
    int rc = ax_recv(&m, AX_FOREVER);

    if (rc < 0) {
        return rc;
    }
    va_start(ap, fmt);
    rc = ax_msg_vunpack(m, fmt, ap);
    va_end(ap);
    ax_msg_free(m);
    return rc;
}

/* --- actors under test --------------------------------------------------- */

/* Return 0 at once. */
static int
return_zero_actor(void *arg)
{
    (void)arg;
    return 0;
}

/* Exit with the code found in the first message ["exit", code]. */
static int
exit_code_actor(void *arg)
{
    ax_msg *m;
    int code = 99;

    (void)arg;
    if (ax_recv(&m, AX_FOREVER) == 0) {
        ax_msg_unpack(m, "[_ d]", &code);
        ax_msg_free(m);
    }
    return code;
}

/* The wait of kind `kind` (WK_*), with peer and fd as that kind needs. */
static void
wait_once(int kind, ax_pid peer, int fd)
{
    ax_msg *m = NULL, *req;

    switch (kind) {
    case WK_RECV:
        ax_recv(&m, AX_FOREVER);
        break;
    case WK_RECV_TIMEOUT:
        ax_recv(&m, WAIT_MS);
        break;
    case WK_RECV_MATCH:
        ax_recv_match("never", &m, AX_FOREVER);
        break;
    case WK_SLEEP:
        ax_sleep(WAIT_MS);
        break;
    case WK_CALL:
        /* On success the reply is m; on failure the request may or may not
         * have been sent, so it is not freed here (no failure expected). */
        if (ax_msg_pack(&req, "[s]", "question") == 0) {
            ax_call(peer, req, &m, AX_FOREVER);
        }
        break;
    case WK_FD:
        ax_wait_fd(fd, AX_READ, AX_FOREVER);
        break;
    case WK_SEND:
        ax_sendf(peer, "[s p]", "from-waiter", ax_self());
        break;
    default:
        ax_wait(peer, NULL, AX_FOREVER);
        break;
    }
    ax_msg_free(m);
}

/*
 * Wait for ["wait", kind, to, peer, fd], report ["waiting", kind] to `to`,
 * wait as kind says, and if that wait ever returns, report ["resumed",
 * kind]. The driver kills it in the wait: "resumed" must never come.
 */
static int
waiter_actor(void *arg)
{
    ax_pid to, peer;
    int kind, fd;

    (void)arg;
    if (recv_args("[_ d p p d]", &kind, &to, &peer, &fd) < 0) {
        return 2;
    }
    ax_sendf(to, "[s d]", "waiting", kind);
    wait_once(kind, peer, fd);
    ax_sendf(to, "[s d]", "resumed", kind);
    return 0;
}

/*
 * A callee that does not answer: calls queue up until ["answer", to];
 * then it answers the oldest message (the call's request) and reports
 * ["answered", whether it was a call, ax_reply's result].
 */
static int
silent_callee_actor(void *arg)
{
    ax_msg *m, *req, *r;
    bool is_call;
    int rc = -1;
    ax_pid to;

    (void)arg;
    if (ax_recv_match("answer", &m, AX_FOREVER) < 0) {
        return 2;
    }
    if (ax_msg_unpack(m, "[_ p]", &to) < 0) {
        ax_msg_free(m);
        return 3;
    }
    ax_msg_free(m);
    if (ax_recv(&req, 0) < 0) {
        return 4;
    }
    is_call = ax_msg_is_call(req);
    if (ax_msg_pack(&r, "[s]", "late") == 0 && (rc = ax_reply(req, r)) < 0) {
        ax_msg_free(r);
    }
    ax_msg_free(req);
    ax_sendf(to, "[s b d]", "answered", (int)is_call, rc);
    return 0;
}

/*
 * A mailbox that stays full: wait for ["go", to, dead], then take every
 * message left and report ["drained", how many, whether one came from
 * dead] to `to`.
 */
static int
gate_sink_actor(void *arg)
{
    bool from_dead = false;
    ax_pid to, dead;
    int64_t n = 0;
    ax_msg *m;

    (void)arg;
    if (ax_recv_match("go", &m, AX_FOREVER) < 0) {
        return 2;
    }
    if (ax_msg_unpack(m, "[_ p p]", &to, &dead) < 0) {
        ax_msg_free(m);
        return 3;
    }
    ax_msg_free(m);
    while (ax_recv(&m, 0) == 0) {
        n++;
        if (ax_pid_equal(ax_msg_sender(m), dead) ||
            ax_msg_has_tag(m, "from-waiter")) {
            from_dead = true;
        }
        ax_msg_free(m);
    }
    ax_sendf(to, "[s i b]", "drained", n, (int)from_dead);
    return 0;
}

/* ["read", to, fd]: wait up to 5 s for fd to be readable, report
 * ["ready", ax_wait_fd's result]. */
static int
fd_reader_actor(void *arg)
{
    ax_pid to;
    int fd;

    (void)arg;
    if (recv_args("[_ p d]", &to, &fd) < 0) {
        return 2;
    }
    ax_sendf(to, "[s d]", "ready", ax_wait_fd(fd, AX_READ, 5000));
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

/* --- on_exit ------------------------------------------------------------- */

/*
 * An on_exit function's argument: where to report and what. Heap memory:
 * the function may run after the actor's frames are gone; it frees it.
 */
struct exit_note {
    ax_pid to;   /* report here */
    ax_pid sink; /* on_exit_send_note: send here first */
    int n;       /* this function's number */
};

static void
note_exit(void *p)
{
    struct exit_note *e = p;

    ax_sendf(e->to, "[s d]", "on_exit", e->n);
    free(e);
}

/* Send to a full mailbox from on_exit, report ["on_exit_send", result,
 * whether ax_self() is AX_PID_NONE there]. */
static void
on_exit_send_note(void *p)
{
    struct exit_note *e = p;
    int rc = ax_sendf(e->sink, "[s]", "late");

    ax_sendf(e->to, "[s d b]", "on_exit_send", rc,
             (int)ax_pid_is_none(ax_self()));
    free(e);
}

static int
add_note(void (*fn)(void *), ax_pid to, ax_pid sink, int n)
{
    struct exit_note *e = malloc(sizeof(*e));

    if (e == NULL) {
        return -1;
    }
    *e = (struct exit_note){to, sink, n};
    if (ax_on_exit(fn, e) < 0) {
        free(e);
        return -1;
    }
    return 0;
}

/* ax_exit from depth nested calls down (negative: just return). */
static void
exit_from_depth(int depth)
{
    if (depth < 0) {
        return;
    }
    if (depth == 0) {
        ax_exit(5);
    }
    exit_from_depth(depth - 1);
}

/* How on_exit_actor ends. */
enum { END_RETURN, END_NESTED_EXIT, END_KILLED };

/*
 * ["how", to, end]: register on_exit functions 1, 2, 3 (each reports its
 * number to `to`), report ["ready"], then end as `end` says. "after" is
 * reported only if ax_exit returned.
 */
static int
on_exit_actor(void *arg)
{
    ax_pid to;
    int end;
    ax_msg *m;

    (void)arg;
    if (recv_args("[_ p d]", &to, &end) < 0) {
        return 2;
    }
    for (int n = 1; n <= 3; n++) {
        if (add_note(note_exit, to, AX_PID_NONE, n) < 0) {
            return 4;
        }
    }
    ax_sendf(to, "[s]", "ready");
    if (end == END_NESTED_EXIT) {
        exit_from_depth(3);
        ax_sendf(to, "[s]", "after");
    } else if (end == END_KILLED) {
        if (ax_recv_match("never", &m, AX_FOREVER) == 0) {
            ax_msg_free(m);
        }
        ax_sendf(to, "[s]", "after");
    }
    return 0;
}

/* ["full", to, sink, end]: register on_exit_send_note, report ["ready"],
 * then return 0 (end 0) or wait to be killed. */
static int
on_exit_sender_actor(void *arg)
{
    ax_pid to, sink;
    int end;
    ax_msg *m;

    (void)arg;
    if (recv_args("[_ p p d]", &to, &sink, &end) < 0) {
        return 2;
    }
    if (add_note(on_exit_send_note, to, sink, 0) < 0) {
        return 4;
    }
    ax_sendf(to, "[s]", "ready");
    if (end != END_RETURN && ax_recv_match("never", &m, AX_FOREVER) == 0) {
        ax_msg_free(m);
    }
    return 0;
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

/* --- links --------------------------------------------------------------- */

/*
 * A chain member: ["chain", to, n]. Members with n > 1 spawn the next
 * (linked, n - 1) and wait forever: only the link can end them. The last
 * (n == 1) waits for ["go"] and returns 9. Each reports ["member", self,
 * n] to `to` first.
 */
static int
chain_actor(void *arg)
{
    ax_spawn_opts o = th_opts();
    ax_pid to, next;
    int64_t n;
    ax_msg *m;

    (void)arg;
    if (recv_args("[_ p i]", &to, &n) < 0) {
        return 2;
    }
    if (n > 1) {
        o.link = true;
        if (ax_spawn(chain_actor, NULL, &o, &next) < 0) {
            return 4;
        }
        ax_sendf(next, "[s p i]", "chain", to, n - 1);
    }
    ax_sendf(to, "[s p i]", "member", ax_self(), n);
    if (ax_recv_match(n > 1 ? "never" : "go", &m, AX_FOREVER) == 0) {
        ax_msg_free(m);
    }
    return n > 1 ? 1 : 9;
}

/*
 * ["trap", to]: trap exits; link a blocked child and report ["child",
 * pid] (the driver kills it); forward the EXIT it gets to `to`; then link
 * a child that returns 0 and forward that EXIT too.
 */
static int
trapper_actor(void *arg)
{
    ax_spawn_opts o = th_opts();
    ax_pid to, child;
    ax_msg *m;

    (void)arg;
    if (recv_args("[_ p]", &to) < 0) {
        return 2;
    }
    ax_trap_exit(true);
    o.link = true;
    if (ax_spawn(th_blocked_actor, NULL, &o, &child) < 0) {
        return 4;
    }
    ax_sendf(to, "[s p]", "child", child);
    if (ax_recv_match("EXIT", &m, 5000) < 0 || ax_send(to, m) < 0) {
        return 5;
    }
    if (ax_spawn(return_zero_actor, NULL, &o, &child) < 0) {
        return 6;
    }
    ax_sendf(to, "[s p]", "child", child);
    if (ax_recv_match("EXIT", &m, 5000) < 0 || ax_send(to, m) < 0) {
        return 7;
    }
    return 0;
}

/*
 * ["unlink", to, trap]: link a blocked child, unlink it, report ["child",
 * pid] (the driver kills it), then report ["none"] if nothing came within
 * 300 ms, else ["got"].
 */
static int
unlinker_actor(void *arg)
{
    ax_spawn_opts o = th_opts();
    ax_pid to, child;
    bool trap;
    ax_msg *m;

    (void)arg;
    if (recv_args("[_ p b]", &to, &trap) < 0) {
        return 2;
    }
    ax_trap_exit(trap);
    o.link = true;
    if (ax_spawn(th_blocked_actor, NULL, &o, &child) < 0) {
        return 4;
    }
    ax_unlink(child);
    ax_sendf(to, "[s p]", "child", child);
    if (ax_recv(&m, 300) == 0) {
        ax_msg_free(m);
        ax_sendf(to, "[s]", "got");
    } else {
        ax_sendf(to, "[s]", "none");
    }
    return 0;
}

/* --- helpers for the driver ---------------------------------------------- */

static ax_pid
spawn_monitored(ax_actor_fn fn)
{
    ax_spawn_opts o = th_opts();

    o.monitor = true;
    return th_spawn_with(fn, &o);
}

/*
 * Let an actor that announced a wait reach it: a coroutine is parked
 * before the driver runs again, a process actor may still be on its way.
 */
static void
settle(void)
{
    ax_sleep(20);
}

/*
 * th_expect, naming what came instead: receive one message within ms and
 * check its tag; returns it (the caller frees it) or NULL.
 */
static ax_msg *
expect(const char *tag, int ms)
{
    const char *t = "?";
    size_t tlen = 1;
    ax_msg *m;
    int rc = ax_recv(&m, ms);

    if (rc < 0) {
        th_fail(__FILE__, __LINE__, "expected \"%s\", got %s", tag,
                ax_strerror(rc));
        return NULL;
    }
    if (!ax_msg_has_tag(m, tag)) {
        ax_msg_unpack(m, "[s *]", &t, &tlen);
        th_fail(__FILE__, __LINE__, "expected \"%s\", got \"%.*s\"", tag,
                (int)tlen, t);
        ax_msg_free(m);
        return NULL;
    }
    return m;
}

/* Check that no message with tag comes within ms. */
static void
expect_none(const char *tag, int ms)
{
    ax_msg *m;

    if (ax_recv_match(tag, &m, ms) == 0) {
        th_fail(__FILE__, __LINE__, "an unexpected \"%s\" message came", tag);
        ax_msg_free(m);
    }
}

/* Receive ["tag", int] and return the int (or -12345). */
static int
expect_int(const char *tag)
{
    ax_msg *m = expect(tag, 5000);
    int v = -12345;

    if (m != NULL) {
        TH_CHECK_INT(ax_msg_unpack(m, "[_ d]", &v), 0);
        ax_msg_free(m);
    }
    return v;
}

/* Spawn a monitored waiter, start its wait; returns once it waits. */
static ax_pid
start_waiter(int kind, ax_pid peer, int fd)
{
    ax_pid w = spawn_monitored(waiter_actor);

    TH_CHECK_INT(ax_sendf(w, "[s d p p d]", "wait", kind, ax_self(), peer, fd),
                 0);
    TH_CHECK_INT(expect_int("waiting"), kind);
    settle();
    return w;
}

/* Kill w in its wait; check it ended killed with code and never resumed. */
static void
kill_waiter(ax_pid w, int code)
{
    ax_exit_info i;

    TH_CHECK_INT(ax_kill(w, code), 0);
    i = th_join(w);
    TH_CHECK_INT(i.kind, AX_EXIT_KILLED);
    TH_CHECK_INT(i.code, code);
    expect_none("resumed", 200);
}

/* th_run, then: ax_fini left no watcher active in libev's default loop
 * (a killed actor's timer or io watcher, say). */
static void
run(void (*body)(void *arg), void *arg)
{
    th_run(body, arg);
    assert_int_equal(ev_run(ev_default_loop(0), EVRUN_NOWAIT), 0);
}

/* --- 1. a kill in every kind of wait ------------------------------------- */

/* Waits that need no peer: receives and sleep. */
static void
body_kill_in_simple_wait(void *arg)
{
    int kind = *(const int *)arg;
    size_t live = live_actors();
    ax_pid w = start_waiter(kind, AX_PID_NONE, -1);

    if (kind == WK_RECV_MATCH) {
        /* A message it does not want must not wake it either. */
        TH_CHECK_INT(ax_sendf(w, "[s]", "noise"), 0);
        settle();
    }
    kill_waiter(w, 40 + kind);
    TH_CHECK_INT(live_actors(), live);
}

static void
test_lifecycle_kill_in_recv_never_resumes_the_actor(void **state)
{
    static const int kind = WK_RECV;

    (void)state;
    run(body_kill_in_simple_wait, (void *)&kind);
}

static void
test_lifecycle_kill_in_recv_with_timeout_stops_its_timer(void **state)
{
    static const int kind = WK_RECV_TIMEOUT;

    (void)state;
    run(body_kill_in_simple_wait, (void *)&kind);
}

static void
test_lifecycle_kill_in_recv_match_never_resumes_the_actor(void **state)
{
    static const int kind = WK_RECV_MATCH;

    (void)state;
    run(body_kill_in_simple_wait, (void *)&kind);
}

static void
test_lifecycle_kill_in_sleep_stops_its_timer(void **state)
{
    static const int kind = WK_SLEEP;

    (void)state;
    run(body_kill_in_simple_wait, (void *)&kind);
}

/* The callee outlives its dead caller; its late answer is a dead letter. */
static void
body_kill_in_call(void *arg)
{
    size_t live = live_actors();
    ax_pid callee = spawn_monitored(silent_callee_actor);
    ax_pid w = start_waiter(WK_CALL, callee, -1);
    ax_runtime_stats before, after;
    bool is_call = false;
    int rc = -1;
    ax_msg *m;

    (void)arg;
    kill_waiter(w, 44);
    ax_runtime_stats_get(&before);
    TH_CHECK_INT(ax_sendf(callee, "[s p]", "answer", ax_self()), 0);
    if ((m = expect("answered", 5000)) != NULL) {
        TH_CHECK_INT(ax_msg_unpack(m, "[_ b d]", &is_call, &rc), 0);
        TH_CHECK(is_call);
        TH_CHECK_INT(rc, 0);
        ax_msg_free(m);
    }
    ax_runtime_stats_get(&after);
    if (th_placement == AX_PLACE_COROUTINE) {
        /* Counted where the dead caller lived: here, in this placement. */
        TH_CHECK_INT(after.dead_letters, before.dead_letters + 1);
    }
    TH_CHECK_INT(th_join(callee).kind, AX_EXIT_NORMAL);
    TH_CHECK_INT(live_actors(), live);
}

static void
test_lifecycle_kill_in_call_leaves_the_silent_callee_working(void **state)
{
    (void)state;
    run(body_kill_in_call, NULL);
}

/*
 * After the kill the driver closes the pipe: an io watcher left on it
 * would stay active in the loop (run() checks) and its fd number is taken
 * again at once by a new pipe, whose wait must work as usual.
 */
static void
body_kill_in_wait_fd(void *arg)
{
    size_t live = live_actors();
    int p[2], q[2];
    ax_pid w, r;

    (void)arg;
    TH_CHECK_INT(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    w = start_waiter(WK_FD, AX_PID_NONE, p[0]);
    kill_waiter(w, 45);
    close(p[0]);
    close(p[1]);
    TH_CHECK_INT(pipe2(q, O_CLOEXEC | O_NONBLOCK), 0);
    r = spawn_monitored(fd_reader_actor);
    TH_CHECK_INT(ax_sendf(r, "[s p d]", "read", ax_self(), q[0]), 0);
    settle();
    TH_CHECK_INT(write(q[1], "x", 1), 1);
    TH_CHECK_INT(expect_int("ready"), AX_READ);
    TH_CHECK_INT(th_join(r).kind, AX_EXIT_NORMAL);
    close(q[0]);
    close(q[1]);
    TH_CHECK_INT(live_actors(), live);
}

static void
test_lifecycle_kill_in_wait_fd_stops_its_io_watcher(void **state)
{
    (void)state;
    run(body_kill_in_wait_fd, NULL);
}

/*
 * A sender killed while it waits for room leaves the receiver's waiting
 * senders: when the receiver takes its message, nobody is let in (a
 * stale entry would deliver a freed message), and the dead sender's
 * message never arrives.
 */
static void
body_kill_blocked_sender(void *arg)
{
    ax_spawn_opts o = th_opts();
    size_t live = live_actors();
    bool from_dead = true;
    ax_pid sink, w;
    int64_t n = -1;
    ax_msg *m;

    (void)arg;
    o.mailbox_capacity = 1;
    o.monitor = true;
    sink = th_spawn_with(gate_sink_actor, &o);
    TH_CHECK_INT(ax_sendf(sink, "[s]", "fill"), 0); /* full now */
    w = start_waiter(WK_SEND, sink, -1);
    kill_waiter(w, 46);
    /* The sink waits for "go": that one is handed over though it is full. */
    TH_CHECK_INT(ax_sendf(sink, "[s p p]", "go", ax_self(), w), 0);
    if ((m = expect("drained", 5000)) != NULL) {
        TH_CHECK_INT(ax_msg_unpack(m, "[_ i b]", &n, &from_dead), 0);
        TH_CHECK_INT(n, 1); /* "fill" only */
        TH_CHECK(!from_dead);
        ax_msg_free(m);
    }
    TH_CHECK_INT(th_join(sink).kind, AX_EXIT_NORMAL);
    TH_CHECK_INT(live_actors(), live);
}

static void
test_lifecycle_killed_blocked_sender_leaves_the_waiting_senders(void **state)
{
    (void)state;
    run(body_kill_blocked_sender, NULL);
}

/* The other side: the full receiver dies; its blocked sender goes on (its
 * send returns) and its message is a dead letter. */
static void
body_kill_full_receiver(void *arg)
{
    ax_spawn_opts o = th_opts();
    size_t live = live_actors();
    ax_runtime_stats before, after;
    ax_exit_info i;
    ax_pid sink, w;

    (void)arg;
    o.mailbox_capacity = 1;
    o.monitor = true;
    sink = th_spawn_with(th_blocked_actor, &o);
    TH_CHECK_INT(ax_sendf(sink, "[s]", "fill"), 0);
    w = start_waiter(WK_SEND, sink, -1);
    ax_runtime_stats_get(&before);
    TH_CHECK_INT(ax_kill(sink, 47), 0);
    i = th_join(sink);
    TH_CHECK_INT(i.kind, AX_EXIT_KILLED);
    TH_CHECK_INT(i.code, 47);
    TH_CHECK_INT(expect_int("resumed"), WK_SEND);
    ax_runtime_stats_get(&after);
    if (th_placement == AX_PLACE_COROUTINE) {
        TH_CHECK_INT(after.dead_letters, before.dead_letters + 1);
    }
    TH_CHECK_INT(th_join(w).kind, AX_EXIT_NORMAL);
    TH_CHECK_INT(live_actors(), live);
}

static void
test_lifecycle_kill_of_a_full_receiver_lets_its_blocked_sender_go(void **state)
{
    (void)state;
    run(body_kill_full_receiver, NULL);
}

/* The joined actor outlives its dead joiner, and its end is seen as usual. */
static void
body_kill_in_join(void *arg)
{
    size_t live = live_actors();
    ax_pid target = spawn_monitored(th_blocked_actor);
    ax_pid w = start_waiter(WK_JOIN, target, -1);
    ax_exit_info i;

    (void)arg;
    kill_waiter(w, 48);
    TH_CHECK_INT(ax_kill(target, 49), 0);
    i = th_join(target);
    TH_CHECK_INT(i.kind, AX_EXIT_KILLED);
    TH_CHECK_INT(i.code, 49);
    TH_CHECK_INT(live_actors(), live);
}

static void
test_lifecycle_kill_in_wait_for_another_actor_ends_only_the_waiter(void **state)
{
    (void)state;
    run(body_kill_in_join, NULL);
}

/* --- 2. on_exit ---------------------------------------------------------- */

static void
body_on_exit(void *arg)
{
    int end = *(const int *)arg;
    ax_pid a = spawn_monitored(on_exit_actor);
    ax_exit_info i;

    TH_CHECK_INT(ax_sendf(a, "[s p d]", "how", ax_self(), end), 0);
    ax_msg_free(expect("ready", 5000));
    if (end == END_KILLED) {
        settle();
        TH_CHECK_INT(ax_kill(a, 77), 0);
    }
    /* Last registered runs first. */
    for (int n = 3; n >= 1; n--) {
        TH_CHECK_INT(expect_int("on_exit"), n);
    }
    i = th_join(a);
    TH_CHECK_INT(i.kind, end == END_RETURN        ? AX_EXIT_NORMAL
                         : end == END_NESTED_EXIT ? AX_EXIT_ERROR
                                                  : AX_EXIT_KILLED);
    TH_CHECK_INT(i.code, end == END_RETURN        ? 0
                         : end == END_NESTED_EXIT ? 5
                                                  : 77);
    expect_none("after", 0);
    expect_none("on_exit", 0);
}

static void
test_lifecycle_on_exit_runs_lifo_on_normal_return(void **state)
{
    static const int end = END_RETURN;

    (void)state;
    run(body_on_exit, (void *)&end);
}

static void
test_lifecycle_on_exit_runs_lifo_on_exit_from_a_nested_function(void **state)
{
    static const int end = END_NESTED_EXIT;

    (void)state;
    run(body_on_exit, (void *)&end);
}

static void
test_lifecycle_on_exit_runs_lifo_on_kill_while_waiting(void **state)
{
    static const int end = END_KILLED;

    (void)state;
    run(body_on_exit, (void *)&end);
}

/*
 * on_exit functions run outside any actor and must not wait: ax_self() is
 * AX_PID_NONE there, and a send into a full mailbox fails with AX_EAGAIN
 * (as any send from outside an actor) instead of making the ending actor,
 * or the actor that killed it, wait in the middle of an exit.
 */
static void
body_on_exit_full_send(void *arg)
{
    ax_spawn_opts o = th_opts();
    size_t live = live_actors();
    bool outside = false;
    ax_pid sink, a;
    int rc = 0;
    ax_msg *m;

    (void)arg;
    o.mailbox_capacity = 1;
    o.monitor = true;
    sink = th_spawn_with(th_blocked_actor, &o);
    TH_CHECK_INT(ax_sendf(sink, "[s]", "fill"), 0);
    for (int k = 0; k < 2; k++) {
        int end = k == 0 ? END_RETURN : END_KILLED;

        a = spawn_monitored(on_exit_sender_actor);
        TH_CHECK_INT(ax_sendf(a, "[s p p d]", "full", ax_self(), sink, end), 0);
        ax_msg_free(expect("ready", 5000));
        if (end == END_KILLED) {
            settle();
            TH_CHECK_INT(ax_kill(a, 78), 0);
        }
        if ((m = expect("on_exit_send", 5000)) != NULL) {
            TH_CHECK_INT(ax_msg_unpack(m, "[_ d b]", &rc, &outside), 0);
            TH_CHECK_INT(rc, AX_EAGAIN);
            TH_CHECK(outside);
            TH_CHECK(ax_pid_is_none(ax_msg_sender(m))); /* from no actor */
            ax_msg_free(m);
        }
        TH_CHECK_INT(th_join(a).kind,
                     end == END_RETURN ? AX_EXIT_NORMAL : AX_EXIT_KILLED);
    }
    TH_CHECK_INT(ax_kill(sink, 1), 0);
    th_join(sink);
    TH_CHECK_INT(live_actors(), live);
}

static void
test_lifecycle_on_exit_send_to_full_mailbox_fails_with_eagain(void **state)
{
    (void)state;
    run(body_on_exit_full_send, NULL);
}

/* --- 3. yield ------------------------------------------------------------ */

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

/* --- 4. time and fds ----------------------------------------------------- */

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

/* --- 5. exit propagation along a chain ----------------------------------- */

/*
 * 10,000 actors linked in a chain (2,000 under valgrind, to keep the run
 * short); the last returns 9; every member dies with error 9, the first
 * included. The runtime processes the exits as a worklist: recursion
 * would overflow the 64 KiB stack of the actor that exits first. With
 * process placement each member spawns the next in a process of its own:
 * a chain of 20 nested processes, the exit travelling up through each.
 */
static void
body_chain(void *arg)
{
    int64_t len = th_placement == AX_PLACE_PROCESS ? 20
                  : RUNNING_ON_VALGRIND            ? 2000
                                                   : 10000;
    int64_t n, good = 0;
    ax_pid first = th_spawn(chain_actor), who, last = AX_PID_NONE;
    size_t live = live_actors();
    ax_exit_info i;
    ax_msg *m;

    (void)arg;
    TH_CHECK_INT(ax_sendf(first, "[s p i]", "chain", ax_self(), len), 0);
    for (int64_t k = 0; k < len; k++) {
        if ((m = expect("member", 10000)) == NULL) {
            return;
        }
        TH_CHECK_INT(ax_msg_unpack(m, "[_ p i]", &who, &n), 0);
        ax_msg_free(m);
        TH_CHECK_INT(ax_monitor(who, NULL), 0);
        if (n == 1) {
            last = who;
        }
    }
    if (th_placement == AX_PLACE_COROUTINE) { /* this process's actors */
        TH_CHECK_INT(live_actors(), live + (size_t)len - 1);
    }
    TH_CHECK_INT(ax_sendf(last, "[s]", "go"), 0);
    for (int64_t k = 0; k < len; k++) {
        if ((m = expect("DOWN", 10000)) == NULL) {
            break;
        }
        TH_CHECK_INT(ax_down_msg_parse(m, NULL, &who, &i), 0);
        if (i.kind == AX_EXIT_ERROR && i.code == 9) {
            good++;
        } else if (ax_pid_equal(who, first)) {
            TH_CHECK(!"the first member did not die with error 9");
        }
        ax_msg_free(m);
    }
    TH_CHECK_INT(good, len);
    if (th_placement == AX_PLACE_COROUTINE) {
        TH_CHECK_INT(live_actors(), live - 1);
    }
}

static void
test_lifecycle_abnormal_exit_kills_a_chain_of_ten_thousand_links(void **state)
{
    (void)state;
    run(body_chain, NULL);
}

/* --- 6. trap_exit and unlink --------------------------------------------- */

/* Check an EXIT forwarded by the trapper: its fields, in wire order. */
static void
expect_exit_msg(ax_pid from, const char *kind, int code)
{
    ax_msg *m = expect("EXIT", 5000);
    const char *k = NULL;
    size_t klen = 0;
    int c = -1, sig = -1;
    bool core = true;
    ax_pid who;

    if (m == NULL) {
        return;
    }
    TH_CHECK_INT(
        ax_msg_unpack(m, "[_ p s d d b]", &who, &k, &klen, &c, &sig, &core), 0);
    TH_CHECK(ax_pid_equal(who, from));
    TH_CHECK(klen == strlen(kind) && memcmp(k, kind, klen) == 0);
    TH_CHECK_INT(c, code);
    TH_CHECK_INT(sig, 0);
    TH_CHECK(!core);
    ax_msg_free(m);
}

static ax_pid
expect_child(void)
{
    ax_pid child = AX_PID_NONE;
    ax_msg *m = expect("child", 5000);

    if (m != NULL) {
        TH_CHECK_INT(ax_msg_unpack(m, "[_ p]", &child), 0);
        ax_msg_free(m);
    }
    return child;
}

static void
body_trap_exit(void *arg)
{
    ax_pid t = spawn_monitored(trapper_actor);
    ax_pid c1, c2;

    (void)arg;
    TH_CHECK_INT(ax_sendf(t, "[s p]", "trap", ax_self()), 0);
    c1 = expect_child();
    settle();
    TH_CHECK_INT(ax_kill(c1, 33), 0);
    expect_exit_msg(c1, "killed", 33);
    c2 = expect_child();
    expect_exit_msg(c2, "normal", 0);
    TH_CHECK_INT(th_join(t).kind, AX_EXIT_NORMAL); /* survived both */
}

static void
test_lifecycle_trap_exit_gets_exit_messages_for_kill_and_return(void **state)
{
    (void)state;
    run(body_trap_exit, NULL);
}

static void
body_unlink(void *arg)
{
    (void)arg;
    for (int trap = 0; trap <= 1; trap++) {
        ax_pid u = spawn_monitored(unlinker_actor);
        ax_exit_info i;
        ax_pid c;

        TH_CHECK_INT(ax_sendf(u, "[s p b]", "unlink", ax_self(), trap), 0);
        c = expect_child();
        TH_CHECK_INT(ax_kill(c, 34), 0);
        i = th_join(c); /* no monitor of ours: remembered by the runtime */
        TH_CHECK_INT(i.kind, AX_EXIT_KILLED);
        TH_CHECK_INT(i.code, 34);
        ax_msg_free(expect("none", 5000));
        TH_CHECK_INT(th_join(u).kind, AX_EXIT_NORMAL); /* not killed with c */
    }
}

static void
test_lifecycle_unlink_stops_exit_propagation(void **state)
{
    (void)state;
    run(body_unlink, NULL);
}

/* --- 7. demonitor -------------------------------------------------------- */

static void
body_demonitor(void *arg)
{
    ax_pid a = th_spawn(th_blocked_actor);
    ax_exit_info i;
    uint64_t ref;

    (void)arg;
    TH_CHECK_INT(ax_monitor(a, &ref), 0);
    TH_CHECK_INT(ax_demonitor(ref), 0);
    TH_CHECK_INT(ax_kill(a, 35), 0);
    settle();
    expect_none("DOWN", 100);
    i = th_join(a);
    TH_CHECK_INT(i.kind, AX_EXIT_KILLED);
}

static void
test_lifecycle_demonitor_stops_the_down_message(void **state)
{
    (void)state;
    run(body_demonitor, NULL);
}

static bool
is_down_of(const ax_msg *m, void *ud)
{
    uint64_t ref;

    return ax_msg_has_tag(m, "DOWN") &&
           ax_down_msg_parse(m, &ref, NULL, NULL) == 0 &&
           ref == *(const uint64_t *)ud;
}

/* Two monitors of one actor: once the DOWN of the second is here, the
 * first's is queued too; demonitor removes it. */
static void
body_demonitor_queued(void *arg)
{
    ax_pid b = th_spawn(exit_code_actor);
    uint64_t ref1, ref2;
    ax_actor_stats st;
    ax_msg *m;

    (void)arg;
    TH_CHECK_INT(ax_monitor(b, &ref1), 0);
    TH_CHECK_INT(ax_monitor(b, &ref2), 0);
    TH_CHECK_INT(ax_sendf(b, "[s d]", "exit", 0), 0);
    TH_CHECK_INT(ax_recv_if(is_down_of, &ref2, &m, 5000), 0);
    ax_msg_free(m);
    TH_CHECK_INT(ax_stats(ax_self(), &st), 0);
    TH_CHECK_INT(st.mailbox, 1);
    TH_CHECK_INT(ax_demonitor(ref1), 0);
    TH_CHECK_INT(ax_stats(ax_self(), &st), 0);
    TH_CHECK_INT(st.mailbox, 0);
    expect_none("DOWN", 0);
}

static void
test_lifecycle_demonitor_removes_a_queued_down_message(void **state)
{
    (void)state;
    run(body_demonitor_queued, NULL);
}

/* --- 8. ax_wait ---------------------------------------------------------- */

static void
body_wait_twice(void *arg)
{
    ax_pid a = spawn_monitored(exit_code_actor);
    ax_exit_info i = {AX_EXIT_NOPROC, -1, 0, false}, j = i;
    ax_actor_stats st;

    (void)arg;
    TH_CHECK_INT(ax_sendf(a, "[s d]", "exit", 12), 0);
    for (int k = 0; k < 500 && ax_stats(a, &st) == 0; k++) {
        ax_sleep(10); /* until it has ended */
    }
    TH_CHECK_INT(ax_wait(a, &i, 1000), 0); /* the spawn's monitor */
    TH_CHECK_INT(i.kind, AX_EXIT_ERROR);
    TH_CHECK_INT(i.code, 12);
    /* No monitor is left; the runtime still remembers how it ended. */
    TH_CHECK_INT(ax_wait(a, &j, 1000), 0);
    TH_CHECK_INT(j.kind, AX_EXIT_ERROR);
    TH_CHECK_INT(j.code, 12);
    expect_none("DOWN", 0);
}

static void
test_lifecycle_wait_twice_on_an_ended_actor_gives_its_reason(void **state)
{
    (void)state;
    run(body_wait_twice, NULL);
}

/*
 * A wait that times out leaves no monitor of its own behind, so no DOWN
 * arrives later; a monitor the caller had (from spawn) stays, and a later
 * wait still sees the end.
 */
static void
body_wait_timeout(void *arg)
{
    ax_pid a = th_spawn(th_blocked_actor);
    ax_pid b = spawn_monitored(th_blocked_actor);
    ax_exit_info i;
    uint64_t t0;

    (void)arg;
    t0 = t_now_ns();
    TH_CHECK_INT(ax_wait(a, &i, 50), AX_ETIMEDOUT);
    TH_CHECK(elapsed_us(t0) >= 50000);
    TH_CHECK_INT(ax_kill(a, 36), 0);
    settle();
    expect_none("DOWN", 50);
    TH_CHECK_INT(ax_wait(b, &i, 50), AX_ETIMEDOUT);
    TH_CHECK_INT(ax_kill(b, 37), 0);
    i = th_join(b);
    TH_CHECK_INT(i.kind, AX_EXIT_KILLED);
    TH_CHECK_INT(i.code, 37);
    expect_none("DOWN", 50);
}

static void
test_lifecycle_wait_that_times_out_leaves_no_down_message(void **state)
{
    (void)state;
    run(body_wait_timeout, NULL);
}

/* --- 9. once: about this process ----------------------------------------- */

/*
 * 100,000 actors (20,000 under valgrind, to keep the run short), spawned
 * by the driver in batches of 1,000 and each returning at once, are all
 * reaped: their slots, structs and stacks are released. Leaks would show
 * at exit under ASan and valgrind (th_run ends with ax_fini).
 */
static void
body_many_spawns(void *arg)
{
    int total = RUNNING_ON_VALGRIND ? 20000 : 100000;
    ax_runtime_stats before, after;
    ax_stack_stats ss;
    ax_spawn_opts co;

    (void)arg;
    memset(&co, 0, sizeof(co));
    co.placement = AX_PLACE_COROUTINE;
    ax_runtime_stats_get(&before);
    TH_CHECK_INT(before.actors, 1); /* the driver */
    for (int done = 0; done < total; done += 1000) {
        for (int k = 0; k < 1000; k++) {
            if (ax_spawn(return_zero_actor, NULL, &co, NULL) < 0) {
                TH_CHECK(!"spawn failed");
                return;
            }
        }
        ax_yield(); /* each of them runs once: returns */
    }
    ax_runtime_stats_get(&after);
    TH_CHECK_INT(after.actors, 1);
    TH_CHECK_INT(after.spawned, before.spawned + (uint64_t)total);
    ax__stack_stats(&ss);
    TH_CHECK_INT(ss.live, 1); /* the driver's */
}

static void
test_lifecycle_hundred_thousand_spawned_actors_are_all_reaped(void **state)
{
    ax_stack_stats ss;

    (void)state;
    run(body_many_spawns, NULL);
    ax__stack_stats(&ss);
    assert_int_equal(ss.live, 0); /* ax_fini gave the driver's back too */
}

/* volatile: the compiler cannot prove the recursion unbounded or turn
 * it into a loop. */
static volatile int overflow_limit = INT_MAX;

static int
recurse(int depth)
{
    volatile char pad[512];

    pad[0] = (char)depth;
    if (depth >= overflow_limit) {
        return pad[0];
    }
    return recurse(depth + 1) + pad[0];
}

static int
overflow_actor(void *arg)
{
    (void)arg;
    return recurse(0);
}

/* In a child: an actor on a 64 KiB stack recurses without bound. */
static int
child_overflow(void *arg)
{
    struct rlimit no_core = {0, 0};
    ax_spawn_opts o;

    (void)arg;
    setrlimit(RLIMIT_CORE, &no_core);
    signal(SIGSEGV, SIG_DFL); /* not a sanitizer's report and exit(1) */
    ev_loop_fork(ev_default_loop(0));
    if (ax_init(NULL) != 0) {
        return 2;
    }
    memset(&o, 0, sizeof(o));
    o.placement = AX_PLACE_COROUTINE;
    o.stack_size = (size_t)64 << 10;
    if (ax_spawn(overflow_actor, NULL, &o, NULL) != 0) {
        return 3;
    }
    ax_run();
    return 4; /* it came back: the overflow was not caught */
}

static void
test_lifecycle_stack_overflow_dies_of_sigsegv_at_the_guard_page(void **state)
{
    (void)state;
    assert_int_equal(t_wait(t_fork(child_overflow, NULL)), 128 + SIGSEGV);
}

/* Wait in a receive that nothing can ever satisfy. */
static int
forever_actor(void *arg)
{
    ax_msg *m;

    (void)arg;
    if (ax_recv(&m, AX_FOREVER) == 0) {
        ax_msg_free(m);
    }
    return 0;
}

static void
test_lifecycle_run_reports_edeadlk_when_no_actor_can_ever_wake(void **state)
{
    ax_runtime_stats st;

    (void)state;
    assert_int_equal(ax_init(NULL), 0);
    assert_int_equal(ax_spawn(forever_actor, NULL, NULL, NULL), 0);
    assert_int_equal(ax_run(), AX_EDEADLK);
    assert_non_null(strstr(ax_error_detail(), "1 actor"));
    ax_runtime_stats_get(&st);
    assert_int_equal(st.actors, 1);
    ax_fini();
    ax_runtime_stats_get(&st);
    assert_int_equal(st.actors, 0);
    assert_int_equal(ev_run(ev_default_loop(0), EVRUN_NOWAIT), 0);
}

/* In a child, stderr into fd: ax_recv outside any actor (the runtime is
 * up, no actor runs). */
static int
child_recv_outside(void *arg)
{
    struct rlimit no_core = {0, 0};
    ax_msg *m;

    setrlimit(RLIMIT_CORE, &no_core);
    dup2(*(const int *)arg, 2);
    if (ax_init(NULL) != 0) {
        return 2;
    }
    ax_recv(&m, 0);
    return 3; /* it returned */
}

static void
test_lifecycle_recv_outside_an_actor_aborts_with_a_sentence(void **state)
{
    char buf[512];
    ssize_t n;
    pid_t pid;
    int p[2];

    (void)state;
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid = t_fork(child_recv_outside, &p[1]);
    close(p[1]);
    assert_int_equal(t_wait(pid), 128 + SIGABRT);
    n = read(p[0], buf, sizeof(buf) - 1);
    close(p[0]);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "axon: misuse at "));
    assert_non_null(strstr(buf, "ax_recv called outside an actor"));
}

static void
test_lifecycle_init_twice_fails_and_fini_without_init_is_safe(void **state)
{
    ax_runtime_opts bad = {.run_budget = -1};

    (void)state;
    ax_fini(); /* never initialised */
    assert_int_equal(ax_init(&bad), AX_EINVAL);
    assert_int_equal(ax_init(NULL), 0);
    assert_int_equal(ax_init(NULL), AX_EALREADY);
    ax_fini();
    ax_fini(); /* twice */
    assert_int_equal(ax_init(NULL), 0);
    ax_fini();
    assert_int_equal(ev_run(ev_default_loop(0), EVRUN_NOWAIT), 0);
}

/*
 * What ax_fini's victims saw. Shared memory and a white-box look at the
 * dying actor's exit reason (ax_actor.exit): no actor is left to receive
 * a DOWN, and all of this is in this process.
 */
struct victim {
    ax_actor *self;    /* set by the actor when it starts */
    int on_exit_runs;  /* times its on_exit function ran */
    ax_exit_info seen; /* its exit reason, read by on_exit */
};

static void
victim_on_exit(void *p)
{
    struct victim *v = p;

    v->on_exit_runs++;
    v->seen = v->self->exit;
}

/* Register victim_on_exit, then wait as arg's index says: 0 a receive,
 * 1 a 60 s sleep, 2 an fd nobody writes (fd in victim_fd). */
static struct victim victims[3];
static int victim_fd = -1;

static int
victim_actor(void *arg)
{
    struct victim *v = arg;
    ax_msg *m;

    v->self = ax__rt.current;
    if (ax_on_exit(victim_on_exit, v) < 0) {
        return 2;
    }
    if (v == &victims[0] && ax_recv(&m, AX_FOREVER) == 0) {
        ax_msg_free(m);
    } else if (v == &victims[1]) {
        ax_sleep(60000);
    } else if (v == &victims[2]) {
        ax_wait_fd(victim_fd, AX_READ, AX_FOREVER);
    }
    return 0;
}

/* Let the victims start, then make ax_run return. */
static int
stopper_actor(void *arg)
{
    (void)arg;
    ax_yield();
    ax_stop();
    return forever_actor(NULL);
}

static void
test_lifecycle_fini_kills_the_actors_left_and_runs_their_on_exit(void **state)
{
    ax_runtime_stats st;
    int p[2];

    (void)state;
    memset(victims, 0, sizeof(victims));
    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    victim_fd = p[0];
    assert_int_equal(ax_init(NULL), 0);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(ax_spawn(victim_actor, &victims[k], NULL, NULL), 0);
    }
    assert_int_equal(ax_spawn(stopper_actor, NULL, NULL, NULL), 0);
    assert_int_equal(ax_run(), 0); /* stopped */
    /* One more that never runs. */
    assert_int_equal(ax_spawn(forever_actor, NULL, NULL, NULL), 0);
    ax_runtime_stats_get(&st);
    assert_int_equal(st.actors, 5);
    ax_fini();
    for (int k = 0; k < 3; k++) {
        assert_int_equal(victims[k].on_exit_runs, 1);
        assert_int_equal(victims[k].seen.kind, AX_EXIT_KILLED);
        assert_int_equal(victims[k].seen.code, AX_KILL_SHUTDOWN);
    }
    /* Their timer and io watcher are stopped. */
    assert_int_equal(ev_run(ev_default_loop(0), EVRUN_NOWAIT), 0);
    close(p[0]);
    close(p[1]);
}

int
main(void)
{
    const struct CMUnitTest list[] = {
        cmocka_unit_test_setup_teardown(
            test_lifecycle_kill_in_recv_never_resumes_the_actor, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_kill_in_recv_with_timeout_stops_its_timer, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_kill_in_recv_match_never_resumes_the_actor, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_kill_in_sleep_stops_its_timer, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_kill_in_call_leaves_the_silent_callee_working,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_kill_in_wait_fd_stops_its_io_watcher, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_kill_in_wait_for_another_actor_ends_only_the_waiter,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_on_exit_runs_lifo_on_normal_return, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_on_exit_runs_lifo_on_exit_from_a_nested_function,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_on_exit_runs_lifo_on_kill_while_waiting, t_setup,
            t_teardown),
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
        cmocka_unit_test_setup_teardown(
            test_lifecycle_abnormal_exit_kills_a_chain_of_ten_thousand_links,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_trap_exit_gets_exit_messages_for_kill_and_return,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_unlink_stops_exit_propagation, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_demonitor_stops_the_down_message, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_demonitor_removes_a_queued_down_message, t_setup,
            t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_wait_twice_on_an_ended_actor_gives_its_reason,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_wait_that_times_out_leaves_no_down_message, t_setup,
            t_teardown),
    };
    /* A sender parked on a full mailbox of its own process: across
     * processes the receiving process stops reading its channel instead
     * (tests/actors/process_test.c checks that), so these run with
     * coroutine placement only. */
    const struct CMUnitTest local_only[] = {
        cmocka_unit_test_setup_teardown(
            test_lifecycle_killed_blocked_sender_leaves_the_waiting_senders,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_kill_of_a_full_receiver_lets_its_blocked_sender_go,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_on_exit_send_to_full_mailbox_fails_with_eagain,
            t_setup, t_teardown),
    };
    /* About this process (memory, stacks, forks, the runtime's own calls):
     * run once, whatever the placements of the list above. */
    const struct CMUnitTest once[] = {
        cmocka_unit_test_setup_teardown(
            test_lifecycle_hundred_thousand_spawned_actors_are_all_reaped,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_stack_overflow_dies_of_sigsegv_at_the_guard_page,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_run_reports_edeadlk_when_no_actor_can_ever_wake,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_recv_outside_an_actor_aborts_with_a_sentence,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_init_twice_fails_and_fini_without_init_is_safe,
            t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(
            test_lifecycle_fini_kills_the_actors_left_and_runs_their_on_exit,
            t_setup, t_teardown),
    };
    int failed = 0;

    th_main_setup();
    th_placement = AX_PLACE_COROUTINE;
    failed +=
        cmocka_run_group_tests_name("coroutine placement", list, NULL, NULL);
    failed += cmocka_run_group_tests_name("coroutine placement, capacity",
                                          local_only, NULL, NULL);
    th_placement = AX_PLACE_PROCESS;
    failed +=
        cmocka_run_group_tests_name("process placement", list, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("this process, once", once, NULL, NULL);
    return failed;
}
