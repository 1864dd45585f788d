/*
 * actors/route/control.c - links, monitors and kills between processes: the
 * control frames that reach a local actor, and what happens when a whole
 * process (a node) becomes unreachable.
 *
 * The two ends of a link or monitor each keep their half (signals/); a
 * frame keeps them in step. When a process dies without saying goodbye
 * (a crash, SIGKILL), the process that reaped it announces K_NODE_DOWN
 * to every other process, and each one fires its own halves that point
 * there: the exact OS reason for the dead process's actors, noconnection
 * for the processes that hung below it.
 */
#include "actors/route/route.h"

#include "base/alloc.h"
#include "base/error.h"

/* Read [ref?, kind, code, signal, core] (with_ref) or [code] bodies. */
static int
read_body(const ax_frame *f, ax_msg **out)
{
    return ax_msg_from_bytes(out, f->body, f->len);
}

static int
read_reason(const ax_msg *m, bool with_ref, uint64_t *ref, ax_exit_info *i)
{
    const char *k;
    size_t klen;
    int rc = with_ref ? ax_msg_unpack(m, "[u s d d b]", ref, &k, &klen,
                                      &i->code, &i->signal, &i->core_dumped)
                      : ax_msg_unpack(m, "[s d d b]", &k, &klen, &i->code,
                                      &i->signal, &i->core_dumped);

    return rc < 0 ? rc : ax__exit_kind_parse(k, klen, &i->kind);
}

/* How the actor at pid ended, for a link or monitor that came too late. */
static ax_exit_info
gone_reason(ax_pid pid)
{
    ax_exit_info i = {AX_EXIT_NOPROC, 0, 0, false};

    ax__remembered_exit(pid, &i);
    return i;
}

static void
on_link(ax_actor *a, ax_pid src, ax_pid dst)
{
    if (a == NULL || a->dying) {
        ax_exit_info i = gone_reason(dst);

        ax__send_signal(K_EXIT, src, dst, 0, &i);
        return;
    }
    for (peer_ref *p = a->links; p != NULL; p = p->next) {
        if (ax_pid_equal(p->pid, src)) {
            return;
        }
    }
    ax__list_add(&a->links, src, 0, false);
}

static void
on_monitor(ax_actor *a, ax_pid src, ax_pid dst, const ax_msg *m)
{
    uint64_t ref;
    bool for_call;

    if (ax_msg_unpack(m, "[u b]", &ref, &for_call) < 0) {
        return;
    }
    if (a == NULL || a->dying) {
        ax_exit_info i = gone_reason(dst);

        ax__send_signal(K_DOWN, src, dst, ref, &i);
        return;
    }
    ax__list_add(&a->watchers, src, ref, for_call);
}

/* A DOWN for one of a's monitors: fire it if a still holds it. */
static void
on_down(ax_actor *a, ax_pid src, const ax_msg *m)
{
    ax_exit_info i;
    uint64_t ref;
    peer_ref *p;

    if (read_reason(m, true, &ref, &i) < 0) {
        return;
    }
    ax__remember_gone(src, &i);
    if (a == NULL) {
        return;
    }
    p = ax__list_find_ref(a->monitors, ref);
    if (p != NULL && ax_pid_equal(p->pid, src)) {
        ax__notify_watcher(a, src, ref, p->for_call, &i);
    }
}

static void
on_exit_signal(ax_actor *a, ax_pid src, const ax_msg *m)
{
    ax_exit_info i;

    if (read_reason(m, false, NULL, &i) < 0) {
        return;
    }
    ax__remember_gone(src, &i);
    if (a == NULL || a->dying) {
        return;
    }
    ax__list_remove(&a->links, src, 0);
    ax__signal_link(a, src, &i);
}

void
ax__remote_control(ax_peer *from, const ax_frame *f)
{
    ax_actor *a = ax__lookup(f->hdr.dst);
    ax_msg *m = NULL;
    uint64_t ref;
    int code;

    (void)from;
    if (f->len > 0 && read_body(f, &m) < 0) {
        return; /* malformed control body: ignored, counted in detail */
    }
    if (f->hdr.dst.id == 0) { /* the registry's monitors */
        if (f->hdr.kind == K_DOWN && ax__route_hooks.registry_down != NULL) {
            ax__route_hooks.registry_down(f->hdr.src);
        }
        ax_msg_free(m);
        return;
    }
    switch (f->hdr.kind) {
    case K_LINK:
        on_link(a, f->hdr.src, f->hdr.dst);
        break;
    case K_UNLINK:
        if (a != NULL) {
            ax__list_remove(&a->links, f->hdr.src, 0);
        }
        break;
    case K_MONITOR:
        if (m != NULL) {
            on_monitor(a, f->hdr.src, f->hdr.dst, m);
        }
        break;
    case K_DEMONITOR:
        if (a != NULL && m != NULL && ax_msg_unpack(m, "[u]", &ref) == 0) {
            ax__list_remove(&a->watchers, f->hdr.src, ref);
        }
        break;
    case K_DOWN:
        if (m != NULL) {
            on_down(a, f->hdr.src, m);
        }
        break;
    case K_EXIT:
        if (m != NULL) {
            on_exit_signal(a, f->hdr.src, m);
        }
        break;
    case K_KILL:
        if (a != NULL && !a->dying && m != NULL &&
            ax_msg_unpack(m, "[d]", &code) == 0) {
            ax__exit_actor(a, (ax_exit_info){AX_EXIT_KILLED, code, 0, false});
        }
        break;
    default:
        break; /* a kind this version does not know: ignored */
    }
    ax_msg_free(m);
}

/* --- a node (or a promoted actor) went away ---------------------------- */

static bool
matches(ax_pid pid, uint64_t node, const ax_pid *one)
{
    return one != NULL ? ax_pid_equal(pid, *one) : pid.node == node;
}

/* Take the entries that point at the dead out of a list, as a list. */
static peer_ref *
take_matching(peer_ref **list, uint64_t node, const ax_pid *one)
{
    peer_ref *out = NULL;

    for (peer_ref **pp = list; *pp != NULL;) {
        peer_ref *p = *pp;

        if (matches(p->pid, node, one)) {
            *pp = p->next;
            p->next = out;
            out = p;
        } else {
            pp = &p->next;
        }
    }
    return out;
}

/* Which actors went away, and why. */
typedef struct down_of {
    uint64_t node;     /* every actor of this node, */
    const ax_pid *one; /* or this one (a promoted actor) */
    const ax_exit_info *why;
} down_of;

/* a's links and monitors that point at the dead fire. */
static void
fire_for(ax_actor *a, void *ud)
{
    const down_of *d = ud;
    uint64_t node = d->node;
    const ax_pid *one = d->one;
    const ax_exit_info *i = d->why;
    peer_ref *links = take_matching(&a->links, node, one);
    peer_ref *mons = take_matching(&a->monitors, node, one);
    peer_ref *gone = take_matching(&a->watchers, node, one);
    peer_ref *p;

    while ((p = mons) != NULL) {
        mons = p->next;
        ax__notify_watcher(a, p->pid, p->ref, p->for_call, i);
        ax__free(p);
    }
    while ((p = links) != NULL) {
        links = p->next;
        ax__signal_link(a, p->pid, i);
        ax__free(p);
    }
    while ((p = gone) != NULL) {
        gone = p->next;
        ax__free(p);
    }
}

void
ax__node_down(uint64_t node, const ax_pid *one, const ax_exit_info *i)
{
    down_of d = {node, one, i};

    ax__remember_gone(one != NULL ? *one : (ax_pid){node, 0}, i);
    if (one == NULL) {
        ax__nodes_ended(node); /* for ax_pid_os_pid, in every process */
    }
    if (ax__route_hooks.node_down != NULL) {
        ax__route_hooks.node_down(node, one); /* names that lived there */
    }
    ax__actors_each(fire_for, &d); /* exits it causes run after the scan */
}
