/*
 * actors/process/spawner.c - process actors, the parent's side: the fork
 * request (the child's channel, route and address exist before the
 * process, so messages can be queued for it), and the fork itself, from
 * the scheduler's own context, never on an actor's stack and never
 * mid-frame: an actor's spawn only queues it. The child's side is child.c;
 * its reaping is reap.c.
 */
#include "actors/process/process.h"

#include <stdio.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"
#include "transport/chan_internal.h"

static ax_rt *const rt = &ax__rt;

/* --- the parent's side -------------------------------------------------- */

static void do_forks(void);

static void
queue_fork(fork_req *r)
{
    r->next = NULL;
    if (ax__proc.forks == NULL) {
        ax__proc.forks_tail = &ax__proc.forks;
    }
    *ax__proc.forks_tail = r;
    ax__proc.forks_tail = &r->next;
    ax__sched_defer(do_forks); /* on the scheduler's own stack */
}

/* Make the child's channel and route now, so messages can be queued for
 * it before it exists. */
static int
prepare_child(fork_req *r)
{
    int parent[2];
    int rc = ax_chan_pipes(parent, r->child_fds);

    if (rc < 0) {
        return ax__fail(rc, "ax_spawn: pipe2: %s", ax_strerror(rc));
    }
    r->pid = (ax_pid){ax__new_node_id(), AX_FIRST_ID};
    r->peer = ax__peer_new_child(parent, r->pid.node);
    if (r->peer != NULL && ax__child_new(r->peer) == NULL) {
        ax__peer_abort(r->peer);
        r->peer = NULL;
        parent[0] = parent[1] = -1; /* closed with the peer's channel */
    }
    if (r->peer == NULL) {
        close(parent[0]);
        close(parent[1]);
        close(r->child_fds[0]);
        close(r->child_fds[1]);
        return AX_ENOMEM;
    }
    return 0;
}

/* The spawner's half of a link or monitor at spawn. */
static int
spawner_half(fork_req *r, const ax_spawn_opts *o)
{
    ax_actor *me = rt->current;

    r->spawner = ax__pid_of(me);
    r->link = o->link;
    r->monitor = o->monitor;
    if (o->link && ax__list_add(&me->links, r->pid, 0, false) < 0) {
        return AX_ENOMEM;
    }
    if (o->monitor) {
        r->mref = ax__new_ref();
        if (ax__list_add(&me->monitors, r->pid, r->mref, false) < 0) {
            return AX_ENOMEM;
        }
        if (o->monitor_ref != NULL) {
            *o->monitor_ref = r->mref;
        }
    }
    return 0;
}

/* The fork for ax_promote: the child gets a new node, the actor keeps its
 * address (the parent routes it to the child from now on). */
int
ax__fork_promotion(ax_actor *a)
{
    fork_req *r = ax__calloc(1, sizeof(*r));
    int rc;

    if (r == NULL) {
        return AX_ENOMEM;
    }
    r->promote = a;
    rc = prepare_child(r);
    if (rc == 0 && (rc = ax__route_moved(ax__pid_of(a), r->peer)) < 0) {
        ax__child_abort(r->peer->child);
        close(r->child_fds[0]);
        close(r->child_fds[1]);
    }
    if (rc < 0) {
        ax__free(r);
        return rc;
    }
    queue_fork(r);
    return 0;
}

int
ax__spawn_process(ax_actor_fn fn, void *arg, const ax_spawn_opts *o,
                  ax_pid *out)
{
    fork_req *r = ax__calloc(1, sizeof(*r));
    int rc;

    if (r == NULL) {
        return AX_ENOMEM;
    }
    r->fn = fn;
    r->arg = arg;
    if (rt->current != NULL) { /* arg may be a local of the spawner */
        r->arg_stack = rt->current->stack;
        r->has_arg_stack = true;
    }
    r->stack_size = o->stack_size;
    r->mailbox_capacity = o->mailbox_capacity;
    rc = prepare_child(r);
    if (rc < 0) {
        ax__free(r);
        return rc;
    }
    if ((o->link || o->monitor) && spawner_half(r, o) < 0) {
        rc = AX_ENOMEM; /* the child is still forked: it just has no link */
    }
    if (out != NULL) {
        *out = r->pid;
    }
    queue_fork(r); /* outside any actor it forks at once: r is gone */
    return rc == AX_ENOMEM ? 0 : rc;
}

static void
fork_failed(fork_req *r, int err)
{
    ax_exit_info i = {AX_EXIT_ERROR, err, 0, false};

    close(r->child_fds[0]);
    close(r->child_fds[1]);
    ax__fail(err, "fork failed: %s", ax_strerror(err));
    if (r->promote != NULL) { /* it stays: resume it with the error */
        ax__route_unmove(ax__pid_of(r->promote));
        r->promote->promote_err = err;
        ax__wake(r->promote);
    } else {
        ax__node_down(r->pid.node, NULL, &i);
    }
    ax__child_abort(r->peer->child);
}

static void
fork_one(fork_req *r)
{
    pid_t os;

    fflush(NULL); /* nothing buffered may come out twice */
    os = fork();
    if (os == 0) {
        ax__child_main(r);
    }
    if (os < 0) {
        fork_failed(r, -errno);
    } else {
        close(r->child_fds[0]);
        close(r->child_fds[1]);
        ax__child_started(r->peer->child, os);
        if (r->promote != NULL) {
            ax__promoted_away(r->promote, r->peer);
        }
    }
    ax__free(r);
}

/* The forks requested by actors (from the scheduler's context). */
static void
do_forks(void)
{
    fork_req *r;

    while ((r = ax__proc.forks) != NULL) {
        ax__proc.forks = r->next;
        fork_one(r);
    }
}
