/*
 * tests/actors/process_util.h - what the tests of process actors share
 * (process_isolation_test.c, process_exits_test.c, process_scale_test.c,
 * process_promotion_test.c, process_shutdown_test.c, process_names_test.c,
 * process_bad_bytes_test.c): gipc's lessons (seeds/gipc-challenges.rst,
 * DESIGN.md invariants 1-7), one test each.
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
#ifndef AXON_TESTS_ACTORS_PROCESS_UTIL_H
#define AXON_TESTS_ACTORS_PROCESS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "support/actor_harness.h"
#include "base/sanitizers.h"

/* The limit of waits that normally take milliseconds. */
#define WAIT_MS (RUNNING_ON_VALGRIND ? 60000 : 20000)

/*
 * The driver's address: set by each body before it spawns anything, so a
 * child gets it at its fork.
 */
extern ax_pid g_driver;

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
extern fd_list g_base;

/*
 * The fds of this process, without those at or above its RLIMIT_NOFILE:
 * valgrind keeps its own fds there (and makes new ones in a child).
 */
void fds_snapshot(fd_list *l);

/* The entry of fd in l, or NULL. */
const fd_ent *fds_find(const fd_list *l, int fd);

/* Whether e is one of the fds main() began with (same fd, same file). */
bool is_base_fd(const fd_ent *e);

/* Whether e is a pipe end. */
bool is_pipe(const fd_ent *e);

/* --- records: lines "<tag><getpid()>" written to a pipe ------------------- */

/* The write end the records of the current test go to (-1: none). */
extern int g_record_fd;

/* Write the record "<tag><getpid()>\n" to fd. */
void put_record(int fd, char tag);

/* Everything the (nonblocking) read end holds, NUL-terminated. */
void read_all(int fd, char *buf, size_t size);

/* --- small helpers ---------------------------------------------------------
 */

/* Spawn options with AX_PLACE_PROCESS (and nothing else set). */
ax_spawn_opts proc_opts(void);

/* Spawn options with AX_PLACE_COROUTINE (and nothing else set). */
ax_spawn_opts coro_opts(void);

/* Milliseconds since t0 (a t_now_ns() value). */
int64_t ms_since(uint64_t t0);

/* Never return to the loop: frames on the channel go unread. */
_Noreturn void deaf_forever(void);

/* In the driver: the oldest message tagged tag (others stay queued), or
 * NULL after a failed check. */
ax_msg *expect_tag(const char *tag);

/* expect_tag, then unpack it with fmt (no strings: it is freed). Returns 0,
 * or -1 after a failed check. */
int expect_args(const char *tag, const char *fmt, ...);

/* What the expect_* functions and join return after a failed check. */
extern const ax_exit_info no_info;

/* The DOWN of pid (its monitor reference in *ref if not NULL). */
ax_exit_info expect_down(ax_pid pid, uint64_t *ref);

/* The EXIT of linked pid (the driver traps exits). */
ax_exit_info expect_exit(ax_pid pid);

/* ax_wait for pid (up to WAIT_MS); how it ended. */
ax_exit_info join(ax_pid pid);

/*
 * Every actor a body spawns goes through spawn(), which remembers it: when
 * the body returns, run() kills what is still alive, so that a failed
 * check ends the test instead of leaving th_run waiting for a child.
 */

/* Remember pid (an actor the body did not spawn itself) to be killed. */
void remember(ax_pid pid);

/* ax_spawn and remember; a failure is a failed check. */
ax_pid spawn(ax_actor_fn fn, void *arg, const ax_spawn_opts *o);

/*
 * process_test_main - the main() of every process_*_test.c after its
 * table: SIGPIPE back to its default (the first channel must make it
 * harmless by itself; process_isolation_test.c checks that it did), the
 * fds main() began with (g_base), PROCESS_TEST_FILTER (e.g. "*promot*"),
 * the harness, process placement; then the tests.
 */
int process_test_main(const struct CMUnitTest *tests, size_t n);

/* th_run(fn, arg), then kill what the body spawned and left alive. Call
 * from a cmocka test. */
void run(void (*fn)(void *arg), void *arg);

/* Check an exit reason exactly (a core is never dumped here). */
#define CHECK_REASON(got, kind, code, sig)                                     \
    check_reason(__LINE__, #got, got, kind, code, sig)

/* CHECK_REASON's body: a failed check at line if got is not that reason. */
void check_reason(int line, const char *what, ax_exit_info got,
                  ax_exit_kind kind, int code, int sig);

/* --- actors used by several tests ---------------------------------------- */

/* Report ["up", getpid()], then wait for ["stop"]. */
int blocked_actor(void *arg);

#endif /* AXON_TESTS_ACTORS_PROCESS_UTIL_H */
