/*
 * actors/route/send.c - sending to another process: message frames (which
 * wait while the way there is full), control frames (urgent: never wait),
 * and the hooks through which core and signals send there.
 */
#include "actors/route/route.h"

#include <string.h>

#include "base/alloc.h"
#include "base/endian.h"
#include "base/error.h"
#include "transport/chan_internal.h"

/* Mailbox length that pauses a peer, unless ax_init says otherwise. */
#define DEFAULT_REMOTE_LIMIT 1024

static ax_rt *const rt = &ax__rt;

/* --- sending ------------------------------------------------------------ */

static void
release_msg(void *ud, int status)
{
    (void)status;
    ax_msg_free(ud);
}

/* Write one message frame. Returns 0 (m is taken) or the channel's error
 * (AX_EAGAIN: full; the caller keeps m). */
static int
frame_out(ax_peer *p, int kind, ax_pid dst, ax_msg *m)
{
    ax_frame_hdr h = {(uint8_t)kind, 0, dst, m->from};
    uint8_t *buf;
    int rc;

    if (kind == K_MSG) {
        return ax_chan_send_owned(p->ch, &h, m->data, m->len, release_msg, m);
    }
    buf = ax__alloc(8 + m->len); /* calls and replies carry their ref */
    if (buf == NULL) {
        return AX_ENOMEM;
    }
    ax__store64(buf, m->ref);
    memcpy(buf + 8, m->data, m->len);
    rc = ax_chan_send(p->ch, &h, buf, 8 + m->len);
    ax__free(buf);
    if (rc == 0) {
        ax_msg_free(m);
    }
    return rc;
}

static int
kind_of(const ax_msg *m)
{
    return m->kind == MSG_CALL    ? K_CALL
           : m->kind == MSG_REPLY ? K_REPLY
                                  : K_MSG;
}

/* The running actor waits until p drains (or goes away). */
static void
wait_for_peer(ax_actor *a, ax_peer *p)
{
    a->send_peer = p;
    ax__park_sender(a, &p->senders, &p->senders_tail);
}

int
ax__send_remote(ax_pid to, ax_msg *m, bool checked)
{
    ax_actor *self = rt->current;
    ax_peer *p;
    int rc;

    for (;;) {
        ax_exit_info i;

        p = ax__route(to);
        if (p == NULL || p->eof || p->wbroken || ax__remote_gone(to, &i)) {
            if (checked) {
                return ax__fail(AX_ESRCH, "ax_send_checked: no such actor");
            }
            rt->st.dead_letters++;
            ax_msg_free(m);
            return 0;
        }
        rc = frame_out(p, kind_of(m), to, m);
        if (rc == 0) {
            if (self != NULL && !ax__chan_sent_whole(p->ch)) {
                wait_for_peer(self, p); /* a large message: until it is out */
            }
            return 0;
        }
        if (rc != AX_EAGAIN) { /* the way there broke: it is dead */
            rt->st.dead_letters++;
            ax_msg_free(m);
            return 0;
        }
        if (self == NULL) {
            return ax__fail(AX_EAGAIN, "ax_send: the channel is full");
        }
        wait_for_peer(self, p);
    }
}

void
ax__send_control(int kind, ax_pid dst, ax_pid src, ax_msg *body)
{
    ax_frame_hdr h = {(uint8_t)kind, 0, dst, src};
    ax_peer *p = ax__route(dst);

    if (p != NULL && !p->eof && !p->wbroken) {
        ax_chan_send_urgent(p->ch, &h, body ? body->data : NULL,
                            body ? body->len : 0);
    }
    ax_msg_free(body);
}

void
ax__send_signal(int kind, ax_pid dst, ax_pid src, uint64_t ref,
                const ax_exit_info *i)
{
    ax_msg *m = NULL;
    const char *k = ax_exit_kind_name(i->kind);

    if (kind == K_DOWN) {
        ax_msg_pack(&m, "[u s d d b]", ref, k, i->code, i->signal,
                    i->core_dumped);
    } else {
        ax_msg_pack(&m, "[s d d b]", k, i->code, i->signal, i->core_dumped);
    }
    if (m != NULL) {
        ax__send_control(kind, dst, src, m);
    }
}

/* Wake every actor waiting for p to drain: each tries again. */
void
ax__peer_wake_senders(ax_peer *p)
{
    ax_actor *a;

    while ((a = p->senders) != NULL) {
        p->senders = a->send_next;
        a->send_next = NULL;
        a->send_peer = NULL;
        ax__wake(a);
    }
    p->senders_tail = NULL;
}

/* The actor a, waiting to send to a peer, dies: leave the peer's queue. */
static void
forget_sender(ax_actor *a)
{
    ax_peer *p = a->send_peer;
    ax_actor *prev = NULL;

    if (p == NULL) {
        return;
    }
    for (ax_actor **pp = &p->senders; *pp != NULL;
         prev = *pp, pp = &(*pp)->send_next) {
        if (*pp == a) {
            *pp = a->send_next;
            if (p->senders_tail == a) {
                p->senders_tail = prev;
            }
            break;
        }
    }
    a->send_peer = NULL;
    a->send_next = NULL;
}

void
ax__peers_tell_children(int kind)
{
    ax_frame_hdr h = {(uint8_t)kind, 0, AX_PID_NONE, AX_PID_NONE};

    for (ax_peer *p = ax__net.peers; p != NULL; p = p->next) {
        if (!p->is_parent && !p->eof) {
            ax_chan_send_urgent(p->ch, &h, NULL, 0);
        }
    }
}

/* --- the hooks of core and signals ------------------------------------- */

/* Not found here: another node's, or one of ours that moved away. */
static bool
elsewhere(ax_pid pid)
{
    return pid.node != rt->node || ax__route(pid) != NULL;
}

static int
kill_elsewhere(ax_pid pid, int code)
{
    ax_msg *m = NULL;
    ax_peer *p;

    if (ax__route(pid) == NULL ||
        ax__remembered_exit(pid, &(ax_exit_info){0})) {
        return AX_ESRCH;
    }
    if (ax_msg_pack(&m, "[d]", code) < 0) {
        return AX_ENOMEM;
    }
    ax__send_control(K_KILL, pid, ax_self(), m);
    /* Out now, not when the killer blocks: a restart loop that never
     * blocks must not pile up processes it has already killed. */
    p = ax__route(pid);
    ax__peer_flush(p);
    if (p != NULL && !p->is_parent && ax__route_hooks.kill_sent != NULL) {
        ax__route_hooks.kill_sent(p, pid, code);
    }
    return 0;
}

/* Whether pid is an actor of another process that a route leads to. */
static bool
is_remote(ax_pid pid)
{
    ax_exit_info i;

    return ax__lookup(pid) == NULL && ax__route(pid) != NULL &&
           !ax__remote_gone(pid, &i);
}

/* The frame that carries one half's word to the other. */
static void
send_half(ax_sig_op op, ax_pid dst, ax_pid src, uint64_t ref, bool for_call,
          const ax_exit_info *why)
{
    ax_msg *m = NULL;

    switch (op) {
    case AX_SIG_LINK:
        ax__send_control(K_LINK, dst, src, NULL);
        return;
    case AX_SIG_UNLINK:
        ax__send_control(K_UNLINK, dst, src, NULL);
        return;
    case AX_SIG_MONITOR:
        ax_msg_pack(&m, "[u b]", ref, (int)for_call);
        break;
    case AX_SIG_DEMONITOR:
        ax_msg_pack(&m, "[u]", ref);
        break;
    case AX_SIG_EXIT:
        ax__send_signal(K_EXIT, dst, src, 0, why);
        return;
    case AX_SIG_DOWN:
        ax__send_signal(K_DOWN, dst, src, ref, why);
        return;
    }
    if (m != NULL) {
        ax__send_control(op == AX_SIG_MONITOR ? K_MONITOR : K_DEMONITOR, dst,
                         src, m);
    }
}

/* An actor ended: it waits on no peer, and pauses none any more. */
static void
actor_ended(ax_actor *a)
{
    forget_sender(a);
    if (a->held_peers != NULL) {
        ax__release_held_peers(a);
    }
}

void
ax__route_init(size_t remote_limit)
{
    ax_core_hooks *c = &ax__core_hooks;

    c->elsewhere = elsewhere;
    c->send_elsewhere = ax__send_remote;
    c->kill_elsewhere = kill_elsewhere;
    c->gone_elsewhere = ax__remote_gone;
    c->mailbox_drained = ax__mailbox_drained;
    /* The turn is over: write what its actors sent now (their channels'
     * prepare watchers were started too late for this turn), visiting
     * only the channels with something to write. */
    c->turn_end = ax__chans_flush_pending;
    /* A ring channel spinning before the loop blocks runs the actors its
     * frames made ready, and spins on (transport/chan_ring.c). */
    ax__chans_spin_hooks(ax__sched_busy, ax__sched_turn);
    ax__core_on_end(c->ended, actor_ended);
    ax__signal_hooks.is_remote = is_remote;
    ax__signal_hooks.send = send_half;
    ax__net.remote_limit = remote_limit ? remote_limit : DEFAULT_REMOTE_LIMIT;
}
