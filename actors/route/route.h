/*
 * actors/route/route.h - the route layer: peers (one channel each), the
 * route table, the frame kinds actors exchange, forwarding, node-down
 * (internal).
 *
 * Every process of an axon system is a node with a random 64-bit id. The
 * processes form a tree: a process talks only to its parent and to the
 * children it forked, each over one ax_chan (a "peer"). A frame for an
 * actor elsewhere goes to the peer that leads to its node: a child that
 * announced the node (K_ROUTE travels up from where a process is born),
 * else the parent. So every actor can address every other, along the tree.
 *
 * A frame's kind says what it carries (docs/wire.md, "Actor frames").
 *
 * Above core and signals, below names and process (docs/internals.md). The
 * rest of the runtime sees "deliver this frame here" (core's ax__deliver,
 * signals' halves) and "send this to that address" (the hooks this layer
 * fills in for core and signals at ax_init). What it must tell the layers
 * above (a frame of theirs, a peer that ended, a node that went down) it
 * says through ax__route_hooks.
 */
#ifndef AXON_ACTORS_ROUTE_ROUTE_H
#define AXON_ACTORS_ROUTE_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#include <axon/chan.h>

typedef struct ax_ring_map ax_ring_map;

#include "actors/signals/signals.h"

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
    K_PROBE,     /* the parent asks whether all of the child's actors wait
                    with nothing to wake them: [epoch] */
    K_QUIET,     /* the answer: [epoch, quiet, frames in, frames out,
                    actors] (process/quiet.c) */
    K_WOKE,      /* an actor of a child that answered quiet runs again */
};

/* A neighbouring process: the parent, or a child this process forked. */
typedef struct ax_peer {
    struct ax_peer *next; /* every peer of this process */
    ax_chan *ch;
    uint64_t node; /* the neighbour's node id */
    bool is_parent;
    bool eof;          /* the channel ended (or failed) */
    bool wbroken;      /* writing to it failed (reading goes on) */
    bool draining;     /* its process ended: read to the end, never paused */
    ax_actor *senders; /* actors waiting for the channel to drain */
    ax_actor *senders_tail;
    int paused;                /* reasons reading is stopped (mailboxes...) */
    struct ax_peer *waits_for; /* forwarding: waiting for this peer */
    void *child; /* process: its record of this child (NULL: the parent) */
} ax_peer;

/* Process-wide state of the route layer. */
typedef struct ax_net {
    ax_peer *peers; /* parent first if any, then children */
    ax_peer *parent;
    size_t remote_limit; /* mailbox length that pauses a peer */
} ax_net;

extern ax_net ax__net;

/* What the layers above hear from this one (each set by one, may be NULL). */
typedef struct ax_route_hooks {
    /* process: a frame of its own kind (K_STOP, K_BYE, K_PROBE, K_QUIET,
     * K_WOKE) from p. */
    void (*frame)(ax_peer *p, const ax_frame *f);
    /* process: p's read side ended (EOF, an error: err); p->eof is set. */
    void (*peer_ended)(ax_peer *p, int err);
    /* names: a request frame for the registry reached the root. */
    void (*registry_frame)(const ax_frame *f);
    /* names: a DOWN for one of the registry's monitors, of pid. */
    void (*registry_down)(ax_pid pid);
    /* names: every actor of node (or the one promoted pid) ended. */
    void (*node_down)(uint64_t node, const ax_pid *one);
    /* process: a K_KILL of pid with code went out to child peer p. */
    void (*kill_sent)(ax_peer *p, ax_pid pid, int code);
} ax_route_hooks;

extern ax_route_hooks ax__route_hooks;

/* Fill in core's and signals' hooks; remote_limit as ax_init asks. */
void ax__route_init(size_t remote_limit);

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

/* Send a bodiless frame of kind to every child (K_STOP). */
void ax__peers_tell_children(int kind);

/* The reason [kind, code, signal, core] in f's body. */
int ax__frame_reason(const ax_frame *f, ax_exit_info *i);

/* Peers paused for a's mailbox are read again (it drained, or is gone). */
void ax__release_held_peers(ax_actor *a);

/* Route table entries: set and delete (node -> peer), and the nodes and
 * promoted addresses that live behind p (*nodes: to free). */
int ax__route_set(uint64_t node, ax_peer *p);
void ax__route_del(uint64_t node);
size_t ax__routes_behind(ax_peer *p, uint64_t **nodes);

/* pid, a promoted actor, stays here after all (its fork failed). */
void ax__route_unmove(ax_pid pid);

/* pid, a promoted actor, now lives behind p (in the parent). */
int ax__route_moved(ax_pid pid, ax_peer *p);

/* Take one promoted address that lived behind p: true and *pid. */
bool ax__route_take_moved(ax_peer *p, ax_pid *pid);

/* Routes, moves and the process-tree links: all gone. */
void ax__routes_forget(void);

/* Pausing and resuming reads of p (counted). */
void ax__peer_pause(ax_peer *p);
void ax__peer_resume(ax_peer *p);

/* Wake every actor waiting for p to drain, and peers forwarding to it. */
void ax__peer_drained(ax_peer *p);

/* Handle a control frame addressed to local actor(s). */
void ax__remote_control(ax_peer *from, const ax_frame *f);

/* A frame arrived from p (the channel's callback). */
void ax__peer_on_frame(ax_chan *ch, ax_frame *f, void *ud);

/* Bad bytes from p: its channel ends with err. */
void ax__peer_broken(ax_peer *p, int err);

/* Every actor of node (or the one promoted pid) ended with info. */
void ax__node_down(uint64_t node, const ax_pid *pid, const ax_exit_info *i);

/* A peer to a new child over fds (doorbells) and the rings of m (the
 * channel holds m too); route and announce its node. */
ax_peer *ax__peer_new_child(int fds[2], ax_ring_map *m, uint64_t node);

/* The parent's channel in a child process (it takes m). */
int ax__peer_new_parent(int fds[2], ax_ring_map *m, uint64_t node);

/* p's process ended (its last frames still to be read): drain it. */
void ax__peer_drain(ax_peer *p);

/* p's child is gone for good (status exact, its first actor's own words
 * bye or NULL): every actor behind it ends, here and everywhere. Frees p. */
void ax__peer_gone(ax_peer *p, const ax_exit_info *exact,
                   const ax_exit_info *bye);

/* A child that never ran (a refused spawn or promotion): drop the peer
 * made for it, and tell the ancestors its route is gone. Frees p. */
void ax__peer_abort(ax_peer *p);

/* Close and free every peer as ax_fini does (after the children ended). */
void ax__peers_fini(void);

/* In a forked child: drop every inherited peer without a callback. */
void ax__peers_forget(void);

/* A peer process whose reading an actor's full mailbox stopped. */
typedef struct held_peer {
    struct held_peer *next;
    uint64_t node; /* the peer, by node id (it may be gone by then) */
} held_peer;

/* Peers and the sends waiting on them. */
void ax__peer_wake_senders(ax_peer *p);
void ax__broadcast(ax_peer *except, int kind, ax_pid dst, const void *body,
                   size_t len);

/*
 * Who hears that a node went down (interest.c): ax__interest_note for
 * every frame forwarded from peer in to peer out; ax__down_send sends a
 * K_PID_DOWN / K_NODE_DOWN for dst to the parent and to the children it
 * concerns (not back to from), and after a K_NODE_DOWN forgets dst's
 * node; _forget in a forked child, _fini at ax_fini.
 */
void ax__interest_note(const ax_peer *in, const ax_peer *out,
                       const ax_frame_hdr *h);
void ax__down_send(ax_peer *from, int kind, ax_pid dst, const void *body,
                   size_t len);
void ax__interest_forget(void);
void ax__interest_fini(void);
void ax__mailbox_drained(ax_actor *a);

/* Write what is queued for p now (p may be NULL). A write error may end p
 * here. */
void ax__peer_flush(ax_peer *p);

#endif /* AXON_ACTORS_ROUTE_ROUTE_H */
