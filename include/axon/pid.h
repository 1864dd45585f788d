/*
 * axon/pid.h - actor addresses.
 *
 * An ax_pid is a value: copy it, compare it, store it, put it in a message
 * (format code 'p'). It names one actor for the whole life of the system:
 * `node` identifies the process the actor was born in and `id` the actor
 * inside it. Neither part is ever reused while the runtime lives, so a
 * stale address fails cleanly instead of reaching another actor.
 *
 * Frames carry addresses in their header; messages carry them as the
 * msgpack extension type AX_PID_EXT (see docs/wire.md).
 */
#ifndef AXON_PID_H
#define AXON_PID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <axon/cdefs.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ax_pid {
    uint64_t node; /* process the actor was born in; 0 = no process */
    uint64_t id;   /* actor inside that process; 0 = no actor */
} ax_pid;

/* The address of nobody: a sender outside any actor, an unset field. */
#define AX_PID_NONE (AX_LITERAL(ax_pid){0, 0})

/* msgpack extension type of an address: fixext 16, node then id, big-endian */
#define AX_PID_EXT 1

/* ax_pid_equal - whether a and b name the same actor. */
static inline bool
ax_pid_equal(ax_pid a, ax_pid b)
{
    return a.node == b.node && a.id == b.id;
}

/* ax_pid_is_none - whether p is AX_PID_NONE. */
static inline bool
ax_pid_is_none(ax_pid p)
{
    return p.node == 0 && p.id == 0;
}

/*
 * The size of a buffer that holds any address ax_pid_format writes, its
 * terminating NUL included (the longest is 42 bytes).
 */
#define AX_PID_FORMAT_LEN 48

/*
 * ax_pid_format - write p as text into buf, as snprintf does: at most len
 * bytes, NUL-terminated if len > 0 (a short buffer gets the start of the
 * text). The text is <node.slot.generation>, all decimal. `node` is the
 * number of p's process in this run: 1 for the root (the process that
 * called ax_init, the first time it did), then the next free number for
 * each process born after it, in the order they were spawned anywhere in
 * the tree (a promotion is a birth too; so is a later ax_init's root).
 * `slot` and `generation` are the low and high halves of p.id. The first
 * actor of the root is <1.1.1>. A node's number is the same in every
 * process of the tree and never reused while the run lives, so the text
 * of an address is too. AX_PID_NONE is <none>; a node this run did not
 * number (one past the 65,536th, or one of a runtime outside this tree)
 * is its id in hex, as in <0x9e3779b97f4a7c15.1.1>. p need not be alive.
 * Returns the length of the whole text (without the NUL), like snprintf:
 * it was cut short if that is >= len. Never fails.
 * Ownership: buf is the caller's; buf may be NULL if len is 0.
 * Context: any, before ax_init and after ax_fini too (numbers are those
 * of the last run); does not yield.
 */
int ax_pid_format(ax_pid p, char *buf, size_t len);

/*
 * ax_pid_parse - the address whose text is s, as ax_pid_format writes it
 * (every process of the tree reads the same text as the same address):
 * <none>, <node.slot.generation> with node a number of this run or 0x and
 * a hex id. Nothing else is accepted: no spaces, no signs, nothing after
 * the >. The address need not be alive (see ax_pid_os_pid).
 * Returns 0 and *out, AX_EINVAL (s is not an address's text) or AX_ESRCH
 * (well formed, but this run has no node of that number); on error *out
 * is unchanged.
 * Context: any; does not yield.
 */
int ax_pid_parse(const char *s, ax_pid *out);

/*
 * ax_pid_os_pid - the OS process id of the process that actor p lives in:
 * getpid() for an actor of this process, the child's pid for a process
 * actor, the new process's for one that ax_promote moved. Any process of
 * the tree can ask about any actor of it.
 * Returns the pid (> 0), or AX_ESRCH: p is AX_PID_NONE, an actor of this
 * process that ended, one elsewhere that this process knows ended (a DOWN,
 * an EXIT, its process's end), or one on a process that ended or that this
 * run does not know (past 65,536 processes); AX_EAGAIN: p was just spawned
 * in a process not started yet (ax_spawn returns before the fork, which
 * happens when the spawning actor next waits). An actor of a live process
 * that ended without this process hearing of it still gives that pid.
 * Before ax_init and after ax_fini: AX_ESRCH.
 * Context: any; does not yield.
 */
int ax_pid_os_pid(ax_pid p);

#ifdef __cplusplus
}
#endif
#endif /* AXON_PID_H */
