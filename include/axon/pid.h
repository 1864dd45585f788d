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
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ax_pid {
    uint64_t node; /* process the actor was born in; 0 = no process */
    uint64_t id;   /* actor inside that process; 0 = no actor */
} ax_pid;

/* The address of nobody: a sender outside any actor, an unset field. */
#define AX_PID_NONE ((ax_pid){0, 0})

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

#ifdef __cplusplus
}
#endif
#endif /* AXON_PID_H */
