/*
 * tests/support/actor_harness.h - run an actor-level test body in a fresh
 * runtime, once per placement.
 *
 * A test body runs inside a "driver" coroutine actor of the test process.
 * It spawns the actors under test with th_opts() (placement as the group
 * asks) and checks what they send back with TH_CHECK. cmocka asserts never
 * run on a coroutine stack (their longjmp would tear the scheduler apart):
 * TH_CHECK records a failure, and th_run asserts after the runtime ended,
 * that there were none, that no actor is left, and that the runtime ended
 * without error.
 *
 * Actors under test may run in another process: they talk to the driver
 * only with messages, never through shared variables.
 */
#ifndef AXON_TESTS_ACTOR_HARNESS_H
#define AXON_TESTS_ACTOR_HARNESS_H

#include <axon.h>

#include "support/testutil.h"

/* The placement the current group runs with. */
extern ax_placement th_placement;

/* Spawn options with the group's placement (and nothing else set). */
ax_spawn_opts th_opts(void);

/* Record a failed check (file:line and a sentence); the body goes on. */
void th_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define TH_CHECK(cond)                                                         \
    do {                                                                       \
        if (!(cond)) {                                                         \
            th_fail(__FILE__, __LINE__, "check failed: %s", #cond);            \
        }                                                                      \
    } while (0)

#define TH_CHECK_INT(a, b)                                                     \
    do {                                                                       \
        long long th_a_ = (long long)(a), th_b_ = (long long)(b);              \
        if (th_a_ != th_b_) {                                                  \
            th_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, \
                    th_a_, #b, th_b_);                                         \
        }                                                                      \
    } while (0)

/*
 * th_run - init a runtime, run body(arg) as the driver actor, run the
 * runtime until every actor is gone, fini; then assert: no failed check,
 * ax_run returned 0, no actor left. Call from a cmocka test function.
 */
void th_run(void (*body)(void *arg), void *arg);

/* Whether process channels carry their frames in shared rings (not with
 * AXON_CARRIER=pipes): some promises hold only there. */
bool th_rings(void);

/* The options th_run gives ax_init (NULL, the default: none). */
extern const ax_runtime_opts *th_runtime_opts;

/*
 * th_main_setup - call first in main(): creates libev's default loop, whose
 * fds live as long as the process (the application owns that loop), so
 * that per-test fd counts see only what a test leaves behind.
 */
void th_main_setup(void);

/* Spawn fn (argument NULL) with o; a failure is a failed check. */
ax_pid th_spawn_with(ax_actor_fn fn, const ax_spawn_opts *o);

/* Spawn fn with th_opts(). */
ax_pid th_spawn(ax_actor_fn fn);

/* Wait (up to 5 s) for pid's end and return how it ended. */
ax_exit_info th_join(ax_pid pid);

/* An actor that blocks in a receive that nothing matches, until killed
 * (returns 1 if it ever gets ["never"]). */
int th_blocked_actor(void *arg);

/* Receive one message and check its tag; returns it (caller frees) or NULL. */
ax_msg *th_expect(const char *tag, int timeout_ms);

#endif /* AXON_TESTS_ACTOR_HARNESS_H */
