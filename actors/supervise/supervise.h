/*
 * actors/supervise/supervise.h - what supervisors, servers and pools
 * share (internal, shared.c): the start handshake, the restart window,
 * the stop by a call, and small helpers.
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
#include <stdint.h>

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

/* Milliseconds of the monotonic clock. */
uint64_t ax__now_ms(void);

/* ax_recv_if's test: whether m is the EXIT of the actor *(ax_pid *)pid. */
bool ax__exit_of(const ax_msg *m, void *pid);

/*
 * The restart window: the times of the last intensity + 1 restarts.
 * ax__window_init allocates it (AX_ENOMEM); ax__window_allows counts one
 * more restart now, and says whether it stays within intensity restarts
 * in period_ms (the oldest kept is older than the period).
 */
typedef struct ax__window {
    uint64_t *times;
    unsigned cap, n, next;
    int period_ms;
} ax__window;

int ax__window_init(ax__window *w, int intensity, int period_ms);
bool ax__window_allows(ax__window *w);
void ax__window_fini(ax__window *w);

/*
 * Stop pid, a linked actor whose exits we trap, and take its EXIT:
 * ["shutdown"] and ms to end (AX_SHUTDOWN_INFINITY: as long as it takes),
 * then a kill (AX_KILL_SHUTDOWN) and up to 10 s for the EXIT;
 * AX_SHUTDOWN_BRUTAL kills at once.
 */
void ax__stop_linked(ax_pid pid, int ms);

/* Stop pid by the call [tag] it answers as it ends normally, then wait
 * for its end; timed out: it is killed (AX_KILL_SHUTDOWN). Returns 0,
 * AX_ESRCH, AX_ETIMEDOUT. */
int ax__stop_by_call(ax_pid pid, const char *tag, int timeout_ms);

/*
 * Pools as supervisors' children (pool.c): the pool actor's function,
 * whether len bytes at boot are a boot record it can run from, and who
 * waits for its start (set in the copy a supervisor spawns it with).
 */
int ax__pool_main(void *boot);
bool ax__pool_boot_ok(const void *boot, size_t len);
void ax__pool_boot_caller(void *boot, ax_pid caller);

#endif /* AXON_ACTORS_SUPERVISE_SUPERVISE_H */
