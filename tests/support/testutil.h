/*
 * tests/support/testutil.h - what every axon test needs: fd and child
 * accounting, forking a child that reports through its exit status.
 *
 * Use:
 *   static int setup(void **state) { return t_setup(state); }
 *   static int teardown(void **state) { return t_teardown(state); }
 * t_teardown fails the test if an fd opened during it is still open or a
 * child is left unreaped.
 */
#ifndef AXON_TESTS_TESTUTIL_H
#define AXON_TESTS_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

/* The number of fds open in this process now (from /proc/self/fd). */
int t_count_fds(void);

/* cmocka group/test setup and teardown that check fds and children. */
int t_setup(void **state);
int t_teardown(void **state);

/* Fail the test if fds were left open or a child is unreaped. */
void t_assert_clean(int fds_before);

/*
 * t_fork - run fn(arg) in a forked child, which ends with _exit(fn's
 * result). The child must not call cmocka asserts: it reports with its
 * exit status (0 = success, anything else names what failed).
 * Returns the child's pid (the test fails if fork fails).
 */
pid_t t_fork(int (*fn)(void *arg), void *arg);

/*
 * t_wait - wait (blocking) for the child and return its exit code, or
 * 128 + signal number if a signal killed it.
 */
int t_wait(pid_t pid);

/* t_now_ns - CLOCK_MONOTONIC in nanoseconds. */
uint64_t t_now_ns(void);

/* t_rss_kib - resident set size of this process in KiB. */
long t_rss_kib(void);

/* CHILD_CHECK - in a forked child: if cond is false, _exit(code). */
#define CHILD_CHECK(cond, code)                                                \
    do {                                                                       \
        if (!(cond)) {                                                         \
            _exit(code);                                                       \
        }                                                                      \
    } while (0)

#endif /* AXON_TESTS_TESTUTIL_H */
