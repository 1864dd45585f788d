/*
 * actors/supervise/supervise.h - what supervisors and servers share
 * (internal): the start handshake.
 *
 * A supervisor or a server started from an actor answers only once its
 * start is done (its children started, its init ran), as Erlang's
 * start_link does: the new actor sends ["ax_started", self, rc, detail]
 * to the one waiting, which watches it with a monitor meanwhile.
 */
#ifndef AXON_ACTORS_SUPERVISE_SUPERVISE_H
#define AXON_ACTORS_SUPERVISE_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>

#include <axon/actor.h>

/* In the new actor: tell caller (NONE: nobody waits) how the start went;
 * rc < 0 sends ax_error_detail() with it. */
void ax__tell_started(ax_pid caller, int rc);

/*
 * In the actor that spawned pid (which has not run yet: a spawn does not
 * yield): wait for its word. Returns its rc (its detail set), or
 * AX_ECHILD if it ended first ("what ended before ...": what names it).
 */
int ax__await_started(ax_pid pid, const char *what);

/*
 * Pools as supervisors' children (pool.c): the pool actor's function,
 * whether len bytes at boot are a boot record it can run from, and who
 * waits for its start (set in the copy a supervisor spawns it with).
 */
int ax__pool_main(void *boot);
bool ax__pool_boot_ok(const void *boot, size_t len);
void ax__pool_boot_caller(void *boot, ax_pid caller);

#endif /* AXON_ACTORS_SUPERVISE_SUPERVISE_H */
