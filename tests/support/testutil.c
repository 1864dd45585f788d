/*
 * tests/support/testutil.c - fd and child accounting for tests.
 */
#include "support/testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int
t_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n - 1; /* the directory stream's own fd */
}

void
t_assert_clean(int fds_before)
{
    pid_t pid = waitpid(-1, NULL, WNOHANG);

    assert_int_equal(t_count_fds(), fds_before);
    /* -1/ECHILD: no child at all. 0 would mean one is still running. */
    assert_int_equal(pid, -1);
    assert_int_equal(errno, ECHILD);
}

int
t_setup(void **state)
{
    intptr_t fds = t_count_fds();

    *state = (void *)fds;
    return fds < 0 ? -1 : 0;
}

int
t_teardown(void **state)
{
    t_assert_clean((int)(intptr_t)*state);
    return 0;
}

pid_t
t_fork(int (*fn)(void *arg), void *arg)
{
    pid_t pid;

    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(fn(arg));
    }
    return pid;
}

int
t_wait(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return WEXITSTATUS(status);
}

uint64_t
t_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

long
t_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;

    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}
