/*
 * actors/process/quiet.c - deadlock detection across processes: whether
 * every actor of the process tree waits with nothing that could wake it,
 * so that ax_run answers AX_EDEADLK whatever the placement of the actors
 * left (for coroutines alone, core sees it: ev_run runs out of watchers).
 *
 * A process is quiet when no actor of its own is ready and its loop holds
 * nothing but its channels and its children's reaping (no timer, no fd,
 * nothing else an actor waits for), and every child answered quiet. The
 * root asks (K_PROBE) once no actor of its own ran for a tick; a process
 * asked answers (K_QUIET) after asking its own children, with its frame
 * counts on the parent's channel. A parent believes a child's "quiet"
 * only when those counts match its own (every frame it sent arrived,
 * none of the child's is still on its way): a frame in flight is what
 * could wake someone, and it breaks the match. A child's end in a process
 * that answered quiet says so (K_WOKE): its actors hear of it.
 * docs/wire.md ("Deadlock detection across processes") states it.
 */
#include "actors/process/process.h"

#include <stdint.h>
#include <string.h>

#include "base/error.h"
#include "transport/chan_internal.h"

#define TICK_S 0.1   /* how often the root looks */
#define MAX_SKIP 16u /* ticks a root waits, at most, after a "not quiet" */
/* Ticks a probe may take: past them an answer was lost (a child out of
 * memory, the root out of ax_run meanwhile), and the root asks anew (a
 * child busy for longer answers the new probe when it can). */
#define PROBE_TICKS 100u

static ax_rt *const rt = &ax__rt;
static ax_proc *const pr = &ax__proc;

static struct {
    uint64_t epoch;       /* the probe being answered (child) or run (root) */
    bool asked;           /* an answer is owed (root: to ax_run) */
    bool probing;         /* the children were asked; answers awaited */
    bool failed;          /* a child answered "not quiet", woke, or ended */
    size_t waiting;       /* children yet to answer */
    size_t below;         /* actors of the children that answered quiet */
    uint64_t switches;    /* rt->st.switches when this probe began here */
    bool reported;        /* this process answered quiet (a child: WOKE) */
    ev_timer tick;        /* the root's: unreferenced, while it has children */
    unsigned asked_ticks; /* ticks the root's probe has taken */
    uint64_t seen;        /* rt->st.switches at the last tick */
    unsigned skip, backoff;
} q;

/* The loop references held by the channels to the parent and children,
 * by the children's reaping (an ev_child watcher each, or the fork
 * server's one for all of its), and a child's hold for its parent
 * (child.c): what a quiet process has. */
static unsigned
tree_refs(void)
{
    unsigned n = (pr->is_child ? 1u : 0u) + ax__forkserver_refs();

    for (ax_peer *p = ax__net.peers; p != NULL; p = p->next) {
        ax_child *c = p->child;

        n += p->ch != NULL ? ax__chan_loop_refs(p->ch) : 0;
        n += c != NULL && ev_is_active(&c->cw) ? 1u : 0u;
    }
    return n;
}

/*
 * Whether nothing here but the process tree could wake an actor: no
 * actor is ready, and one iteration of the loop that does not block, with
 * the tree's references taken away, finds no other reference (libev's
 * ev_run returns false then) and runs no actor. Called from outside the
 * loop (ax__run_outside).
 */
static bool
loop_quiet(void)
{
    uint64_t switches = rt->st.switches;
    unsigned refs = tree_refs();
    bool more;

    if (!ax__rq_empty()) {
        return false;
    }
    for (unsigned i = 0; i < refs; i++) {
        ev_unref(rt->loop);
    }
    more = ev_run(rt->loop, EVRUN_NOWAIT) != 0;
    for (unsigned i = 0; i < refs; i++) {
        ev_ref(rt->loop);
    }
    return !more && tree_refs() == refs && rt->st.switches == switches &&
           ax__rq_empty();
}

/* Every child runs and can be asked (one starting or ending is news to
 * come: not quiet). */
static bool
children_askable(void)
{
    for (ax_peer *p = ax__net.peers; p != NULL; p = p->next) {
        ax_child *c = p->child;

        if (c != NULL &&
            (c->os_pid <= 0 || c->reaped || p->eof || p->wbroken)) {
            return false;
        }
    }
    return true;
}

static void
send_up(int kind, const ax_msg *m)
{
    ax_peer *up = ax__net.parent;
    ax_frame_hdr h = {(uint8_t)kind, 0, AX_PID_NONE, AX_PID_NONE};

    if (up != NULL && !up->eof && !up->wbroken) {
        ax_chan_send_urgent(up->ch, &h, m != NULL ? m->data : NULL,
                            m != NULL ? m->len : 0);
    }
}

/* The end of a probe here: the root's verdict, or a child's answer. */
static int
answer(bool quiet)
{
    ax_chan_stats st;
    ax_msg *m = NULL;

    q.asked = false;
    q.probing = false;
    if (ax__net.parent == NULL) {
        if (quiet && rt->st.actors + q.below > 0) {
            q.backoff = q.skip = 0;
            return ax__deadlock(q.below);
        }
        q.backoff = q.backoff == 0 ? 1 : q.backoff * 2;
        q.backoff = q.backoff > MAX_SKIP ? MAX_SKIP : q.backoff;
        q.skip = q.backoff;
        return 0;
    }
    if (ax__net.parent->ch != NULL) {
        ax_chan_stats_get(ax__net.parent->ch, &st);
        if (ax_msg_pack(&m, "[u b u u u]", q.epoch, quiet, st.frames_in,
                        st.frames_out,
                        (uint64_t)(rt->st.actors + q.below)) == 0) {
            send_up(K_QUIET, m);
        }
        ax_msg_free(m);
    }
    q.reported = quiet;
    return 0;
}

/* Ask every child (they are all askable). Returns how many. */
static size_t
ask_children(void)
{
    ax_frame_hdr h = {K_PROBE, 0, AX_PID_NONE, AX_PID_NONE};
    ax_msg *m = NULL;
    size_t n = 0;

    if (ax_msg_pack(&m, "[u]", q.epoch) < 0) {
        return SIZE_MAX; /* no memory: not quiet */
    }
    for (ax_peer *p = ax__net.peers; p != NULL; p = p->next) {
        ax_child *c = p->child;

        if (c != NULL && ax_chan_send_urgent(p->ch, &h, m->data, m->len) == 0) {
            c->q_asked = true;
            n++;
        } else if (c != NULL) {
            n = SIZE_MAX;
            break;
        }
    }
    ax_msg_free(m);
    return n;
}

/* Whether no frame moved on any child's channel since its answer was
 * believed: one that answered early could have been sent a frame (a
 * sibling's, passed on) since, which may wake it. */
static bool
counts_unchanged(void)
{
    for (ax_peer *p = ax__net.peers; p != NULL; p = p->next) {
        ax_child *c = p->child;
        ax_chan_stats st;

        if (c == NULL) {
            continue;
        }
        if (p->ch == NULL) {
            return false;
        }
        ax_chan_stats_get(p->ch, &st);
        if (st.frames_out != c->q_out || st.frames_in != c->q_in) {
            return false;
        }
    }
    return true;
}

/* The work of a probe, from outside the loop (ax_run calls it). */
static int
step(void)
{
    if (!q.asked) {
        return 0;
    }
    if (!q.probing) {
        /* A child with no actor and no child left is ending: its end is
         * news to come */
        if ((pr->is_child && rt->st.actors == 0 && pr->children == 0) ||
            !loop_quiet() || !children_askable()) {
            return answer(false);
        }
        q.switches = rt->st.switches;
        q.failed = false;
        q.below = 0;
        q.waiting = ask_children();
        if (q.waiting == 0 || q.waiting == SIZE_MAX) {
            return answer(q.waiting == 0);
        }
        q.probing = true;
        return 0;
    }
    if (q.failed) {
        return answer(false);
    }
    if (q.waiting > 0) {
        return 0;
    }
    return answer(loop_quiet() && rt->st.switches == q.switches &&
                  counts_unchanged());
}

/* A child's answer is in (or it can no longer come): one fewer awaited. */
static void
child_answered(ax_child *c, bool quiet, size_t actors)
{
    if (!q.probing || !c->q_asked) {
        return;
    }
    c->q_asked = false;
    q.waiting--;
    q.failed = q.failed || !quiet;
    q.below += quiet ? actors : 0;
    if (q.failed || q.waiting == 0) {
        ax__run_outside(step);
    }
}

/* K_QUIET from child c on p: believed if the counts match ours. */
static void
quiet_frame(ax_peer *p, ax_child *c, const ax_frame *f)
{
    uint64_t epoch, in, out, actors;
    bool quiet;
    ax_chan_stats st;
    ax_msg *m;

    int rc = ax_msg_from_bytes(&m, f->body, f->len);

    if (rc == AX_ENOMEM) {
        child_answered(c, false, 0); /* not read: not quiet */
        return;
    }
    if (rc < 0) {
        ax__peer_broken(p, AX_EPROTO); /* not msgpack: the child ends */
        return;
    }
    if (ax_msg_unpack(m, "[u b u u u]", &epoch, &quiet, &in, &out, &actors) <
        0) {
        ax_msg_free(m);
        ax__peer_broken(p, AX_EPROTO);
        return;
    }
    ax_msg_free(m);
    if (epoch != q.epoch) {
        return; /* an answer to an earlier probe */
    }
    ax_chan_stats_get(p->ch, &st);
    quiet = quiet && st.frames_out == in && st.frames_in - 1 == out;
    c->q_in = st.frames_in; /* the verdict checks nothing moved since */
    c->q_out = st.frames_out;
    child_answered(c, quiet, (size_t)actors);
}

/* K_PROBE from the parent: answer once no actor here is ready. */
static void
probe_frame(ax_peer *p, const ax_frame *f)
{
    uint64_t epoch;
    ax_msg *m;
    int rc = ax_msg_from_bytes(&m, f->body, f->len);

    if (rc < 0) {
        if (rc != AX_ENOMEM) {
            ax__peer_broken(p, AX_EPROTO); /* not msgpack */
        }
        return; /* no memory: the next probe asks again */
    }
    if (ax_msg_unpack(m, "[u]", &epoch) < 0) {
        ax_msg_free(m);
        ax__peer_broken(p, AX_EPROTO);
        return;
    }
    ax_msg_free(m);
    q.epoch = epoch;
    q.asked = true;
    q.probing = false; /* a probe still under way here is superseded */
    q.reported = false;
    ax__run_outside(step);
}

void
ax__quiet_frame(ax_peer *p, const ax_frame *f)
{
    ax_child *c = p->child;

    if (f->hdr.kind == K_PROBE && p == ax__net.parent) {
        probe_frame(p, f);
    } else if (f->hdr.kind == K_QUIET && c != NULL) {
        quiet_frame(p, c, f);
    } else if (f->hdr.kind == K_WOKE && c != NULL) {
        ax__quiet_woke();
    }
}

void
ax__quiet_woke(void)
{
    if (q.reported) {
        q.reported = false;
        send_up(K_WOKE, NULL);
    }
    if (q.probing) {
        q.failed = true;
        ax__run_outside(step);
    }
}

void
ax__quiet_child_gone(ax_child *c)
{
    child_answered(c, false, 0);
}

/* --- the root's tick ----------------------------------------------------- */

static void
on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    if (q.asked && ++q.asked_ticks < PROBE_TICKS) {
        return; /* a probe under way */
    }
    q.asked = q.probing = false; /* none, or an answer was lost: anew */
    q.asked_ticks = 0;
    if (!rt->in_run) {
        return;
    }
    if (rt->st.switches != q.seen) {
        q.seen = rt->st.switches; /* actors ran: look again later */
        q.skip = q.backoff = 0;
        return;
    }
    if (q.skip > 0) {
        q.skip--;
        return;
    }
    q.epoch++;
    q.asked = true;
    ax__run_outside(step);
}

void
ax__quiet_update(void)
{
    bool on = ax__net.parent == NULL && pr->children > 0;

    if (on && !ev_is_active(&q.tick)) {
        ev_timer_start(rt->loop, &q.tick);
        ev_unref(rt->loop); /* it keeps no loop alive */
    } else if (!on && ev_is_active(&q.tick)) {
        ev_ref(rt->loop);
        ev_timer_stop(rt->loop, &q.tick);
    }
}

void
ax__quiet_init(void)
{
    memset(&q, 0, sizeof(q));
    ev_timer_init(&q.tick, on_tick, TICK_S, TICK_S);
}
