/*
 * actors/promote.c - live promotion: a running coroutine actor moves into
 * a new child process and keeps its address (filled in below).
 */
#include "actors/node.h"

#include "base/error.h"

void
ax__promoted_away(ax_actor *a, ax_peer *p)
{
    (void)a;
    (void)p;
}

int
ax__adopt_promoted(ax_actor *a)
{
    (void)a;
    return AX_ENOSYS;
}
