/*
 * axon/pool.h - pools: N workers of either placement behind one address.
 *
 * A pool is an actor that starts `workers` workers, each a server
 * (<axon/server.h>: its init, handle_call and terminate callbacks; casts
 * and information are not used), linked to it. ax_pool_call sends a
 * request to the pool, which gives it to the worker with the fewest
 * requests in hand and answers the caller with the worker's reply. A
 * worker that ends (a crash, a kill, SIGKILL from outside) is replaced;
 * every request it had in hand is answered with AX_ECONNRESET, so no
 * caller waits in vain. More than `intensity` replacements within
 * `period_ms` end the pool with AX_SUP_GAVE_UP (every request in hand
 * answered with an error first). A pool ends its workers when it is
 * stopped; a pool killed ends them through their links.
 */
#ifndef AXON_POOL_H
#define AXON_POOL_H

#include <axon/server.h>
#include <axon/supervisor.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ax_pool_spec {
    size_t workers;         /* 1 to AX_POOL_MAX_WORKERS */
    ax_server_callbacks cb; /* each worker's; handle_call is needed */
    void *arg;              /* init's argument (as ax_server_start's) */
    size_t arg_size;        /* not 0: each worker gets a copy */
    ax_spawn_opts worker;   /* placement, place_as, stack, mailbox of the
                               workers (name, link, monitor: ignored) */
    int intensity;          /* replacements allowed within period_ms;
                               0: 3 per worker */
    int period_ms;          /* 0: 5000 */
} ax_pool_spec;

#define AX_POOL_MAX_WORKERS 1024

/*
 * ax_pool_start - spawn a pool of spec's workers (opts: the pool actor's
 * own, NULL: a coroutine). spec is copied. From an actor, returns once
 * every worker was spawned (a spawn's failure is the error, the pool
 * ended); a worker whose init fails ends and is replaced, as after a
 * crash.
 * Returns 0 and the pool's address in *out (may be NULL), AX_EINVAL (no
 * handle_call, a worker count out of range), AX_EMSGSIZE (arg_size over
 * AX_ARG_MAX less a little), or a start's error.
 * Context: anywhere after ax_init (may yield in an actor).
 */
int ax_pool_start(const ax_pool_spec *spec, const ax_spawn_opts *opts,
                  ax_pid *out);

/*
 * ax_pool_child_spec - a supervisor's child spec whose child is a pool of
 * spec (laid out in buf, size bytes, which must stay until the
 * supervisor's start returns; out->opts.name may name it). Permanent,
 * with shutdown AX_SHUTDOWN_INFINITY (it stops its workers first).
 * Returns 0, AX_EMSGSIZE (buf too small: *needed, if not NULL, says how
 * big), or AX_EINVAL as ax_pool_start. Context: anywhere.
 */
int ax_pool_child_spec(ax_child_spec *out, const char *id,
                       const ax_pool_spec *spec, void *buf, size_t size,
                       size_t *needed);

/*
 * ax_pool_call - a request to one of pool's workers, and its reply.
 * Takes req. Returns 0 (the caller owns *reply), AX_ECONNRESET (the
 * worker that had it ended before answering), AX_EAGAIN (no worker is
 * running now), or as ax_call (AX_ETIMEDOUT, AX_ESRCH: the pool).
 * Context: actor, may yield.
 */
int ax_pool_call(ax_pid pool, ax_msg *req, ax_msg **reply, int timeout_ms);

/*
 * ax_pool_stop - stop pool's workers (["shutdown"], then a kill after 5 s)
 * and the pool; requests in hand are answered with AX_ECONNRESET.
 * Returns 0, AX_ESRCH, AX_ETIMEDOUT (then the pool is killed).
 * Context: actor, may yield.
 */
int ax_pool_stop(ax_pid pool, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* AXON_POOL_H */
