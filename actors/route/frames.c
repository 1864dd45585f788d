/*
 * actors/route/frames.c - frames from a peer: messages delivered here (a
 * full mailbox pauses the peer), frames for elsewhere passed on without
 * decoding their bodies, node-down frames, and the dispatch by kind.
 */
#include "actors/route/route.h"

#include "base/alloc.h"
#include "base/endian.h"
#include "base/error.h"

static ax_rt *const rt = &ax__rt;
static const ax_route_hooks *const hooks = &ax__route_hooks;

/* Queued bytes of a mailbox that pause the peers feeding it. */
#define REMOTE_BYTES ((size_t)1 << 20)

/* --- pausing and resuming reads ---------------------------------------- */

void
ax__peer_pause(ax_peer *p)
{
    if (p->paused++ == 0 && !p->eof) {
        ax_chan_read_stop(p->ch);
    }
}

void
ax__peer_resume(ax_peer *p)
{
    if (p->paused > 0 && --p->paused == 0 && !p->eof) {
        ax_chan_read_start(p->ch);
    }
}

/* Whether a's mailbox is too full to take more from other processes: its
 * capacity, or for an unbounded one remote_limit messages or
 * REMOTE_BYTES bytes (so a stream of large messages stays small too). */
static bool
mailbox_full(const ax_actor *a)
{
    return a->mb_count >= (a->mb_cap ? a->mb_cap : ax__net.remote_limit) ||
           a->mb_bytes >= REMOTE_BYTES;
}

/* Read again only once the mailbox has room for a good batch: resuming
 * at the first message out would pause and resume for every message. */
static bool
mailbox_roomy(const ax_actor *a)
{
    size_t limit = a->mb_cap ? a->mb_cap : ax__net.remote_limit;

    return a->mb_count <= limit / 2 && a->mb_bytes <= REMOTE_BYTES / 2;
}

/* A local actor took a message: resume the peers paused for its mailbox
 * (core's mailbox_drained hook). */
void
ax__mailbox_drained(ax_actor *a)
{
    if (a->held_peers == NULL || !mailbox_roomy(a)) {
        return;
    }
    while (a->held_peers != NULL) {
        held_peer *h = a->held_peers;

        a->held_peers = h->next;
        for (ax_peer *p = ax__net.peers; p != NULL; p = p->next) {
            if (p->node == h->node) { /* by id: the peer may be gone */
                ax__peer_resume(p);
            }
        }
        ax__free(h);
    }
}

/* Stop reading p until a's mailbox drains. */
static void
hold_peer(ax_actor *a, ax_peer *p)
{
    held_peer *h = ax__alloc(sizeof(*h));

    if (h == NULL) {
        return; /* cannot remember it: keep reading, memory grows a bit */
    }
    h->node = p->node;
    h->next = a->held_peers;
    a->held_peers = h;
    ax__peer_pause(p);
}

/* a dies: the peers it held are read again. */
void
ax__release_held_peers(ax_actor *a)
{
    size_t cap = a->mb_cap;

    a->mb_cap = 0;
    a->mb_count = 0;
    a->mb_bytes = 0;
    ax__mailbox_drained(a);
    a->mb_cap = cap;
}

/* --- receiving ---------------------------------------------------------- */

static void
deliver_msg(ax_peer *p, ax_frame *f)
{
    ax_actor *a = ax__lookup(f->hdr.dst);
    const uint8_t *body = f->body;
    size_t len = f->len;
    uint64_t ref = 0;
    ax_msg *m;
    int rc;

    if (f->hdr.kind != K_MSG) {
        if (len < 8) {
            ax__peer_broken(p, ax__fail(AX_EPROTO, "call frame without ref"));
            return;
        }
        ref = ax__load64(body);
        body += 8;
        len -= 8;
    }
    if (a == NULL || a->dying) {
        rt->st.dead_letters++;
        return;
    }
    if (f->own != NULL && f->hdr.kind == K_MSG) {
        void *buf = ax_frame_take(f); /* no copy of a large body */

        rc = ax_msg_adopt(&m, buf, len);
        if (rc < 0) {
            ax_free(buf);
        }
    } else {
        rc = ax_msg_from_bytes(&m, body, len);
    }
    if (rc < 0) {
        ax__peer_broken(p, rc);
        return;
    }
    m->from = f->hdr.src;
    m->kind = f->hdr.kind == K_CALL    ? MSG_CALL
              : f->hdr.kind == K_REPLY ? MSG_REPLY
                                       : MSG_PLAIN;
    m->ref = ref;
    ax__deliver(a, m);
    if (mailbox_full(a) && !a->dying && !p->draining) {
        hold_peer(a, p);
    }
}

/* A kill passed on to a child: written through, and the process layer
 * told (it ends a child that does not read it). */
static void
kill_passed(ax_peer *out, const ax_frame *f)
{
    ax_msg *m;
    int code = 0;

    ax__peer_flush(out);
    if (ax__route_hooks.kill_sent != NULL &&
        ax_msg_from_bytes(&m, f->body, f->len) == 0) {
        if (ax_msg_unpack(m, "[d]", &code) == 0) {
            ax__route_hooks.kill_sent(out, f->hdr.dst, code);
        }
        ax_msg_free(m);
    }
}

/* A frame for an actor elsewhere: pass it on without decoding it. */
static void
forward(ax_peer *in, ax_frame *f)
{
    ax_peer *out = ax__route(f->hdr.dst);

    if (out == NULL || out == in || out->eof || out->wbroken) {
        rt->st.dead_letters += f->hdr.kind <= K_REPLY;
        return;
    }
    ax_chan_send_urgent(out->ch, &f->hdr, f->body, f->len);
    ax__interest_note(in, out, &f->hdr);
    if (f->hdr.kind == K_KILL && !out->is_parent) {
        kill_passed(out, f);
    }
    if (!ax_chan_writable(out->ch) && in->waits_for == NULL && !in->draining) {
        in->waits_for = out; /* read no more until the next hop drains */
        ax__peer_pause(in);
    }
}

int
ax__frame_reason(const ax_frame *f, ax_exit_info *i)
{
    ax_msg *m;
    const char *k;
    size_t klen;
    int rc = ax_msg_from_bytes(&m, f->body, f->len);

    if (rc < 0) {
        return rc;
    }
    rc = ax_msg_unpack(m, "[s d d b]", &k, &klen, &i->code, &i->signal,
                       &i->core_dumped);
    if (rc == 0) {
        rc = ax__exit_kind_parse(k, klen, &i->kind);
    }
    ax_msg_free(m);
    return rc;
}

void
ax__broadcast(ax_peer *except, int kind, ax_pid dst, const void *body,
              size_t len)
{
    ax_frame_hdr h = {(uint8_t)kind, 0, dst, AX_PID_NONE};

    for (ax_peer *q = ax__net.peers; q != NULL; q = q->next) {
        if (q != except && !q->eof && !q->wbroken) {
            ax_chan_send_urgent(q->ch, &h, body, len);
        }
    }
}

/* K_NODE_DOWN / K_PID_DOWN: fire here, pass on to those it concerns. */
static void
down_frame(ax_peer *p, ax_frame *f)
{
    ax_exit_info i;
    bool node = f->hdr.kind == K_NODE_DOWN;

    if (ax__frame_reason(f, &i) < 0) {
        ax__peer_broken(p, AX_EPROTO);
        return;
    }
    if (node) {
        ax__route_del(f->hdr.dst.node);
    }
    ax__node_down(node ? f->hdr.dst.node : 0, node ? NULL : &f->hdr.dst, &i);
    ax__down_send(p, f->hdr.kind, f->hdr.dst, f->body, f->len);
}

void
ax__peer_on_frame(ax_chan *ch, ax_frame *f, void *ud)
{
    ax_peer *p = ud;

    (void)ch;
    switch (f->hdr.kind) {
    case K_ROUTE: /* a node was born below p: tell the ancestors */
        ax__route_set(f->hdr.dst.node, p);
        if (ax__net.parent != NULL && p != ax__net.parent) {
            ax_chan_send_urgent(ax__net.parent->ch, &f->hdr, NULL, 0);
        }
        return;
    case K_NODE_DOWN:
    case K_PID_DOWN:
        down_frame(p, f);
        return;
    case K_STOP:
    case K_BYE:
    case K_PROBE:
    case K_QUIET:
    case K_WOKE:
        if (hooks->frame != NULL) {
            hooks->frame(p, f); /* the process layer's */
        }
        return;
    default:
        break;
    }
    if (f->hdr.dst.node == 0 && f->hdr.dst.id == 0 && ax__net.parent == NULL) {
        if (hooks->registry_frame != NULL) {
            hooks->registry_frame(f); /* a name request reached the root */
        }
    } else if (!ax__is_local(f->hdr.dst)) {
        forward(p, f);
    } else if (f->hdr.kind <= K_REPLY) {
        deliver_msg(p, f);
    } else {
        ax__remote_control(p, f);
    }
}
