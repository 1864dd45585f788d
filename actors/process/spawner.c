/*
 * actors/process/spawner.c - process actors, the parent's side: the fork
 * request (the child's channel, route and address exist before the
 * process, so messages can be queued for it), and the fork itself, from
 * the scheduler's own context, never on an actor's stack and never
 * mid-frame: an actor's spawn only queues it. The child's side is child.c;
 * its reaping is reap.c.
 */
#include "actors/process/process.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"
#include "transport/chan_internal.h"

static ax_rt *const rt = &ax__rt;

/* --- the parent's side -------------------------------------------------- */

static void do_forks(void);

/* Forks that may wait for the spawning actor to yield: a burst of spawns
 * that never blocks yields once this many wait, so their fds (two each
 * until the fork) stay bounded. */
#define MAX_WAITING_FORKS 64

static void
queue_fork(fork_req *r)
{
    r->next = NULL;
    if (ax__proc.forks == NULL) {
        ax__proc.forks_tail = &ax__proc.forks;
    }
    *ax__proc.forks_tail = r;
    ax__proc.forks_tail = &r->next;
    ax__proc.nforks++;
    ax__sched_defer(do_forks); /* on the scheduler's own stack */
}

/* AXON_CARRIER=pipes: frames through the pipes, no rings (to compare, and
 * to test both carriers). Then a send is out only when the turn flushes. */
static bool
pipes_only(void)
{
    static int v = -1;

    if (v < 0) {
        const char *e = getenv("AXON_CARRIER");

        v = e != NULL && strcmp(e, "pipes") == 0;
    }
    return v == 1;
}

/*
 * The fds of a channel to a child about to be forked: two pipes (a
 * doorbell each way, and the end of stream when a side dies), or, once
 * the channels hold an eighth of the fds this process may open
 * (RLIMIT_NOFILE), one socket pair:
 * one fd per process actor in the parent, so 10,000 of them fit in a
 * limit of 20,000 fds. Pipes wake the other side faster (about 10 us a
 * round trip on this VM). Without rings (AXON_CARRIER=pipes), always
 * pipes, as the frames went before the rings. Returns 0 or -errno.
 */
static int
doorbell_fds(bool ring, int parent[2], int child[2])
{
    struct rlimit lim;
    int sv[2];

    if (!ring || getrlimit(RLIMIT_NOFILE, &lim) < 0 ||
        (ax__chan_fds() + 4) * 8 <= lim.rlim_cur) {
        return ax_chan_pipes(parent, child);
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) <
        0) {
        return -errno;
    }
    parent[0] = parent[1] = sv[0];
    child[0] = child[1] = sv[1];
    return 0;
}

/* Close a pair from doorbell_fds (one fd or two), and mark it closed. */
static void
close_pair(int fd[2])
{
    if (fd[1] >= 0 && fd[1] != fd[0]) {
        close(fd[1]);
    }
    if (fd[0] >= 0) {
        close(fd[0]);
    }
    fd[0] = fd[1] = -1;
}

/* Make the child's channel and route now, so messages can be queued for
 * it before it exists. */
static int
prepare_child(fork_req *r)
{
    int parent[2];
    int rc = 0;

    r->ring_fd = -1;
    if (!pipes_only() && r->via_server) { /* passed to it by fd */
        rc = ax__ring_map_new_fd(AX_PROC_RING, &r->ring, &r->ring_fd);
    } else if (!pipes_only()) {
        rc = ax__ring_map_new(AX_PROC_RING, &r->ring);
    }
    if (rc < 0) {
        return rc;
    }
    if ((rc = doorbell_fds(r->ring != NULL, parent, r->child_fds)) < 0) {
        ax__ring_map_free(r->ring);
        return ax__fail(rc, "ax_spawn: %s: %s",
                        r->ring != NULL ? "socketpair" : "pipe2",
                        ax_strerror(rc));
    }
    r->pid = (ax_pid){ax__new_node_id(), AX_FIRST_ID};
    r->peer = ax__peer_new_child(parent, r->ring, r->pid.node);
    if (r->peer != NULL && ax__child_new(r->peer) == NULL) {
        ax__peer_abort(r->peer);
        r->peer = NULL;
        parent[0] = parent[1] = -1; /* closed with the peer's channel */
    }
    if (r->peer == NULL) {
        close_pair(parent);
        ax__fork_req_drop(r);
        return AX_ENOMEM;
    }
    return 0;
}

/* Whether one more child process may start (ax_runtime_opts's
 * max_processes): AX_EAGAIN with what to do, or 0. */
static int
room_for_one(const char *what)
{
    if (ax__proc.children < ax__proc.max_children) {
        return 0;
    }
    return ax__fail(AX_EAGAIN,
                    "%s: %zu child processes are alive, the most this "
                    "process may have (max_processes of ax_runtime_opts): "
                    "wait for one to end, or raise the limit",
                    what, ax__proc.children);
}

/* The spawner's half of a link or monitor at spawn; on failure, none. */
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
            if (o->link) {
                ax__list_remove(&me->links, r->pid, 0);
            }
            return AX_ENOMEM;
        }
    }
    return 0;
}

/* A spawn refused before its fork: nothing of the child stays. */
static void
spawn_undo(fork_req *r, bool spawner_half_done)
{
    ax_actor *me = rt->current;

    if (spawner_half_done && r->link) {
        ax__list_remove(&me->links, r->pid, 0);
    }
    if (spawner_half_done && r->monitor) {
        ax__list_remove(&me->monitors, r->pid, r->mref);
    }
    ax__child_abort(r->peer->child);
    ax__fork_req_drop(r);
    ax__fork_req_free(r);
}

/* The fork for ax_promote: the child gets a new node, the actor keeps its
 * address (the parent routes it to the child from now on). */
int
ax__fork_promotion(ax_actor *a)
{
    fork_req *r;
    int rc;

    if ((rc = room_for_one("ax_promote")) < 0) {
        return rc;
    }
    if ((r = ax__calloc(1, sizeof(*r))) == NULL) {
        return AX_ENOMEM;
    }
    r->promote = a;
    rc = prepare_child(r);
    if (rc == 0 && (rc = ax__route_moved(ax__pid_of(a), r->peer)) < 0) {
        ax__child_abort(r->peer->child);
        ax__fork_req_drop(r);
    }
    if (rc < 0) {
        ax__free(r);
        return rc;
    }
    queue_fork(r);
    return 0;
}

/*
 * Everything that can refuse the spawn happens here, before the fork: the
 * channel, the spawner's link or monitor, the name. A refused spawn forks
 * nothing and runs nothing.
 */
int
ax__spawn_process(ax_actor_fn fn, void *arg, const ax_spawn_opts *o,
                  ax_pid *out)
{
    fork_req *r;
    bool half = o->link || o->monitor;
    /* Nothing of this process's memory is passed: the fork server's. */
    bool lean = arg == NULL || o->arg_size > 0;
    int rc;

    if ((rc = room_for_one("ax_spawn")) < 0) {
        return rc;
    }
    if (lean && ax__forkserver_gone()) {
        return ax__fail(AX_ECHILD,
                        "ax_spawn: the fork server has died (its children "
                        "with it): this spawn would have started from it");
    }
    if (rt->current != NULL && ax__proc.nforks >= MAX_WAITING_FORKS) {
        ax_yield(); /* the scheduler forks those first */
    }
    /* Requests the fork server has no room for yet hold their fds: a
     * burst waits for it to take them. */
    while (rt->current != NULL &&
           ax__forkserver_waiting() >= MAX_WAITING_FORKS) {
        ax_sleep(1);
    }
    if ((r = ax__calloc(1, sizeof(*r))) == NULL) {
        return AX_ENOMEM;
    }
    r->fn = fn;
    r->arg = arg;
    r->via_server = lean && ax__forkserver_up();
    if (o->arg_size > 0) { /* its own copy, until the actor has it */
        if ((r->arg = ax__alloc(o->arg_size)) == NULL) {
            ax__free(r);
            return AX_ENOMEM;
        }
        memcpy(r->arg, arg, o->arg_size);
        r->arg_size = o->arg_size;
    } else if (rt->current != NULL) { /* arg may be a local of the spawner */
        r->arg_stack = rt->current->stack;
        r->has_arg_stack = true;
    }
    r->stack_size = o->stack_size;
    r->mailbox_capacity = o->mailbox_capacity;
    rc = prepare_child(r);
    if (rc < 0) {
        ax__fork_req_free(r);
        return rc;
    }
    if (half && (rc = spawner_half(r, o)) < 0) {
        spawn_undo(r, false);
        return rc;
    }
    if (o->name != NULL && (rc = ax_register(o->name, r->pid)) < 0) {
        spawn_undo(r, half);
        return rc;
    }
    if (o->monitor && o->monitor_ref != NULL) {
        *o->monitor_ref = r->mref;
    }
    if (out != NULL) {
        *out = r->pid;
    }
    queue_fork(r); /* outside any actor it forks at once: r is gone */
    return 0;
}

static void
fork_failed(fork_req *r, int err)
{
    ax_exit_info i = {AX_EXIT_ERROR, err, 0, false};

    ax__fork_req_drop(r);
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
    int rc;

    if (r->via_server) { /* its fds go to the server, its ring stays */
        if ((rc = ax__forkserver_spawn(r)) < 0) {
            fork_failed(r, rc);
        } else {
            ax__fork_req_drop(r);
        }
        ax__fork_req_free(r);
        return;
    }
    fflush(NULL); /* nothing buffered may come out twice */
    os = fork();
    if (os == 0) {
        ax__child_main(r);
    }
    if (os < 0) {
        fork_failed(r, -errno);
    } else {
        ax__fork_req_drop(r);
        ax__child_started(r->peer->child, os);
        if (r->promote != NULL) {
            ax__promoted_away(r->promote, r->peer);
        }
    }
    ax__fork_req_free(r);
}

void
ax__fork_req_drop(fork_req *r)
{
    close_pair(r->child_fds);
    if (r->ring_fd >= 0) {
        close(r->ring_fd);
        r->ring_fd = -1;
    }
    ax__ring_map_free(r->ring);
    r->ring = NULL;
}

void
ax__fork_req_free(fork_req *r)
{
    if (r->arg_size > 0) {
        ax__free(r->arg);
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
        ax__proc.nforks--;
        fork_one(r);
    }
}
