/*
 * actors/signals/monitor.c - monitors, joins (ax_wait) and calls, which
 * watch their callee with an internal monitor that wakes the caller
 * instead of sending DOWN.
 */
#include "actors/signals/signals.h"

#include "base/error.h"

/* --- monitors ---------------------------------------------------------- */

int
ax__monitor_actor(ax_actor *a, ax_actor *target, uint64_t ref, bool for_call)
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
static int
down_now(ax_actor *a, ax_pid pid, uint64_t ref)
{
    ax_exit_info i = {AX_EXIT_NOPROC, 0, 0, false};

    ax__remembered_exit(pid, &i);
    ax__deliver_signal(a, ax__down_msg(ref, pid, &i), pid);
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
        rc = ax__monitor_actor(a, b, r, false);
    } else if (b == NULL && ax__is_remote(pid)) {
        rc = ax__list_add(&a->monitors, pid, r, false);
        if (rc == 0) { /* its process answers with a DOWN when it ends */
            ax__signal_send(AX_SIG_MONITOR, pid, ax__pid_of(a), r, false, NULL);
        }
    } else {
        rc = down_now(a, pid, r);
    }
    if (rc == 0 && ref != NULL) {
        *ref = r;
    }
    return rc;
}

/* Whether m is the DOWN of monitor *(uint64_t *)ud. */
static bool
is_down_of(const ax_msg *m, void *ud)
{
    uint64_t r;

    return m->kind == MSG_PLAIN && ax_msg_has_tag(m, "DOWN") &&
           ax_down_msg_parse(m, &r, NULL, NULL) == 0 && r == *(uint64_t *)ud;
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
        } else if (ax__is_remote(p->pid)) {
            ax__signal_send(AX_SIG_DEMONITOR, p->pid, ax__pid_of(a), ref, false,
                            NULL);
        }
        ax__list_remove(&a->monitors, p->pid, ref);
    }
    ax__mailbox_drop(a, is_down_of, &ref);
    return 0;
}

/* A call's internal monitor of its callee. */
static int
call_monitor(ax_actor *caller, ax_pid callee, uint64_t ref)
{
    ax_actor *b = ax__lookup(callee);

    if (b != NULL && !b->dying) {
        return ax__monitor_actor(caller, b, ref, true);
    }
    if (b != NULL || !ax__is_remote(callee)) {
        return ax__fail(AX_ESRCH, "ax_call: no such actor");
    }
    if (ax__list_add(&caller->monitors, callee, ref, true) < 0) {
        return AX_ENOMEM;
    }
    ax__signal_send(AX_SIG_MONITOR, callee, ax__pid_of(caller), ref, true,
                    NULL);
    return 0;
}

static void
call_unmonitor(ax_actor *caller, ax_pid callee, uint64_t ref)
{
    ax_actor *b = ax__lookup(callee);

    if (!ax__list_remove(&caller->monitors, callee, ref)) {
        return; /* the callee died: its monitor is gone already */
    }
    if (b != NULL) {
        ax__list_remove(&b->watchers, ax__pid_of(caller), ref);
    } else if (ax__is_remote(callee)) {
        ax__signal_send(AX_SIG_DEMONITOR, callee, ax__pid_of(caller), ref,
                        false, NULL);
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
    rc = ax__recv_pred(a, is_down_of, &ref, &down, timeout_ms);
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

/* --- calls ------------------------------------------------------------ */

int
ax_call(ax_pid to, ax_msg *req, ax_msg **reply, int timeout_ms)
{
    ax_actor *a = ax__self_actor("ax_call");
    uint64_t ref = ax__new_ref();
    int rc;

    AX_REQUIRE(req != NULL && reply != NULL, "ax_call: NULL argument");
    rc = call_monitor(a, to, ref); /* the callee's death ends the wait */
    if (rc < 0) {
        ax_msg_free(req); /* ax_call always takes req */
        return rc;
    }
    req->kind = MSG_CALL;
    req->ref = ref;
    a->call_ref = ref;
    a->callee_died = false;
    ax__send(to, req, false);
    rc = a->callee_died ? AX_ESRCH : ax__recv_reply(a, ref, reply, timeout_ms);
    if (rc == AX_ESRCH || (rc == AX_ETIMEDOUT && a->callee_died)) {
        rc = ax__fail(AX_ESRCH, "ax_call: the callee died");
    } else if (rc == AX_ETIMEDOUT) {
        rc = ax__fail(AX_ETIMEDOUT, "ax_call: no reply within %d ms",
                      timeout_ms);
    }
    a->call_ref = 0;
    call_unmonitor(a, to, ref);
    return rc;
}
