/*
 * tests/actors/forkserver_test.c - the fork server (ax_runtime_opts.
 * forkserver, actors/process/forkserver.c): a process actor spawned with
 * arg NULL or copied (arg_size) starts from a server forked at ax_init,
 * not from the test process, and is otherwise a process actor like any:
 * messages, exit reasons, links, kills, crash-proof sends, nesting. It
 * sees the program as it was at ax_init and inherits no fd but 0, 1, 2.
 * If the server dies, its children are reported killed by SIGKILL and
 * later spawns through it fail with AX_ECHILD.
 *
 * Every test runs in a runtime started with forkserver on (th_runtime_opts)
 * and ends with no fd open and no child unreaped (t_setup/t_teardown).
 * A server-started child sees the globals as they were at ax_init, so it
 * never reads g_driver: it answers the sender of a message, or the address
 * in its copied arg.
 */
#include "process_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const ax_runtime_opts fs_opts = {.forkserver = true};

/* --- helpers ------------------------------------------------------------ */

/* The parent of OS process pid and its state (/proc/pid/stat); -1 and 'X'
 * when it is gone. */
static int
os_stat(int pid, char *state)
{
    char path[64], st = 'X';
    int ppid = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if ((f = fopen(path, "r")) != NULL) {
        if (fscanf(f, "%*d (%*[^)]) %c %d", &st, &ppid) != 2) {
            st = 'X';
        }
        fclose(f);
    }
    if (state != NULL) {
        *state = st;
    }
    return ppid;
}

static bool
os_gone(int pid)
{
    char st;

    os_stat(pid, &st);
    return st == 'Z' || st == 'X';
}

/* The children of this process (the /proc/<pid>/stat with our ppid). */
static int
os_children(int *first)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;

    *first = -1;
    while (d != NULL && (e = readdir(d)) != NULL) {
        int pid = atoi(e->d_name);

        if (pid > 0 && os_stat(pid, NULL) == getpid() && n++ == 0) {
            *first = pid;
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

/* The fork server's OS pid: the one child of this process, or -1. */
static int
server_pid(void)
{
    int pid;

    return os_children(&pid) == 1 ? pid : -1;
}

/* A NULL store the sanitizers do not intercept: a real SIGSEGV. */
__attribute__((no_sanitize("address", "undefined"))) static void
null_store(void)
{
    int *volatile p = NULL;

    *p = 1;
}

static void
no_core_dumps(void)
{
    struct rlimit none = {0, 0};

    setrlimit(RLIMIT_CORE, &none);
}

/* FNV-1a of n bytes. */
static uint64_t
checksum(const unsigned char *p, size_t n)
{
    uint64_t h = 1469598103934665603u;

    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 1099511628211u;
    }
    return h;
}

static int g_stamp; /* 1 at ax_init, 2 once the body runs (test 3) */

/* Its fds, "fd:target;..." (but the readdir's own and those at or above
 * RLIMIT_NOFILE: valgrind's). */
static void
fds_text(char *text, size_t size)
{
    fd_list *l = malloc(sizeof(*l));
    char one[160];

    text[0] = '\0';
    if (l != NULL) {
        fds_snapshot(l);
        for (int i = 0; i < l->n; i++) {
            snprintf(one, sizeof(one), "%d:%s;", l->e[i].fd, l->e[i].target);
            strncat(text, one, size - strlen(text) - 1);
        }
    }
    free(l);
}

/* Answer its sender: each ["ping", n] with ["pong", n, getpid(),
 * getppid(), g_stamp], ["last", n] the same and return, ["fds?"] with
 * ["fds", fds_text]; ["stop"]: return. */
static int
probe_actor(void *arg)
{
    char text[2048];

    (void)arg;
    for (;;) {
        int64_t n = -1;
        ax_msg *m;
        bool last;

        if (ax_recv(&m, AX_FOREVER) < 0 || ax_msg_has_tag(m, "stop")) {
            ax_msg_free(m);
            return 0;
        }
        last = ax_msg_has_tag(m, "last");
        if (ax_msg_has_tag(m, "fds?")) {
            fds_text(text, sizeof(text));
            ax_sendf(ax_msg_sender(m), "[s s]", "fds", text);
        } else if (ax_msg_unpack(m, "[s i]", NULL, NULL, &n) == 0) {
            ax_sendf(ax_msg_sender(m), "[s i d d d]", "pong", n, (int)getpid(),
                     (int)getppid(), g_stamp);
        }
        ax_msg_free(m);
        if (last) {
            return 0;
        }
    }
}

/* What a probe_actor said of itself. */
typedef struct probe {
    int os, ppid, stamp;
} probe;

static bool
is_pong_or_down(const ax_msg *m, void *ud)
{
    (void)ud;
    return ax_msg_has_tag(m, "pong") || ax_msg_has_tag(m, "DOWN");
}

/* Ping pid with n and take its answer in *p. A DOWN instead (pid never
 * started, or died) is a failed check that says why. */
static int
ping(ax_pid pid, int64_t n, probe *p)
{
    ax_exit_info x = no_info;
    int64_t got = -1;
    char why[64];
    ax_msg *m;

    *p = (probe){-1, -1, -1};
    TH_CHECK_INT(ax_sendf(pid, "[s i]", "ping", n), 0);
    if (ax_recv_if(is_pong_or_down, NULL, &m, WAIT_MS) < 0) {
        th_fail(__FILE__, __LINE__, "no pong, no DOWN");
        return -1;
    }
    if (ax_msg_has_tag(m, "DOWN")) {
        ax_down_msg_parse(m, NULL, NULL, &x);
        th_fail(__FILE__, __LINE__, "a DOWN (%s) instead of a pong",
                ax_exit_describe(&x, why, sizeof(why)));
    } else {
        TH_CHECK_INT(
            ax_msg_unpack(m, "[_ i d d d]", &got, &p->os, &p->ppid, &p->stamp),
            0);
        TH_CHECK_INT(got, n);
    }
    ax_msg_free(m);
    return got == n ? 0 : -1;
}

/* --- 1. a round trip ------------------------------------------------------ */

static void
body_round_trip(void *arg)
{
    ax_spawn_opts o = proc_opts();
    int srv = server_pid();
    probe p;
    ax_pid c;

    (void)arg;
    TH_CHECK(srv > 0);
    o.monitor = true;
    c = spawn(probe_actor, NULL, &o);
    for (int64_t i = 0; i < 3; i++) {
        if (ping(c, 100 + i, &p) < 0) {
            return;
        }
    }
    TH_CHECK(p.os > 0 && p.os != getpid() && p.ppid != getpid());
    TH_CHECK_INT(p.ppid, srv);
    TH_CHECK_INT(os_stat(p.os, NULL), srv); /* what the kernel says, too */
    TH_CHECK_INT(server_pid(), srv);        /* not a child of this process */
    ax_sendf(c, "[s]", "stop");
    CHECK_REASON(expect_down(c, NULL), AX_EXIT_NORMAL, 0, 0);
}

/* A process actor spawned with arg NULL answers pings, and its process is
 * the server's child, not this process's. */
static void
test_server_child_answers_and_is_not_our_child(void **state)
{
    (void)state;
    run(body_round_trip, NULL);
}

/* --- 2. arg_size copies --------------------------------------------------- */

#define BLOB_LEN (3 * 1024)

typedef struct blob {
    ax_pid to;
    unsigned char bytes[BLOB_LEN];
} blob;

/* Report ["sum", checksum of what it got, arg's address, getppid()]. */
static int
blob_actor(void *arg)
{
    const blob *b = arg;

    ax_sendf(b->to, "[s u u d]", "sum", checksum(b->bytes, BLOB_LEN),
             (uint64_t)(uintptr_t)arg, (int)getppid());
    return 0;
}

static void
body_arg_copy(void *arg)
{
    (void)arg;
    for (int k = 0; k < 2; k++) {
        blob *b = malloc(sizeof(*b));
        ax_spawn_opts o = k == 0 ? proc_opts() : coro_opts();
        uint64_t want, sum = 0, addr = 0, mine = (uintptr_t)b;
        int ppid = 0;

        if (b == NULL) {
            TH_CHECK(!"malloc");
            return;
        }
        b->to = ax_self();
        for (size_t i = 0; i < BLOB_LEN; i++) {
            b->bytes[i] = (unsigned char)(i * 7 + 3 + k);
        }
        want = checksum(b->bytes, BLOB_LEN);
        o.arg_size = sizeof(*b);
        spawn(blob_actor, b, &o);
        /* Gone as ax_spawn returns: a read of it later is ASan's. */
        memset(b, 0xee, sizeof(*b));
        b->to = AX_PID_NONE;
        free(b);
        if (expect_args("sum", "[_ u u d]", &sum, &addr, &ppid) < 0) {
            return;
        }
        TH_CHECK(sum == want);
        TH_CHECK(addr != mine);
        if (k == 0) {
            TH_CHECK_INT(ppid, server_pid()); /* copied: through the server */
        }
    }
}

/* 3 KiB passed with arg_size, overwritten and freed as ax_spawn returns:
 * a process actor (through the server) and a coroutine both see the bytes
 * as they were at the spawn, in their own copy. */
static void
test_arg_size_copy_is_what_the_actor_sees(void **state)
{
    (void)state;
    run(body_arg_copy, NULL);
}

/* --- 3. the program as it was at ax_init ---------------------------------- */

/* The probe of a probe_actor spawned with arg and arg_size. */
static probe
probe_of(void *arg, size_t arg_size)
{
    ax_spawn_opts o = proc_opts();
    probe p;
    ax_pid c;

    o.arg_size = arg_size;
    c = spawn(probe_actor, arg, &o);
    ping(c, 3, &p);
    ax_sendf(c, "[s]", "stop");
    CHECK_REASON(join(c), AX_EXIT_NORMAL, 0, 0);
    return p;
}

static void
body_globals(void *arg)
{
    int srv = server_pid(), local = 0;
    probe p;

    (void)arg;
    g_stamp = 2;
    p = probe_of(NULL, 0); /* the server's: as at ax_init */
    TH_CHECK_INT(p.stamp, 1);
    TH_CHECK_INT(p.ppid, srv);
    p = probe_of(&local, sizeof(local)); /* copied: the same */
    TH_CHECK_INT(p.stamp, 1);
    TH_CHECK_INT(p.ppid, srv);
    p = probe_of(&local, 0); /* a pointer: forked from this process */
    TH_CHECK_INT(p.stamp, 2);
    TH_CHECK_INT(p.ppid, getpid());
}

/* A global changed after ax_init: a server-started actor (arg NULL or
 * copied) sees it as it was; one spawned with a pointer (arg_size 0) is
 * forked from this process and sees it as it is. */
static void
test_server_child_sees_the_program_as_at_init(void **state)
{
    (void)state;
    g_stamp = 1;
    run(body_globals, NULL);
    g_stamp = 0;
}

/* --- 4. exit reasons ------------------------------------------------------ */

enum { END_RETURN_0, END_RETURN_7, END_SEGV, END_KILLED, END_COUNT };

static const ax_exit_info wanted_end[END_COUNT] = {
    [END_RETURN_0] = {AX_EXIT_NORMAL, 0, 0, false},
    [END_RETURN_7] = {AX_EXIT_ERROR, 7, 0, false},
    [END_SEGV] = {AX_EXIT_SIGNAL, 0, SIGSEGV, false},
    [END_KILLED] = {AX_EXIT_KILLED, 5, 0, false},
};

typedef struct job {
    ax_pid to;
    int end;
} job;

/* Report ["ready", getpid()] to j->to; then, told ["go"], end as j->end
 * says (END_KILLED: wait in ax_recv to be killed). */
static int
victim_actor(void *arg)
{
    const job *j = arg;
    ax_msg *m;

    no_core_dumps();
    ax_sendf(j->to, "[s d]", "ready", (int)getpid());
    if (ax_recv_match(j->end == END_KILLED ? "never" : "go", &m, AX_FOREVER) <
        0) {
        return 99;
    }
    ax_msg_free(m);
    if (j->end == END_SEGV) {
        null_store();
    }
    return j->end == END_RETURN_7 ? 7 : j->end == END_RETURN_0 ? 0 : 98;
}

/* Spawn a victim_actor through the server (its job copied), wait for its
 * ready and let it go (but END_KILLED); *os: its OS pid. */
static ax_pid
victim(int end, ax_spawn_opts o, int *os)
{
    job j;
    ax_pid v;

    memset(&j, 0, sizeof(j)); /* its padding is copied too */
    j.to = ax_self();
    j.end = end;

    o.placement = AX_PLACE_PROCESS;
    o.arg_size = sizeof(j);
    v = spawn(victim_actor, &j, &o);
    if (expect_args("ready", "[_ d]", os) == 0 && end != END_KILLED) {
        TH_CHECK_INT(ax_sendf(v, "[s]", "go"), 0);
    }
    return v;
}

/* A coroutine, not trapping exits, linked to a victim that segfaults: the
 * link kills it with the victim's reason. */
static int
linked_middle(void *arg)
{
    ax_spawn_opts o = {.link = true};
    ax_msg *m;
    int os;

    (void)arg;
    victim(END_SEGV, o, &os);
    ax_recv_match("never", &m, AX_FOREVER);
    return 2;
}

static void
body_exit_reasons(void *arg)
{
    ax_spawn_opts o = coro_opts();
    ax_pid v, mid;
    int os = 0;

    (void)arg;
    ax_trap_exit(true); /* links come as EXITs, a normal end's too */
    for (int k = 0; k < END_COUNT; k++) {
        const ax_exit_info *w = &wanted_end[k];
        uint64_t ref = 0, got = 0;

        v = victim(
            k,
            (ax_spawn_opts){.link = true, .monitor = true, .monitor_ref = &ref},
            &os);
        TH_CHECK_INT(os_stat(os, NULL), server_pid());
        if (k == END_KILLED) {
            TH_CHECK_INT(ax_kill(v, 5), 0);
        }
        check_reason(__LINE__, "DOWN", expect_down(v, &got), w->kind, w->code,
                     w->signal);
        TH_CHECK(got == ref && ref != 0);
        check_reason(__LINE__, "EXIT", expect_exit(v), w->kind, w->code,
                     w->signal);
    }
    ax_trap_exit(false);
    /* A linked spawner that does not trap dies with the same reason. */
    o.monitor = true;
    mid = spawn(linked_middle, NULL, &o);
    CHECK_REASON(expect_down(mid, NULL), AX_EXIT_SIGNAL, 0, SIGSEGV);
}

/* Through the server, a process actor's end reaches its monitor exactly:
 * return 0 normal, return 7 error 7, a NULL store signal 11, ax_kill while
 * it waits in ax_recv killed 5; its link reaches a trapping spawner as an
 * EXIT, and kills one that does not trap with the same reason. */
static void
test_server_child_exit_reasons_reach_monitors_and_links(void **state)
{
    (void)state;
    run(body_exit_reasons, NULL);
}

/* --- 5. fds --------------------------------------------------------------- */

static int g_leaked = -1; /* open without O_CLOEXEC before ax_init */

/* Check the fds a probe_actor reported (len bytes, not terminated). */
static void
check_child_fds(const char *text, size_t len)
{
    int chan = 0, loop = 0, std = 0;
    char copy[2048];

    snprintf(copy, sizeof(copy), "%.*s", (int)len, text);
    for (char *save, *e = strtok_r(copy, ";", &save); e != NULL;
         e = strtok_r(NULL, ";", &save)) {
        const char *target = strchr(e, ':') + 1;
        int fd = atoi(e);

        if (fd <= 2) {
            std++;
        } else if (strncmp(target, "pipe:", 5) == 0 ||
                   strncmp(target, "socket:", 7) == 0) {
            chan++;
        } else if (strncmp(target, "anon_inode:", 11) == 0) {
            loop++; /* its own loop's: epoll, eventfd */
        } else {
            th_fail(__FILE__, __LINE__, "the child has fd %s", e);
        }
    }
    for (int fd = 0; fd <= 2; fd++) {
        std -= fds_find(&g_base, fd) != NULL;
    }
    if (std != 0 || chan < 1 || chan > 2 || loop > 2) {
        th_fail(__FILE__, __LINE__,
                "the child's fds (0-2 as ours, 1-2 of its channel, at most 2 "
                "of its loop): %.*s",
                (int)len, text);
    }
}

static void
body_fds(void *arg)
{
    ax_spawn_opts o = proc_opts();
    const char *text = NULL;
    char path[64], target[96] = "";
    size_t len = 0;
    ax_msg *m;
    ax_pid c;

    (void)arg;
    c = spawn(probe_actor, NULL, &o);
    ax_sendf(c, "[s]", "fds?");
    if ((m = expect_tag("fds")) == NULL) {
        return;
    }
    TH_CHECK_INT(ax_msg_unpack(m, "[_ s]", &text, &len), 0);
    check_child_fds(text, len);
    ax_msg_free(m);
    ax_sendf(c, "[s]", "stop");
    CHECK_REASON(join(c), AX_EXIT_NORMAL, 0, 0);
    /* The server itself kept nothing of this process's either. */
    snprintf(path, sizeof(path), "/proc/%d/fd/%d", server_pid(), g_leaked);
    TH_CHECK(readlink(path, target, sizeof(target) - 1) < 0 ||
             strcmp(target, "/dev/null") != 0);
}

static int
setup_leak(void **state)
{
    int rc = t_setup(state); /* counts the fds first */

    g_leaked = open("/dev/null", O_RDONLY); /* no O_CLOEXEC, on purpose */
    return rc == 0 && g_leaked > 2 ? 0 : -1;
}

static int
teardown_leak(void **state)
{
    close(g_leaked);
    g_leaked = -1;
    return t_teardown(state);
}

/* An fd open without O_CLOEXEC before ax_init reaches neither the server
 * nor its children: a child has fds 0, 1, 2, its channel (one or two) and
 * those of its own loop (two), nothing else. */
static void
test_server_child_inherits_only_stdio_and_its_channel(void **state)
{
    (void)state;
    run(body_fds, NULL);
}

/* --- 6. crash-proof sends ------------------------------------------------- */

#define CRASH_ROUNDS (RUNNING_ON_VALGRIND ? 20 : 200) /* the 4 ways in turn */
#define BURST 20
#define BIG_LEN (700 * 1024) /* the last: more than a ring holds */

enum way { W_SEGV, W_ABORT, W_EXIT, W_KILL, WAYS };

static const ax_exit_info wanted_way[WAYS] = {
    [W_SEGV] = {AX_EXIT_SIGNAL, 0, SIGSEGV, false},
    [W_ABORT] = {AX_EXIT_SIGNAL, 0, SIGABRT, false},
    [W_EXIT] = {AX_EXIT_ERROR, 3, 0, false},
    [W_KILL] = {AX_EXIT_SIGNAL, 0, SIGKILL, false},
};

/* Take ["crash", way], send BURST ["last", k, bytes], die that way. */
static int
crasher(void *arg)
{
    static char payload[BIG_LEN];
    int64_t way = -1;
    ax_msg *m;

    (void)arg;
    no_core_dumps();
    if (ax_recv_match("crash", &m, AX_FOREVER) != 0 ||
        ax_msg_unpack(m, "[_ i]", &way) != 0) {
        return 2;
    }
    for (int64_t k = 0; k < BURST; k++) {
        ax_sendf(ax_msg_sender(m), "[s i B]", "last", k, payload,
                 k == BURST - 1 ? (size_t)BIG_LEN : (size_t)8);
    }
    if (way == W_SEGV) {
        null_store();
    } else if (way == W_ABORT) {
        abort();
    } else if (way == W_EXIT) {
        _exit(3);
    }
    raise(SIGKILL);
    return 4;
}

/* One round: every "last" in order, then a DOWN that says how. */
static bool
crash_round(int r)
{
    ax_spawn_opts o = proc_opts();
    const ax_exit_info *w = &wanted_way[r % WAYS];
    bool ok = true;
    ax_exit_info i;
    int64_t k;
    ax_pid c;

    o.monitor = true;
    TH_CHECK_INT(ax_spawn(crasher, NULL, &o, &c), 0);
    TH_CHECK_INT(ax_sendf(c, "[s i]", "crash", (int64_t)(r % WAYS)), 0);
    for (k = 0; k < BURST && ok; k++) {
        ax_msg *m = NULL;
        int64_t n = -1;
        size_t len = 0;

        ok = ax_recv(&m, WAIT_MS) == 0 && ax_msg_has_tag(m, "last") &&
             ax_msg_unpack(m, "[_ i B]", &n, NULL, &len) == 0 && n == k &&
             len == (k == BURST - 1 ? (size_t)BIG_LEN : 8u);
        ax_msg_free(m);
    }
    if (!ok) { /* a DOWN came first, or nothing */
        th_fail(__FILE__, __LINE__, "round %d: message %lld lost", r,
                (long long)k - 1);
        return false;
    }
    i = expect_down(c, NULL);
    check_reason(__LINE__, "DOWN", i, w->kind, w->code, w->signal);
    return i.kind == w->kind;
}

static void
body_crash_sends(void *arg)
{
    (void)arg;
    for (int r = 0; r < CRASH_ROUNDS && crash_round(r); r++) {
    }
}

/* A server-started actor that sends 20 messages (the last 700 KiB) and
 * dies at once (NULL store, abort, _exit(3), SIGKILL): all 20 arrive, in
 * order, before its DOWN, which says how it died. 50 rounds each way (5
 * under valgrind). A promise of the rings: with AXON_CARRIER=pipes a send
 * is out only when the turn flushes, and the test does not apply. */
static void
test_server_child_sends_arrive_before_its_crash(void **state)
{
    (void)state;
    if (!th_rings()) {
        skip();
    }
    run(body_crash_sends, NULL);
}

/* --- 7. the server dies --------------------------------------------------- */

static void
body_server_dies(void *arg)
{
    ax_spawn_opts o = proc_opts();
    int srv = server_pid(), os[3] = {0};
    ax_pid idle[3], late = AX_PID_NONE;
    uint64_t t0;
    probe p;

    (void)arg;
    TH_CHECK(srv > 0);
    if (srv <= 0) {
        return;
    }
    o.monitor = true;
    for (int i = 0; i < 3; i++) {
        idle[i] = spawn(probe_actor, NULL, &o);
        ping(idle[i], i, &p); /* started: the server knows it */
        os[i] = p.os;
        TH_CHECK_INT(p.ppid, srv);
    }
    TH_CHECK_INT(kill(srv, SIGKILL), 0);
    for (int i = 0; i < 3; i++) {
        CHECK_REASON(expect_down(idle[i], NULL), AX_EXIT_SIGNAL, 0, SIGKILL);
    }
    t0 = t_now_ns();
    for (int i = 0; i < 3; i++) { /* they died with it */
        while (!os_gone(os[i]) && ms_since(t0) < WAIT_MS) {
            ax_sleep(5);
        }
        TH_CHECK(os_gone(os[i]));
    }
    TH_CHECK(os_gone(srv)); /* and it was reaped */
    /* What would start from it fails; a pointer still forks from here. */
    TH_CHECK_INT(ax_spawn(probe_actor, NULL, &o, &late), AX_ECHILD);
    TH_CHECK(strstr(ax_error_detail(), "fork server") != NULL);
    o.arg_size = sizeof(srv);
    TH_CHECK_INT(ax_spawn(probe_actor, &srv, &o, &late), AX_ECHILD);
    o.arg_size = 0;
    late = spawn(probe_actor, &srv, &o);
    if (ping(late, 9, &p) == 0) {
        TH_CHECK_INT(p.ppid, getpid());
    }
    ax_sendf(late, "[s]", "stop");
    CHECK_REASON(expect_down(late, NULL), AX_EXIT_NORMAL, 0, 0);
}

/* The server SIGKILLed: its three idle children's monitors get a DOWN
 * signal 9, their processes are gone, a later spawn through it (arg NULL
 * or copied) fails with AX_ECHILD (the detail names the fork server), one
 * with a pointer still forks from here; ax_fini leaves nothing. */
static void
test_server_death_kills_its_children_and_fails_later_spawns(void **state)
{
    (void)state;
    run(body_server_dies, NULL);
}

/* Says hello to the actor whose address it was given, then waits. */
static int
hello_actor(void *arg)
{
    ax_msg *m = NULL;

    ax_sendf(*(const ax_pid *)arg, "[s]", "hi");
    ax_recv(&m, AX_FOREVER);
    ax_msg_free(m);
    return 0;
}

static void
body_server_dies_as_its_child_speaks(void *arg)
{
    ax_spawn_opts o = proc_opts();
    ax_pid me = ax_self(), c;
    int srv = server_pid();
    ax_msg *m = NULL;

    (void)arg;
    o.monitor = true;
    o.arg_size = sizeof(me);
    c = spawn(hello_actor, &me, &o);
    TH_CHECK_INT(ax_recv(&m, WAIT_MS), 0); /* it ran */
    ax_msg_free(m);
    TH_CHECK_INT(kill(srv, SIGKILL), 0);
    CHECK_REASON(expect_down(c, NULL), AX_EXIT_SIGNAL, 0, SIGKILL);
}

#define SPEAK_ROUNDS (RUNNING_ON_VALGRIND ? 3 : 30)

/* The server SIGKILLed the moment its new child's first message arrives
 * (before the server may have said the child started, were it not held
 * at the start gate until it did): the child is reported killed by
 * signal 9, never "fork failed". SPEAK_ROUNDS runtimes in a row. */
static void
test_a_child_that_ran_is_never_reported_unstarted(void **state)
{
    (void)state;
    for (int i = 0; i < SPEAK_ROUNDS; i++) {
        run(body_server_dies_as_its_child_speaks, NULL);
    }
}

/* --- 8. a burst ----------------------------------------------------------- */

#define BURST_N (RUNNING_ON_VALGRIND ? 100 : 1000)

static void
body_burst(void *arg)
{
    static bool pong[1000];
    ax_spawn_opts o = proc_opts();
    int pongs = 0, downs = 0, rc;
    uint64_t t0 = t_now_ns();

    (void)arg;
    memset(pong, 0, sizeof(pong));
    o.monitor = true;
    for (int i = 0; i < BURST_N; i++) { /* no yield: queued, then forked */
        ax_pid kid;

        if ((rc = ax_spawn(probe_actor, NULL, &o, &kid)) < 0) {
            th_fail(__FILE__, __LINE__, "spawn %d: %s", i, ax_strerror(rc));
            return;
        }
        TH_CHECK_INT(ax_sendf(kid, "[s i]", "last", (int64_t)i), 0);
    }
    while (pongs < BURST_N || downs < BURST_N) {
        ax_exit_info x;
        int64_t n = -1;
        ax_msg *m;

        if (ax_recv(&m, WAIT_MS) < 0) {
            th_fail(__FILE__, __LINE__, "%d pongs and %d DOWNs of %d", pongs,
                    downs, BURST_N);
            return;
        }
        if (ax_msg_has_tag(m, "pong") &&
            ax_msg_unpack(m, "[s i *]", NULL, NULL, &n) == 0 && n >= 0 &&
            n < BURST_N && !pong[n]) {
            pong[n] = true;
            pongs++;
        } else if (ax_down_msg_parse(m, NULL, NULL, &x) == 0) {
            TH_CHECK_INT(x.kind, AX_EXIT_NORMAL); /* each monitor: once */
            downs++;
        } else {
            th_fail(__FILE__, __LINE__, "an unexpected message");
        }
        ax_msg_free(m);
    }
    print_message("  %d spawns, answers and DOWNs in %lld ms\n", BURST_N,
                  (long long)ms_since(t0));
}

/* One actor spawns 1,000 process actors through the server without
 * yielding, each asked at once for one answer: every answer and every
 * DOWN (normal) arrives, once; ax_fini leaves no child. */
static void
test_burst_of_server_children_all_answer_and_end(void **state)
{
    (void)state;
    run(body_burst, NULL);
}

/* --- 9. validation, and init/fini ----------------------------------------- */

static void
body_validation(void *arg)
{
    static unsigned char big[AX_ARG_MAX + 1];
    ax_spawn_opts o;
    ax_pid pid = AX_PID_NONE;
    blob *b = (blob *)big;
    ax_msg *m = NULL;
    uint64_t sum = 0;

    (void)arg;
    for (int k = 0; k < 2; k++) {
        o = k == 0 ? proc_opts() : coro_opts();
        o.arg_size = AX_ARG_MAX + 1;
        TH_CHECK_INT(ax_spawn(blob_actor, big, &o, &pid), AX_EINVAL);
        TH_CHECK(strstr(ax_error_detail(), "arg_size") != NULL);
        o.arg_size = 16;
        TH_CHECK_INT(ax_spawn(blob_actor, NULL, &o, &pid), AX_EINVAL);
        TH_CHECK(ax_pid_is_none(pid));
    }
    TH_CHECK_INT(ax_recv(&m, 200), AX_ETIMEDOUT); /* nothing ran */
    ax_msg_free(m);
    /* AX_ARG_MAX itself goes through the server. */
    memset(big, 0x5a, sizeof(big));
    b->to = ax_self();
    o = proc_opts();
    o.arg_size = AX_ARG_MAX;
    spawn(blob_actor, big, &o);
    if (expect_args("sum", "[_ u _ _]", &sum) == 0) {
        TH_CHECK(sum == checksum(b->bytes, BLOB_LEN));
    }
}

/* arg_size over AX_ARG_MAX, or with a NULL arg, is AX_EINVAL for both
 * placements and runs nothing; AX_ARG_MAX bytes go through the server. */
static void
test_bad_arg_size_is_refused(void **state)
{
    (void)state;
    run(body_validation, NULL);
}

/* ax_init and ax_fini with forkserver on, 20 times: one server each time
 * (a second ax_init starts none), gone with ax_fini, with its fds. */
static void
test_init_fini_twenty_times_leaves_nothing(void **state)
{
    int fds = t_count_fds(), first;

    (void)state;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(ax_init(&fs_opts), 0);
        assert_int_equal(os_children(&first), 1);
        assert_int_equal(ax_init(&fs_opts), AX_EALREADY);
        assert_int_equal(os_children(&first), 1);
        ax_fini();
        assert_int_equal(os_children(&first), 0);
        assert_int_equal(t_count_fds(), fds);
    }
}

/* --- 10. nested ----------------------------------------------------------- */

/* Told ["nest"], spawn a probe_actor of its own (no server here: a fork
 * from this process), ping it and report ["nested", its pid, its parent,
 * mine, my parent]. */
static int
nesting_actor(void *arg)
{
    ax_spawn_opts o = {.placement = AX_PLACE_PROCESS};
    int64_t n = -1;
    int os = 0, ppid = 0;
    ax_pid leaf;
    ax_msg *m, *nest;

    (void)arg;
    if (ax_recv_match("nest", &nest, AX_FOREVER) < 0 ||
        ax_spawn(probe_actor, NULL, &o, &leaf) < 0 ||
        ax_sendf(leaf, "[s i]", "last", (int64_t)77) < 0 ||
        ax_recv_match("pong", &m, WAIT_MS) < 0) {
        return 2;
    }
    if (ax_msg_unpack(m, "[_ i d d _]", &n, &os, &ppid) < 0 || n != 77) {
        return 3;
    }
    ax_sendf(ax_msg_sender(nest), "[s d d d d]", "nested", os, ppid,
             (int)getpid(), (int)getppid());
    ax_msg_free(m);
    ax_msg_free(nest);
    return 0;
}

static void
body_nested(void *arg)
{
    ax_spawn_opts o = proc_opts();
    int leaf = 0, leaf_parent = 0, mid = 0, mid_parent = 0;
    ax_pid c;

    (void)arg;
    c = spawn(nesting_actor, NULL, &o);
    ax_sendf(c, "[s]", "nest");
    if (expect_args("nested", "[_ d d d d]", &leaf, &leaf_parent, &mid,
                    &mid_parent) < 0) {
        return;
    }
    TH_CHECK_INT(mid_parent, server_pid());
    TH_CHECK_INT(leaf_parent, mid); /* forked by the middle process */
    TH_CHECK(leaf != mid && leaf != getpid());
    CHECK_REASON(join(c), AX_EXIT_NORMAL, 0, 0);
}

/* A server-started process actor spawns a process actor of its own: it is
 * forked from that process (only the top one has a server) and answers
 * through it. */
static void
test_server_child_spawns_its_own_process_actor(void **state)
{
    (void)state;
    run(body_nested, NULL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_server_child_answers_and_is_not_our_child),
        T(test_arg_size_copy_is_what_the_actor_sees),
        T(test_server_child_sees_the_program_as_at_init),
        T(test_server_child_exit_reasons_reach_monitors_and_links),
        cmocka_unit_test_setup_teardown(
            test_server_child_inherits_only_stdio_and_its_channel, setup_leak,
            teardown_leak),
        T(test_server_child_sends_arrive_before_its_crash),
        T(test_server_death_kills_its_children_and_fails_later_spawns),
        T(test_a_child_that_ran_is_never_reported_unstarted),
        T(test_burst_of_server_children_all_answer_and_end),
        T(test_bad_arg_size_is_refused),
        T(test_init_fini_twenty_times_leaves_nothing),
        T(test_server_child_spawns_its_own_process_actor),
    };

    th_runtime_opts = &fs_opts;
    return process_test_main(tests, sizeof(tests) / sizeof(tests[0]));
}
