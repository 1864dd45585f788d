/*
 * actors/process/child.c - process actors, the child's side: its clean
 * start, its first actor, its last word and its exit.
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
 * - the parent reaps with an ev_child watcher, never a blocking waitpid
 *   (reap.c).
 */
#include "actors/process/process.h"

#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"
#include "transport/chan_internal.h"

static ax_rt *const rt = &ax__rt;

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
    ax__chans_stop_kicks();
}

/* Other forks queued in the same turn: their pipes are the parent's. */
static void
forget_forks(void)
{
    fork_req *r;

    while ((r = ax__proc.forks) != NULL) {
        ax__proc.forks = r->next;
        ax__fork_req_drop(r);
        ax__fork_req_free(r);
    }
    ax__proc.nforks = 0;
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
    o.arg_size = r->arg_size; /* onto its stack, from the request's copy */
    if (r->promote != NULL) {
        return ax__adopt_promoted(r->promote);
    }
    rc = ax_spawn(r->fn, r->arg, &o, &pid);
    if (rc == 0 && !ax_pid_equal(pid, r->pid)) {
        rc = AX_EINVAL; /* the table was not empty: a bug */
    }
    if (rc == 0) {
        ax_actor *a = ax__lookup(pid);

        ax__proc.first = a;
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
    const ax_exit_info *i = &ax__proc.first_exit;
    int code;

    if (!ax__proc.first_done || i->kind == AX_EXIT_NORMAL) {
        return ax__proc.first_done ? 0 : 70;
    }
    code = i->code & 0xff;
    return code != 0 ? code : 1;
}

/* The child's last word: its first actor's exact end, which the exit
 * status (8 bits) cannot carry. */
static void
say_bye(void)
{
    const ax_exit_info *i = &ax__proc.first_exit;
    ax_frame_hdr h = {K_BYE, 0, AX_PID_NONE, AX_PID_NONE};
    ax_msg *m = NULL;

    if (ax__proc.first_done && ax__net.parent != NULL && !ax__net.parent->eof &&
        ax_msg_pack(&m, "[s d d b]", ax_exit_kind_name(i->kind), i->code,
                    i->signal, i->core_dumped) == 0) {
        ax_chan_send_urgent(ax__net.parent->ch, &h, m->data, m->len);
    }
    ax_msg_free(m);
}

/* Write what is still queued for the parent (messages, DOWN frames):
 * nothing is lost while the parent lives, so wait for it on the loop as
 * long as it takes; a parent that dies ends the wait (EOF, PDEATHSIG). */
static void
flush_parent(void)
{
    while (ax__net.parent != NULL && !ax__net.parent->eof &&
           ax_chan_flush(ax__net.parent->ch) > 0) {
        ev_run(rt->loop, EVRUN_ONCE);
    }
}

/* Die with the parent (its death signal, checked once set: the parent
 * may have died since the fork), with the signals as they start. */
static void
die_with_parent(void)
{
    pid_t parent = getppid();

    reset_signals();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
        _exit(71); /* the parent died between fork and prctl */
    }
}

/* Let go of everything inherited but r's ring and promoted actor (r NULL:
 * everything, for the fork server). */
static void
forget_inherited(fork_req *r)
{
    stop_idles();
    ax__chans_forget(r != NULL ? r->ring : NULL);
    forget_forks();
    ax__children_forget();
    ax__quiet_init();
    ax__peers_forget();
    ax__forkserver_forget();
    /* Every inherited stack goes, but the one that moves (promotion) or
     * the spawner's, which arg may point into: it stays readable, as with
     * coroutine placement, until the first actor ends. */
    if (r == NULL) {
        ax__rt_forget(NULL, NULL);
    } else {
        ax__rt_forget(r->promote, r->promote         ? &r->promote->stack
                                  : r->has_arg_stack ? &r->arg_stack
                                                     : NULL);
    }
    ax__names_forget();
    ev_loop_destroy(EV_DEFAULT); /* runs no watcher, closes its fds */
}

/*
 * The default loop, made again after ev_loop_destroy, keeps the count of
 * references the destroyed one had (libev resets its arrays, not that
 * count): bring it to 0 before anything starts, so that the count is this
 * process's own (quiet.c reads it). ev_run returns the count (libev says
 * only "true" for not 0: then one at a time).
 */
static int
fresh_loop(void)
{
    struct ev_loop *loop = ev_default_loop(0);
    int left;

    if (loop == NULL) {
        return AX_ENOMEM;
    }
    for (left = ev_run(loop, EVRUN_NOWAIT); left > 0; left--) {
        ev_unref(loop);
    }
    for (int i = 0; i < 4096 && ev_run(loop, EVRUN_NOWAIT); i++) {
        ev_unref(loop);
    }
    return 0;
}

/* The child's runtime, its first actor, its end: never returns. */
static _Noreturn void
run_child(fork_req *r, uint64_t parent_node)
{
    int rc;

    ax__proc.is_child = true;
    rc = fresh_loop();
    rc = rc == 0 ? ax__rt_start(r->pid.node) : rc;
    ax__proc.arg_stack = r->arg_stack;
    ax__proc.has_arg_stack = r->has_arg_stack && r->promote == NULL;
    if (rc == 0) {
        rc = ax__peer_new_parent(r->child_fds, r->ring, parent_node);
        r->ring = NULL; /* the channel's now */
        /* The parent can always wake this process (its frames, a kill),
         * even while reading from it is paused: its loop never runs out. */
        ev_ref(rt->loop);
    }
    if (rc == 0) {
        rc = start_first(r);
    }
    ax__fork_req_free(r); /* the parent's request, copied in */
    if (rc < 0) {
        _exit(72);
    }
    ax_run();
    say_bye();
    flush_parent();
    fflush(NULL); /* the actors' own output: _exit would drop it */
    _exit(exit_status());
}

_Noreturn void
ax__child_main(fork_req *r)
{
    uint64_t parent_node = rt->node;

    die_with_parent();
    forget_inherited(r);
    run_child(r, parent_node);
}

void
ax__child_forget_all(void)
{
    reset_signals();
    forget_inherited(NULL);
}

_Noreturn void
ax__child_main_clean(fork_req *r, uint64_t parent_node)
{
    die_with_parent();
    run_child(r, parent_node);
}
