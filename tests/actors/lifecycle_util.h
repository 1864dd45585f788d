/*
 * tests/actors/lifecycle_util.h - what the tests of how actors wait and
 * end share (kill_test.c, on_exit_test.c, sched_test.c, links_test.c,
 * monitor_test.c, runtime_test.c): the driver's helpers around the
 * harness (tests/support/actor_harness.h) and a few small actors.
 *
 * Everything here runs in an actor (the harness's driver or an actor
 * under test) unless it says otherwise, and checks with TH_CHECK, never
 * with cmocka asserts (run() excepted: it is called by a cmocka test).
 */
#ifndef AXON_TESTS_ACTORS_LIFECYCLE_UTIL_H
#define AXON_TESTS_ACTORS_LIFECYCLE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "support/actor_harness.h"

/* Microseconds since t0 (a t_now_ns() value). Anywhere. */
int64_t elapsed_us(uint64_t t0);

/* The number of actors of this process's runtime now. */
size_t live_actors(void);

/*
 * In an actor: receive the first message and unpack it with fmt (strings
 * must not be asked for: the message is freed). Returns 0 or an error.
 */
int recv_args(const char *fmt, ...);

/* An actor that returns 0 at once. */
int return_zero_actor(void *arg);

/* Spawn fn with th_opts() and a monitor of the driver's (th_join uses
 * it). */
ax_pid spawn_monitored(ax_actor_fn fn);

/*
 * Let an actor that announced a wait reach it: a coroutine is parked
 * before the driver runs again, a process actor may still be on its way.
 */
void settle(void);

/*
 * th_expect, naming what came instead: receive one message within ms and
 * check its tag; returns it (the caller frees it) or NULL.
 */
ax_msg *expect(const char *tag, int ms);

/* Check that no message with tag comes within ms. */
void expect_none(const char *tag, int ms);

/* Receive ["tag", int] and return the int (or -12345). */
int expect_int(const char *tag);

/* th_run, then: ax_fini left no watcher active in libev's default loop
 * (a killed actor's timer or io watcher, say). Call from a cmocka test. */
void run(void (*body)(void *arg), void *arg);

#endif /* AXON_TESTS_ACTORS_LIFECYCLE_UTIL_H */
