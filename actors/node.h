/*
 * actors/node.h - processes: neighbours, routes, frames between processes,
 * the spawner (internal).
 *
 * Every process of an axon system is a node with a random 64-bit id. The
 * processes form a tree: a process talks only to its parent and to the
 * children it forked, each over one ax_chan (a "peer"). A frame for an
 * actor elsewhere goes to the peer that leads to its node: a child that
 * announced the node (K_ROUTE travels up from where a process is born),
 * else the parent. So every actor can address every other, along the tree.
 *
 * A frame's kind says what it carries (docs/wire.md, "Actor frames").
 */
#ifndef AXON_ACTORS_NODE_H
#define AXON_ACTORS_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

#include <axon/chan.h>

#include "actors/rt.h"

/* The id of the first actor of a process: slot 0, generation 1. */
#define AX_FIRST_ID ((uint64_t)1 << 32 | 1)

/* Frame kinds between processes. */
enum {
    K_MSG = 1,   /* a message: body = its msgpack bytes */
    K_CALL,      /* a call's request: body = 8-byte ref + msgpack */
    K_REPLY,     /* a call's reply: body = 8-byte ref + msgpack */
    K_EXIT,      /* exit signal over a link: [kind, code, signal, core] */
    K_DOWN,      /* a monitor fired: [ref, kind, code, signal, core] */
    K_LINK,      /* src links to dst: no body */
    K_UNLINK,    /* src unlinks from dst: no body */
    K_MONITOR,   /* src monitors dst: [ref, for_call] */
    K_DEMONITOR, /* src stops monitor ref of dst: [ref] */
    K_KILL,      /* kill dst: [code] */
    K_ROUTE,     /* node lives behind the sender: [node] */
    K_NODE_DOWN, /* every actor of node ended: [node, kind, code, sig, core] */
    K_PID_DOWN,  /* actor dst (a promoted one) ended: [kind, code, ...] */
    K_STOP,      /* the parent asks this process to end: no body */
    K_BYE,       /* the child's last word: how its first actor ended,
                    [kind, code, signal, core] (the exit status is 8 bits) */
};

/* A pending fork: the child's channel exists, the process not yet. */
typedef struct fork_req fork_req;

/* A neighbouring process: the parent, or a child this process forked. */
typedef struct ax_peer {
    struct ax_peer *next; /* every peer of this process */
    ax_chan *ch;
    uint64_t node; /* the neighbour's node id */
    bool is_parent;
    pid_t os_pid;    /* a child's OS pid (0 until forked) */
    ev_child cw;     /* a child's reaping watcher */
    ev_timer linger; /* reaped without EOF: stop waiting for it */
    bool reaped;     /* the child's exit status is in */
    bool eof;        /* the channel ended (or failed) */
    bool wbroken;    /* writing to it failed (reading goes on) */
    int status;      /* the child's wait status */
    bool has_bye;    /* the child said how its first actor ended */
    ax_exit_info bye;
    ax_actor *senders; /* actors waiting for the channel to drain */
    ax_actor *senders_tail;
    int paused;                /* reasons reading is stopped (mailboxes...) */
    struct ax_peer *waits_for; /* forwarding: waiting for this peer */
    fork_req *fork;            /* the fork that will start this child */
} ax_peer;

/* Process-wide state of the process layer (node.c). */
typedef struct ax_nodes {
    ax_peer *peers; /* parent first if any, then children */
    ax_peer *parent;
    bool is_child;      /* this process was forked by axon */
    ax_actor *first;    /* this process's first actor, while it lives */
    ax_stack arg_stack; /* the spawner's stack, kept for the first
                           actor's arg until it ends */
    bool has_arg_stack;
    ax_exit_info first_exit; /* how this process's first actor ended */
    bool first_done;
    size_t children; /* child processes not yet gone */
    fork_req *forks; /* forks to do from the scheduler's context */
    fork_req **forks_tail;
    size_t remote_limit; /* mailbox length that pauses a peer */
} ax_nodes;

extern ax_nodes ax__nodes;

/* The peer that leads to pid's actor (NULL: nowhere: dead). */
ax_peer *ax__route(ax_pid pid);

/* Remote actors known to have ended (a DOWN or EXIT frame, a node
 * down): remember one / ask about one. pid.id 0: the whole node. */
void ax__remember_gone(ax_pid pid, const ax_exit_info *i);
bool ax__remote_gone(ax_pid pid, ax_exit_info *out);

/* Whether pid is this process's (its node, or a promoted actor here). */
bool ax__is_local(ax_pid pid);

/*
 * ax__send_remote - send message m (owned) of kind MSG_* to an actor in
 * another process. In an actor, waits while the way there is full.
 * Returns 0 (m is the runtime's: sent, or a dead letter), AX_EAGAIN
 * (outside an actor, full: the caller keeps m) or AX_ESRCH (checked and
 * no route: the caller keeps m).
 */
int ax__send_remote(ax_pid to, ax_msg *m, bool checked);

/* Send a control frame (urgent: never waits). Drops it if no route. */
void ax__send_control(int kind, ax_pid dst, ax_pid src, ax_msg *body);

/* Send a reason-carrying signal (K_EXIT, K_DOWN with ref). */
void ax__send_signal(int kind, ax_pid dst, ax_pid src, uint64_t ref,
                     const ax_exit_info *info);

/* A local actor took a message: resume peers paused for its mailbox. */
void ax__mailbox_drained(ax_actor *a);

/* a dies: the peers its full mailbox paused are read again. */
void ax__release_held_peers(ax_actor *a);

/* pid, a promoted actor, stays here after all (its fork failed). */
void ax__route_unmove(ax_pid pid);

/* pid, a promoted actor, now lives behind p (in the parent). */
int ax__route_moved(ax_pid pid, ax_peer *p);

/* A forked child started: reap it with an ev_child watcher. */
void ax__peer_started(ax_peer *p, pid_t os_pid);

/* The actor a, waiting to send to a peer, dies: leave the peer's queue. */
void ax__peer_forget_sender(ax_actor *a);

/* Handle a control frame addressed to local actor(s) (remote.c). */
void ax__remote_control(ax_peer *from, const ax_frame *f);

/* Every actor of node (or the one promoted pid) ended with info. */
void ax__node_down(uint64_t node, const ax_pid *pid, const ax_exit_info *i);

/* Queue the fork that moves the running actor a to a new process. */
int ax__fork_promotion(ax_actor *a);

/* Release a slot without remembering an exit (promotion) (actor.c). */
void ax__slot_vacate(ax_actor *a);

/* Spawn fn(arg) as the first actor of a new process (spawner.c). */
int ax__spawn_process(ax_actor_fn fn, void *arg, const ax_spawn_opts *o,
                      ax_pid *out);

/* Do the forks requested by actors (from the scheduler's context). */
void ax__do_forks(void);

/* A peer to a new child over fds; route and announce its node. */
ax_peer *ax__peer_new_child(int fds[2], uint64_t node);

/* The parent's channel in a child process. */
int ax__peer_new_parent(int fds[2], uint64_t node);

/* Close and free every peer as ax_fini does (after the children ended). */
void ax__peers_fini(void);

/* In a forked child: drop every inherited peer without a callback. */
void ax__peers_forget(void);

/* A fork failed: drop the peer made for it. */
void ax__peer_abort(ax_peer *p);

/* Promotion: the actor moved out of this process behind p / arrived. */
void ax__promoted_away(ax_actor *a, ax_peer *p);
int ax__adopt_promoted(ax_actor *a);

/* The parent went away / asked this process to stop. */
void ax__parent_lost(void);
void ax__process_stop(void);

/* Names (names.c): the root's registry, and names that die remotely. */
void ax__names_moved(ax_actor *a);
void ax__registry_frame(const ax_frame *f);
void ax__names_gone(ax_pid pid);
void ax__names_node_down(uint64_t node, const ax_pid *pid);

/* Write what the actors of this turn sent (end of a scheduler turn). */
void ax__peers_flush(void);

/* Whether the process layer still has work: child processes alive. */
bool ax__nodes_busy(void);

/* ax_fini's shutdown of child processes: stop, TERM, KILL, reap. */
void ax__children_shutdown(void);

#endif /* AXON_ACTORS_NODE_H */
