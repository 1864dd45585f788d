/*
 * actors/rt.h - the runtime and the actor layout (internal).
 *
 * One runtime per process. Actors live in a slot table: an address's id
 * is (generation << 32 | slot + 1), so a lookup is an index and a compare,
 * and a slot reused by a new actor has a new generation: a stale address
 * never reaches it. Slots are reused oldest-first, so a dead actor's exit
 * reason stays readable (ax_wait) for as long as possible.
 *
 * Everything runs on the loop's thread. The scheduler is an ev_prepare
 * watcher of top priority: it runs ready actors just before the loop would
 * block, so the channels' own prepare watchers (lower priority) flush what
 * the actors sent in the same iteration.
 */
#ifndef AXON_ACTORS_RT_H
#define AXON_ACTORS_RT_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include <axon/actor.h>

#include "actors/ctx.h"
#include "actors/stack.h"
#include "serialize/msg_internal.h"

/* Kinds of ax_msg (msg->kind) inside the runtime. */
enum {
    MSG_PLAIN = 0,
    MSG_CALL,  /* a call's request: msg->ref is the call's reference */
    MSG_REPLY, /* a call's reply: msg->ref names the call */
};

typedef enum actor_state {
    A_RUNNABLE, /* in the run queue */
    A_RUNNING,  /* the current actor */
    A_WAITING,  /* parked: see wait */
    A_DEAD,     /* ended; its stack is released once it is not running */
} actor_state;

typedef enum wait_kind {
    W_NONE,
    W_RECV,    /* a message that matches `want` */
    W_SLEEP,   /* the timer */
    W_FD,      /* the io watcher */
    W_SEND,    /* room in a full mailbox */
    W_PROMOTE, /* the fork that moves it into a new process */
} wait_kind;

/* What a receiving actor waits for. */
typedef enum want_kind {
    WANT_ANY,
    WANT_TAG,   /* an array whose first element is the string `tag` */
    WANT_PRED,  /* pred(m, ud) */
    WANT_REPLY, /* the reply to call `ref`, or the callee's death */
    WANT_DOWN,  /* the DOWN of monitor `ref` (ax_wait) */
} want_kind;

typedef struct want {
    want_kind kind;
    const char *tag;
    size_t taglen;
    bool (*pred)(const ax_msg *m, void *ud);
    void *ud;
    uint64_t ref;
} want;

/* A link, a monitor held, or a monitor on us: a small list node. */
typedef struct peer_ref {
    struct peer_ref *next;
    ax_pid pid;    /* the other actor */
    uint64_t ref;  /* monitor reference (0 for links) */
    bool for_call; /* a call's internal monitor: wakes the caller, no DOWN */
} peer_ref;

/* A peer process whose reading an actor's full mailbox stopped. */
typedef struct held_peer {
    struct held_peer *next;
    uint64_t node; /* the peer, by node id (it may be gone by then) */
} held_peer;

struct ax_peer;

typedef struct exit_fn {
    struct exit_fn *next;
    void (*fn)(void *arg);
    void *arg;
} exit_fn;

typedef struct ax_actor ax_actor;

struct ax_actor {
    ax_ctx ctx; /* saved registers while not running */
    ax_stack stack;
    uint64_t node; /* its address: the node it was born on */
    uint64_t id;   /* and its id there */
    ax_actor_fn fn;
    void *arg;
    actor_state state;
    wait_kind wait;
    bool trap_exit;
    bool dying;        /* queued in rt.dying */
    bool timed_out;    /* the last wait ended by its timer */
    bool callee_died;  /* the last call ended by the callee's death */
    int ready_events;  /* ax_wait_fd result */
    int promote_err;   /* ax_promote's fork failed with this */
    ax_actor *rq_next; /* run queue, or the dying list */
    ax_actor *rq_prev;
    ax_msg *mb_head; /* mailbox, oldest first */
    ax_msg *mb_tail;
    size_t mb_count;
    size_t mb_bytes;   /* encoded bytes of those messages */
    size_t mb_cap;     /* 0: unbounded */
    want want;         /* while wait == W_RECV */
    ax_msg *taken;     /* message handed over on wake-up */
    uint64_t call_ref; /* reference of the call in progress, or 0 */
    ax_actor *senders; /* actors waiting for room in this mailbox */
    ax_actor *senders_tail;
    ax_actor *send_next; /* while waiting in another's `senders` */
    ax_actor *send_target;
    ax_msg *send_msg;          /* the message that waits for room */
    struct ax_peer *send_peer; /* while waiting for a peer to drain */
    held_peer *held_peers;     /* peers paused for this mailbox */
    ev_timer timer;
    ev_io io;
    peer_ref *links;
    peer_ref *monitors; /* monitors this actor holds */
    peer_ref *watchers; /* monitors held on this actor */
    exit_fn *on_exit;
    char *name;        /* registered name, or NULL */
    ax_exit_info exit; /* set when it ends */
    ax_actor_stats st;
};

/* A slot of the actor table. */
typedef struct slot {
    ax_actor *actor;        /* NULL: free (or dead) */
    uint32_t gen;           /* generation of the current/last actor */
    uint32_t next_free;     /* free-list link (index + 1; 0: none) */
    ax_exit_info last_exit; /* how the last actor of this slot ended */
    bool remembered;        /* last_exit is valid */
} slot;

typedef struct ax_rt {
    struct ev_loop *loop;
    uint64_t node;      /* this process's node id (never 0) */
    ax_ctx sched_ctx;   /* the scheduler's context (loop stack) */
    ax_actor *current;  /* running actor, or NULL */
    ax_actor rq;        /* run queue sentinel (rq_next/rq_prev) */
    ax_actor *spawn_at; /* children of the running actor go after it */
    ax_actor *runnext;  /* woken by the running actor: runs next */
    int runnext_streak; /* runnext picks in a row (bounded: fairness) */
    ax_actor *dying;    /* actors whose exits are being processed */
    bool processing_exits;
    ev_prepare sched;       /* runs actors before the loop blocks */
    ev_idle kick;           /* keeps the next poll from blocking */
    int budget;             /* switches per scheduler turn */
    double stop_timeout[2]; /* ax_fini: before SIGTERM, before SIGKILL */
    bool in_run;            /* inside ax_run */
    bool stop;              /* ax_stop was called */
    slot *slots;
    uint32_t nslots, capslots;
    uint32_t free_head, free_tail; /* FIFO of free slots (index + 1) */
    size_t free_count;
    uint64_t next_ref; /* monitor and call references */
    ax_actor *spare;   /* freed actor structs, for reuse */
    size_t nspare;
    ax_runtime_stats st;
} ax_rt;

extern ax_rt ax__rt;
extern bool ax__rt_up;

/* Require a running actor (misuse otherwise) and return it. */
ax_actor *ax__self_actor(const char *fn);

/* The live local actor at pid, or NULL. */
ax_actor *ax__lookup(ax_pid pid);

/* The address of a. */
ax_pid ax__pid_of(const ax_actor *a);

/* Make a runnable (at the tail of the run queue). */
void ax__make_runnable(ax_actor *a);

/*
 * Make a newly spawned actor runnable: right after the running actor's
 * earlier children (so a spawning actor's children run next, in spawn
 * order, depth first), or at the tail when spawned outside any actor.
 */
void ax__make_runnable_child(ax_actor *a);

/*
 * ax__park - the running actor waits: switch to the scheduler until
 * something makes it runnable. timeout_ms >= 0 starts its timer (a->
 * timed_out tells afterwards). Returns when resumed.
 */
void ax__park(ax_actor *a, wait_kind w, int timeout_ms);

/* Wake a parked actor: stop its timer and io watcher, make it runnable. */
void ax__wake(ax_actor *a);

/* End actor a with info (any actor, the running one included: then this
 * does not return). Exits of linked actors follow. */
void ax__exit_actor(ax_actor *a, ax_exit_info info);

/* Deliver m (owned) to a's mailbox: never waits, ignores the capacity. */
void ax__deliver(ax_actor *a, ax_msg *m);

/* Room was made in a's mailbox: let waiting senders in (mailbox.c). */
void ax__admit_senders(ax_actor *a);
/* Wake a's waiting senders with their messages, to send them again. */
void ax__return_senders(ax_actor *a);

/* Mailbox clean-up and blocked senders when a dies (mailbox.c). */
void ax__mailbox_release(ax_actor *a);

/* Links and monitors when a dies (link.c). */
void ax__links_release(ax_actor *a);

/* Remove a's name (names.c). */
void ax__names_release(ax_actor *a);
void ax__names_fini(void);

/* Lists of links and monitors (link.c). */
int ax__list_add(peer_ref **list, ax_pid pid, uint64_t ref, bool for_call);
bool ax__list_remove(peer_ref **list, ax_pid pid, uint64_t ref);
peer_ref *ax__list_find_ref(peer_ref *list, uint64_t ref);
void ax__list_free(peer_ref *list);

/* Append the running actor a to a FIFO of waiting senders (a mailbox's
 * or a peer's) and park it until it is woken. */
void ax__park_sender(ax_actor *a, ax_actor **head, ax_actor **tail);

/* An exit signal from dead reaches linked actor b (link.c). */
void ax__signal_link(ax_actor *b, ax_pid dead, const ax_exit_info *i);

/* Watcher w's monitor ref of dead fired (link.c). */
void ax__notify_watcher(ax_actor *w, ax_pid dead, uint64_t ref, bool for_call,
                        const ax_exit_info *i);

/* The DOWN for a monitor of an actor already gone (link.c). */
int ax__down_now(ax_actor *a, ax_pid pid, uint64_t ref);

/* In a forked child: forget inherited actors / everything but keep. */
void ax__table_forget(ax_actor *keep);
void ax__rt_forget(ax_actor *keep, const ax_stack *keep_stack);
void ax__names_forget(void);

/* Start an empty runtime with node id node (runtime.c). */
int ax__rt_start(uint64_t node);
uint64_t ax__new_node_id(void);

/* Where an actor spawned with o runs: AXON_PLACE, else o (place.c). */
ax_placement ax__placement(const ax_spawn_opts *o);
void ax__place_parse(void);

/* Promoted actors living here under their old address (actor.c). */
int ax__alias_add(ax_actor *a);
void ax__alias_each(void (*fn)(ax_actor *, uint64_t, const ax_pid *,
                               const ax_exit_info *),
                    uint64_t node, const ax_pid *one, const ax_exit_info *i);
void ax__aliases_forget(void);

/* An actor of this process ended: the process layer notes it (node.c). */
void ax__node_actor_ended(ax_actor *a);

/* Process the exits queued while exits were held (actor.c). */
void ax__exits_run(void);

/* The exit kind named s[0..len) ("normal", ...). Returns 0 or AX_EPROTO. */
int ax__exit_kind_parse(const char *s, size_t len, ax_exit_kind *out);

/* A new unique reference (monitors, calls). */
uint64_t ax__new_ref(void);

/* Whether m matches what a waits for. */
bool ax__wants(const ax_actor *a, const ax_msg *m);

/* Remove a from the run queue (if it is in it). */
void ax__rq_remove(ax_actor *a);

/* Release a dead actor's stack and struct (once it is not running). */
void ax__reap(ax_actor *a);

/* Kill every actor and free the table (ax_fini). */
void ax__table_fini(void);

/* How the actor at pid ended, if the table still remembers it. */
bool ax__remembered_exit(ax_pid pid, ax_exit_info *out);

/* Register, link and monitor as spawn options ask (link.c). */
int ax__spawn_extras(ax_actor *a, const ax_spawn_opts *o);

/* Add a name for a (names.c). */
int ax__names_add(const char *name, ax_actor *a);

/* Receive the reply to call ref (mailbox.c). */
int ax__recv_reply(ax_actor *a, uint64_t ref, ax_msg **out, int timeout_ms);

/* ax_wait's receive of the DOWN of monitor ref (mailbox.c). */
int ax__recv_down(ax_actor *a, uint64_t ref, ax_msg **out, int timeout_ms);

/* A call's internal monitor of its callee (link.c). */
int ax__call_monitor(ax_actor *caller, ax_pid callee, uint64_t ref);
void ax__call_unmonitor(ax_actor *caller, ax_pid callee, uint64_t ref);

#endif /* AXON_ACTORS_RT_H */
