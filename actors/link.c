/*
 * actors/link.c - links, monitors, trapping exits, joins (Erlang's rules).
 *
 * A link is kept on both actors; a monitor is kept on the watcher (in
 * `monitors`) and on the target (in `watchers`). When an actor ends, each
 * watcher gets a DOWN message and each linked actor an exit signal: killed
 * with the same reason if the exit was abnormal and it does not trap exits,
 * otherwise an EXIT message. A call watches its callee with an internal
 * monitor that wakes the caller instead of sending DOWN.
 */
#include "actors/rt.h"

#include <stdio.h>

#include "base/alloc.h"
#include "base/error.h"
#include "actors/node.h"

static ax_rt *const rt = &ax__rt;

static const char *const kind_names[] = {"normal", "error",  "killed",
                                         "signal", "noproc", "noconnection"};
#define NKINDS (sizeof(kind_names) / sizeof(kind_names[0]))

const char *
ax_exit_kind_name(ax_exit_kind kind)
{
    return (unsigned)kind < NKINDS ? kind_names[kind] : "unknown";
}

int
ax__exit_kind_parse(const char *s, size_t len, ax_exit_kind *out)
{
    for (size_t k = 0; k < NKINDS; k++) {
        if (strlen(kind_names[k]) == len &&
            memcmp(kind_names[k], s, len) == 0) {
            *out = (ax_exit_kind)k;
            return 0;
        }
    }
    return AX_EPROTO;
}

char *
ax_exit_describe(const ax_exit_info *info, char *buf, size_t size)
{
    switch (info->kind) {
    case AX_EXIT_NORMAL:
    case AX_EXIT_NOPROC:
    case AX_EXIT_NOCONNECTION:
        snprintf(buf, size, "%s", ax_exit_kind_name(info->kind));
        break;
    case AX_EXIT_SIGNAL:
        snprintf(buf, size, "signal %d%s", info->signal,
                 info->core_dumped ? " (core dumped)" : "");
        break;
    default:
        snprintf(buf, size, "%s %d", ax_exit_kind_name(info->kind), info->code);
        break;
    }
    return buf;
}

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

/* --- messages ------------------------------------------------------------ */

static ax_msg *
down_msg(uint64_t ref, ax_pid pid, const ax_exit_info *i)
{
    ax_msg *m = NULL;

    ax_msg_pack(&m, "[s u p s d d b]", "DOWN", ref, pid,
                ax_exit_kind_name(i->kind), i->code, i->signal, i->core_dumped);
    return m;
}

static ax_msg *
exit_msg(ax_pid pid, const ax_exit_info *i)
{
    ax_msg *m = NULL;

    ax_msg_pack(&m, "[s p s d d b]", "EXIT", pid, ax_exit_kind_name(i->kind),
                i->code, i->signal, i->core_dumped);
    return m;
}

/* Deliver a runtime message; out of memory loses it, so count that. */
static void
deliver_signal(ax_actor *to, ax_msg *m, ax_pid from)
{
    if (m == NULL) {
        rt->st.dead_letters++;
        return;
    }
    m->from = from;
    ax__deliver(to, m);
}

/* Read the reason fields that DOWN and EXIT messages share. */
static int
parse_reason(const char *kind, size_t klen, ax_exit_info *i)
{
    return ax__exit_kind_parse(kind, klen, &i->kind);
}

int
ax_down_msg_parse(const ax_msg *m, uint64_t *ref, ax_pid *pid,
                  ax_exit_info *info)
{
    const char *kind;
    size_t klen;
    ax_exit_info i;

    AX_REQUIRE(m != NULL, "ax_down_msg_parse: message is NULL");
    if (!ax_msg_has_tag(m, "DOWN") ||
        ax_msg_unpack(m, "[_ u p s d d b]", ref, pid, &kind, &klen, &i.code,
                      &i.signal, &i.core_dumped) < 0 ||
        parse_reason(kind, klen, &i) < 0) {
        return ax__fail(AX_EPROTO, "not a DOWN message");
    }
    if (info != NULL) {
        *info = i;
    }
    return 0;
}

int
ax_exit_msg_parse(const ax_msg *m, ax_pid *pid, ax_exit_info *info)
{
    const char *kind;
    size_t klen;
    ax_exit_info i;

    AX_REQUIRE(m != NULL, "ax_exit_msg_parse: message is NULL");
    if (!ax_msg_has_tag(m, "EXIT") ||
        ax_msg_unpack(m, "[_ p s d d b]", pid, &kind, &klen, &i.code, &i.signal,
                      &i.core_dumped) < 0 ||
        parse_reason(kind, klen, &i) < 0) {
        return ax__fail(AX_EPROTO, "not an EXIT message");
    }
    if (info != NULL) {
        *info = i;
    }
    return 0;
}

/* --- links ----------------------------------------------------------- */

/* Whether pid is an actor of another process that a route leads to. */
static bool
is_remote(ax_pid pid)
{
    ax_exit_info i;

    return ax__lookup(pid) == NULL && ax__route(pid) != NULL &&
           !ax__remote_gone(pid, &i);
}

/* A monitor or demonitor request to pid's process. */
static void
send_monitor(int kind, ax_pid pid, ax_pid src, uint64_t ref, bool for_call)
{
    ax_msg *m = NULL;

    if (kind == K_MONITOR) {
        ax_msg_pack(&m, "[u b]", ref, (int)for_call);
    } else {
        ax_msg_pack(&m, "[u]", ref);
    }
    if (m != NULL) {
        ax__send_control(kind, pid, src, m);
    }
}

static int
link_actors(ax_actor *a, ax_actor *b)
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
        return link_actors(a, b);
    }
    if (b != NULL || !is_remote(pid)) {
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
    ax__send_control(K_LINK, pid, ax__pid_of(a), NULL);
    return 0;
}

int
ax_unlink(ax_pid pid)
{
    ax_actor *a = ax__self_actor("ax_unlink");
    ax_actor *b = ax__lookup(pid);

    if (ax__list_remove(&a->links, pid, 0) && b == NULL && is_remote(pid)) {
        ax__send_control(K_UNLINK, pid, ax__pid_of(a), NULL);
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

/* --- monitors ---------------------------------------------------------- */

static int
monitor_actor(ax_actor *a, ax_actor *target, uint64_t ref, bool for_call)
{
    ax_pid pt = ax__pid_of(target);

    if (ax__list_add(&a->monitors, pt, ref, for_call) < 0) {
        return AX_ENOMEM;
    }
    if (ax__list_add(&target->watchers, ax__pid_of(a), ref, for_call) < 0) {
        ax__list_remove(&a->monitors, pt, ref);
        return AX_ENOMEM;
    }
    return 0;
}

/* The DOWN for a target that is gone already. */
int
ax__down_now(ax_actor *a, ax_pid pid, uint64_t ref)
{
    ax_exit_info i = {AX_EXIT_NOPROC, 0, 0, false};

    ax__remembered_exit(pid, &i);
    deliver_signal(a, down_msg(ref, pid, &i), pid);
    return 0;
}

int
ax_monitor(ax_pid pid, uint64_t *ref)
{
    ax_actor *a = ax__self_actor("ax_monitor");
    ax_actor *b = ax__lookup(pid);
    uint64_t r = ax__new_ref();
    int rc;

    if (b != NULL && !b->dying) {
        rc = monitor_actor(a, b, r, false);
    } else if (b == NULL && is_remote(pid)) {
        rc = ax__list_add(&a->monitors, pid, r, false);
        if (rc == 0) { /* its process answers with a DOWN when it ends */
            send_monitor(K_MONITOR, pid, ax__pid_of(a), r, false);
        }
    } else {
        rc = ax__down_now(a, pid, r);
    }
    if (rc == 0 && ref != NULL) {
        *ref = r;
    }
    return rc;
}

/* Remove a queued DOWN of monitor ref from a's mailbox. */
static void
drop_queued_down(ax_actor *a, uint64_t ref)
{
    ax_msg *prev = NULL;
    uint64_t r;

    for (ax_msg *m = a->mb_head; m != NULL; prev = m, m = m->next) {
        if (ax_msg_has_tag(m, "DOWN") &&
            ax_down_msg_parse(m, &r, NULL, NULL) == 0 && r == ref) {
            if (prev != NULL) {
                prev->next = m->next;
            } else {
                a->mb_head = m->next;
            }
            if (a->mb_tail == m) {
                a->mb_tail = prev;
            }
            a->mb_count--;
            a->mb_bytes -= m->len;
            ax_msg_free(m);
            ax__admit_senders(a);
            return;
        }
    }
}

int
ax_demonitor(uint64_t ref)
{
    ax_actor *a = ax__self_actor("ax_demonitor");
    peer_ref *p = ax__list_find_ref(a->monitors, ref);

    if (p != NULL) {
        ax_actor *b = ax__lookup(p->pid);

        if (b != NULL) {
            ax__list_remove(&b->watchers, ax__pid_of(a), ref);
        } else if (is_remote(p->pid)) {
            send_monitor(K_DEMONITOR, p->pid, ax__pid_of(a), ref, false);
        }
        ax__list_remove(&a->monitors, p->pid, ref);
    }
    drop_queued_down(a, ref);
    return 0;
}

int
ax__call_monitor(ax_actor *caller, ax_pid callee, uint64_t ref)
{
    ax_actor *b = ax__lookup(callee);

    if (b != NULL && !b->dying) {
        return monitor_actor(caller, b, ref, true);
    }
    if (b != NULL || !is_remote(callee)) {
        return ax__fail(AX_ESRCH, "ax_call: no such actor");
    }
    if (ax__list_add(&caller->monitors, callee, ref, true) < 0) {
        return AX_ENOMEM;
    }
    send_monitor(K_MONITOR, callee, ax__pid_of(caller), ref, true);
    return 0;
}

void
ax__call_unmonitor(ax_actor *caller, ax_pid callee, uint64_t ref)
{
    ax_actor *b = ax__lookup(callee);

    if (!ax__list_remove(&caller->monitors, callee, ref)) {
        return; /* the callee died: its monitor is gone already */
    }
    if (b != NULL) {
        ax__list_remove(&b->watchers, ax__pid_of(caller), ref);
    } else if (is_remote(callee)) {
        send_monitor(K_DEMONITOR, callee, ax__pid_of(caller), ref, false);
    }
}

/*
 * The reference of a's monitor of pid: a live one, or one that fired
 * already (its monitor is gone, its DOWN is queued); 0 if none.
 */
static uint64_t
wait_ref(const ax_actor *a, ax_pid pid)
{
    uint64_t ref = 0, r;
    ax_pid who;

    for (peer_ref *p = a->monitors; p != NULL; p = p->next) {
        if (!p->for_call && ax_pid_equal(p->pid, pid)) {
            ref = p->ref;
        }
    }
    for (ax_msg *m = a->mb_head; ref == 0 && m != NULL; m = m->next) {
        if (m->kind == MSG_PLAIN && ax_msg_has_tag(m, "DOWN") &&
            ax_down_msg_parse(m, &r, &who, NULL) == 0 &&
            ax_pid_equal(who, pid)) {
            ref = r;
        }
    }
    return ref;
}

int
ax_wait(ax_pid pid, ax_exit_info *info, int timeout_ms)
{
    ax_actor *a = ax__self_actor("ax_wait");
    uint64_t ref = wait_ref(a, pid);
    bool mine = false;
    ax_exit_info i;
    ax_msg *down;
    int rc;

    if (ref == 0) {
        rc = ax_monitor(pid, &ref);
        if (rc < 0) {
            return rc;
        }
        mine = true;
    }
    rc = ax__recv_down(a, ref, &down, timeout_ms);
    if (rc < 0) {
        if (mine) {
            ax_demonitor(ref); /* leave no trace of a wait that gave up */
        }
        return rc;
    }
    ax_down_msg_parse(down, NULL, NULL, &i);
    ax_msg_free(down);
    if (i.kind == AX_EXIT_NOPROC) {
        return ax__fail(AX_ESRCH, "ax_wait: no such actor");
    }
    if (info != NULL) {
        *info = i;
    }
    return 0;
}

/* --- at spawn ---------------------------------------------------------- */

int
ax__spawn_extras(ax_actor *a, const ax_spawn_opts *o)
{
    ax_actor *parent = rt->current;
    uint64_t ref;
    int rc = 0;

    if (o->name != NULL) {
        rc = ax__names_add(o->name, a);
    }
    if (rc == 0 && o->link) {
        rc = link_actors(parent, a);
    }
    if (rc == 0 && o->monitor) {
        ref = ax__new_ref();
        rc = monitor_actor(parent, a, ref, false);
        if (rc == 0 && o->monitor_ref != NULL) {
            *o->monitor_ref = ref;
        }
    }
    return rc;
}

/* --- when an actor ends ------------------------------------------------ */

/* An exit signal from the dead actor reaches linked actor b. */
void
ax__signal_link(ax_actor *b, ax_pid dead, const ax_exit_info *i)
{
    if (b->trap_exit) {
        deliver_signal(b, exit_msg(dead, i), dead);
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
        deliver_signal(w, down_msg(ref, dead, i), dead);
    } else if (w->call_ref == ref) {
        w->callee_died = true;
        if (w->state == A_WAITING && (w->wait == W_RECV || w->wait == W_SEND)) {
            ax__wake(w);
        }
    }
}

void
ax__links_release(ax_actor *a)
{
    ax_pid me = ax__pid_of(a);
    peer_ref *p;

    while ((p = a->links) != NULL) {
        ax_actor *b = ax__lookup(p->pid);

        a->links = p->next;
        if (b != NULL) {
            ax__list_remove(&b->links, me, 0);
            if (!b->dying) {
                ax__signal_link(b, me, &a->exit);
            }
        } else if (is_remote(p->pid)) {
            ax__send_signal(K_EXIT, p->pid, me, 0, &a->exit);
        }
        ax__free(p);
    }
    while ((p = a->watchers) != NULL) {
        ax_actor *w = ax__lookup(p->pid);

        a->watchers = p->next;
        if (w != NULL) {
            ax__notify_watcher(w, me, p->ref, p->for_call, &a->exit);
        } else if (is_remote(p->pid)) {
            ax__send_signal(K_DOWN, p->pid, me, p->ref, &a->exit);
        }
        ax__free(p);
    }
    while ((p = a->monitors) != NULL) {
        ax_actor *t = ax__lookup(p->pid);

        a->monitors = p->next;
        if (t != NULL) {
            ax__list_remove(&t->watchers, me, p->ref);
        } else if (is_remote(p->pid)) {
            send_monitor(K_DEMONITOR, p->pid, me, p->ref, false);
        }
        ax__free(p);
    }
}
