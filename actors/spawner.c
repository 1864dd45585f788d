/*
 * actors/spawner.c - process actors: fork, the child's clean start, and
 * the end of a child process.
 *
 * gipc's lessons, each one a rule here:
 * - fork happens from the scheduler's own context (the loop's stack),
 *   never on an actor's stack and never mid-frame: an actor's spawn only
 *   queues the fork, which runs when the actor has switched out;
 * - the child never runs what it inherited: the default loop is destroyed
 *   without running a watcher and created anew, every inherited actor is
 *   forgotten (its stack unmapped: nothing accumulates per generation),
 *   every inherited channel is dropped with its fds closed;
 * - signal dispositions and the mask are reset, SIGPIPE stays ignored,
 *   and the child dies with its parent (PR_SET_PDEATHSIG, and EOF);
 * - the child ends in _exit with a status that encodes its first actor's
 *   exit; it never returns into the parent's code path;
 * - the parent reaps with an ev_child watcher, never a blocking waitpid.
 */
#include "actors/node.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"
#include "transport/chan_internal.h"

struct fork_req {
    fork_req *next;
    ax_actor_fn fn;
    void *arg;
    size_t stack_size;
    size_t mailbox_capacity;
    ax_pid pid;     /* the first actor's address, known before the fork */
    ax_pid spawner; /* who links to / monitors it, if asked */
    bool link;
    bool monitor;
    uint64_t mref;
    ax_peer *peer;      /* the parent's channel to the child */
    int child_fds[2];   /* the child's ends */
    ax_actor *promote;  /* ax_promote: the actor that moves */
    ax_stack arg_stack; /* the spawning actor's stack: arg may point in */
    bool has_arg_stack;
};

static ax_rt *const rt = &ax__rt;
static ax_nodes *const nd = &ax__nodes;

/* --- the parent's side -------------------------------------------------- */

static void
queue_fork(fork_req *r)
{
    r->next = NULL;
    if (nd->forks == NULL) {
        nd->forks_tail = &nd->forks;
    }
    *nd->forks_tail = r;
    nd->forks_tail = &r->next;
    r->peer->fork = r;
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
        ax__peer_abort(r->peer);
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
    queue_fork(r);
    if (out != NULL) {
        *out = r->pid;
    }
    if (rt->current == NULL) {
        ax__do_forks(); /* outside any actor: this is the loop's stack */
    }
    return rc == AX_ENOMEM ? 0 : rc;
}

_Noreturn static void child_main(fork_req *r);

static void
fork_failed(fork_req *r, int err)
{
    ax_exit_info i = {AX_EXIT_ERROR, err, 0, false};

    close(r->child_fds[0]);
    close(r->child_fds[1]);
    ax__fail(err, "fork failed: %s", ax_strerror(err));
    r->peer->os_pid = -1;
    r->peer->reaped = true;
    r->peer->status = 0;
    if (r->promote != NULL) { /* it stays: resume it with the error */
        ax__route_unmove(ax__pid_of(r->promote));
        r->promote->promote_err = err;
        ax__wake(r->promote);
    } else {
        ax__node_down(r->pid.node, NULL, &i);
    }
    ax__peer_abort(r->peer);
}

static void
fork_one(fork_req *r)
{
    pid_t os;

    fflush(NULL); /* nothing buffered may come out twice */
    os = fork();
    if (os == 0) {
        child_main(r);
    }
    r->peer->fork = NULL;
    if (os < 0) {
        fork_failed(r, -errno);
    } else {
        close(r->child_fds[0]);
        close(r->child_fds[1]);
        ax__peer_started(r->peer, os);
        if (r->promote != NULL) {
            ax__promoted_away(r->promote, r->peer);
        }
    }
    ax__free(r);
}

void
ax__do_forks(void)
{
    fork_req *r;

    while ((r = nd->forks) != NULL) {
        nd->forks = r->next;
        fork_one(r);
    }
}

/* --- the child's side ----------------------------------------------------- */

/* Dispositions back to default, nothing blocked, SIGPIPE ignored. */
static void
reset_signals(void)
{
    sigset_t none;

    for (int s = 1; s < NSIG; s++) {
        if (s != SIGKILL && s != SIGSTOP) {
            signal(s, SIG_DFL);
        }
    }
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * The idle watchers of the framework on the inherited loop are stopped
 * (not run) before it is destroyed: ev_loop_destroy leaves the default
 * loop's count of active idle watchers as it was and ev_default_loop does
 * not reset it, so one counted at the fork (the scheduler's kick, a
 * channel's) would make the child's fresh loop poll without blocking,
 * forever: a child that waits would spin at 100% CPU.
 */
static void
stop_idles(void)
{
    ev_idle_stop(rt->loop, &rt->kick);
    for (ax_chan *ch = ax__chan_first(); ch != NULL; ch = ax__chan_next(ch)) {
        ev_idle_stop(ch->loop, &ch->kick);
    }
}

/* Every inherited channel: fds closed, memory freed, nothing written and
 * no callback run (their loop is gone). */
static void
drop_channels(void)
{
    ax_chan *ch;

    while ((ch = ax__chan_first()) != NULL) {
        ax__chan_abandon(ch);
    }
}

/* Other forks queued in the same turn: their pipes are the parent's. */
static void
forget_forks(void)
{
    fork_req *r;

    while ((r = nd->forks) != NULL) {
        nd->forks = r->next;
        close(r->child_fds[0]);
        close(r->child_fds[1]);
        ax__free(r);
    }
}

/* The first actor of the new process, at the address chosen before. */
static int
start_first(fork_req *r)
{
    ax_spawn_opts o = {0};
    ax_pid pid;
    int rc;

    o.stack_size = r->stack_size;
    o.mailbox_capacity = r->mailbox_capacity;
    if (r->promote != NULL) {
        return ax__adopt_promoted(r->promote);
    }
    rc = ax_spawn(r->fn, r->arg, &o, &pid);
    if (rc == 0 && !ax_pid_equal(pid, r->pid)) {
        rc = AX_EINVAL; /* the table was not empty: a bug */
    }
    if (rc == 0) {
        ax_actor *a = ax__lookup(pid);

        nd->first = a;
        if (r->link) {
            ax__list_add(&a->links, r->spawner, 0, false);
        }
        if (r->monitor) {
            ax__list_add(&a->watchers, r->spawner, r->mref, false);
        }
    }
    return rc;
}

/* The exit status of this process: its first actor's exit. */
static int
exit_status(void)
{
    const ax_exit_info *i = &nd->first_exit;
    int code;

    if (!nd->first_done || i->kind == AX_EXIT_NORMAL) {
        return nd->first_done ? 0 : 70;
    }
    code = i->code & 0xff;
    return code != 0 ? code : 1;
}

/* The child's last word: its first actor's exact end, which the exit
 * status (8 bits) cannot carry. */
static void
say_bye(void)
{
    const ax_exit_info *i = &nd->first_exit;
    ax_frame_hdr h = {K_BYE, 0, AX_PID_NONE, AX_PID_NONE};
    ax_msg *m = NULL;

    if (nd->first_done && nd->parent != NULL && !nd->parent->eof &&
        ax_msg_pack(&m, "[s d d b]", ax_exit_kind_name(i->kind), i->code,
                    i->signal, i->core_dumped) == 0) {
        ax_chan_send_urgent(nd->parent->ch, &h, m->data, m->len);
    }
    ax_msg_free(m);
}

/* Write what is still queued for the parent (messages, DOWN frames):
 * nothing is lost while the parent lives, so wait for it on the loop as
 * long as it takes; a parent that dies ends the wait (EOF, PDEATHSIG). */
static void
flush_parent(void)
{
    while (nd->parent != NULL && !nd->parent->eof &&
           ax_chan_flush(nd->parent->ch) > 0) {
        ev_run(rt->loop, EVRUN_ONCE);
    }
}

_Noreturn static void
child_main(fork_req *r)
{
    pid_t parent = getppid();
    uint64_t parent_node = rt->node;
    int rc;

    reset_signals();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
        _exit(71); /* the parent died between fork and prctl */
    }
    stop_idles();
    drop_channels();
    forget_forks();
    ax__peers_forget();
    /* Every inherited stack goes, but the one that moves (promotion) or
     * the spawner's, which arg may point into: it stays readable, as with
     * coroutine placement, until the first actor ends. */
    ax__rt_forget(r->promote, r->promote         ? &r->promote->stack
                              : r->has_arg_stack ? &r->arg_stack
                                                 : NULL);
    ev_loop_destroy(EV_DEFAULT); /* runs no watcher, closes its fds */
    nd->is_child = true;
    rc = ax__rt_start(r->pid.node);
    nd->arg_stack = r->arg_stack;
    nd->has_arg_stack = r->has_arg_stack && r->promote == NULL;
    if (rc == 0) {
        rc = ax__peer_new_parent(r->child_fds, parent_node);
    }
    if (rc == 0) {
        rc = start_first(r);
    }
    ax__free(r); /* the parent's request, copied in; not needed now */
    if (rc < 0) {
        _exit(72);
    }
    ax_run();
    say_bye();
    flush_parent();
    fflush(NULL); /* the actors' own output: _exit would drop it */
    _exit(exit_status());
}
