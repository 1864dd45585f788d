/*
 * actors/core/core.h - the core layer: the actor table and addresses, the
 * scheduler and its run queue, mailboxes and selective receive, timers
 * and fd waits (internal).
 *
 * The lowest layer of actors/ (docs/internals.md): it knows nothing of
 * links, processes or names. What a higher layer must hear from it (an
 * actor ended, a mailbox drained, a message for an address elsewhere) it
 * says through ax__core_hooks, which those layers fill in at ax_init.
 * *
 * One runtime per process. Actors live in a slot table: an address's id
 * is (generation << 32 | slot + 1), so a lookup is an index and a compare,
 * and a slot reused by a new actor has a new generation: a stale address
 * never reaches it. Slots are reused oldest-first, so a dead actor's exit
 * reason stays readable (ax_wait) for as long as possible.
 *
 * Everything runs on the loop's thread. The scheduler is an ev_prepare
 * watcher of top priority: it runs ready actors just before the loop would
 * block, then calls the turn_end hook, through which a higher layer writes
 * what the actors sent before the poll (route: transport's
 * ax__chans_flush_pending).
 */
#ifndef AXON_ACTORS_CORE_CORE_H
#define AXON_ACTORS_CORE_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include <axon/actor.h>

#include "actors/core/ctx.h"
#include "actors/core/stack.h"
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
    W_RECV,   /* a message that matches `want` */
    W_SLEEP,  /* the timer */
    W_FD,     /* the io watcher */
    W_SEND,   /* room in a full mailbox */
    W_PARKED, /* a higher layer's event (the fork of ax_promote) */
} wait_kind;

/* What a receiving actor waits for. */
typedef enum want_kind {
    WANT_ANY,
    WANT_TAG,   /* an array whose first element is the string `tag` */
    WANT_PRED,  /* pred(m, ud) */
    WANT_REPLY, /* the reply to call `ref`, or the callee's death */
} want_kind;

typedef struct want {
    want_kind kind;
    const char *tag;
    size_t taglen;
    bool (*pred)(const ax_msg *m, void *ud);
    void *ud;
    uint64_t ref;
} want;

/* What higher layers keep on an actor (core only carries the fields). */
struct peer_ref;  /* signals: a link or monitor */
struct held_peer; /* route: a peer paused for this mailbox */
struct ax_peer;   /* route: a peer process */

/* The id of the first actor of a process: slot 0, generation 1. */
#define AX_FIRST_ID ((uint64_t)1 << 32 | 1)

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
    bool trap_exit;    /* signals: exit signals arrive as messages */
    bool dying;        /* queued in rt.dying */
    bool timed_out;    /* the last wait ended by its timer */
    bool callee_died;  /* signals: the last call's callee died */
    int ready_events;  /* ax_wait_fd result */
    int promote_err;   /* process: ax_promote's fork failed with this */
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
    ax_msg *send_msg;             /* the message that waits for room */
    struct ax_peer *send_peer;    /* route: waiting for this peer to drain */
    struct held_peer *held_peers; /* route: peers paused for this mailbox
                                     (while set, a take calls the
                                     mailbox_drained hook) */
    ev_timer timer;
    ev_io io;
    struct peer_ref *links;    /* signals: links */
    struct peer_ref *monitors; /* signals: monitors this actor holds */
    struct peer_ref *watchers; /* signals: monitors held on this actor */
    exit_fn *on_exit;
    char *name;        /* names: registered name, or NULL */
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
    ev_prepare sched;         /* runs actors before the loop blocks */
    ev_idle kick;             /* keeps the next poll from blocking */
    int budget;               /* switches per scheduler turn */
    void (*sched_work)(void); /* run on the scheduler's stack once the
                                 running actor is out (ax__sched_defer) */
    bool in_run;              /* inside ax_run */
    int (*outside)(void);     /* run by ax_run outside the loop, once
                                 (ax__run_outside) */
    bool stop;                /* ax_stop was called */
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

/*
 * The hooks: how core tells the layers above it what they must know.
 * Each is set by one layer at ax_init (the owner named first) and may be
 * NULL (core alone runs without them). The actor-end lists run from the
 * top layer down: the layer registered last is called first.
 */
#define AX_END_HOOKS 4

typedef struct ax_core_hooks {
    /* route: whether pid, not found here, is an actor elsewhere (another
     * node's, or one of ours that moved away) rather than one of ours
     * that ended. */
    bool (*elsewhere)(ax_pid pid);
    /* route: send m (kind MSG_*, owned) to an actor elsewhere; as
     * ax__send_remote in actors/route/route.h. */
    int (*send_elsewhere)(ax_pid to, ax_msg *m, bool checked);
    /* route: kill pid elsewhere. 0: asked; AX_ESRCH: it is not
     * elsewhere; another error: nothing was sent. */
    int (*kill_elsewhere)(ax_pid pid, int code);
    /* route: how an actor of another node ended, if known. */
    bool (*gone_elsewhere)(ax_pid pid, ax_exit_info *out);
    /* route: a message was taken from a's mailbox while a->held_peers. */
    void (*mailbox_drained)(ax_actor *a);
    /* route: a scheduler turn is over (write what its actors sent). */
    void (*turn_end)(void);
    /* process: whether ax_run must go on with no actor here (children). */
    bool (*busy)(void);
    /* An actor ends: `ending` before its on_exit functions run (names,
     * process), `ended` after its mailbox is released (route, signals). */
    void (*ending[AX_END_HOOKS])(ax_actor *a);
    void (*ended[AX_END_HOOKS])(ax_actor *a);
} ax_core_hooks;

extern ax_core_hooks ax__core_hooks;

/* Add fn to an actor-end list (ending or ended); once, however often
 * ax_init runs. */
void ax__core_on_end(void (**list)(ax_actor *), void (*fn)(ax_actor *));

/* Require a running actor (misuse otherwise) and return it. */
ax_actor *ax__self_actor(const char *fn);

/* The live local actor at pid, or NULL. */
ax_actor *ax__lookup(ax_pid pid);

/* The address of a. */
ax_pid ax__pid_of(const ax_actor *a);

/* Make a runnable (at the tail of the run queue). */
void ax__make_runnable(ax_actor *a);

/*
 * ax__sched_turn - one turn of the scheduler (what its prepare watcher
 * does before the loop blocks: run ready actors, then turn_end); also
 * called from inside a channel's spin when frames came (route hands it to
 * transport). ax__sched_busy - whether the loop must not block: actors
 * are ready, or ax_run is ending.
 */
void ax__sched_turn(void);
bool ax__sched_busy(void);

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

/* Ask the scheduler to run fn on its own stack once the running actor
 * has switched out (at once when no actor runs: the caller is on it). */
void ax__sched_defer(void (*fn)(void));

/*
 * ax__run_outside - have ax_run call fn once from outside the loop (it
 * leaves ev_run for it, after this iteration): where fn may run a loop
 * iteration of its own. fn returns 0, or an error that ax_run returns
 * (its detail set). Not in ax_run: nothing happens.
 */
void ax__run_outside(int (*fn)(void));

/* Whether no actor is ready to run. */
bool ax__rq_empty(void);

/* AX_EDEADLK with ax_run's detail: this process's actors and `elsewhere`
 * more, in child processes, wait with nothing to wake them. */
int ax__deadlock(size_t elsewhere);

/* End actor a with info (any actor, the running one included: then this
 * does not return). Exits of linked actors follow. */
void ax__exit_actor(ax_actor *a, ax_exit_info info);

/* Process the exits queued while exits were held. */
void ax__exits_run(void);

/*
 * Call fn for every live actor of this process (aliases included) that is
 * not dying, with exits held: the exits fn causes run after the scan.
 */
void ax__actors_each(void (*fn)(ax_actor *a, void *ud), void *ud);

/* Create a coroutine actor for fn(arg) with o's stack and mailbox: in the
 * table, counted, not runnable yet. */
int ax__actor_create(ax_actor_fn fn, void *arg, const ax_spawn_opts *o,
                     ax_actor **out);

/* Deliver m (owned) to a's mailbox: never waits, ignores the capacity. */
void ax__deliver(ax_actor *a, ax_msg *m);

/* Send m (owned on success) as ax_send / ax_send_checked do. */
int ax__send(ax_pid to, ax_msg *m, bool checked);

/* Room was made in a's mailbox: let waiting senders in. */
void ax__admit_senders(ax_actor *a);
/* Wake a's waiting senders with their messages, to send them again. */
void ax__return_senders(ax_actor *a);

/* Append the running actor a to a FIFO of waiting senders (a mailbox's
 * or a peer's) and park it until it is woken. */
void ax__park_sender(ax_actor *a, ax_actor **head, ax_actor **tail);

/* Receive, as a (the running actor), the oldest message that pred
 * accepts (replies never), or the reply to call ref. */
int ax__recv_pred(ax_actor *a, bool (*pred)(const ax_msg *m, void *ud),
                  void *ud, ax_msg **out, int timeout_ms);
int ax__recv_reply(ax_actor *a, uint64_t ref, ax_msg **out, int timeout_ms);

/* Whether m matches what a waits for. */
bool ax__wants(const ax_actor *a, const ax_msg *m);

/* Remove a's first queued message that pred accepts (and free it). */
bool ax__mailbox_drop(ax_actor *a, bool (*pred)(const ax_msg *m, void *ud),
                      void *ud);

/* Start an empty runtime with node id node, keeping the options. */
int ax__rt_start(uint64_t node);
uint64_t ax__new_node_id(void);

/*
 * The nodes of the run (nodes.c: one table every process of the tree
 * shares). _add numbers a new node id (ax__new_node_id does); _started:
 * this process is node now; _ended: node is down; _moved: promoted pid
 * lives on node `to` now. ax__node_number: node's number (1 up), 0 if
 * it has none; ax__node_of_number: the reverse (0: none). ax__node_lives_on:
 * the node pid lives on (its own, unless it was promoted). ax__node_os_pid:
 * its OS pid, AX_EAGAIN (not started yet) or AX_ESRCH (ended, unknown).
 */
void ax__nodes_add(uint64_t node);
void ax__nodes_started(uint64_t node);
void ax__nodes_ended(uint64_t node);
void ax__nodes_moved(ax_pid pid, uint64_t to);
uint32_t ax__node_number(uint64_t node);
uint64_t ax__node_of_number(uint32_t number);
uint64_t ax__node_lives_on(ax_pid pid);
int ax__node_os_pid(uint64_t node);
/* The runtime is down (ax_fini, or a forked child before its restart). */
void ax__rt_stop(void);

/* Promoted actors living here under their old address. */
int ax__alias_add(ax_actor *a);

/* Release a slot without remembering an exit (promotion). */
void ax__slot_vacate(ax_actor *a);

/* A new unique reference (monitors, calls). */
uint64_t ax__new_ref(void);

/* Remove a from the run queue (if it is in it). */
void ax__rq_remove(ax_actor *a);

/* Release a dead actor's stack and struct (once it is not running). */
void ax__reap(ax_actor *a);

/* Kill every actor and free the table (ax_fini). */
void ax__table_fini(void);

/* How the actor at pid ended, if known (the table, or gone_elsewhere). */
bool ax__remembered_exit(ax_pid pid, ax_exit_info *out);

/*
 * In a forked child: every inherited actor but keep is let go of, never
 * to run, with the table (ax__forsake: nothing freed or written one by
 * one), and every inherited stack but keep_stack is unmapped.
 */
void ax__rt_forget(ax_actor *keep, const ax_stack *keep_stack);
void ax__table_forget(void);

/* Core's part of an ending actor's release: its mailbox, its blocked
 * senders (their messages are dead letters), its own waiting send. */
void ax__mailbox_release(ax_actor *a);

#endif /* AXON_ACTORS_CORE_CORE_H */
