/*
 * tests/actors/process_test.c - process actors: gipc's lessons
 * (seeds/gipc-challenges.rst, DESIGN.md invariants 1-7), one test each.
 *
 * Every body runs in the harness's driver, a coroutine actor of the test
 * process, and spawns the actors under test with AX_PLACE_PROCESS. Actors
 * in other processes answer only with messages or their exit reason; what
 * they get from the test process (g_driver, a job table, an fd number) is
 * input, copied into them by the fork and never written afterwards. The
 * test process checks with TH_CHECK in the driver or asserts after
 * th_run; every test ends with no fd left open and no child unreaped
 * (t_setup/t_teardown).
 *
 * Under valgrind every forked child is a valgrinded process too: the
 * counts of forks and messages are scaled down there, and said so.
 */
#include "support/actor_harness.h"
#include "base/sanitizers.h"

#include <dirent.h>
#include <ev.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if AX_ASAN
/* <sanitizer/allocator_interface.h> is clang's; GCC's runtime has it. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* The limit of waits that normally take milliseconds. */
#define WAIT_MS (RUNNING_ON_VALGRIND ? 60000 : 20000)

#define KIB 1024L
#define MIB (1024L * 1024L)

/* Frame kind of a message on the wire (docs/wire.md, "Actor frames"). */
#define WIRE_K_MSG 1

/*
 * The driver's address: set by each body before it spawns anything, so a
 * child gets it at its fork.
 */
static ax_pid g_driver;

/* --- fds, as /proc/self/fd shows them ------------------------------------ */

typedef struct fd_ent {
    int fd;
    char mode; /* 'r', 'w' (pipe ends) or 'b' (both) */
    char target[96];
} fd_ent;

#define MAX_FDS 512

typedef struct fd_list {
    int n;
    fd_ent e[MAX_FDS];
} fd_list;

/* This process's fds when main() began: stdio, and whatever the launcher
 * (ctest, valgrind) left open. Children inherit them; they are not ours. */
static fd_list g_base;

/*
 * The fds of this process, without those at or above its RLIMIT_NOFILE:
 * valgrind keeps its own fds there (and makes new ones in a child).
 */
static void
fds_snapshot(fd_list *l)
{
    DIR *d = opendir("/proc/self/fd");
    struct rlimit lim;
    struct dirent *de;

    l->n = 0;
    if (d == NULL || getrlimit(RLIMIT_NOFILE, &lim) < 0) {
        if (d != NULL) {
            closedir(d);
        }
        return;
    }
    while ((de = readdir(d)) != NULL && l->n < MAX_FDS) {
        fd_ent *f = &l->e[l->n];
        char path[64];
        ssize_t len;
        int fl;

        f->fd = atoi(de->d_name);
        if (de->d_name[0] == '.' || f->fd == dirfd(d) ||
            (rlim_t)f->fd >= lim.rlim_cur) {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/self/fd/%d", f->fd);
        len = readlink(path, f->target, sizeof(f->target) - 1);
        if (len < 0) {
            continue;
        }
        f->target[len] = '\0';
        fl = fcntl(f->fd, F_GETFL);
        f->mode = fl < 0                         ? '?'
                  : (fl & O_ACCMODE) == O_RDONLY ? 'r'
                  : (fl & O_ACCMODE) == O_WRONLY ? 'w'
                                                 : 'b';
        l->n++;
    }
    closedir(d);
}

static const fd_ent *
fds_find(const fd_list *l, int fd)
{
    for (int i = 0; i < l->n; i++) {
        if (l->e[i].fd == fd) {
            return &l->e[i];
        }
    }
    return NULL;
}

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

/* Whether e is one of the fds main() began with (same fd, same file). */
static bool
is_base_fd(const fd_ent *e)
{
    const fd_ent *b = fds_find(&g_base, e->fd);

    return b != NULL && strcmp(b->target, e->target) == 0;
}

static bool
is_pipe(const fd_ent *e)
{
    return strncmp(e->target, "pipe:", 5) == 0;
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

/* --- records: lines "<tag><getpid()>" written to a pipe ------------------- */

static int g_record_fd = -1;

static void
put_record(int fd, char tag)
{
    char rec[32];
    int n = snprintf(rec, sizeof(rec), "%c%ld\n", tag, (long)getpid());

    if (write(fd, rec, (size_t)n) != n) {
        /* the test misses this record and says so */
    }
}

/* Everything the (nonblocking) read end holds, NUL-terminated. */
static void
read_all(int fd, char *buf, size_t size)
{
    size_t off = 0;
    ssize_t n;

    while (off < size - 1 && (n = read(fd, buf + off, size - 1 - off)) > 0) {
        off += (size_t)n;
    }
    buf[off] = '\0';
}

/* --- small helpers ---------------------------------------------------------
 */

static ax_spawn_opts
proc_opts(void)
{
    ax_spawn_opts o;

    memset(&o, 0, sizeof(o));
    o.placement = AX_PLACE_PROCESS;
    return o;
}

static ax_spawn_opts
coro_opts(void)
{
    ax_spawn_opts o = proc_opts();

    o.placement = AX_PLACE_COROUTINE;
    return o;
}

static int64_t
ms_since(uint64_t t0)
{
    return (int64_t)((t_now_ns() - t0) / 1000000u);
}

/* Never return to the loop: frames on the channel go unread. */
_Noreturn static void
deaf_forever(void)
{
    for (;;) {
        pause();
    }
}

static void
no_core_dumps(void)
{
    struct rlimit none = {0, 0};

    setrlimit(RLIMIT_CORE, &none);
}

/* In the driver: the oldest message tagged tag (others stay queued), or
 * NULL after a failed check. */
static ax_msg *
expect_tag(const char *tag)
{
    ax_msg *m = NULL;
    int rc = ax_recv_match(tag, &m, WAIT_MS);

    if (rc < 0) {
        th_fail(__FILE__, __LINE__, "no \"%s\" message: %s", tag,
                ax_strerror(rc));
        return NULL;
    }
    return m;
}

/* expect_tag, then unpack it with fmt (no strings: it is freed). */
static int
expect_args(const char *tag, const char *fmt, ...)
{
    ax_msg *m = expect_tag(tag);
    va_list ap;
    int rc;

    if (m == NULL) {
        return -1;
    }
    va_start(ap, fmt);
    rc = ax_msg_vunpack(m, fmt, ap);
    va_end(ap);
    ax_msg_free(m);
    if (rc < 0) {
        th_fail(__FILE__, __LINE__, "\"%s\" does not match %s: %s", tag, fmt,
                ax_error_detail());
        return -1;
    }
    return 0;
}

static bool
is_down_of(const ax_msg *m, void *ud)
{
    ax_pid who;

    return ax_msg_has_tag(m, "DOWN") &&
           ax_down_msg_parse(m, NULL, &who, NULL) == 0 &&
           ax_pid_equal(who, *(const ax_pid *)ud);
}

static bool
is_exit_of(const ax_msg *m, void *ud)
{
    ax_pid who;

    return ax_msg_has_tag(m, "EXIT") && ax_exit_msg_parse(m, &who, NULL) == 0 &&
           ax_pid_equal(who, *(const ax_pid *)ud);
}

static const ax_exit_info no_info = {AX_EXIT_NOPROC, -1, -1, false};

/* The DOWN of pid (its monitor reference in *ref if not NULL). */
static ax_exit_info
expect_down(ax_pid pid, uint64_t *ref)
{
    ax_exit_info i = no_info;
    ax_msg *m;
    int rc = ax_recv_if(is_down_of, &pid, &m, WAIT_MS);

    if (rc < 0) {
        th_fail(__FILE__, __LINE__, "no DOWN: %s", ax_strerror(rc));
        return i;
    }
    TH_CHECK_INT(ax_down_msg_parse(m, ref, NULL, &i), 0);
    ax_msg_free(m);
    return i;
}

/* The EXIT of linked pid (the driver traps exits). */
static ax_exit_info
expect_exit(ax_pid pid)
{
    ax_exit_info i = no_info;
    ax_msg *m;
    int rc = ax_recv_if(is_exit_of, &pid, &m, WAIT_MS);

    if (rc < 0) {
        th_fail(__FILE__, __LINE__, "no EXIT: %s", ax_strerror(rc));
        return i;
    }
    TH_CHECK_INT(ax_exit_msg_parse(m, NULL, &i), 0);
    ax_msg_free(m);
    return i;
}

static ax_exit_info
join(ax_pid pid)
{
    ax_exit_info i = no_info;
    int rc = ax_wait(pid, &i, WAIT_MS);

    if (rc < 0) {
        th_fail(__FILE__, __LINE__, "ax_wait: %s", ax_strerror(rc));
    }
    return i;
}

/*
 * Every actor a body spawns goes through spawn(), which remembers it: when
 * the body returns, run() kills what is still alive, so that a failed
 * check ends the test instead of leaving th_run waiting for a child.
 */
static ax_pid g_spawned[64];
static int g_nspawned;

static void
remember(ax_pid pid)
{
    if (g_nspawned < 64) {
        g_spawned[g_nspawned++] = pid;
    }
}

static ax_pid
spawn(ax_actor_fn fn, void *arg, const ax_spawn_opts *o)
{
    ax_pid pid = AX_PID_NONE;
    int rc = ax_spawn(fn, arg, o, &pid);

    if (rc < 0) {
        th_fail(__FILE__, __LINE__, "ax_spawn: %s", ax_strerror(rc));
    } else {
        remember(pid);
    }
    return pid;
}

struct body {
    void (*fn)(void *arg);
    void *arg;
};

static void
run_body(void *p)
{
    const struct body *b = p;

    g_nspawned = 0;
    b->fn(b->arg);
    while (g_nspawned > 0) {
        ax_kill(g_spawned[--g_nspawned], -1); /* AX_ESRCH: it ended */
    }
}

static void
run(void (*fn)(void *arg), void *arg)
{
    struct body b = {fn, arg};

    th_run(run_body, &b);
}

/* Check an exit reason exactly (a core is never dumped here). */
#define CHECK_REASON(got, kind, code, sig)                                     \
    check_reason(__LINE__, #got, got, kind, code, sig)

static void
check_reason(int line, const char *what, ax_exit_info got, ax_exit_kind kind,
             int code, int sig)
{
    ax_exit_info want = {kind, code, sig, false};
    char g[64], w[64];

    if (got.kind != kind || got.code != code || got.signal != sig ||
        got.core_dumped) {
        th_fail(__FILE__, line, "%s is \"%s\", expected \"%s\"", what,
                ax_exit_describe(&got, g, sizeof(g)),
                ax_exit_describe(&want, w, sizeof(w)));
    }
}

/* --- actors used by several tests ---------------------------------------- */

/* Report ["up", getpid()], then wait for ["stop"]. */
static int
blocked_actor(void *arg)
{
    ax_msg *m;

    (void)arg;
    ax_sendf(g_driver, "[s d]", "up", (int)getpid());
    if (ax_recv_match("stop", &m, AX_FOREVER) == 0) {
        ax_msg_free(m);
    }
    return 0;
}

/* Answer ["ping", n] with ["pong", n] to the sender; stop on ["stop"]. */
static int
echo_actor(void *arg)
{
    ax_msg *m;
    int64_t n;

    (void)arg;
    while (ax_recv(&m, AX_FOREVER) == 0) {
        if (ax_msg_has_tag(m, "stop")) {
            ax_msg_free(m);
            return 0;
        }
        if (ax_msg_unpack(m, "[_ i]", &n) == 0) {
            ax_sendf(ax_msg_sender(m), "[s i]", "pong", n);
        }
        ax_msg_free(m);
    }
    return 1;
}

/* The driver pings a process echo actor: the runtime still works. */
static void
check_still_working(void)
{
    ax_spawn_opts o = proc_opts();
    ax_pid echo;
    int64_t n = -1;

    o.monitor = true;
    echo = spawn(echo_actor, NULL, &o);
    TH_CHECK_INT(ax_sendf(echo, "[s i]", "ping", (int64_t)42), 0);
    if (expect_args("pong", "[_ i]", &n) == 0) {
        TH_CHECK_INT(n, 42);
    }
    ax_sendf(echo, "[s]", "stop");
    CHECK_REASON(join(echo), AX_EXIT_NORMAL, 0, 0);
}

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

/*
 * What the child may hold: the fds main() began with and the user's pipes
 * (fork semantics: O_CLOEXEC acts at exec, not at fork), its own channel
 * (two pipe ends, one each way, of two pipes the parent did not have
 * before this spawn, each held once), and its fresh loop's epoll fd and
 * eventfd. Nothing else: no other child's channel, not the parent's ends
 * of its own channel, not the parent's loop.
 */
static void
check_child_fds(const fd_list *child, const fd_list *pre)
{
    const fd_ent *pipes[2] = {NULL, NULL};
    int user = 0, npipe = 0, epoll = 0, anon = 0;

    for (int i = 0; i < g_base.n; i++) {
        const fd_ent *c = fds_find(child, g_base.e[i].fd);

        TH_CHECK(c != NULL && strcmp(c->target, g_base.e[i].target) == 0);
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
    TH_CHECK_INT(npipe, 2);
    TH_CHECK_INT(epoll, 1);
    TH_CHECK(anon <= 1);
    if (npipe == 2) { /* one end of each of two pipes, one each way */
        TH_CHECK(strcmp(pipes[0]->target, pipes[1]->target) != 0);
        TH_CHECK((pipes[0]->mode == 'r' && pipes[1]->mode == 'w') ||
                 (pipes[0]->mode == 'w' && pipes[1]->mode == 'r'));
    }
}

/* In the parent, after its forks: no channel pipe of which it holds both
 * ends (it closed each child's ends). */
static void
check_parent_fds(const fd_list *l)
{
    for (int i = 0; i < l->n; i++) {
        const fd_ent *e = &l->e[i];

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
        check_child_fds(&g_child, &g_pre);
    }
    ax_msg_free(expect_tag("up"));
    fds_snapshot(&g_after);
    check_parent_fds(&g_after);
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

/* --- 5. exit reasons --------------------------------------------------------
 */

enum {
    END_RETURN_7,
    END_EXIT_300,
    END_SEGV,
    END_ABORT,
    END_SIGKILL,
    END_AX_KILL_5,
    END_COUNT
};

/* A NULL store the sanitizers do not intercept: a real SIGSEGV. */
__attribute__((no_sanitize("address", "undefined"))) static void
null_store(void)
{
    int *volatile p = NULL;

    *p = 1;
}

/* Report ["ready", getpid()], wait for ["go"], then end as arg says. */
static int
victim_actor(void *arg)
{
    ax_msg *m;

    no_core_dumps();
    ax_sendf(g_driver, "[s d]", "ready", (int)getpid());
    if (ax_recv_match("go", &m, AX_FOREVER) < 0) {
        return 99;
    }
    ax_msg_free(m);
    switch ((int)(intptr_t)arg) {
    case END_RETURN_7:
        return 7;
    case END_EXIT_300:
        ax_exit(300);
    case END_SEGV:
        null_store();
        return 98;
    case END_ABORT:
        abort();
    default: /* ended from outside while it waits */
        return th_blocked_actor(NULL);
    }
}

static void
body_exit_reasons(void *arg)
{
    static const struct {
        ax_exit_kind kind;
        int code, sig;
    } want[END_COUNT] = {
        [END_RETURN_7] = {AX_EXIT_ERROR, 7, 0},
        [END_EXIT_300] = {AX_EXIT_ERROR, 300, 0},
        [END_SEGV] = {AX_EXIT_SIGNAL, 0, SIGSEGV},
        [END_ABORT] = {AX_EXIT_SIGNAL, 0, SIGABRT},
        [END_SIGKILL] = {AX_EXIT_SIGNAL, 0, SIGKILL},
        [END_AX_KILL_5] = {AX_EXIT_KILLED, 5, 0},
    };

    (void)arg;
    g_driver = ax_self();
    ax_trap_exit(true);
    for (int k = 0; k < END_COUNT; k++) {
        ax_spawn_opts o = proc_opts();
        uint64_t r1 = 0, r2 = 0, r = 0;
        ax_exit_info i = no_info;
        ax_pid v;
        int os = 0;

        o.monitor = o.link = true;
        o.monitor_ref = &r1;
        v = spawn(victim_actor, (void *)(intptr_t)k, &o);
        TH_CHECK_INT(ax_monitor(v, &r2), 0); /* a second monitor */
        if (expect_args("ready", "[_ d]", &os) < 0) {
            continue;
        }
        ax_sendf(v, "[s]", "go");
        if (k == END_SIGKILL) {
            TH_CHECK_INT(kill(os, SIGKILL), 0);
        } else if (k == END_AX_KILL_5) {
            TH_CHECK_INT(ax_kill(v, 5), 0);
        }
        /* ax_wait takes one of the two monitors, a DOWN comes for the
         * other, an EXIT for the link. */
        TH_CHECK_INT(ax_wait(v, &i, WAIT_MS), 0);
        check_reason(__LINE__, "ax_wait", i, want[k].kind, want[k].code,
                     want[k].sig);
        i = expect_down(v, &r);
        check_reason(__LINE__, "DOWN", i, want[k].kind, want[k].code,
                     want[k].sig);
        TH_CHECK(r != 0 && (r == r1 || r == r2));
        i = expect_exit(v);
        check_reason(__LINE__, "EXIT", i, want[k].kind, want[k].code,
                     want[k].sig);
    }
}

/*
 * A process actor's end reaches its monitors, its joiner and its linked
 * actor exactly: return 7 is error 7; ax_exit(300) is error 300 (not the
 * 8-bit exit status 44); a NULL store is signal 11; abort() is signal 6;
 * a SIGKILL from outside is signal 9; ax_kill(pid, 5) is killed 5.
 */
static void
test_process_exit_reasons_arrive_exactly_by_monitor_wait_and_link(void **state)
{
    (void)state;
    run(body_exit_reasons, NULL);
}

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
    ev_timer_init(&tick, on_tick, 0.01, 0.02);
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

/* --- 9. promotion ------------------------------------------------------------
 */

#define MOVER_NAME "proc-test-mover"

/* Report ["ready", getpid()]; on ["promote"] (taken out of order: the
 * numbered messages stay unread) move to a new process and report
 * ["moved", getpid(), ax_self()]; then check the order of ["n", i],
 * answer calls with ["here", getpid()], and on ["exit", code] report
 * ["order", count, bad] and exit with code. */
static int
mover_actor(void *arg)
{
    int64_t n, got = 0, bad = 0;
    ax_msg *m, *r;
    int rc, code;

    (void)arg;
    ax_sendf(g_driver, "[s d]", "ready", (int)getpid());
    if (ax_recv_match("promote", &m, AX_FOREVER) < 0) {
        return 2;
    }
    ax_msg_free(m);
    rc = ax_promote();
    if (rc < 0) {
        ax_sendf(g_driver, "[s d]", "failed", rc);
        return 3;
    }
    ax_sendf(g_driver, "[s d p]", "moved", (int)getpid(), ax_self());
    while (ax_recv(&m, AX_FOREVER) == 0) {
        if (ax_msg_is_call(m)) {
            if (ax_msg_pack(&r, "[s d]", "here", (int)getpid()) == 0 &&
                ax_reply(m, r) < 0) {
                ax_msg_free(r);
            }
        } else if (ax_msg_has_tag(m, "n") &&
                   ax_msg_unpack(m, "[_ i]", &n) == 0) {
            bad += n != got++;
        } else if (ax_msg_has_tag(m, "exit") &&
                   ax_msg_unpack(m, "[_ d]", &code) == 0) {
            ax_msg_free(m);
            ax_sendf(g_driver, "[s i i]", "order", got, bad);
            ax_exit(code);
        }
        ax_msg_free(m);
    }
    return 4;
}

static void
send_numbers(ax_pid to, int64_t from, int64_t to_n)
{
    for (int64_t i = from; i < to_n; i++) {
        TH_CHECK_INT(ax_sendf(to, "[s i]", "n", i), 0);
    }
}

static void
body_promotion(void *arg)
{
    ax_spawn_opts o = coro_opts();
    ax_pid mover, there = AX_PID_NONE, found = AX_PID_NONE;
    uint64_t ref = 0, dref = 0;
    int64_t got = -1, bad = -1;
    int os = 0, os2 = 0, os3 = 0;
    ax_msg *m, *req, *reply;

    (void)arg;
    g_driver = ax_self();
    ax_trap_exit(true);
    o.name = MOVER_NAME;
    o.monitor = o.link = true;
    o.monitor_ref = &ref;
    mover = spawn(mover_actor, NULL, &o);
    if (expect_args("ready", "[_ d]", &os) == 0) {
        TH_CHECK_INT(os, getpid()); /* a coroutine of the test process */
    }
    send_numbers(mover, 0, 100); /* before: unread when it promotes */
    ax_sendf(mover, "[s]", "promote");
    ax_yield();                    /* it promotes now */
    send_numbers(mover, 100, 200); /* during: its process is starting */
    if ((m = expect_tag("moved")) != NULL) {
        TH_CHECK_INT(ax_msg_unpack(m, "[_ d p]", &os2, &there), 0);
        TH_CHECK(os2 != getpid());
        TH_CHECK(ax_pid_equal(there, mover));
        TH_CHECK(ax_pid_equal(ax_msg_sender(m), mover));
        ax_msg_free(m);
    }
    send_numbers(mover, 200, 300); /* after */
    TH_CHECK_INT(ax_whereis(MOVER_NAME, &found), 0);
    TH_CHECK(ax_pid_equal(found, mover));
    if (ax_msg_pack(&req, "[s]", "where") == 0 &&
        ax_call(mover, req, &reply, WAIT_MS) == 0) {
        TH_CHECK(ax_pid_equal(ax_msg_sender(reply), mover));
        TH_CHECK_INT(ax_msg_unpack(reply, "[_ d]", &os3), 0);
        TH_CHECK_INT(os3, os2);
        ax_msg_free(reply);
    } else {
        TH_CHECK(!"the call failed");
    }
    ax_sendf(mover, "[s d]", "exit", 1234);
    if (expect_args("order", "[_ i i]", &got, &bad) == 0) {
        TH_CHECK_INT(got, 300);
        TH_CHECK_INT(bad, 0);
    }
    CHECK_REASON(expect_down(mover, &dref), AX_EXIT_ERROR, 1234, 0);
    TH_CHECK(dref == ref);
    CHECK_REASON(expect_exit(mover), AX_EXIT_ERROR, 1234, 0);
    TH_CHECK_INT(ax_whereis(MOVER_NAME, NULL), AX_ENOENT);
}

/*
 * ax_promote moves a coroutine actor with 100 unread messages into a new
 * process: the 300 messages sent before, during and after arrive there
 * in order; its address is the same (ax_self(), the sender of its
 * messages and replies); the monitor and the link made before the move
 * get its exact exit (error 1234); its name resolves to it, then dies
 * with it.
 */
static void
test_process_promotion_keeps_order_address_monitor_link_and_name(void **state)
{
    (void)state;
    run(body_promotion, NULL);
}

/* Wait for ["promote"], move, answer one ["ping", from] with
 * ["pong", getpid()] from the new process, end. */
static int
promote_once_actor(void *arg)
{
    ax_msg *m;

    (void)arg;
    if (ax_recv_match("promote", &m, AX_FOREVER) < 0) {
        return 2;
    }
    ax_msg_free(m);
    if (ax_promote() < 0) {
        return 3;
    }
    if (ax_recv_match("ping", &m, AX_FOREVER) < 0) {
        return 4;
    }
    ax_sendf(ax_msg_sender(m), "[s d]", "pong", (int)getpid());
    ax_msg_free(m);
    return 0;
}

static void
body_promotion_loop(void *arg)
{
    /* Under valgrind every fork is a valgrinded process: fewer rounds. */
    int rounds = RUNNING_ON_VALGRIND ? 20 : 300, answered = 0;
    ax_spawn_opts o = coro_opts();
    uint64_t t0 = t_now_ns();

    (void)arg;
    g_driver = ax_self();
    o.monitor = true;
    for (int k = 0; k < rounds; k++) {
        ax_pid p = AX_PID_NONE;
        ax_msg *m;
        int os = 0;

        if (ax_spawn(promote_once_actor, NULL, &o, &p) < 0) {
            TH_CHECK(!"spawn failed");
            return;
        }
        ax_yield(); /* it waits, idle, as in the benchmark */
        TH_CHECK_INT(ax_sendf(p, "[s]", "promote"), 0);
        TH_CHECK_INT(ax_sendf(p, "[s p]", "ping", ax_self()), 0);
        m = expect_tag("pong");
        if (m == NULL) {
            ax_kill(p, -1);
            break;
        }
        TH_CHECK_INT(ax_msg_unpack(m, "[_ d]", &os), 0);
        TH_CHECK(os != getpid()); /* answered from the new process */
        ax_msg_free(m);
        CHECK_REASON(join(p), AX_EXIT_NORMAL, 0, 0);
        answered++;
    }
    TH_CHECK_INT(answered, rounds);
    print_message("  %d promotions answered in %lld ms\n", rounds,
                  (long long)ms_since(t0));
}

/*
 * Promotion after promotion, each answered from the new process: the
 * reply written by a child that exits right away is never lost (it was,
 * about once in 200 promotions, when a write error on the pipe to an
 * exited child ended the peer before its last frames were read).
 */
static void
test_process_promotion_repeated_never_loses_a_reply(void **state)
{
    (void)state;
    run(body_promotion_loop, NULL);
}

/* Mailbox of 2: wait for ["promote"] (taken out of order), move, then
 * count ["n", i] in order up to FULL_N and report ["counted", got, bad]. */
#define FULL_N 10

static int
full_mover_actor(void *arg)
{
    int64_t n, got = 0, bad = 0;
    ax_msg *m;

    (void)arg;
    if (ax_recv_match("promote", &m, AX_FOREVER) < 0) {
        return 2;
    }
    ax_msg_free(m);
    if (ax_promote() < 0) {
        return 3;
    }
    while (got < FULL_N && ax_recv_match("n", &m, WAIT_MS) == 0) {
        if (ax_msg_unpack(m, "[_ i]", &n) == 0) {
            bad += n != got;
        }
        got++;
        ax_msg_free(m);
    }
    ax_sendf(g_driver, "[s i i]", "counted", got, bad);
    return 0;
}

/* Send ["n", 0..FULL_N) to the actor in arg; report ["sent"]. */
static int
filler_actor(void *arg)
{
    ax_pid to = *(const ax_pid *)arg;

    for (int64_t i = 0; i < FULL_N; i++) {
        if (ax_sendf(to, "[s i]", "n", i) < 0) {
            return 2;
        }
    }
    ax_sendf(g_driver, "[s]", "sent");
    return 0;
}

static void
body_promotion_full(void *arg)
{
    ax_spawn_opts o = coro_opts();
    ax_pid mover, filler;
    int64_t got = -1, bad = -1;
    ax_msg *m;

    (void)arg;
    g_driver = ax_self();
    o.mailbox_capacity = 2;
    o.monitor = true;
    mover = spawn(full_mover_actor, NULL, &o);
    filler = spawn(filler_actor, &mover, &o);
    ax_sleep(50); /* the filler fills the mailbox and waits for room */
    TH_CHECK_INT(ax_recv(&m, 0), AX_ETIMEDOUT); /* not all sent yet */
    TH_CHECK_INT(ax_sendf(mover, "[s]", "promote"), 0);
    if ((m = expect_tag("sent")) != NULL) {
        ax_msg_free(m);
    }
    if (expect_args("counted", "[_ i i]", &got, &bad) == 0) {
        TH_CHECK_INT(got, FULL_N);
        TH_CHECK_INT(bad, 0);
    }
    CHECK_REASON(join(mover), AX_EXIT_NORMAL, 0, 0);
    CHECK_REASON(join(filler), AX_EXIT_NORMAL, 0, 0);
}

/*
 * An actor promotes itself while its mailbox (capacity 2) is full and a
 * sender waits for room: the sender wakes and sends the rest to where the
 * actor is now; all FULL_N messages arrive there, in order.
 */
static void
test_process_promotion_with_a_full_mailbox_lets_waiting_senders_on(void **state)
{
    (void)state;
    run(body_promotion_full, NULL);
}

/* --- 10. no orphans ---------------------------------------------------------
 */

/* Levels 1 and 2 spawn the next level as a process; each reports ["os",
 * level, getpid(), ax_self()]. Level 3 then stops listening to its
 * channel (it sleeps outside the loop): only PR_SET_PDEATHSIG can end
 * it. Level 2 stays in the loop: EOF on its channel ends it too. */
static int
chain_actor(void *arg)
{
    int level = (int)(intptr_t)arg;
    ax_spawn_opts o = proc_opts();

    if (level < 3 &&
        ax_spawn(chain_actor, (void *)(intptr_t)(level + 1), &o, NULL) < 0) {
        return 1;
    }
    ax_sendf(g_driver, "[s d d p]", "os", level, (int)getpid(), ax_self());
    if (level < 3) {
        return th_blocked_actor(NULL);
    }
    ax_sleep(20); /* the report leaves */
    deaf_forever();
}

static bool
os_alive(int os)
{
    return kill(os, 0) == 0 || errno != ESRCH;
}

static void
body_middle_killed(void *arg)
{
    ax_spawn_opts o = proc_opts();
    ax_pid lv[4] = {AX_PID_NONE, AX_PID_NONE, AX_PID_NONE, AX_PID_NONE};
    int os[4] = {0};
    uint64_t t0;
    ax_exit_info i;

    (void)arg;
    g_driver = ax_self();
    o.monitor = true;
    lv[1] = spawn(chain_actor, (void *)1, &o);
    for (int k = 0; k < 3; k++) {
        int level = 0, pid = 0;
        ax_pid who;

        if (expect_args("os", "[_ d d p]", &level, &pid, &who) < 0 ||
            level < 1 || level > 3) {
            TH_CHECK(!"a bad report");
            return;
        }
        os[level] = pid;
        lv[level] = who;
    }
    TH_CHECK_INT(ax_monitor(lv[2], NULL), 0);
    TH_CHECK_INT(ax_monitor(lv[3], NULL), 0);
    TH_CHECK_INT(kill(os[1], SIGKILL), 0);
    t0 = t_now_ns();
    CHECK_REASON(expect_down(lv[1], NULL), AX_EXIT_SIGNAL, 0, SIGKILL);
    for (int k = 2; k <= 3; k++) {
        i = expect_down(lv[k], NULL);
        TH_CHECK(i.kind == AX_EXIT_NOCONNECTION ||
                 (i.kind == AX_EXIT_SIGNAL && i.signal == SIGKILL));
    }
    /* They were reparented to this process (a subreaper): libev's SIGCHLD
     * handler reaps them as the loop runs. */
    while ((os_alive(os[2]) || os_alive(os[3])) && ms_since(t0) < 5000) {
        ax_sleep(10);
    }
    print_message("  B and C gone %lld ms after A's SIGKILL\n",
                  (long long)ms_since(t0));
    for (int k = 2; k <= 3; k++) {
        if (os_alive(os[k])) {
            th_fail(__FILE__, __LINE__, "level %d (pid %d) outlived A", k,
                    os[k]);
            kill(os[k], SIGKILL);
        }
    }
    ax_sleep(100); /* reap what the check above killed, if anything */
}

/*
 * Test process -> A -> B -> C; A is SIGKILLed. B and C are gone within
 * seconds (C only by PR_SET_PDEATHSIG: it does not read its channel).
 * The driver gets A's DOWN with signal 9 and B's and C's with
 * noconnection (or signal 9). The test process is a child subreaper for
 * the test, so B and C are its orphans and t_teardown finds any left.
 */
static void
test_process_killed_middle_process_leaves_no_orphan_below(void **state)
{
    (void)state;
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    run(body_middle_killed, NULL);
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

/* --- 11. shutdown --------------------------------------------------------- */

typedef struct stop_job {
    ax_actor_fn fn; /* the process actors to spawn */
    int n;
    int os[4]; /* their OS pids, as reported */
    int ready; /* reports received */
} stop_job;

static int g_bye_fd = -1;

/* Spawn job->n process actors, wait for their ["ready", getpid()], stop
 * the runtime with them alive. A coroutine of the test process: it keeps
 * its results in *job. */
static int
stop_driver(void *arg)
{
    stop_job *job = arg;
    ax_spawn_opts o = proc_opts();
    ax_msg *m;

    g_driver = ax_self();
    for (int k = 0; k < job->n; k++) {
        if (ax_spawn(job->fn, (void *)(intptr_t)k, &o, NULL) < 0) {
            return 1;
        }
    }
    while (job->ready < job->n && ax_recv_match("ready", &m, WAIT_MS) == 0) {
        ax_msg_unpack(m, "[_ d]", &job->os[job->ready++]);
        ax_msg_free(m);
    }
    /* A report leaves before its sender turns deaf: give them time to. */
    ax_sleep(RUNNING_ON_VALGRIND ? 1000 : 200);
    ax_stop();
    return 0;
}

/* Deaf to the stop request: it sleeps outside the loop. Actor 0 blocks
 * SIGTERM too, so only SIGKILL ends it; actor 1 dies of SIGTERM. */
static int
stubborn_actor(void *arg)
{
    sigset_t term;

    if ((intptr_t)arg == 0) {
        sigemptyset(&term);
        sigaddset(&term, SIGTERM);
        sigprocmask(SIG_BLOCK, &term, NULL);
    }
    ax_sendf(g_driver, "[s d]", "ready", (int)getpid());
    ax_sleep(20); /* the report leaves */
    deaf_forever();
}

/* Run job in a runtime of its own; returns how long ax_fini took (ms). */
static int64_t
run_and_fini(stop_job *job, int stop_ms, int term_ms)
{
    ax_runtime_opts ro;
    uint64_t t0;

    memset(&ro, 0, sizeof(ro));
    ro.stop_timeout_ms = stop_ms;
    ro.term_timeout_ms = term_ms;
    assert_int_equal(ax_init(&ro), 0);
    assert_int_equal(ax_spawn(stop_driver, job, NULL, NULL), 0);
    assert_int_equal(ax_run(), 0); /* ax_stop: children still alive */
    assert_int_equal(job->ready, job->n);
    t0 = t_now_ns();
    ax_fini();
    return ms_since(t0);
}

/*
 * ax_fini with children that ignore the stop request (they never return
 * to their loop; one blocks SIGTERM as well): it asks, waits
 * stop_timeout_ms, sends SIGTERM, waits term_timeout_ms, sends SIGKILL,
 * and returns having reaped them all.
 */
static void
test_process_fini_kills_children_that_ignore_stop_after_timeouts(void **state)
{
    stop_job job = {stubborn_actor, 2, {0}, 0};
    int64_t ms;

    (void)state;
    ms = run_and_fini(&job, 300, 300);
    print_message("  ax_fini took %lld ms (stop 300 + term 300)\n",
                  (long long)ms);
    assert_true(ms >= 550); /* one of them only goes at SIGKILL */
    assert_true(ms < 300 + 300 + (RUNNING_ON_VALGRIND ? 10000 : 3000));
    for (int k = 0; k < job.n; k++) {
        assert_int_equal(kill(job.os[k], 0), -1);
        assert_int_equal(errno, ESRCH);
    }
}

static void
say_bye(void *arg)
{
    (void)arg;
    put_record(g_bye_fd, 'B');
}

/* Waits in a receive, with an on-exit function that writes a record. */
static int
polite_actor(void *arg)
{
    ax_msg *m;

    (void)arg;
    if (ax_on_exit(say_bye, NULL) < 0) {
        return 2;
    }
    ax_sendf(g_driver, "[s d]", "ready", (int)getpid());
    while (ax_recv(&m, AX_FOREVER) == 0) {
        ax_msg_free(m);
    }
    return 1;
}

/*
 * ax_fini with children that listen: they end on the stop request, long
 * before the SIGTERM would come (10 s), and their on-exit functions run
 * (each writes its getpid() to a pipe the test passed down).
 */
static void
test_process_fini_stops_children_cleanly_and_runs_their_on_exit(void **state)
{
    stop_job job = {polite_actor, 3, {0}, 0};
    char got[256], rec[32];
    int64_t ms;
    int p[2], lines = 0;

    (void)state;
    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    g_bye_fd = p[1];
    ms = run_and_fini(&job, 10000, 10000);
    close(p[1]);
    read_all(p[0], got, sizeof(got));
    close(p[0]);
    print_message("  ax_fini took %lld ms\n", (long long)ms);
    assert_true(ms < 8000);
    for (int k = 0; k < job.n; k++) {
        snprintf(rec, sizeof(rec), "B%d\n", job.os[k]);
        assert_non_null(strstr(got, rec));
        lines++;
    }
    for (const char *s = got; (s = strchr(s, '\n')) != NULL; s++) {
        lines--; /* exactly one record each */
    }
    assert_int_equal(lines, 0);
}

/* --- 12. placement by configuration --------------------------------------- */

static int
where_actor(void *arg)
{
    ax_sendf(g_driver, "[s s d]", "where", (const char *)arg, (int)getpid());
    return 0;
}

static void
body_placement(void *arg)
{
    static const struct {
        const char *name;
        ax_placement option;
        bool elsewhere;
    } cases[] = {
        {"worker", AX_PLACE_COROUTINE, true}, /* worker=process */
        {"logger", AX_PLACE_PROCESS, false},  /* logger=coroutine */
        {"proc-test-unlisted-p", AX_PLACE_PROCESS, true},
        {"proc-test-unlisted-c", AX_PLACE_COROUTINE, false},
    };
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    ax_pid pid[N];

    (void)arg;
    unsetenv("AXON_PLACE"); /* read at ax_init, once */
    g_driver = ax_self();
    for (int k = 0; k < N; k++) {
        ax_spawn_opts o = proc_opts();

        o.placement = cases[k].option;
        o.name = cases[k].name;
        o.monitor = true;
        pid[k] = spawn(where_actor, (void *)cases[k].name, &o);
    }
    for (int k = 0; k < N; k++) {
        ax_msg *m = expect_tag("where");
        const char *name;
        size_t len;
        int os = 0, found = 0;

        if (m == NULL || ax_msg_unpack(m, "[_ S d]", &name, &len, &os) < 0) {
            TH_CHECK(!"a bad report");
            ax_msg_free(m);
            continue;
        }
        for (int j = 0; j < N; j++) {
            if (strlen(cases[j].name) == len &&
                memcmp(cases[j].name, name, len) == 0) {
                found++;
                if ((os != getpid()) != cases[j].elsewhere) {
                    th_fail(__FILE__, __LINE__, "%s ran %s", cases[j].name,
                            os != getpid() ? "in another process"
                                           : "in the test process");
                }
            }
        }
        TH_CHECK_INT(found, 1);
        ax_msg_free(m);
    }
    for (int k = 0; k < N; k++) {
        CHECK_REASON(join(pid[k]), AX_EXIT_NORMAL, 0, 0);
    }
}

/*
 * AXON_PLACE="worker=process,logger=coroutine" at ax_init overrides the
 * spawn option for those names: "worker" spawned as a coroutine runs in
 * another process, "logger" spawned as a process runs in the test
 * process; names not listed keep the option's placement.
 */
static void
test_process_placement_by_configuration_overrides_the_option(void **state)
{
    (void)state;
    assert_int_equal(setenv("AXON_PLACE", "worker=process,logger=coroutine", 1),
                     0);
    run(body_placement, NULL);
    unsetenv("AXON_PLACE");
}

/* --- 13. names across processes ------------------------------------------- */

#define DRIVER_NAME "proc-test-driver"

/* Level 1 spawns level 2 (a process below it). Each looks the driver up
 * by name and reports what it found, sends to that address, registers
 * "proc-test-x<level>" and tries two more calls; then waits for ["stop"].
 */
static int
named_actor(void *arg)
{
    int level = (int)(intptr_t)arg;
    ax_spawn_opts o = proc_opts();
    ax_pid found = AX_PID_NONE;
    char mine[32];
    int rc, reg, dup, none;
    ax_msg *m;

    snprintf(mine, sizeof(mine), "proc-test-x%d", level);
    if (level == 1 &&
        ax_spawn(named_actor, (void *)(intptr_t)2, &o, NULL) < 0) {
        return 1;
    }
    rc = ax_whereis(DRIVER_NAME, &found);
    ax_sendf(g_driver, "[s d d p]", "found", level, rc, found);
    ax_sendf(found, "[s d]", "by-name", level);
    reg = ax_register(mine, ax_self());
    dup = ax_register(DRIVER_NAME, ax_self());
    none = ax_whereis("proc-test-nobody", NULL);
    ax_sendf(g_driver, "[s d d d d]", "names", level, reg, dup, none);
    if (ax_recv_match("stop", &m, AX_FOREVER) == 0) {
        ax_msg_free(m);
    }
    return 0;
}

static void
body_names(void *arg)
{
    ax_spawn_opts o = proc_opts();
    ax_pid x[3] = {AX_PID_NONE, AX_PID_NONE, AX_PID_NONE}, x1, named, where;
    char mine[32];

    (void)arg;
    g_driver = ax_self();
    TH_CHECK_INT(ax_register(DRIVER_NAME, ax_self()), 0);
    o.monitor = true;
    x1 = spawn(named_actor, (void *)1, &o);
    for (int k = 0; k < 2; k++) {
        int level = 0, rc = -1;
        ax_pid found = AX_PID_NONE;
        ax_msg *m = expect_tag("found");

        if (m == NULL ||
            ax_msg_unpack(m, "[_ d d p]", &level, &rc, &found) < 0 ||
            level < 1 || level > 2) {
            TH_CHECK(!"a bad report");
            ax_msg_free(m);
            return;
        }
        x[level] = ax_msg_sender(m);
        TH_CHECK_INT(rc, 0);
        TH_CHECK(ax_pid_equal(found, ax_self()));
        ax_msg_free(m);
    }
    TH_CHECK(ax_pid_equal(x[1], x1) && !ax_pid_is_none(x[2]));
    for (int k = 0; k < 2; k++) {
        int level = 0, reg = -1, dup = -1, none = -1;

        ax_msg_free(expect_tag("by-name"));
        if (expect_args("names", "[_ d d d d]", &level, &reg, &dup, &none) ==
            0) {
            TH_CHECK_INT(reg, 0);
            TH_CHECK_INT(dup, AX_EEXIST);
            TH_CHECK_INT(none, AX_ENOENT);
        }
    }
    for (int k = 1; k <= 2; k++) {
        snprintf(mine, sizeof(mine), "proc-test-x%d", k);
        where = AX_PID_NONE;
        TH_CHECK_INT(ax_whereis(mine, &where), 0);
        TH_CHECK(ax_pid_equal(where, x[k]));
    }
    /* Registered by the spawn option, from this process. */
    o.name = "proc-test-spawned";
    named = spawn(blocked_actor, NULL, &o);
    ax_msg_free(expect_tag("up"));
    TH_CHECK_INT(ax_whereis("proc-test-spawned", &where), 0);
    TH_CHECK(ax_pid_equal(where, named));
    /* Each name dies with its actor: gone once the DOWN is in. */
    TH_CHECK_INT(ax_monitor(x[2], NULL), 0);
    ax_sendf(x[2], "[s]", "stop");
    CHECK_REASON(expect_down(x[2], NULL), AX_EXIT_NORMAL, 0, 0);
    TH_CHECK_INT(ax_whereis("proc-test-x2", NULL), AX_ENOENT);
    ax_sendf(x[1], "[s]", "stop");
    CHECK_REASON(join(x[1]), AX_EXIT_NORMAL, 0, 0);
    TH_CHECK_INT(ax_whereis("proc-test-x1", NULL), AX_ENOENT);
    ax_sendf(named, "[s]", "stop");
    CHECK_REASON(join(named), AX_EXIT_NORMAL, 0, 0);
    TH_CHECK_INT(ax_whereis("proc-test-spawned", NULL), AX_ENOENT);
    TH_CHECK_INT(ax_unregister(DRIVER_NAME), 0);
}

/*
 * The registry lives in the root: a process actor (and one a level
 * below it) finds the driver's name and reaches the address it gives;
 * each registers a name of its own that the driver finds (a taken name
 * is AX_EEXIST, an unknown one AX_ENOENT, from there too); a name given
 * as a spawn option resolves to the new process actor. Each name is gone
 * (AX_ENOENT) once its actor's DOWN has come.
 */
static void
test_process_names_resolve_across_processes_and_die_with_the_actor(void **state)
{
    (void)state;
    run(body_names, NULL);
}

/* --- 14. bad bytes from a child --------------------------------------------
 */

static void
store_be(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        p[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
    }
}

/* This process's write end to its parent: its one write-only pipe fd that
 * main() did not begin with. */
static int
own_channel_wfd(void)
{
    static fd_list l;
    int fd = -1, n = 0;

    fds_snapshot(&l);
    for (int i = 0; i < l.n; i++) {
        if (l.e[i].fd > 2 && l.e[i].mode == 'w' && is_pipe(&l.e[i]) &&
            !is_base_fd(&l.e[i])) {
            fd = l.e[i].fd;
            n++;
        }
    }
    return n == 1 ? fd : -1;
}

/* Spawn a second actor here, report ["second", it], then write bad bytes
 * at a frame boundary of its own channel to the parent: arg 0, a frame
 * length of 4 GiB - 1; arg 1, a well-formed frame to the driver whose
 * body is not msgpack (0xc1 is never used). */
static int
garbage_actor(void *arg)
{
    unsigned char f[AX_FRAME_OVERHEAD + 1];
    ax_spawn_opts co = coro_opts();
    size_t n = AX_FRAME_OVERHEAD;
    ax_pid second;
    int fd;

    if (ax_spawn(th_blocked_actor, NULL, &co, &second) < 0) {
        return 1;
    }
    ax_sendf(g_driver, "[s p]", "second", second);
    ax_sleep(50); /* that frame is out: the next byte starts a frame */
    if ((fd = own_channel_wfd()) < 0) {
        return 2;
    }
    memset(f, 0, sizeof(f));
    f[4] = AX_FRAME_VERSION;
    f[5] = WIRE_K_MSG;
    if ((intptr_t)arg == 0) {
        store_be(f, 0xffffffffu, 4);
    } else {
        store_be(f, AX_FRAME_HEADER + 1, 4);
        store_be(f + 8, g_driver.node, 8);
        store_be(f + 16, g_driver.id, 8);
        f[AX_FRAME_OVERHEAD] = 0xc1;
        n++;
    }
    if (write(fd, f, n) != (ssize_t)n) {
        return 3;
    }
    ax_sleep(WAIT_MS); /* the parent ends this process */
    return 4;
}

static void
body_bad_bytes(void *arg)
{
    (void)arg;
    g_driver = ax_self();
    for (int k = 0; k < 2; k++) {
        ax_spawn_opts o = proc_opts();
        ax_pid g, second = AX_PID_NONE;
        ax_exit_info i;
        ax_msg *m;

        o.monitor = true;
        g = spawn(garbage_actor, NULL, &o);
        if (expect_args("second", "[_ p]", &second) < 0) {
            return;
        }
        remember(second);
        TH_CHECK_INT(ax_monitor(second, NULL), 0);
        CHECK_REASON(expect_down(g, NULL), AX_EXIT_SIGNAL, 0, SIGKILL);
        i = expect_down(second, NULL);
        TH_CHECK(i.kind == AX_EXIT_NOCONNECTION ||
                 (i.kind == AX_EXIT_SIGNAL && i.signal == SIGKILL));
        /* Nothing of the bad frame reached the driver. */
        TH_CHECK_INT(ax_recv(&m, 0), AX_ETIMEDOUT);
    }
    check_still_working();
}

/*
 * A child that writes bad bytes into its channel (an oversized frame
 * length; a frame whose body is not msgpack) is killed by its parent; the
 * monitors of both its actors get a DOWN (signal 9, or noconnection);
 * the parent does not crash and goes on working.
 */
static void
test_process_bad_bytes_from_a_child_end_that_child_not_the_parent(void **state)
{
    (void)state;
    run(body_bad_bytes, NULL);
}

/* --- main --------------------------------------------------------------- */

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_process_child_never_runs_the_coroutines_it_inherited),
        T(test_process_child_keeps_only_its_own_channel_of_the_framework_fds),
        T(test_process_child_starts_with_default_signals_and_sigpipe_ignored),
        T(test_process_killed_reader_gives_eof_and_epipe_not_sigpipe),
        T(test_process_exit_reasons_arrive_exactly_by_monitor_wait_and_link),
        T(test_process_three_levels_talk_and_join_across_processes),
        T(test_process_two_hundred_concurrent_children_are_all_reaped),
        T(test_process_fast_producer_is_slowed_with_bounded_memory),
        T(test_process_promotion_keeps_order_address_monitor_link_and_name),
        T(test_process_promotion_repeated_never_loses_a_reply),
        T(test_process_promotion_with_a_full_mailbox_lets_waiting_senders_on),
        T(test_process_killed_middle_process_leaves_no_orphan_below),
        T(test_process_fini_kills_children_that_ignore_stop_after_timeouts),
        T(test_process_fini_stops_children_cleanly_and_runs_their_on_exit),
        T(test_process_placement_by_configuration_overrides_the_option),
        T(test_process_names_resolve_across_processes_and_die_with_the_actor),
        T(test_process_bad_bytes_from_a_child_end_that_child_not_the_parent),
    };

    /* Whatever the launcher left, the first channel must make SIGPIPE
     * harmless by itself (test 4 checks that it did). */
    signal(SIGPIPE, SIG_DFL);
    fds_snapshot(&g_base);
    if (getenv("PROCESS_TEST_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("PROCESS_TEST_FILTER"));
    }
    th_main_setup();
    th_placement = AX_PLACE_PROCESS;
    return cmocka_run_group_tests_name("process actors", tests, NULL, NULL);
}
