/*
 * axon/supervisor.h - supervisors: actors that start children from specs,
 * restart them when they end, and stop them in order.
 *
 * A supervisor is an actor (coroutine or process, as any) that starts its
 * children in the order of their specs, linked to it, and traps their
 * exits. When a child ends, its restart type says whether it comes back
 * (permanent: always; transient: unless it ended normally; temporary:
 * never) and the strategy says which children come back with it:
 *   AX_ONE_FOR_ONE   only the child that ended;
 *   AX_ONE_FOR_ALL   every child: the others are stopped (in reverse
 *                    order), then all start again in order;
 *   AX_REST_FOR_ONE  the child that ended and those after it;
 *   AX_DYNAMIC       as one for one, for children started at run time
 *                    from the one spec, a template
 *                    (ax_supervisor_start_child).
 * More than `intensity` restarts within `period_ms` means restarting does
 * not help: the supervisor stops every child and ends with an error,
 * code AX_SUP_GAVE_UP, so that its own supervisor (if any) takes over.
 * A supervisor that ends stops its children first, last started first:
 * each child gets the message ["shutdown"] and shutdown_ms to end, then it
 * is killed (code AX_KILL_SHUTDOWN); AX_SHUTDOWN_BRUTAL kills at once.
 * A restarted child keeps its spec's name (opts.name: registered again),
 * so that AXON_PLACE places it as before; its address is new.
 * The semantics, next to Erlang's: docs/supervision.md.
 */
#ifndef AXON_SUPERVISOR_H
#define AXON_SUPERVISOR_H

#include <stddef.h>

#include <axon/actor.h>

#ifdef __cplusplus
extern "C" {
#endif

/* When a child that ended is started again. */
typedef enum ax_restart {
    AX_RESTART_PERMANENT = 0, /* always */
    AX_RESTART_TRANSIENT,     /* unless it ended normally */
    AX_RESTART_TEMPORARY,     /* never: it is forgotten */
} ax_restart;

/* Which children start again when one must. */
typedef enum ax_strategy {
    AX_ONE_FOR_ONE = 0,
    AX_ONE_FOR_ALL,
    AX_REST_FOR_ONE,
    AX_DYNAMIC, /* children added at run time from one template (the one
                   spec), each alone: Erlang's simple_one_for_one */
} ax_strategy;

/* shutdown_ms of a spec: kill at once / wait for it as long as it takes
 * (a child that is a supervisor stops its own children first). */
#define AX_SHUTDOWN_BRUTAL (-1)
#define AX_SHUTDOWN_INFINITY (-2)

/* The exit code of a supervisor that gave up (too many restarts). */
#define AX_SUP_GAVE_UP (-1001)

/* The largest intensity (the supervisor keeps that many times). */
#define AX_SUP_MAX_INTENSITY 100000

/* Most children of one supervisor's spec (children added at run time
 * are not counted). */
#define AX_SUP_MAX_CHILDREN 256

/* Longest id of a child, bytes. */
#define AX_SUP_ID_MAX 63

/* A child: what to start and how to treat its end. */
typedef struct ax_child_spec {
    const char *id;     /* unique among the supervisor's children */
    ax_actor_fn fn;     /* its function */
    void *arg;          /* its argument: with opts.arg_size, copied into the
                           supervisor at its start (each start gets a copy
                           of that); without, passed as it is to each start
                           (it must then outlive the supervisor, and be
                           valid where the child runs: with the fork
                           server, only what existed at ax_init is) */
    ax_spawn_opts opts; /* placement, name, place_as, stack, mailbox,
                           arg_size; link and monitor are the
                           supervisor's (set for you) */
    ax_restart restart;
    int shutdown_ms; /* > 0: ["shutdown"], then this long, then a kill;
                        0: 5000; AX_SHUTDOWN_BRUTAL, AX_SHUTDOWN_INFINITY */
} ax_child_spec;

/* A supervisor. */
typedef struct ax_sup_spec {
    ax_strategy strategy;
    int intensity; /* restarts allowed within period_ms; 0: 3; at most
                      AX_SUP_MAX_INTENSITY */
    int period_ms; /* 0: 5000 */
    const ax_child_spec *children;
    size_t nchildren; /* at most AX_SUP_MAX_CHILDREN */
} ax_sup_spec;

/*
 * ax_supervisor_start - spawn a supervisor of spec's children, with opts
 * for the supervisor itself (NULL: a coroutine; link, monitor, name,
 * placement as for any spawn: a supervisor in a process actor has its
 * children there, and their children where they say).
 *
 * The spec is copied (ids, names, place_as, the args with arg_size):
 * it may go when this returns. Called from an actor, returns once every
 * child started, or the first start that failed (the children started
 * before it are stopped, the supervisor ended); called outside any
 * actor, returns at once and the supervisor starts its children when
 * the loop runs (a failure ends it with that error: monitor it).
 * Returns 0 and the supervisor's address in *out (may be NULL), or
 * AX_EINVAL (a spec without id or fn, two equal ids, an id too long, an
 * unknown strategy or restart type, too many children, an arg_size with
 * a NULL arg), AX_EMSGSIZE (the copy exceeds AX_ARG_MAX), any error of
 * ax_spawn, or the error a child's
 * start failed with (ax_error_detail() names the child).
 * Context: anywhere after ax_init (may yield in an actor).
 */
int ax_supervisor_start(const ax_sup_spec *spec, const ax_spawn_opts *opts,
                        ax_pid *out);

/* A child as ax_supervisor_children tells it. */
typedef struct ax_child_info {
    char id[AX_SUP_ID_MAX + 1];
    ax_pid pid;        /* AX_PID_NONE: not running */
    unsigned restarts; /* times it was started again */
} ax_child_info;

/*
 * ax_supervisor_children - the children of sup, in start order, into
 * out[0..max-1]; *n (may be NULL) how many it has.
 * Returns 0, AX_ESRCH (sup is not a live supervisor), AX_ETIMEDOUT.
 * Context: actor, may yield.
 */
int ax_supervisor_children(ax_pid sup, ax_child_info *out, size_t max,
                           size_t *n, int timeout_ms);

/*
 * Children at run time (each a call to sup; Context: actor, may yield).
 *
 * ax_supervisor_add_child - add spec as sup's last child and start it
 * (not for AX_DYNAMIC); spec is copied as by ax_supervisor_start.
 * ax_supervisor_start_child - AX_DYNAMIC: start a child of the template
 * with a copy of the size bytes at arg (size 0: the template's arg); its
 * id is the template's and a number, "worker.7".
 * ax_supervisor_terminate_child - stop child id as its spec says; it
 * stays down (not restarted, even by a sibling's restart) until
 * ax_supervisor_restart_child; a temporary or dynamic child is forgotten.
 * ax_supervisor_restart_child - start child id again, which is not
 * running. ax_supervisor_delete_child - forget child id, not running.
 * Each returns 0 (*out, may be NULL: the child's address), or AX_EINVAL
 * (a bad spec, or the wrong kind of supervisor), AX_EEXIST (the id is
 * taken), AX_ENOENT (no child id), AX_EBUSY (it is running), an error of
 * its start, AX_ESRCH / AX_ETIMEDOUT (sup).
 */
int ax_supervisor_add_child(ax_pid sup, const ax_child_spec *spec, ax_pid *out,
                            int timeout_ms);
int ax_supervisor_start_child(ax_pid sup, const void *arg, size_t size,
                              ax_pid *out, int timeout_ms);
int ax_supervisor_terminate_child(ax_pid sup, const char *id, int timeout_ms);
int ax_supervisor_restart_child(ax_pid sup, const char *id, ax_pid *out,
                                int timeout_ms);
int ax_supervisor_delete_child(ax_pid sup, const char *id, int timeout_ms);

/*
 * ax_supervisor_stop - stop sup as its own supervisor would: its
 * children in reverse start order, then it ends normally; wait for that.
 * Returns 0, AX_ESRCH, AX_ETIMEDOUT (it is killed then).
 * Context: actor, may yield.
 */
int ax_supervisor_stop(ax_pid sup, int timeout_ms);

/*
 * ax_supervisor_child_spec - a child spec whose child is a supervisor of
 * sub: supervisors nest into trees. The subtree is laid out in buf (size
 * bytes), which must stay until the parent's ax_supervisor_start
 * returns (the parent copies it). The spec is permanent, with shutdown
 * AX_SHUTDOWN_INFINITY (it stops its own children first); change
 * out->opts.placement to AX_PLACE_PROCESS to run the subtree in a process
 * of its own, or any field before the parent starts.
 * Returns 0, AX_EMSGSIZE (buf too small: *needed, if not NULL, says how
 * big it must be, as on success), or AX_EINVAL as ax_supervisor_start.
 * Context: anywhere.
 */
int ax_supervisor_child_spec(ax_child_spec *out, const char *id,
                             const ax_sup_spec *sub, void *buf, size_t size,
                             size_t *needed);

/*
 * ax_shutdown_requested - whether m is the ["shutdown"] a supervisor
 * sends a child it stops: the child should end (return) soon.
 */
bool ax_shutdown_requested(const ax_msg *m);

#ifdef __cplusplus
}
#endif

#endif /* AXON_SUPERVISOR_H */
