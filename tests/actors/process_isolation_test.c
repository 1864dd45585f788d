/*
 * tests/actors/process_isolation_test.c - process actors: what a child does
 * not take from its parent: the coroutines it inherited, the framework's
 * fds other than its own channel, the parent's signal dispositions and
 * mask; and its death gives the parent EOF and EPIPE, not SIGPIPE.
 *
 * One test each of gipc's lessons (seeds/gipc-challenges.rst, DESIGN.md
 * invariants 1-7); process_util.h says how every body runs and checks.
 */
#include "process_util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* --- 1. haunted clones ---------------------------------------------------- */

/* Coroutines of the test process: each leaves one record when it runs. */
static int
marker_actor(void *arg)
{
    (void)arg;
    put_record(g_record_fd, 'M');
    return 0;
}

static int
sleeper_actor(void *arg)
{
    (void)arg;
    ax_sleep(300);
    put_record(g_record_fd, 'S');
    return 0;
}

/* The process actor: reports its OS pid, then gives whatever it might
 * have inherited every chance to run: loop turns, and a wait well past
 * the sleeper's timer. */
static int
bystander_actor(void *arg)
{
    (void)arg;
    ax_sendf(g_driver, "[s d]", "child", (int)getpid());
    for (int i = 0; i < 10; i++) {
        ax_sleep(1);
    }
    ax_sleep(600);
    return 0;
}

static int64_t
cpu_us(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
           ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/* Wait 500 ms in ax_sleep; report ["cpu", CPU time used meanwhile, wall
 * time] (microseconds). */
static int
idler_actor(void *arg)
{
    uint64_t t0 = t_now_ns();
    int64_t c0 = cpu_us();

    (void)arg;
    ax_sleep(500);
    ax_sendf(g_driver, "[s i i]", "cpu", cpu_us() - c0,
             (int64_t)((t_now_ns() - t0) / 1000));
    return 0;
}

static void
body_haunted_clones(void *arg)
{
    ax_spawn_opts co = coro_opts(), po = proc_opts();
    ax_pid sleeper, marker, child, idler;
    int64_t cpu = -1, wall = 0;
    int os = 0;

    (void)arg;
    g_driver = ax_self();
    co.monitor = po.monitor = true;
    sleeper = spawn(sleeper_actor, NULL, &co);
    ax_yield(); /* the sleeper runs and waits in ax_sleep */
    marker = spawn(marker_actor, NULL, &co); /* runnable, not run yet */
    child = spawn(bystander_actor, NULL, &po);
    /* The fork happens as the driver waits here: from the scheduler, with
     * the marker runnable and the sleeper's timer running. */
    if (expect_args("child", "[_ d]", &os) == 0) {
        TH_CHECK(os != getpid());
    }
    /* Woken by a frame, the driver runs with the scheduler's idle watcher
     * active: forked now, the idler's loop must still block when it waits
     * (a loop that inherited the count of active idle watchers spins). */
    idler = spawn(idler_actor, NULL, &po);
    if (expect_args("cpu", "[_ i i]", &cpu, &wall) == 0) {
        print_message("  a child waiting %lld ms used %lld ms of CPU\n",
                      (long long)wall / 1000, (long long)cpu / 1000);
        TH_CHECK(cpu * 10 < wall);
    }
    CHECK_REASON(join(idler), AX_EXIT_NORMAL, 0, 0);
    CHECK_REASON(join(child), AX_EXIT_NORMAL, 0, 0);
    CHECK_REASON(join(marker), AX_EXIT_NORMAL, 0, 0);
    CHECK_REASON(join(sleeper), AX_EXIT_NORMAL, 0, 0);
}

/*
 * gipc's first bug: a coroutine that is runnable, or waiting on a timer,
 * when the process forks must never run in the child. Each one writes one
 * record with its getpid(); a clone that ran in the child would add a
 * record with the child's pid.
 */
static void
test_process_child_never_runs_the_coroutines_it_inherited(void **state)
{
    char got[256], want[64];
    int p[2];

    (void)state;
    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    g_record_fd = p[1];
    run(body_haunted_clones, NULL);
    close(p[1]);
    read_all(p[0], got, sizeof(got));
    close(p[0]);
    snprintf(want, sizeof(want), "M%ld\nS%ld\n", (long)getpid(),
             (long)getpid());
    assert_string_equal(got, want);
}

/* --- 2. fd hygiene ----------------------------------------------------------
 */

/* Whether some fd of l is target. */
static bool
fds_has_target(const fd_list *l, const char *target)
{
    for (int i = 0; i < l->n; i++) {
        if (strcmp(l->e[i].target, target) == 0) {
            return true;
        }
    }
    return false;
}

/* "fd mode target" lines, for a message. Returns the length. */
static size_t
fds_format(const fd_list *l, char *buf, size_t size)
{
    size_t off = 0;

    buf[0] = '\0';
    for (int i = 0; i < l->n; i++) {
        int n = snprintf(buf + off, size - off, "%d %c %s\n", l->e[i].fd,
                         l->e[i].mode, l->e[i].target);

        if (n < 0 || (size_t)n >= size - off) {
            break;
        }
        off += (size_t)n;
    }
    return off;
}

static void
fds_parse(const char *text, size_t len, fd_list *l)
{
    static char copy[32768];
    char *line, *save = NULL;

    len = len < sizeof(copy) - 1 ? len : sizeof(copy) - 1;
    memcpy(copy, text, len);
    copy[len] = '\0';
    l->n = 0;
    for (line = strtok_r(copy, "\n", &save); line != NULL && l->n < MAX_FDS;
         line = strtok_r(NULL, "\n", &save)) {
        fd_ent *f = &l->e[l->n];

        if (sscanf(line, "%d %c %95[^\n]", &f->fd, &f->mode, f->target) == 3) {
            l->n++;
        }
    }
}

/* The user's pipes: O_CLOEXEC ends, then plain ends. */
static int g_user_fds[4];

static bool
is_user_fd(int fd)
{
    for (int i = 0; i < 4; i++) {
        if (g_user_fds[i] == fd) {
            return true;
        }
    }
    return false;
}

/* Report the process's fds: ["fds", text] (see fds_format). */
static int
fd_report_actor(void *arg)
{
    static fd_list l;
    static char text[16384];
    size_t len;

    (void)arg;
    fds_snapshot(&l);
    len = fds_format(&l, text, sizeof(text));
    ax_sendf(g_driver, "[s S]", "fds", text, len);
    return 0;
}

static fd_list g_pre, g_child, g_after;

/* The channels of this test's children are socket pairs (fds run short). */
static bool g_sock;

/* Process actors whose pipes make the fds run short. */
#define CROWD 8

static bool
is_socket(const fd_ent *e)
{
    return strncmp(e->target, "socket:", 7) == 0;
}

/*
 * What the child may hold: the fds main() began with and the user's pipes
 * (fork semantics: O_CLOEXEC acts at exec, not at fork), its own channel
 * (two pipe ends, one each way, of two pipes the parent did not have
 * before this spawn, each held once; or, once the parent's channels hold
 * an eighth of its fd limit, one socket of a pair: `sock`), and its fresh
 * loop's epoll fd and eventfd. Nothing else: no other child's channel, not the
 * parent's ends of its own channel, not the parent's loop.
 */
static void
check_child_fds(const fd_list *child, const fd_list *pre, bool sock)
{
    const fd_ent *pipes[2] = {NULL, NULL};
    int user = 0, npipe = 0, nsock = 0, epoll = 0, anon = 0;

    struct rlimit lim;

    getrlimit(RLIMIT_NOFILE, &lim); /* fds_snapshot sees those below it */
    for (int i = 0; i < g_base.n; i++) {
        const fd_ent *c = fds_find(child, g_base.e[i].fd);

        if ((rlim_t)g_base.e[i].fd >= lim.rlim_cur) {
            continue;
        }
        if (c == NULL || strcmp(c->target, g_base.e[i].target) != 0) {
            th_fail(__FILE__, __LINE__,
                    "the child lost fd %d -> %s that main() began with",
                    g_base.e[i].fd, g_base.e[i].target);
        }
    }
    for (int i = 0; i < child->n; i++) {
        const fd_ent *e = &child->e[i];

        if (is_user_fd(e->fd)) {
            const fd_ent *p = fds_find(pre, e->fd);

            TH_CHECK(p != NULL && strcmp(p->target, e->target) == 0);
            user++;
        } else if (is_base_fd(e)) {
            continue;
        } else if (is_pipe(e)) {
            if (npipe < 2) {
                pipes[npipe] = e;
            }
            npipe++;
            if (fds_has_target(pre, e->target)) {
                th_fail(__FILE__, __LINE__,
                        "the child holds fd %d -> %s, a pipe of the parent's "
                        "from before its spawn",
                        e->fd, e->target);
            }
        } else if (is_socket(e)) {
            nsock++;
            if (fds_has_target(pre, e->target)) {
                th_fail(__FILE__, __LINE__,
                        "the child holds fd %d -> %s, a socket of the "
                        "parent's from before its spawn",
                        e->fd, e->target);
            }
        } else if (strcmp(e->target, "anon_inode:[eventpoll]") == 0) {
            epoll++;
        } else if (strcmp(e->target, "anon_inode:[eventfd]") == 0) {
            anon++;
        } else {
            th_fail(__FILE__, __LINE__, "the child holds fd %d -> %s", e->fd,
                    e->target);
        }
    }
    TH_CHECK_INT(user, 4);
    TH_CHECK_INT(npipe, sock ? 0 : 2);
    TH_CHECK_INT(nsock, sock ? 1 : 0);
    TH_CHECK_INT(epoll, 1);
    TH_CHECK(anon <= 1);
    if (npipe == 2) { /* one end of each of two pipes, one each way */
        TH_CHECK(strcmp(pipes[0]->target, pipes[1]->target) != 0);
        TH_CHECK((pipes[0]->mode == 'r' && pipes[1]->mode == 'w') ||
                 (pipes[0]->mode == 'w' && pipes[1]->mode == 'r'));
    }
}

/* In the parent, after its forks: no channel pipe of which it holds both
 * ends (it closed each child's ends); nsock channel sockets (one per
 * child whose channel is a socket pair, not two: the child's end is
 * closed here). */
static void
check_parent_fds(const fd_list *l, const fd_list *pre, int nsock_want)
{
    int nsock = 0;

    for (int i = 0; i < l->n; i++) {
        const fd_ent *e = &l->e[i];

        nsock += is_socket(e) && !is_user_fd(e->fd) && !is_base_fd(e) &&
                 !fds_has_target(pre, e->target);
        if (!is_pipe(e) || is_user_fd(e->fd) || is_base_fd(e)) {
            continue;
        }
        for (int j = i + 1; j < l->n; j++) {
            if (strcmp(l->e[j].target, e->target) == 0) {
                th_fail(__FILE__, __LINE__,
                        "the parent holds both ends of %s (fds %d and %d)",
                        e->target, e->fd, l->e[j].fd);
            }
        }
    }
    TH_CHECK_INT(nsock, nsock_want);
}

static void
body_fd_hygiene(void *arg)
{
    ax_spawn_opts o = proc_opts();
    ax_pid early, inspector, late;
    const char *text;
    size_t len;
    ax_msg *m;

    (void)arg;
    g_driver = ax_self();
    o.monitor = true;
    early = spawn(blocked_actor, NULL, &o);
    ax_msg_free(expect_tag("up")); /* forked: its channel is the parent's */
    fds_snapshot(&g_pre);
    inspector = spawn(fd_report_actor, NULL, &o);
    late = spawn(blocked_actor, NULL, &o); /* forks right after it */
    if ((m = expect_tag("fds")) != NULL) {
        TH_CHECK_INT(ax_msg_unpack(m, "[_ S]", &text, &len), 0);
        fds_parse(text, len, &g_child);
        ax_msg_free(m);
        check_child_fds(&g_child, &g_pre, g_sock);
    }
    ax_msg_free(expect_tag("up"));
    fds_snapshot(&g_after);
    check_parent_fds(&g_after, &g_pre, g_sock ? 2 : 0); /* inspector, late */
    ax_sendf(early, "[s]", "stop");
    ax_sendf(late, "[s]", "stop");
    CHECK_REASON(join(inspector), AX_EXIT_NORMAL, 0, 0);
    CHECK_REASON(join(early), AX_EXIT_NORMAL, 0, 0);
    CHECK_REASON(join(late), AX_EXIT_NORMAL, 0, 0);
}

/*
 * Every framework fd lives in exactly one process: the child of a parent
 * that has another child's channel open (and a third child's pipes made
 * in the same turn) holds only its own channel ends; the parent holds
 * only its own ends. The user's fds stay in the child, O_CLOEXEC or not.
 */
static void
test_process_child_keeps_only_its_own_channel_of_the_framework_fds(void **state)
{
    (void)state;
    assert_int_equal(pipe2(&g_user_fds[0], O_CLOEXEC), 0);
    assert_int_equal(pipe(&g_user_fds[2]), 0);
    run(body_fd_hygiene, NULL);
    for (int i = 0; i < 4; i++) {
        close(g_user_fds[i]);
        g_user_fds[i] = -1;
    }
}

/* Spawn n blocked process actors (their channels hold fds), then run the
 * hygiene body, then stop them. */
static void
body_crowded_hygiene(void *arg)
{
    ax_spawn_opts o = proc_opts();
    ax_pid crowd[CROWD];

    (void)arg;
    for (int i = 0; i < CROWD; i++) {
        crowd[i] = spawn(blocked_actor, NULL, &o);
    }
    body_fd_hygiene(NULL);
    for (int i = 0; i < CROWD; i++) {
        ax_sendf(crowd[i], "[s]", "stop");
        CHECK_REASON(join(crowd[i]), AX_EXIT_NORMAL, 0, 0);
    }
}

/*
 * With the fd limit low (64: the channels of CROWD process actors hold a
 * good part of it), a process actor's channel is one socket in each
 * process instead of two pipes, and the same hygiene holds.
 */
static void
test_process_channel_is_one_socket_when_fds_run_short(void **state)
{
    struct rlimit was, low;

    (void)state;
    if (!th_rings()) {
        skip(); /* AXON_CARRIER=pipes: always pipes */
    }
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &was), 0);
    low = was;
    low.rlim_cur = 64;
    assert_int_equal(pipe2(&g_user_fds[0], O_CLOEXEC), 0);
    assert_int_equal(pipe(&g_user_fds[2]), 0);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    g_sock = true;
    run(body_crowded_hygiene, NULL);
    g_sock = false;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
    for (int i = 0; i < 4; i++) {
        close(g_user_fds[i]);
        g_user_fds[i] = -1;
    }
}

/* --- 3. signals in the child ---------------------------------------------- */

static void
on_signal_noop(int sig)
{
    (void)sig;
}

/* Append "<prefix><v><suffix> " to buf. */
static void
append(char *buf, size_t size, size_t *off, const char *prefix, int v,
       const char *suffix)
{
    int n = snprintf(buf + *off, size - *off, "%s%d%s ", prefix, v, suffix);

    if (n > 0 && (size_t)n < size - *off) {
        *off += (size_t)n;
    }
}

/* "<sig>=ign " / "<sig>=fn " for each disposition that is not SIG_DFL,
 * "b<sig> " for each blocked signal, in signal order. */
static void
describe_signals(char *buf, size_t size)
{
    struct sigaction sa;
    sigset_t mask;
    size_t off = 0;

    buf[0] = '\0';
    sigprocmask(SIG_BLOCK, NULL, &mask);
    for (int s = 1; s < NSIG; s++) {
        if (sigaction(s, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL) {
            append(buf, size, &off, "", s,
                   sa.sa_handler == SIG_IGN ? "=ign" : "=fn");
        }
        if (sigismember(&mask, s) == 1) {
            append(buf, size, &off, "b", s, "");
        }
    }
}

static int
signals_actor(void *arg)
{
    static char text[1024];

    (void)arg;
    describe_signals(text, sizeof(text));
    ax_sendf(g_driver, "[s s]", "sigs", text);
    return 0;
}

static void
body_signals(void *arg)
{
    struct sigaction fn, ign, old[3];
    sigset_t usr2, old_mask;
    ax_spawn_opts o = proc_opts();
    char want[64];
    const char *text;
    size_t len;
    ax_msg *m;
    ax_pid pid;

    (void)arg;
    g_driver = ax_self();
    memset(&fn, 0, sizeof(fn));
    fn.sa_handler = on_signal_noop;
    sigemptyset(&fn.sa_mask);
    ign = fn;
    ign.sa_handler = SIG_IGN;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    /* The parent as an application may leave it at the fork. SIGPIPE gets
     * a handler: the child's SIG_IGN must be the reset's, not inherited. */
    sigaction(SIGUSR1, &fn, &old[0]);
    sigaction(SIGTERM, &ign, &old[1]);
    sigaction(SIGPIPE, &fn, &old[2]);
    sigprocmask(SIG_BLOCK, &usr2, &old_mask);
    o.monitor = true;
    pid = spawn(signals_actor, NULL, &o);
    m = expect_tag("sigs");
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGUSR1, &old[0], NULL);
    sigaction(SIGTERM, &old[1], NULL);
    sigaction(SIGPIPE, &old[2], NULL);
    /* Only SIGPIPE ignored, and the SIGCHLD handler of the child's fresh
     * libev loop; nothing blocked. */
    snprintf(want, sizeof(want), "%d=ign %d=fn ", SIGPIPE, SIGCHLD);
    if (m != NULL) {
        TH_CHECK_INT(ax_msg_unpack(m, "[_ S]", &text, &len), 0);
        if (len != strlen(want) || memcmp(text, want, len) != 0) {
            th_fail(__FILE__, __LINE__,
                    "child's signals: \"%.*s\", want \"%s\"", (int)len, text,
                    want);
        }
        ax_msg_free(m);
    }
    CHECK_REASON(join(pid), AX_EXIT_NORMAL, 0, 0);
}

/*
 * The child starts with default dispositions and an empty mask whatever
 * the parent had set (a SIGUSR1 handler, SIGTERM ignored, SIGUSR2
 * blocked, a SIGPIPE handler), and with SIGPIPE ignored.
 */
static void
test_process_child_starts_with_default_signals_and_sigpipe_ignored(void **state)
{
    (void)state;
    run(body_signals, NULL);
}

/* --- 4. EOF and EPIPE when a child dies ------------------------------------
 */

/* Report ["os", getpid()], then take messages forever. */
static int
sink_actor(void *arg)
{
    ax_msg *m;

    (void)arg;
    ax_sendf(g_driver, "[s d]", "os", (int)getpid());
    while (ax_recv(&m, AX_FOREVER) == 0) {
        ax_msg_free(m);
    }
    return 1;
}

/* Wait, without running the loop, until child os has died; it stays
 * unreaped (WNOWAIT): reaping is the runtime's business. */
static bool
dead_unreaped(pid_t os, int ms)
{
    uint64_t t0 = t_now_ns();
    siginfo_t si;

    while (ms_since(t0) < ms) {
        memset(&si, 0, sizeof(si));
        if (waitid(P_PID, (id_t)os, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            si.si_pid == os) {
            return true;
        }
        usleep(1000);
    }
    return false;
}

static void
stream(ax_pid to, int64_t from, int64_t to_seq)
{
    static char payload[1024];
    int bad = 0;

    for (int64_t i = from; i < to_seq; i++) {
        bad += ax_sendf(to, "[s i B]", "d", i, payload, sizeof(payload)) != 0;
    }
    TH_CHECK_INT(bad, 0);
}

static void
body_dead_reader(void *arg)
{
    ax_spawn_opts o = proc_opts();
    ax_runtime_stats st0, st1;
    struct sigaction sa;
    ax_pid sink;
    uint64_t t_kill;
    int64_t down_ms;
    ax_msg *m;
    int os = 0;

    (void)arg;
    g_driver = ax_self();
    o.monitor = true;
    sink = spawn(sink_actor, NULL, &o);
    if (expect_args("os", "[_ d]", &os) < 0) {
        return;
    }
    /* main() left SIGPIPE at SIG_DFL: the first channel ignored it. */
    TH_CHECK(sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN);
    stream(sink, 0, 1000);
    TH_CHECK_INT(kill(os, SIGKILL), 0);
    t_kill = t_now_ns();
    TH_CHECK(dead_unreaped(os, WAIT_MS));
    /* Its read end is closed: these fill the channel and meet EPIPE. */
    stream(sink, 1000, 4000);
    CHECK_REASON(expect_down(sink, NULL), AX_EXIT_SIGNAL, 0, SIGKILL);
    down_ms = ms_since(t_kill);
    print_message("  DOWN %lld ms after the SIGKILL\n", (long long)down_ms);
    /* The parent read EOF: without it the DOWN would wait for the 2 s
     * linger of a reaped child whose channel never ended. */
    TH_CHECK(down_ms < 1500);
    ax_runtime_stats_get(&st0);
    TH_CHECK_INT(ax_sendf(sink, "[s]", "late"), 0);
    ax_runtime_stats_get(&st1);
    TH_CHECK_INT(st1.dead_letters, st0.dead_letters + 1);
    if (ax_msg_pack(&m, "[s]", "late") == 0) {
        TH_CHECK_INT(ax_send_checked(sink, m), AX_ESRCH);
        ax_msg_free(m);
    }
}

/*
 * A child SIGKILLed while the driver streams 1 KiB messages to it: the
 * parent's writes meet EPIPE (SIGPIPE is ignored, the test process lives),
 * sends keep returning 0 (dead letters), the parent reads EOF and the
 * driver gets a DOWN with signal 9.
 */
static void
test_process_killed_reader_gives_eof_and_epipe_not_sigpipe(void **state)
{
    (void)state;
    run(body_dead_reader, NULL);
}

/* --- main --------------------------------------------------------------- */

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_process_child_never_runs_the_coroutines_it_inherited),
        T(test_process_child_keeps_only_its_own_channel_of_the_framework_fds),
        T(test_process_channel_is_one_socket_when_fds_run_short),
        T(test_process_child_starts_with_default_signals_and_sigpipe_ignored),
        T(test_process_killed_reader_gives_eof_and_epipe_not_sigpipe),
    };

    return process_test_main(tests, sizeof(tests) / sizeof(tests[0]));
}
