/*
 * actors/process/reap.c - the end of child processes: reaping with an
 * ev_child watcher (never a blocking waitpid), a child's end once both its
 * exit status and its last frames are in, and the shutdown of this
 * process and of its children.
 */
#include "actors/process/process.h"

#include <signal.h>
#include <sys/wait.h>

#include "base/alloc.h"
#include "base/error.h"
#include "transport/chan_internal.h"

/* Seconds to wait for a reaped child's channel to reach its end. */
#define LINGER_S 2.0

/* Seconds a child whose first actor was killed has to read the kill,
 * else its process is killed: it does not return to its loop (a busy
 * actor in code that never yields), so nothing else in it can run. */
#define KILL_GRACE_S 1.0

ax_proc ax__proc;

static ax_rt *const rt = &ax__rt;
static ax_proc *const pr = &ax__proc;

static void child_gone(ax_child *c);

/* How a child process ended, from its wait status. */
static ax_exit_info
status_info(int status)
{
    ax_exit_info i = {AX_EXIT_NORMAL, 0, 0, false};

    if (WIFSIGNALED(status)) {
        i.kind = AX_EXIT_SIGNAL;
        i.signal = WTERMSIG(status);
        i.core_dumped = WCOREDUMP(status) != 0;
    } else if (WEXITSTATUS(status) != 0) {
        i.kind = AX_EXIT_ERROR;
        i.code = WEXITSTATUS(status);
    }
    return i;
}

static void
on_linger(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    child_gone(w->data); /* reaped long ago and still no end of stream */
}

/* Both halves of a child's end are needed: its status and its last
 * frames (the exact reasons its actors died with come in them). */
static void
maybe_gone(ax_child *c)
{
    if (c->reaped && c->peer->eof) {
        child_gone(c);
    } else if (c->reaped && !ev_is_active(&c->linger)) {
        ev_timer_set(&c->linger, LINGER_S, 0.);
        ev_timer_start(rt->loop, &c->linger);
    }
}

void
ax__child_reaped(ax_child *c, int status)
{
    c->status = status;
    c->reaped = true;
    ax__quiet_woke();
    ax__peer_drain(c->peer); /* its last frames, before its DOWNs */
    maybe_gone(c);
}

static void
on_child(struct ev_loop *loop, ev_child *w, int revents)
{
    (void)revents;
    ev_child_stop(loop, w);
    ax__child_reaped(w->data, w->rstatus);
}

void
ax__child_started(ax_child *c, pid_t os_pid)
{
    c->os_pid = os_pid;
    ev_child_init(&c->cw, on_child, os_pid, 0);
    c->cw.data = c;
    ev_child_start(rt->loop, &c->cw);
}

static void
on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

/* ax_fini in a process with children: ask them to stop, then TERM, then
 * KILL, and reap them all, cooperatively on the loop. */
void
ax__children_shutdown(void)
{
    static const int signals[] = {0, SIGTERM, SIGKILL};
    ax_frame_hdr h = {K_STOP, 0, AX_PID_NONE, AX_PID_NONE};
    ev_timer tick; /* wakes the loop: a silent child must not block it */

    ev_timer_init(&tick, on_tick, 0.05, 0.05);
    ev_timer_start(rt->loop, &tick);
    for (int step = 0; step < 3 && pr->children > 0; step++) {
        double until = ev_time() + (step < 2 ? pr->stop_timeout[step] : 5.0);

        for (ax_peer *p = ax__net.peers; p != NULL; p = p->next) {
            ax_child *c = p->child;

            if (c == NULL || c->os_pid <= 0) {
                continue;
            }
            if (step == 0 && !p->eof) {
                ax_chan_send_urgent(p->ch, &h, NULL, 0);
            } else if (step > 0 && !c->reaped) {
                kill(c->os_pid, signals[step]);
            }
        }
        while (pr->children > 0 && ev_time() < until) {
            ev_run(rt->loop, EVRUN_ONCE);
        }
    }
    ev_timer_stop(rt->loop, &tick);
}

/* An actor of this process ended (core's ending hook): its first? */
static void
actor_ending(ax_actor *a)
{
    if (a == pr->first) {
        pr->first_exit = a->exit;
        pr->first_done = true;
        pr->first = NULL;
        if (pr->has_arg_stack) { /* its arg is not needed any more */
            pr->has_arg_stack = false;
            ax__stack_free(&pr->arg_stack);
        }
    }
}

static void
kill_one(ax_actor *a, void *ud)
{
    ax__exit_actor(a, *(const ax_exit_info *)ud);
}

/* End every actor of this process (K_STOP, or the parent is gone), and
 * ask the children to do the same; the process ends when all are gone. */
void
ax__process_stop(void)
{
    ax_exit_info i = {AX_EXIT_KILLED, AX_KILL_SHUTDOWN, 0, false};

    ax__actors_each(kill_one, &i);
    ax__peers_tell_children(K_STOP);
}

/* The grace is over: a child that has not read the kill is ended. */
static void
on_kill_grace(struct ev_loop *loop, ev_timer *w, int revents)
{
    ax_child *c = w->data;

    (void)loop;
    (void)revents;
    if (!c->reaped && c->os_pid > 0 &&
        !ax__chan_peer_read(c->peer->ch, c->kill_mark)) {
        c->forced = true;
        kill(c->os_pid, SIGKILL);
    }
}

/* A K_KILL went out to p (route's kill_sent hook): for the first actor
 * of a child of ours, give it KILL_GRACE_S to read it. Other actors of
 * the child, and channels without a ring (nothing says what was read),
 * are left to the frame. */
static void
kill_sent(ax_peer *p, ax_pid pid, int code)
{
    ax_child *c = p->child;
    uint64_t mark = ax__chan_sent_mark(p->ch);

    if (c == NULL || c->reaped || c->os_pid <= 0 || mark == 0 ||
        !ax_pid_equal(pid, ((ax_pid){p->node, AX_FIRST_ID}))) {
        return;
    }
    c->kill_mark = mark;
    c->kill_code = code;
    ev_timer_stop(rt->loop, &c->kill_grace);
    ev_timer_set(&c->kill_grace, KILL_GRACE_S, 0.);
    ev_timer_start(rt->loop, &c->kill_grace);
}

/* Both halves of a child's end are in: its status and its last frames. */
static void
child_gone(ax_child *c)
{
    ax_exit_info exact = status_info(c->status);

    ev_timer_stop(rt->loop, &c->kill_grace);
    if (c->forced && !c->has_bye) { /* its first actor: killed, as asked */
        c->bye = (ax_exit_info){AX_EXIT_KILLED, c->kill_code, 0, false};
        c->has_bye = true;
    }
    ev_timer_stop(rt->loop, &c->linger);
    ev_child_stop(rt->loop, &c->cw);
    ax__quiet_child_gone(c);
    ax__peer_gone(c->peer, &exact, c->has_bye ? &c->bye : NULL);
    pr->children--;
    ax__quiet_update();
    ax__free(c);
}

ax_child *
ax__child_new(ax_peer *p)
{
    ax_child *c = ax__calloc(1, sizeof(*c));

    if (c == NULL) {
        return NULL;
    }
    c->peer = p;
    ev_timer_init(&c->linger, on_linger, 0., 0.);
    c->linger.data = c;
    ev_timer_init(&c->kill_grace, on_kill_grace, 0., 0.);
    c->kill_grace.data = c;
    p->child = c;
    pr->children++;
    ax__quiet_update();
    return c;
}

void
ax__child_abort(ax_child *c)
{
    ax__quiet_child_gone(c);
    ax__peer_abort(c->peer);
    pr->children--;
    ax__quiet_update();
    ax__free(c);
}

/* p's channel ended (route's peer_ended hook). */
static void
peer_ended(ax_peer *p, int err)
{
    ax_child *c = p->child;

    if (p->is_parent) {
        ax__process_stop(); /* the parent went away */
        return;
    }
    if (c == NULL) {
        return; /* ax_fini is closing it */
    }
    if (err != AX_EOF && err != AX_EPIPE && c->os_pid > 0) {
        kill(c->os_pid, SIGKILL); /* it spoke nonsense: end it */
    }
    maybe_gone(c);
}

/* The process layer's frames (route's frame hook). */
static void
on_frame(ax_peer *p, const ax_frame *f)
{
    ax_child *c = p->child;

    if (f->hdr.kind == K_STOP) {
        if (p == ax__net.parent) {
            ax__process_stop();
        }
    } else if (f->hdr.kind == K_BYE) {
        if (c != NULL && ax__frame_reason(f, &c->bye) == 0) {
            c->has_bye = true;
        }
    } else {
        ax__quiet_frame(p, f);
    }
}

/* Whether ax_run must go on: child processes alive (core's busy hook). */
static bool
busy(void)
{
    return pr->children > 0;
}

void
ax__children_fini(void)
{
    for (ax_peer *p = ax__net.peers; p != NULL; p = p->next) {
        ax_child *c = p->child;

        if (c != NULL) {
            ev_timer_stop(rt->loop, &c->linger);
            ev_timer_stop(rt->loop, &c->kill_grace);
            ev_child_stop(rt->loop, &c->cw);
            ax__free(c);
            p->child = NULL;
        }
    }
    pr->children = 0;
    ax__quiet_update();
}

void
ax__children_forget(void)
{
    pr->children = 0; /* their records go with the peers, forsaken */
}

void
ax__process_init(void)
{
    ax__quiet_init();
    ax__core_hooks.busy = busy;
    ax__core_on_end(ax__core_hooks.ending, actor_ending);
    ax__route_hooks.frame = on_frame;
    ax__route_hooks.peer_ended = peer_ended;
    ax__route_hooks.kill_sent = kill_sent;
}
