/*
 * actors/route/peer.c - peers: the parent and the children of this
 * process, one channel each; how a peer starts, drains and ends.
 *
 * Backpressure both ways: a sender whose way out is full waits on that
 * peer (the channel's watermark) until it drains; a peer whose frames fill
 * a local mailbox (its capacity, or remote_limit for an unbounded one)
 * stops being read until the mailbox drains (frames.c), so its sender
 * backs up in its own process. A frame that only passes through waits the
 * same way for the next hop. Memory stays bounded end to end and nothing
 * is lost. When a child's channel ends, the process layer decides when it
 * is gone (its exit status is needed too) and calls ax__peer_gone.
 */
#include "actors/route/route.h"

#include "base/alloc.h"
#include "base/error.h"
#include "transport/chan_internal.h"

ax_net ax__net;
ax_route_hooks ax__route_hooks;

static ax_rt *const rt = &ax__rt;

void
ax__peer_drained(ax_peer *p)
{
    ax__peer_wake_senders(p);
    for (ax_peer *q = ax__net.peers; q != NULL; q = q->next) {
        if (q->waits_for == p) {
            q->waits_for = NULL;
            ax__peer_resume(q);
        }
    }
}

static void
on_drain(ax_chan *ch, void *ud)
{
    (void)ch;
    ax__peer_drained(ud);
}

static void
on_peer_error(ax_chan *ch, int err, void *ud)
{
    ax_peer *p = ud;

    if (p->eof) {
        return;
    }
    if (ch->rerr == 0) {
        /* Writing failed (the peer is gone or going), but what it wrote
         * before it went is still to be read: its last messages and the
         * DOWNs of its actors. The peer ends with its read side. */
        p->wbroken = true;
        ax__peer_wake_senders(p);
        return;
    }
    p->eof = true;
    ax__peer_wake_senders(p);
    if (ax__route_hooks.peer_ended != NULL) {
        ax__route_hooks.peer_ended(p, err); /* the parent lost, a child */
    }
}

/* Bad bytes from a peer close its channel; the actors involved learn it
 * from the node going down (noconnection, or the child's exit status). */
void
ax__peer_broken(ax_peer *p, int err)
{
    if (!p->eof && p->ch->rerr == 0) {
        ax__chan_read_failed(p->ch, err); /* -> on_peer_error: the end */
    }
}

/* A peer over fds and, side `side`, the rings of m. It takes m (and frees
 * it if it fails); the fds stay the caller's if it fails. */
static ax_peer *
peer_new(int rfd, int wfd, ax_ring_map *m, int side, uint64_t node)
{
    static const ax_chan_cbs cbs = {ax__peer_on_frame, on_peer_error, on_drain};
    ax_chan_opts o = {0};
    ax_peer *p = ax__calloc(1, sizeof(*p));

    if (p == NULL) {
        ax__ring_map_free(m);
        return NULL;
    }
    /* Frames as large as the largest message (+ a call's 8-byte ref). */
    o.max_frame = ax__msg_limits()->max_size + 8;
    if (ax_chan_new(rt->loop, rfd, wfd, &o, &cbs, p, &p->ch) < 0) {
        ax__ring_map_free(m);
        ax__free(p);
        return NULL;
    }
    if (m != NULL) {
        ax__chan_use_ring(p->ch, m, side);
    }
    p->node = node;
    p->next = ax__net.peers;
    ax__net.peers = p;
    return p;
}

ax_peer *
ax__peer_new_child(int fds[2], ax_ring_map *m, uint64_t node)
{
    ax_peer *p =
        peer_new(fds[0], fds[1], m ? ax__ring_map_hold(m) : NULL, 0, node);
    ax_frame_hdr h = {K_ROUTE, 0, {node, 0}, AX_PID_NONE};

    if (p == NULL) {
        return NULL;
    }
    if (ax__route_set(node, p) < 0) {
        ax_chan_close(p->ch);
        ax__net.peers = p->next;
        ax__free(p);
        return NULL;
    }
    if (ax__net.parent != NULL) { /* ancestors learn where node lives */
        ax_chan_send_urgent(ax__net.parent->ch, &h, NULL, 0);
    }
    return p;
}

int
ax__peer_new_parent(int fds[2], ax_ring_map *m, uint64_t node)
{
    ax_peer *p = peer_new(fds[0], fds[1], m, 1, node);

    if (p == NULL) {
        return AX_ENOMEM;
    }
    p->is_parent = true;
    ax__net.parent = p;
    return 0;
}

void
ax__peer_drain(ax_peer *p)
{
    p->draining = true;
    /* A dead child's last frames are at most a pipe's worth: read them
     * all now, whatever the mailboxes say, so they arrive before the DOWNs
     * that follow its end. */
    if (p->paused > 0) {
        p->paused = 0;
        p->waits_for = NULL;
        ax_chan_read_start(p->ch);
    }
}

static void
unlink_peer(ax_peer *p)
{
    for (ax_peer **pp = &ax__net.peers; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

/* A down frame (K_NODE_DOWN for dst's node, K_PID_DOWN for the actor
 * dst) with reason in: to `to`, or (to == NULL) to the peers but p that
 * it concerns (ax__down_send). */
static void
send_down(ax_peer *to, ax_peer *p, int kind, ax_pid dst, const ax_exit_info *in)
{
    ax_frame_hdr h = {(uint8_t)kind, 0, dst, AX_PID_NONE};
    ax_msg *m = NULL;

    if (ax_msg_pack(&m, "[s d d b]", ax_exit_kind_name(in->kind), in->code,
                    in->signal, in->core_dumped) < 0) {
        return;
    }
    if (to == NULL) {
        ax__down_send(p, kind, dst, m->data, m->len);
    } else if (!to->eof && !to->wbroken) {
        ax_chan_send_urgent(to->ch, &h, m->data, m->len);
    }
    ax_msg_free(m);
}

/* One actor behind p ended with it: here and everywhere else. Sent
 * before the node's own down, so a monitor elsewhere fires with the
 * actor's exact reason, not with the process's 8-bit status. */
static void
actor_down(ax_peer *p, ax_pid pid, const ax_exit_info *in)
{
    ax__node_down(0, &pid, in);
    send_down(NULL, p, K_PID_DOWN, pid, in);
}

/* Every actor behind p ended: its node with p's exit status, the nodes
 * further below with noconnection. Here, and everywhere else. */
static void
announce_down(ax_peer *p, const ax_exit_info *exact, const ax_exit_info *bye)
{
    static const ax_exit_info lost = {AX_EXIT_NOCONNECTION, 0, 0, false};
    uint64_t *nodes;
    size_t n = ax__routes_behind(p, &nodes);
    ax_pid moved;

    if (bye != NULL) { /* its first actor's own words, before the rest */
        actor_down(p, (ax_pid){p->node, AX_FIRST_ID}, bye);
    }
    while (ax__route_take_moved(p, &moved)) {
        actor_down(p, moved, exact);
    }
    for (size_t i = 0; i < n; i++) {
        const ax_exit_info *in = nodes[i] == p->node ? exact : &lost;

        ax__route_del(nodes[i]);
        ax__node_down(nodes[i], NULL, in);
        send_down(NULL, p, K_NODE_DOWN, (ax_pid){nodes[i], 0}, in);
    }
    ax__free(nodes);
}

void
ax__peer_gone(ax_peer *p, const ax_exit_info *exact, const ax_exit_info *bye)
{
    unlink_peer(p);
    p->eof = true;
    ax__peer_drained(p); /* its senders and the peers forwarding to it */
    ax_chan_close(p->ch);
    announce_down(p, exact, bye);
    ax__free(p);
}

void
ax__peer_abort(ax_peer *p)
{
    static const ax_exit_info never = {AX_EXIT_NOPROC, 0, 0, false};
    uint64_t *nodes;
    size_t n = ax__routes_behind(p, &nodes);

    for (size_t i = 0; i < n; i++) {
        ax__route_del(nodes[i]);
        if (ax__net.parent != NULL) { /* the ancestors learnt its route */
            send_down(ax__net.parent, p, K_NODE_DOWN, (ax_pid){nodes[i], 0},
                      &never);
        }
    }
    ax__free(nodes);
    unlink_peer(p);
    p->eof = true;
    ax__peer_wake_senders(p);
    ax_chan_close(p->ch);
    ax__free(p);
}

/* In a forked child: every inherited peer, dropped without a callback
 * (the loop they were on is gone). Channels are dropped by the caller. */
void
ax__peers_forget(void)
{
    ax__forsake(ax__net.peers); /* and each peer's child record */
    ax__net.peers = NULL;
    ax__routes_forget();
    ax__interest_forget();
}

void
ax__peers_fini(void)
{
    while (ax__net.peers != NULL) {
        ax_peer *p = ax__net.peers;

        ax__net.peers = p->next;
        ax_chan_close(p->ch);
        ax__free(p);
    }
    ax__routes_forget();
    ax__interest_fini();
}

void
ax__peer_flush(ax_peer *p)
{
    if (p != NULL && !p->eof) {
        ax__chan_flush_pending(p->ch);
    }
}
