/*
 * tests/actors/process_util.c - see process_util.h.
 */
#include "process_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

ax_pid g_driver;
fd_list g_base;
int g_record_fd = -1;

void
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

const fd_ent *
fds_find(const fd_list *l, int fd)
{
    for (int i = 0; i < l->n; i++) {
        if (l->e[i].fd == fd) {
            return &l->e[i];
        }
    }
    return NULL;
}

bool
is_base_fd(const fd_ent *e)
{
    const fd_ent *b = fds_find(&g_base, e->fd);

    return b != NULL && strcmp(b->target, e->target) == 0;
}

bool
is_pipe(const fd_ent *e)
{
    return strncmp(e->target, "pipe:", 5) == 0;
}

void
put_record(int fd, char tag)
{
    char rec[32];
    int n = snprintf(rec, sizeof(rec), "%c%ld\n", tag, (long)getpid());

    if (write(fd, rec, (size_t)n) != n) {
        /* the test misses this record and says so */
    }
}

void
read_all(int fd, char *buf, size_t size)
{
    size_t off = 0;
    ssize_t n;

    while (off < size - 1 && (n = read(fd, buf + off, size - 1 - off)) > 0) {
        off += (size_t)n;
    }
    buf[off] = '\0';
}

ax_spawn_opts
proc_opts(void)
{
    ax_spawn_opts o;

    memset(&o, 0, sizeof(o));
    o.placement = AX_PLACE_PROCESS;
    return o;
}

ax_spawn_opts
coro_opts(void)
{
    ax_spawn_opts o = proc_opts();

    o.placement = AX_PLACE_COROUTINE;
    return o;
}

int64_t
ms_since(uint64_t t0)
{
    return (int64_t)((t_now_ns() - t0) / 1000000u);
}

_Noreturn void
deaf_forever(void)
{
    for (;;) {
        pause();
    }
}

ax_msg *
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

int
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

const ax_exit_info no_info = {AX_EXIT_NOPROC, -1, -1, false};

ax_exit_info
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

ax_exit_info
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

ax_exit_info
join(ax_pid pid)
{
    ax_exit_info i = no_info;
    int rc = ax_wait(pid, &i, WAIT_MS);

    if (rc < 0) {
        th_fail(__FILE__, __LINE__, "ax_wait: %s", ax_strerror(rc));
    }
    return i;
}

/* What the body spawned (spawn, remember); run_body kills what is left. */
static ax_pid g_spawned[64];
static int g_nspawned;

void
remember(ax_pid pid)
{
    if (g_nspawned < 64) {
        g_spawned[g_nspawned++] = pid;
    }
}

ax_pid
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

/* A body and its argument, for th_run. */
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

void
run(void (*fn)(void *arg), void *arg)
{
    struct body b = {fn, arg};

    th_run(run_body, &b);
}

void
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

int
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

int
process_test_main(const struct CMUnitTest *tests, size_t n)
{
    signal(SIGPIPE, SIG_DFL);
    fds_snapshot(&g_base);
    if (getenv("PROCESS_TEST_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("PROCESS_TEST_FILTER"));
    }
    th_main_setup();
    th_placement = AX_PLACE_PROCESS;
    return _cmocka_run_group_tests("process actors", tests, n, NULL, NULL);
}
