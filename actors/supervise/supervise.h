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

#endif /* AXON_ACTORS_SUPERVISE_SUPERVISE_H */
