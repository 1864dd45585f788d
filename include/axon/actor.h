/*
 * axon/actor.h - actors: spawn, send, receive, call, links, monitors.
 *
 * An actor is a function with a private mailbox and an address (ax_pid).
 * It runs as a coroutine on the runtime's libev loop, cooperatively: it
 * runs until it waits (receive, sleep, call, fd, a full mailbox) or yields.
 * Every call here that may wait is marked "Context: actor, may yield".
 *
 * Messages are sent by ownership: ax_send takes the message on success,
 * and the receiver owns what ax_recv gives it. Between one sender and one
 * receiver, messages arrive in send order.
 *
 * Exit reasons: an actor ends normally (its function returns 0, or
 * ax_exit(0)), with an error code (it returns or ax_exit()s non-zero), or
 * killed (ax_kill). Monitors get a "DOWN" message, links propagate abnormal
 * exits (see ax_link).
 */
#ifndef AXON_ACTOR_H
#define AXON_ACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <axon/cdefs.h>
#include <axon/msg.h>
#include <axon/pid.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Wait without a time limit. */
#define AX_FOREVER (-1)

/* An actor's function. Its return value is the exit code: 0 is normal. */
typedef int (*ax_actor_fn)(void *arg);

/* Where an actor runs. */
typedef enum ax_placement {
    AX_PLACE_DEFAULT = 0, /* as configured (AXON_PLACE), else coroutine */
    AX_PLACE_COROUTINE,   /* a coroutine in the spawner's process */
    AX_PLACE_PROCESS,     /* the first actor of a new forked process */
} ax_placement;

typedef struct ax_spawn_opts {
    ax_placement placement;
    size_t stack_size; /* usable bytes; 0: 64 KiB; rounded to pages */
    const char *name;  /* register the new actor under this name */
    bool link;         /* link the spawner and the new actor */
    bool monitor;      /* the spawner monitors the new actor; its
                          reference is in *monitor_ref if not NULL */
    uint64_t *monitor_ref;
    size_t mailbox_capacity; /* 0: unbounded; else senders wait when full */
    size_t arg_size; /* not 0: the actor gets a copy of the arg_size bytes
                        at arg (at most AX_ARG_MAX), its own for as long
                        as it lives, and arg may go as ax_spawn returns;
                        0: arg is passed as it is */
    /* The placement class: AXON_PLACE matches it instead of name (NULL:
       name is matched), so that a pool of actors, named or not, is placed
       as one: .place_as = "worker" with AXON_PLACE="worker=process". Not
       registered, not unique; only the placement reads it. */
    const char *place_as;
} ax_spawn_opts;

/* The largest arg_size of ax_spawn_opts. */
#define AX_ARG_MAX ((size_t)64 << 10)

/* How an actor ended. */
typedef enum ax_exit_kind {
    AX_EXIT_NORMAL = 0,   /* returned 0 or ax_exit(0) */
    AX_EXIT_ERROR,        /* returned or ax_exit()ed a non-zero code */
    AX_EXIT_KILLED,       /* ax_kill (a linked actor's end passes on its
                             own reason, whatever it is) */
    AX_EXIT_SIGNAL,       /* a process actor's process died by a signal */
    AX_EXIT_NOPROC,       /* there was no such actor (monitor, link, wait) */
    AX_EXIT_NOCONNECTION, /* its process became unreachable (a process
                             between here and there died) */
} ax_exit_kind;

typedef struct ax_exit_info {
    ax_exit_kind kind;
    int code;         /* ERROR/KILLED: the code; NORMAL: 0 */
    int signal;       /* SIGNAL: the signal number */
    bool core_dumped; /* SIGNAL: whether a core was dumped */
} ax_exit_info;

/* Options of the runtime; zero fields mean the default. */
typedef struct ax_runtime_opts {
    int run_budget;       /* actor switches per loop iteration before I/O
                             gets a turn; 0: 1024 */
    int stop_timeout_ms;  /* ax_fini: after asking child processes to stop,
                             wait this long before SIGTERM; 0: 2000 */
    int term_timeout_ms;  /* then this long before SIGKILL; 0: 2000 */
    size_t remote_limit;  /* an unbounded mailbox fed from other processes
                             pauses their channel at this length; 0: 1024 */
    size_t max_processes; /* child processes (process actors spawned or
                             promoted here) alive at once, in each process,
                             counted until reaped (a DOWN may come a moment
                             before); past it ax_spawn and ax_promote fail
                             with AX_EAGAIN; 0: what RLIMIT_NPROC,
                             RLIMIT_NOFILE and the memory allow (1 MiB
                             each) */
    bool forkserver;      /* fork a small server process at ax_init, and
                             start from it (not from this process) every
                             process actor spawned with arg NULL or copied
                             (arg_size): such an actor sees this program as
                             it was at ax_init (its globals, its heap) and
                             inherits only fds 0, 1 and 2; its memory and
                             spawn time do not grow with this process
                             (docs/processes.md, "The fork server") */
    bool strict_place;    /* an AXON_PLACE item that does not parse makes
                             ax_init fail with AX_EINVAL, ax_error_detail()
                             naming it; false: it is reported on stderr
                             and ignored (docs/tuning.md, "AXON_PLACE") */
} ax_runtime_opts;

/* Counters of one actor (ax_stats). */
typedef struct ax_actor_stats {
    size_t mailbox;      /* messages waiting now */
    size_t mailbox_peak; /* most messages ever waiting */
    uint64_t received;   /* messages taken out of the mailbox */
    uint64_t sent;       /* messages sent */
    uint64_t switches;   /* times it was resumed */
} ax_actor_stats;

/* Counters of the runtime (ax_runtime_stats_get). */
typedef struct ax_runtime_stats {
    size_t actors;          /* live actors */
    uint64_t spawned;       /* actors spawned so far */
    uint64_t dead_letters;  /* messages to actors that were dead */
    uint64_t stale_replies; /* call replies that came after their timeout */
    uint64_t switches;      /* context switches into actors */
} ax_runtime_stats;

/* --- the runtime ------------------------------------------------------ */

/*
 * ax_init - create this process's runtime on libev's default loop.
 *
 * An application that already runs libev can call ax_init and keep running
 * the default loop itself (ev_run): actors run from a prepare watcher of
 * that loop. Or call ax_run.
 * AXON_PLACE is read here (docs/tuning.md): an item that does not parse
 * is reported once on stderr and ignored, unless opts->strict_place.
 * Returns 0, AX_EALREADY (already initialised), AX_EINVAL (a negative
 * option; with strict_place, an AXON_PLACE item that does not parse,
 * named by ax_error_detail()), AX_ENOMEM.
 * Context: outside actors.
 */
int ax_init(const ax_runtime_opts *opts);

/*
 * ax_run - run the loop until no actor is left or ax_stop is called.
 *
 * Returns 0, or AX_EDEADLK when actors are left that all wait for
 * something that can never happen (no timer, fd or channel could wake
 * them; ax_error_detail() says how many, and how many of them are in
 * child processes: process actors count, found within about 0.1 s).
 * Context: outside actors, after ax_init.
 */
int ax_run(void);

/* ax_stop - make ax_run return after the current loop iteration. */
void ax_stop(void);

/*
 * ax_fini - kill every actor left (reason AX_EXIT_KILLED, code
 * AX_KILL_SHUTDOWN), release everything, and leave the default loop as it
 * was before ax_init. Safe to call without ax_init.
 * Context: outside actors.
 */
void ax_fini(void);

/* Reason code of actors killed by ax_fini. */
#define AX_KILL_SHUTDOWN (-1000)

/* ax_runtime_stats_get - a snapshot of the runtime's counters. */
void ax_runtime_stats_get(ax_runtime_stats *out);

/* --- actors ------------------------------------------------------------ */

/*
 * ax_spawn - start fn(arg) as a new actor.
 *
 * The new actor does not run before the caller waits or yields. opts may
 * be NULL for the defaults. With opts->name, the actor is registered under
 * that name (AX_EEXIST if the name is taken: nothing is spawned; for a
 * process actor, every refusal comes before the fork, so a spawn that
 * returns an error forked no process and ran nothing). Process actors
 * are forked when the caller waits or yields; a caller that spawns
 * process actors without ever blocking yields inside ax_spawn once 64
 * wait to be forked (each holds two fds until then).
 * Returns 0 and the address in *out (may be NULL), or AX_EINVAL (also:
 * opts->link or opts->monitor outside an actor, where there is no one to
 * link or to notify), AX_EEXIST, AX_ENOMEM, AX_EAGAIN (process placement:
 * max_processes of ax_runtime_opts are alive).
 * Ownership: arg is the caller's; the actor gets the pointer.
 * Context: anywhere after ax_init. Misuse aborts (README, "Errors and
 * misuse"): a NULL fn, or a call before ax_init.
 */
int ax_spawn(ax_actor_fn fn, void *arg, const ax_spawn_opts *opts, ax_pid *out);

/* ax_self - the address of the running actor (AX_PID_NONE outside). */
ax_pid ax_self(void);

/*
 * ax_exit - end the running actor now with code (0: normal). Everything it
 * holds in the runtime is released; memory it allocated itself is its own
 * business (see ax_on_exit).
 * Context: actor; does not return.
 */
AX_NORETURN void ax_exit(int code);

/*
 * ax_kill - end an actor with reason AX_EXIT_KILLED and code. A killed
 * actor that waits in recv, sleep, call, ax_wait_fd or a full mailbox
 * never resumes; everything it held in the runtime is released. Killing
 * oneself is ax_exit with a killed reason. A process actor that has not
 * read the kill a second after (busy in code that never returns to its
 * loop) has its process SIGKILLed by its parent, and still ends killed
 * with code.
 * Returns 0, or AX_ESRCH (no such live actor).
 * Context: anywhere after ax_init; may not return when pid is ax_self().
 */
int ax_kill(ax_pid pid, int code);

/*
 * ax_on_exit - run fn(arg) when the running actor ends, for any reason
 * (normal, error, killed). Functions run in reverse order of registration,
 * outside any actor, whoever caused the exit: ax_self() is AX_PID_NONE
 * there and sends never wait (a full mailbox gives AX_EAGAIN).
 * Returns 0 or AX_ENOMEM.
 * Context: actor.
 */
int ax_on_exit(void (*fn)(void *arg), void *arg);

/*
 * ax_promote - move the running coroutine actor into a new child process,
 * live. Its stack, its state (locals, registers) and its unread mailbox
 * go with it; its address stays the same (messages sent to it later are
 * forwarded; each sender's order is kept); its links, monitors and name
 * keep working. Every other actor stays where it is. What does not move:
 * other actors' memory and fds stay in the parent (the child has copies,
 * as after any fork), and threads. Memory the actor allocated itself (a
 * message it received and still holds, say) is copied too, and the
 * parent's copy is never freed: it cannot know of it; promote where the
 * actor holds little. The actor's on-exit functions run in the child,
 * where it ends.
 * Returns 0 in the new process, or AX_ENOMEM, AX_EAGAIN (max_processes
 * alive) / -errno (the actor did not move and goes on where it was).
 * Context: actor (a coroutine actor; in any process), yields.
 */
int ax_promote(void);

/* ax_yield - let every other runnable actor run once. Context: actor. */
void ax_yield(void);

/* --- messages ----------------------------------------------------------- */

/*
 * ax_send - put m in to's mailbox.
 *
 * A message to an actor that is dead (or never existed) is a dead letter:
 * it is counted (ax_runtime_stats_get) and freed, and ax_send still
 * returns 0, as a send to another process cannot know better; use
 * ax_send_checked to learn it where it can be known. If to's mailbox has
 * a capacity and is full, the sending actor waits until there is room
 * (outside an actor: AX_EAGAIN).
 * Returns 0, or AX_EAGAIN (full, outside an actor), AX_EINVAL (NULL m).
 * Ownership: on success the runtime owns m; on failure the caller does.
 * Context: anywhere after ax_init; in an actor it may yield.
 */
int ax_send(ax_pid to, ax_msg *m);

/*
 * ax_send_checked - ax_send that fails with AX_ESRCH (the caller keeps m)
 * when to is known to be dead or unknown here.
 */
int ax_send_checked(ax_pid to, ax_msg *m);

/*
 * ax_sendf - build a message from a format (see <axon/msg.h>) and send it.
 * Returns as ax_msg_pack, then as ax_send.
 */
int ax_sendf(ax_pid to, const char *fmt, ...);

/*
 * ax_recv - take the oldest message of the running actor's mailbox,
 * waiting up to timeout_ms (AX_FOREVER: no limit; 0: do not wait).
 * Returns 0, or AX_ETIMEDOUT (nothing is stored then).
 * Ownership: the caller owns *out.
 * Context: actor, may yield.
 */
int ax_recv(ax_msg **out, int timeout_ms);

/*
 * ax_recv_match - selective receive: take the oldest message that is an
 * array whose first element is the string tag. Other messages stay in the
 * mailbox, in their order.
 * Returns 0, or AX_ETIMEDOUT when no such message came within timeout_ms
 * (AX_FOREVER: no limit; 0: do not wait; nothing is stored then).
 * Ownership: the caller owns *out.
 * Context: actor, may yield; a NULL tag or out aborts (misuse).
 */
int ax_recv_match(const char *tag, ax_msg **out, int timeout_ms);

/*
 * ax_recv_if - selective receive with a predicate: take the oldest message
 * for which match(m, ud) is true. match must not wait or send.
 * Returns 0, or AX_ETIMEDOUT when no such message came within timeout_ms
 * (AX_FOREVER: no limit; 0: do not wait; nothing is stored then).
 * Ownership: the caller owns *out; ud stays the caller's.
 * Context: actor, may yield; a NULL match or out aborts (misuse).
 */
int ax_recv_if(bool (*match)(const ax_msg *m, void *ud), void *ud, ax_msg **out,
               int timeout_ms);

/*
 * ax_call - send req to to and wait for its reply (ax_reply), up to
 * timeout_ms. Each call has a unique reference: a reply that arrives after
 * its call timed out is discarded (counted as a stale reply), never taken
 * for the answer of a later call. Messages that arrive meanwhile stay in
 * the mailbox.
 * Returns 0 (the caller owns *reply), AX_ETIMEDOUT, AX_ESRCH when to is
 * dead (known here, or learned while waiting: the callee died), AX_ENOMEM.
 * Ownership: ax_call always takes req, whatever it returns.
 * Context: actor, may yield.
 */
int ax_call(ax_pid to, ax_msg *req, ax_msg **reply, int timeout_ms);

/*
 * ax_reply - answer the call whose request is req with reply.
 * Returns 0, or AX_EINVAL (req is not a call's request). A reply to a
 * caller that gave up or died is a stale reply or a dead letter.
 * Ownership: as ax_send for reply; req stays the caller's.
 */
int ax_reply(const ax_msg *req, ax_msg *reply);

/* ax_msg_is_call - whether m is a call's request (answer with ax_reply). */
bool ax_msg_is_call(const ax_msg *m);

/* --- time and fds ------------------------------------------------------- */

/* ax_sleep - wait ms milliseconds. Returns 0. Context: actor, may yield. */
int ax_sleep(int ms);

#define AX_READ 1
#define AX_WRITE 2

/*
 * ax_wait_fd - wait until fd is ready for events (AX_READ, AX_WRITE or
 * both), up to timeout_ms, without blocking the loop.
 * Returns the ready events (> 0), or AX_ETIMEDOUT, AX_EINVAL (events),
 * AX_EBADF (fd is not open).
 * Context: actor, may yield.
 */
int ax_wait_fd(int fd, int events, int timeout_ms);

/* --- links, monitors, joins ---------------------------------------------- */

/*
 * ax_link - link the running actor and pid (both ways; linking twice is
 * one link). When one of them exits abnormally the other is killed with
 * the same reason, unless it traps exits: then it receives
 *   ["EXIT", pid, kind, code, signal, core_dumped]
 * (see ax_exit_msg_parse). Normal exits reach only trapping actors.
 * Returns 0 or AX_ESRCH (pid is not alive: no link is made).
 * Context: actor.
 */
int ax_link(ax_pid pid);

/* ax_unlink - remove the link with pid, if any. Returns 0. */
int ax_unlink(ax_pid pid);

/*
 * ax_trap_exit - whether the running actor receives exit signals of linked
 * actors as messages instead of dying (ax_kill cannot be trapped).
 * Returns the previous setting.
 */
bool ax_trap_exit(bool on);

/*
 * ax_monitor - watch pid: when it ends, the running actor receives
 *   ["DOWN", ref, pid, kind, code, signal, core_dumped]
 * once (see ax_down_msg_parse). Monitoring an actor that is not alive
 * gives an immediate DOWN: with its real reason while the runtime still
 * remembers its end (the last 1024 ends at least), else with kind
 * AX_EXIT_NOPROC.
 * Returns 0 and the reference in *ref (may be NULL), or AX_ENOMEM.
 * Context: actor.
 */
int ax_monitor(ax_pid pid, uint64_t *ref);

/* ax_demonitor - stop a monitor; a DOWN already queued is removed. */
int ax_demonitor(uint64_t ref);

/*
 * ax_wait - wait until pid ends and tell how: a cooperative join.
 * Uses (and consumes) the caller's monitor of pid if it has one (spawn
 * with .monitor to be sure to see even a very short life); else monitors
 * pid now, and an actor already gone gives AX_ESRCH unless the runtime
 * still remembers its exit.
 * Returns 0 with *info filled (may be NULL), AX_ETIMEDOUT, AX_ESRCH.
 * Context: actor, may yield.
 */
int ax_wait(ax_pid pid, ax_exit_info *info, int timeout_ms);

/* ax_down_msg_parse - read a DOWN message. Returns 0 or AX_EPROTO. */
int ax_down_msg_parse(const ax_msg *m, uint64_t *ref, ax_pid *pid,
                      ax_exit_info *info);

/* ax_exit_msg_parse - read an EXIT message. Returns 0 or AX_EPROTO. */
int ax_exit_msg_parse(const ax_msg *m, ax_pid *pid, ax_exit_info *info);

/* ax_exit_kind_name - "normal", "error", "killed", "signal", "noproc",
 * "noconnection". */
const char *ax_exit_kind_name(ax_exit_kind kind);

/*
 * ax_exit_describe - a short text of info ("signal 11 (core dumped)",
 * "error 3", "normal") in buf; returns buf.
 */
char *ax_exit_describe(const ax_exit_info *info, char *buf, size_t size);

/* --- names and statistics --------------------------------------------------
 */

/*
 * ax_register - name an actor; the name dies with it.
 * Returns 0, AX_EEXIST (name taken), AX_ESRCH (pid not alive),
 * AX_ENAMETOOLONG (over 63 bytes), AX_EINVAL (empty).
 */
int ax_register(const char *name, ax_pid pid);

/* ax_whereis - the actor registered as name. Returns 0 or AX_ENOENT. */
int ax_whereis(const char *name, ax_pid *out);

/* ax_unregister - remove a name. Returns 0 or AX_ENOENT. */
int ax_unregister(const char *name);

/* ax_stats - counters of a live actor. Returns 0 or AX_ESRCH. */
int ax_stats(ax_pid pid, ax_actor_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* AXON_ACTOR_H */
