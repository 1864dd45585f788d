/*
 * actors/process/process.h - the process layer: the spawner and the
 * child's clean start, reaping, promotion, placement, the shutdown of
 * children, and ax_init / ax_fini / ax_spawn, which put every layer
 * together (internal).
 *
 * The top layer of actors/ (docs/internals.md): it may use every layer
 * below; none of them uses it but through the hooks it registers.
 */
#ifndef AXON_ACTORS_PROCESS_PROCESS_H
#define AXON_ACTORS_PROCESS_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

#include "actors/names/names.h"

/* A pending fork: the child's channel exists, the process not yet. */
typedef struct fork_req fork_req;
typedef struct ax_ring_map ax_ring_map;

/* Bytes of each ring (one per direction) between a parent and a child. */
#define AX_PROC_RING ((size_t)512 << 10)

struct fork_req {
    fork_req *next;
    ax_actor_fn fn;
    void *arg;
    size_t stack_size;
    size_t mailbox_capacity;
    ax_pid pid;     /* the first actor's address, known before the fork */
    ax_pid spawner; /* who links to / monitors it, if asked */
    bool link;
    bool monitor;
    uint64_t mref;
    ax_peer *peer;      /* the parent's channel to the child */
    int child_fds[2];   /* the child's end(s): a socket, or two pipes */
    ax_ring_map *ring;  /* the child's hold on the channel's rings */
    ax_actor *promote;  /* ax_promote: the actor that moves */
    ax_stack arg_stack; /* the spawning actor's stack: arg may point in */
    bool has_arg_stack;
    size_t arg_size; /* not 0: arg is a copy (ax__alloc'd, or the fork
                        server's), copied again onto the actor's stack */
    bool via_server; /* forked by the fork server (forkserver.c) */
    int ring_fd;     /* via_server: the ring's memfd, to pass; else -1 */
};

/* What this process knows of a child it forked (peer->child). */
typedef struct ax_child {
    ax_peer *peer;   /* its channel and routes */
    pid_t os_pid;    /* its OS pid (0 until forked, -1: the fork failed) */
    ev_child cw;     /* its reaping watcher */
    ev_timer linger; /* reaped without EOF: stop waiting for it */
    bool reaped;     /* its exit status is in */
    int status;      /* its wait status */
    bool has_bye;    /* it said how its first actor ended */
    ax_exit_info bye;
    ev_timer kill_grace; /* its first actor was killed: read it, or die */
    uint64_t kill_mark;  /* where our stream stood after the kill */
    int kill_code;
    bool forced;          /* SIGKILLed: it did not read the kill */
    bool via_server;      /* the fork server's child: its end comes from it */
    bool q_asked;         /* asked whether it is quiet; no answer yet */
    uint64_t q_in, q_out; /* our frame counts on its channel when its
                             quiet answer was believed */
} ax_child;

/* Process-wide state of the process layer. */
typedef struct ax_proc {
    bool is_child;      /* this process was forked by axon */
    ax_actor *first;    /* this process's first actor, while it lives */
    ax_stack arg_stack; /* the spawner's stack, kept for the first
                           actor's arg until it ends */
    bool has_arg_stack;
    ax_exit_info first_exit; /* how this process's first actor ended */
    bool first_done;
    size_t children;     /* child processes not yet gone */
    size_t max_children; /* ax_runtime_opts.max_processes, or its default */
    fork_req *forks;     /* forks to do from the scheduler's context */
    fork_req **forks_tail;
    size_t nforks;          /* how many wait in forks */
    double stop_timeout[2]; /* ax_fini: before SIGTERM, before SIGKILL */
} ax_proc;

extern ax_proc ax__proc;

/* Register the layer's hooks with core and route (ax_init). */
void ax__process_init(void);

/* Where an actor spawned with o runs: the AXON_PLACE rule for its
 * place_as (else its name), else o's placement (place.c). */
ax_placement ax__placement(const ax_spawn_opts *o);

/* Read AXON_PLACE (ax_init). An item that does not parse is reported on
 * stderr and skipped, or with strict, fails: AX_EINVAL with a detail and
 * the rules unchanged. Returns 0, AX_EINVAL, AX_ENOMEM. */
int ax__place_parse(bool strict);

/* Spawn fn(arg) as the first actor of a new process (spawner.c). */
int ax__spawn_process(ax_actor_fn fn, void *arg, const ax_spawn_opts *o,
                      ax_pid *out);

/* Queue the fork that moves the running actor a to a new process. */
int ax__fork_promotion(ax_actor *a);

/*
 * Deadlock detection across processes (quiet.c): ax__quiet_frame takes a
 * K_PROBE, K_QUIET or K_WOKE from p; ax__quiet_woke - a child of this
 * process ended (its actors hear of it); ax__quiet_child_gone - c's
 * answer will not come; ax__quiet_update - the root's tick runs while it
 * has children (call when their number changes); ax__quiet_init - all
 * forgotten (ax_init, a forked child).
 */
void ax__quiet_frame(ax_peer *p, const ax_frame *f);
void ax__quiet_woke(void);
void ax__quiet_child_gone(ax_child *c);
void ax__quiet_update(void);
void ax__quiet_init(void);

/* A child record for peer p (the fork is still to come) / dropped. */
ax_child *ax__child_new(ax_peer *p);
void ax__child_abort(ax_child *c);

/* A forked child started: reap it with an ev_child watcher (reap.c). */
void ax__child_started(ax_child *c, pid_t os_pid);

/* The child's side of a fork: never returns (child.c). */
_Noreturn void ax__child_main(fork_req *r);

/* The same for a child of the fork server, which let go of what it
 * inherited once (ax__child_forget_all) for all its children. */
_Noreturn void ax__child_main_clean(fork_req *r, uint64_t parent_node);
void ax__child_forget_all(void);

/* A child's wait status is in (ev_child, or the fork server's word). */
void ax__child_reaped(ax_child *c, int status);

/*
 * The fork server (forkserver.c): started at ax_init when asked, stopped
 * at ax_fini, forgotten in a child forked from here. _spawn sends r's
 * request (r's fds are passed on and closed here); AX_ECHILD when the
 * server is not running (it died).
 */
int ax__forkserver_start(void);
bool ax__forkserver_up(void);
bool ax__forkserver_gone(void);      /* it died before ax_fini */
size_t ax__forkserver_waiting(void); /* requests not sent yet */
unsigned ax__forkserver_refs(void);  /* loop references it holds */
int ax__forkserver_spawn(fork_req *r);
void ax__forkserver_stop(void);
void ax__forkserver_forget(void);

/* Free r and the copy of its arg, if it holds one. */
void ax__fork_req_free(fork_req *r);

/* Close what r holds of the child's end (its pipe ends, its rings). */
void ax__fork_req_drop(fork_req *r);

/* Promotion: the actor moved out of this process behind p / arrived. */
void ax__promoted_away(ax_actor *a, ax_peer *p);
int ax__adopt_promoted(ax_actor *a);

/* End every actor of this process and ask the children to (K_STOP). */
void ax__process_stop(void);

/* ax_fini's shutdown of child processes: stop, TERM, KILL, reap. */
void ax__children_shutdown(void);

/* The child records: freed at ax_fini (watchers stopped) / in a forked
 * child (the loop they were on is gone). */
void ax__children_fini(void);
void ax__children_forget(void);

#endif /* AXON_ACTORS_PROCESS_PROCESS_H */
