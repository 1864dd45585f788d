/*
 * actors/signals/link.c - links, trapping exits, and what an ending actor
 * tells its partners and watchers (Erlang's rules).
 *
 * A link is kept on both actors; a monitor is kept on the watcher (in
 * `monitors`) and on the target (in `watchers`). When an actor ends, each
 * watcher gets a DOWN message and each linked actor an exit signal: killed
 * with the same reason if the exit was abnormal and it does not trap exits,
 * otherwise an EXIT message. The half of a link or monitor whose other end
 * is in another process is told through ax__signal_hooks.
 */
#include "actors/signals/signals.h"

#include "base/alloc.h"
#include "base/error.h"

ax_signal_hooks ax__signal_hooks;

/* --- small lists ------------------------------------------------------- */

int
ax__list_add(peer_ref **list, ax_pid pid, uint64_t ref, bool for_call)
{
    peer_ref *p = ax__alloc(sizeof(*p));

    if (p == NULL) {
        return AX_ENOMEM;
    }
    *p = (peer_ref){*list, pid, ref, for_call};
    *list = p;
    return 0;
}

/* Remove the entry for pid (and ref, if ref != 0); true if found. */
bool
ax__list_remove(peer_ref **list, ax_pid pid, uint64_t ref)
{
    for (peer_ref **pp = list; *pp != NULL; pp = &(*pp)->next) {
        peer_ref *p = *pp;

        if ((ref == 0 || p->ref == ref) && ax_pid_equal(p->pid, pid)) {
            *pp = p->next;
            ax__free(p);
            return true;
        }
    }
    return false;
}

void
ax__list_free(peer_ref *list)
{
    while (list != NULL) {
        peer_ref *next = list->next;

        ax__free(list);
        list = next;
    }
}

peer_ref *
ax__list_find_ref(peer_ref *list, uint64_t ref)
{
    for (; list != NULL && list->ref != ref; list = list->next) {
    }
    return list;
}

/* --- links ----------------------------------------------------------- */

bool
ax__is_remote(ax_pid pid)
{
    return ax__signal_hooks.is_remote != NULL &&
           ax__signal_hooks.is_remote(pid);
}

void
ax__signal_send(ax_sig_op op, ax_pid dst, ax_pid src, uint64_t ref,
                bool for_call, const ax_exit_info *why)
{
    if (ax__signal_hooks.send != NULL) {
        ax__signal_hooks.send(op, dst, src, ref, for_call, why);
    }
}

int
ax__link_actors(ax_actor *a, ax_actor *b)
{
    ax_pid pb = ax__pid_of(b);

    if (a == b) {
        return 0;
    }
    for (peer_ref *p = a->links; p != NULL; p = p->next) {
        if (ax_pid_equal(p->pid, pb)) {
            return 0; /* linking twice is one link */
        }
    }
    if (ax__list_add(&a->links, pb, 0, false) < 0) {
        return AX_ENOMEM;
    }
    if (ax__list_add(&b->links, ax__pid_of(a), 0, false) < 0) {
        ax__list_remove(&a->links, pb, 0);
        return AX_ENOMEM;
    }
    return 0;
}

int
ax_link(ax_pid pid)
{
    ax_actor *a = ax__self_actor("ax_link");
    ax_actor *b = ax__lookup(pid);

    if (b != NULL && !b->dying) {
        return ax__link_actors(a, b);
    }
    if (b != NULL || !ax__is_remote(pid)) {
        return ax__fail(AX_ESRCH, "ax_link: no such actor");
    }
    for (peer_ref *p = a->links; p != NULL; p = p->next) {
        if (ax_pid_equal(p->pid, pid)) {
            return 0;
        }
    }
    if (ax__list_add(&a->links, pid, 0, false) < 0) {
        return AX_ENOMEM;
    }
    /* Its process links back, or answers with an exit (noproc). */
    ax__signal_send(AX_SIG_LINK, pid, ax__pid_of(a), 0, false, NULL);
    return 0;
}

int
ax_unlink(ax_pid pid)
{
    ax_actor *a = ax__self_actor("ax_unlink");
    ax_actor *b = ax__lookup(pid);

    if (ax__list_remove(&a->links, pid, 0) && b == NULL && ax__is_remote(pid)) {
        ax__signal_send(AX_SIG_UNLINK, pid, ax__pid_of(a), 0, false, NULL);
    }
    if (b != NULL) {
        ax__list_remove(&b->links, ax__pid_of(a), 0);
    }
    return 0;
}

bool
ax_trap_exit(bool on)
{
    ax_actor *a = ax__self_actor("ax_trap_exit");
    bool was = a->trap_exit;

    a->trap_exit = on;
    return was;
}

/* --- at spawn ---------------------------------------------------------- */

int
ax__spawn_links(ax_actor *parent, ax_actor *a, const ax_spawn_opts *o)
{
    uint64_t ref;
    int rc = 0;

    if (o->link) {
        rc = ax__link_actors(parent, a);
    }
    if (rc == 0 && o->monitor) {
        ref = ax__new_ref();
        rc = ax__monitor_actor(parent, a, ref, false);
        if (rc == 0 && o->monitor_ref != NULL) {
            *o->monitor_ref = ref;
        }
    }
    if (rc < 0 && o->link) { /* a refused spawn leaves no link behind */
        ax__list_remove(&parent->links, ax__pid_of(a), 0);
        ax__list_remove(&a->links, ax__pid_of(parent), 0);
    }
    return rc;
}

/* --- when an actor ends ------------------------------------------------ */

/* An exit signal from the dead actor reaches linked actor b. */
void
ax__signal_link(ax_actor *b, ax_pid dead, const ax_exit_info *i)
{
    if (b->trap_exit) {
        ax__deliver_signal(b, ax__exit_msg(dead, i), dead);
    } else if (i->kind != AX_EXIT_NORMAL) {
        ax__exit_actor(b, *i); /* queued: processed after this one */
    }
}

void
ax__notify_watcher(ax_actor *w, ax_pid dead, uint64_t ref, bool for_call,
                   const ax_exit_info *i)
{
    ax__list_remove(&w->monitors, dead, ref);
    if (!for_call) {
        ax__deliver_signal(w, ax__down_msg(ref, dead, i), dead);
    } else if (w->call_ref == ref) {
        w->callee_died = true;
        if (w->state == A_WAITING && (w->wait == W_RECV || w->wait == W_SEND)) {
            ax__wake(w);
        }
    }
}

/*
 * The registries' watchers (id 0) to the front: a name is gone before
 * anyone hears that its actor ended, also when each DOWN is a frame of its
 * own that the watcher may read before the next one is sent.
 */
static void
names_first(peer_ref **list)
{
    peer_ref *names = NULL, **tail = &names;

    for (peer_ref **pp = list; *pp != NULL;) {
        peer_ref *p = *pp;

        if (p->pid.id == 0) {
            *pp = p->next;
            p->next = NULL;
            *tail = p;
            tail = &p->next;
        } else {
            pp = &p->next;
        }
    }
    *tail = *list;
    *list = names;
}

/* a ends: its partners and watchers hear of it, its monitors go. */
static void
links_release(ax_actor *a)
{
    ax_pid me;
    peer_ref *p;

    if (a->links == NULL && a->watchers == NULL && a->monitors == NULL) {
        return; /* most actors: nobody to tell */
    }
    me = ax__pid_of(a);
    while ((p = a->links) != NULL) {
        ax_actor *b = ax__lookup(p->pid);

        a->links = p->next;
        if (b != NULL) {
            ax__list_remove(&b->links, me, 0);
            if (!b->dying) {
                ax__signal_link(b, me, &a->exit);
            }
        } else if (ax__is_remote(p->pid)) {
            ax__signal_send(AX_SIG_EXIT, p->pid, me, 0, false, &a->exit);
        }
        ax__free(p);
    }
    names_first(&a->watchers);
    while ((p = a->watchers) != NULL) {
        ax_actor *w = ax__lookup(p->pid);

        a->watchers = p->next;
        if (w != NULL) {
            ax__notify_watcher(w, me, p->ref, p->for_call, &a->exit);
        } else if (ax__is_remote(p->pid)) {
            ax__signal_send(AX_SIG_DOWN, p->pid, me, p->ref, false, &a->exit);
        }
        ax__free(p);
    }
    while ((p = a->monitors) != NULL) {
        ax_actor *t = ax__lookup(p->pid);

        a->monitors = p->next;
        if (t != NULL) {
            ax__list_remove(&t->watchers, me, p->ref);
        } else if (ax__is_remote(p->pid)) {
            ax__signal_send(AX_SIG_DEMONITOR, p->pid, me, p->ref, false, NULL);
        }
        ax__free(p);
    }
}

void
ax__links_forget(ax_actor *a)
{
    ax__list_free(a->links);
    ax__list_free(a->monitors);
    ax__list_free(a->watchers);
    a->links = a->monitors = a->watchers = NULL;
}

void
ax__signals_init(void)
{
    ax__core_on_end(ax__core_hooks.ended, links_release);
}
