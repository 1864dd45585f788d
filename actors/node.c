/*
 * actors/node.c - peers (the parent and the children of this process), the
 * route table, and frames between processes.
 *
 * Backpressure both ways: a sender whose way out is full waits on that
 * peer (the channel's watermark) until it drains; a peer whose frames fill
 * a local mailbox (its capacity, or remote_limit for an unbounded one)
 * stops being read until the mailbox drains, so its sender backs up in
 * its own process. A frame that only passes through waits the same way
 * for the next hop. Memory stays bounded end to end and nothing is lost.
 */
#include "actors/node.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "base/alloc.h"
#include "base/error.h"
#include "serialize/mp.h"
#include "transport/chan_internal.h"

#define DEFAULT_REMOTE_LIMIT 1024
#define REMOTE_BYTES ((size_t)1 << 20)
/* Seconds to wait for a reaped child's channel to reach its end. */
#define LINGER_S 2.0

ax_nodes ax__nodes;

static ax_nodes *const nd = &ax__nodes;
static ax_rt *const rt = &ax__rt;

/* --- the route table: node id -> peer (open addressing) ------------------ */

typedef struct route {
    uint64_t node; /* 0: empty */
    ax_peer *peer;
} route;

static route *routes;
static size_t nroutes, caproutes;

/* Promoted actors: an address that lives behind a peer, not at its node. */
typedef struct moved {
    ax_pid pid;
    ax_peer *peer;
} moved;

static moved *moves;
static size_t nmoves;

static size_t
slot_of(uint64_t node, size_t cap)
{
    return (size_t)(node * 0x9e3779b97f4a7c15u >> 7) & (cap - 1);
}

static route *
route_find(uint64_t node)
{
    /* 0 marks an empty slot, and is no process: {0, 0} is the registry's
     * address, which goes to the parent (without this, a process that had
     * forked a child matched an empty slot and dropped its name requests
     * and those it should pass up). */
    if (caproutes == 0 || node == 0) {
        return NULL;
    }
    for (size_t i = slot_of(node, caproutes);; i = (i + 1) & (caproutes - 1)) {
        if (routes[i].node == node) {
            return &routes[i];
        }
        if (routes[i].node == 0) {
            return NULL;
        }
    }
}

static int
route_grow(void)
{
    size_t cap = caproutes ? caproutes * 2 : 64;
    route *n = ax__calloc(cap, sizeof(*n));

    if (n == NULL) {
        return AX_ENOMEM;
    }
    for (size_t i = 0; i < caproutes; i++) {
        if (routes[i].node != 0) {
            size_t j = slot_of(routes[i].node, cap);

            while (n[j].node != 0) {
                j = (j + 1) & (cap - 1);
            }
            n[j] = routes[i];
        }
    }
    ax__free(routes);
    routes = n;
    caproutes = cap;
    return 0;
}

static int
route_set(uint64_t node, ax_peer *p)
{
    route *r = route_find(node);

    if (r != NULL) {
        r->peer = p;
        return 0;
    }
    if ((nroutes + 1) * 2 > caproutes && route_grow() < 0) {
        return AX_ENOMEM;
    }
    size_t i = slot_of(node, caproutes);

    while (routes[i].node != 0) {
        i = (i + 1) & (caproutes - 1);
    }
    routes[i] = (route){node, p};
    nroutes++;
    return 0;
}

/* Delete by moving later entries of the cluster back (no tombstones). */
static void
route_del(uint64_t node)
{
    route *r = route_find(node);
    size_t i, j;

    if (r == NULL) {
        return;
    }
    i = (size_t)(r - routes);
    routes[i].node = 0;
    nroutes--;
    for (j = (i + 1) & (caproutes - 1); routes[j].node != 0;
         j = (j + 1) & (caproutes - 1)) {
        route e = routes[j];

        routes[j].node = 0;
        size_t k = slot_of(e.node, caproutes);

        while (routes[k].node != 0) {
            k = (k + 1) & (caproutes - 1);
        }
        routes[k] = e;
    }
}

ax_peer *
ax__route(ax_pid pid)
{
    route *r;

    for (size_t i = 0; i < nmoves; i++) {
        if (ax_pid_equal(moves[i].pid, pid)) {
            return moves[i].peer;
        }
    }
    if (pid.node == rt->node) {
        return NULL; /* one of ours that is gone */
    }
    r = route_find(pid.node);
    return r != NULL ? r->peer : nd->parent;
}

/* Ours: an actor here (promoted ones included), or one of this node's
 * that is gone; not one that was promoted away (it lives behind a peer). */
bool
ax__is_local(ax_pid pid)
{
    return ax__lookup(pid) != NULL ||
           (pid.node == rt->node && ax__route(pid) == NULL);
}

void
ax__route_unmove(ax_pid pid)
{
    for (size_t i = 0; i < nmoves; i++) {
        if (ax_pid_equal(moves[i].pid, pid)) {
            moves[i] = moves[--nmoves];
            return;
        }
    }
}

int
ax__route_moved(ax_pid pid, ax_peer *p)
{
    moved *n = ax__realloc(moves, (nmoves + 1) * sizeof(*n));

    if (n == NULL) {
        return AX_ENOMEM;
    }
    moves = n;
    moves[nmoves++] = (moved){pid, p};
    return 0;
}

/* --- remote actors known to have ended ---------------------------------- */

/*
 * The last REMEMBER ends of actors elsewhere that this process learned
 * (a DOWN or EXIT frame, a node going down): a join, kill, link or checked
 * send after the fact gets the real answer instead of a guess.
 */
#define REMEMBER 1024

typedef struct gone_rec {
    ax_pid pid; /* the actor; id 0: every actor of the node */
    ax_exit_info info;
} gone_rec;

static gone_rec gone[REMEMBER];
static size_t gone_next;

void
ax__remember_gone(ax_pid pid, const ax_exit_info *i)
{
    gone[gone_next % REMEMBER] = (gone_rec){pid, *i};
    gone_next++;
}

/* How the remote actor pid ended, if known: true and *out. */
bool
ax__remote_gone(ax_pid pid, ax_exit_info *out)
{
    size_t n = gone_next < REMEMBER ? gone_next : REMEMBER;

    for (size_t k = 1; k <= n; k++) { /* newest first */
        const gone_rec *g = &gone[(gone_next - k) % REMEMBER];

        if (g->pid.node != pid.node) {
            continue;
        }
        if (ax_pid_equal(g->pid, pid)) {
            *out = g->info;
            return true;
        }
        if (g->pid.id == 0) { /* its whole process went down */
            *out = g->info;
            if (pid.id != AX_FIRST_ID && g->info.kind != AX_EXIT_SIGNAL) {
                out->kind = AX_EXIT_NOPROC; /* its own reason is unknown */
            }
            return true;
        }
    }
    return false;
}

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
    mp_store64(buf, m->ref);
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
static void
wake_senders(ax_peer *p)
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

void
ax__peer_forget_sender(ax_actor *a)
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

/* --- pausing and resuming reads ---------------------------------------- */

static void
pause_peer(ax_peer *p)
{
    if (p->paused++ == 0 && !p->eof) {
        ax_chan_read_stop(p->ch);
    }
}

static void
resume_peer(ax_peer *p)
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
    return a->mb_count >= (a->mb_cap ? a->mb_cap : nd->remote_limit) ||
           a->mb_bytes >= REMOTE_BYTES;
}

/* Read again only once the mailbox has room for a good batch: resuming
 * at the first message out would pause and resume for every message. */
static bool
mailbox_roomy(const ax_actor *a)
{
    size_t limit = a->mb_cap ? a->mb_cap : nd->remote_limit;

    return a->mb_count <= limit / 2 && a->mb_bytes <= REMOTE_BYTES / 2;
}

void
ax__mailbox_drained(ax_actor *a)
{
    if (a->held_peers == NULL || !mailbox_roomy(a)) {
        return;
    }
    while (a->held_peers != NULL) {
        held_peer *h = a->held_peers;

        a->held_peers = h->next;
        for (ax_peer *p = nd->peers; p != NULL; p = p->next) {
            if (p->node == h->node) { /* by id: the peer may be gone */
                resume_peer(p);
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
    pause_peer(p);
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

static void peer_broken(ax_peer *p, int err);

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
            peer_broken(p, ax__fail(AX_EPROTO, "call frame without ref"));
            return;
        }
        ref = mp_load64(body);
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
        peer_broken(p, rc);
        return;
    }
    m->from = f->hdr.src;
    m->kind = f->hdr.kind == K_CALL    ? MSG_CALL
              : f->hdr.kind == K_REPLY ? MSG_REPLY
                                       : MSG_PLAIN;
    m->ref = ref;
    ax__deliver(a, m);
    if (mailbox_full(a) && !a->dying && !p->reaped) {
        hold_peer(a, p);
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
    if (!ax_chan_writable(out->ch) && in->waits_for == NULL && !in->reaped) {
        in->waits_for = out; /* read no more until the next hop drains */
        pause_peer(in);
    }
}

static int
parse_reason(const ax_frame *f, int skip, ax_exit_info *i)
{
    ax_msg *m;
    const char *k;
    size_t klen;
    int rc = ax_msg_from_bytes(&m, f->body, f->len);

    if (rc < 0) {
        return rc;
    }
    rc = ax_msg_unpack(m, skip ? "[_ s d d b]" : "[s d d b]", &k, &klen,
                       &i->code, &i->signal, &i->core_dumped);
    if (rc == 0) {
        rc = ax__exit_kind_parse(k, klen, &i->kind);
    }
    ax_msg_free(m);
    return rc;
}

static void
broadcast(ax_peer *except, int kind, ax_pid dst, const void *body, size_t len)
{
    ax_frame_hdr h = {(uint8_t)kind, 0, dst, AX_PID_NONE};

    for (ax_peer *q = nd->peers; q != NULL; q = q->next) {
        if (q != except && !q->eof && !q->wbroken) {
            ax_chan_send_urgent(q->ch, &h, body, len);
        }
    }
}

/* K_NODE_DOWN / K_PID_DOWN: fire here, pass on to everyone else. */
static void
down_frame(ax_peer *p, ax_frame *f)
{
    ax_exit_info i;
    bool node = f->hdr.kind == K_NODE_DOWN;

    if (parse_reason(f, 0, &i) < 0) {
        peer_broken(p, AX_EPROTO);
        return;
    }
    if (node) {
        route_del(f->hdr.dst.node);
    }
    ax__node_down(node ? f->hdr.dst.node : 0, node ? NULL : &f->hdr.dst, &i);
    broadcast(p, f->hdr.kind, f->hdr.dst, f->body, f->len);
}

static void
peer_on_frame(ax_chan *ch, ax_frame *f, void *ud)
{
    ax_peer *p = ud;

    (void)ch;
    switch (f->hdr.kind) {
    case K_ROUTE: /* a node was born below p: tell the ancestors */
        route_set(f->hdr.dst.node, p);
        if (nd->parent != NULL && p != nd->parent) {
            ax_chan_send_urgent(nd->parent->ch, &f->hdr, NULL, 0);
        }
        return;
    case K_NODE_DOWN:
    case K_PID_DOWN:
        down_frame(p, f);
        return;
    case K_STOP:
        if (p == nd->parent) {
            ax__process_stop();
        }
        return;
    case K_BYE:
        if (!p->is_parent && parse_reason(f, 0, &p->bye) == 0) {
            p->has_bye = true;
        }
        return;
    default:
        break;
    }
    if (f->hdr.dst.node == 0 && f->hdr.dst.id == 0 && nd->parent == NULL) {
        ax__registry_frame(f); /* a name request reached the root */
    } else if (!ax__is_local(f->hdr.dst)) {
        forward(p, f);
    } else if (f->hdr.kind <= K_REPLY) {
        deliver_msg(p, f);
    } else {
        ax__remote_control(p, f);
    }
}

/* --- peers: life and death ----------------------------------------------- */

static void peer_gone(ax_peer *p);

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
on_drain(ax_chan *ch, void *ud)
{
    ax_peer *p = ud;

    (void)ch;
    wake_senders(p);
    for (ax_peer *q = nd->peers; q != NULL; q = q->next) {
        if (q->waits_for == p) {
            q->waits_for = NULL;
            resume_peer(q);
        }
    }
}

static void
on_linger(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    peer_gone(w->data); /* reaped long ago and still no end of stream */
}

/* Both halves of a child's end are needed: its status and its last
 * frames (the exact reasons its actors died with come in them). */
static void
maybe_gone(ax_peer *p)
{
    if (p->reaped && p->eof) {
        peer_gone(p);
    } else if (p->reaped && !ev_is_active(&p->linger)) {
        ev_timer_set(&p->linger, LINGER_S, 0.);
        ev_timer_start(rt->loop, &p->linger);
    }
}

static void
on_child(struct ev_loop *loop, ev_child *w, int revents)
{
    ax_peer *p = w->data;

    (void)revents;
    ev_child_stop(loop, w);
    p->status = w->rstatus;
    p->reaped = true;
    /* A dead child's last frames are at most a pipe's worth: read them
     * all now, whatever the mailboxes say, so they arrive before the DOWNs
     * that follow its end. */
    if (p->paused > 0) {
        p->paused = 0;
        p->waits_for = NULL;
        ax_chan_read_start(p->ch);
    }
    maybe_gone(p);
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
        wake_senders(p);
        return;
    }
    p->eof = true;
    wake_senders(p);
    if (p->is_parent) {
        ax__parent_lost();
        return;
    }
    if (err != AX_EOF && err != AX_EPIPE && p->os_pid > 0) {
        kill(p->os_pid, SIGKILL); /* it spoke nonsense: end it */
    }
    maybe_gone(p);
}

/* Bad bytes from a peer close its channel; the actors involved learn it
 * from the node going down (noconnection, or the child's exit status). */
static void
peer_broken(ax_peer *p, int err)
{
    on_peer_error(p->ch, err, p);
}

static ax_peer *
peer_new(int rfd, int wfd, uint64_t node)
{
    static const ax_chan_cbs cbs = {peer_on_frame, on_peer_error, on_drain};
    ax_chan_opts o = {0};
    ax_peer *p = ax__calloc(1, sizeof(*p));

    if (p == NULL) {
        return NULL;
    }
    /* Frames as large as the largest message (+ a call's 8-byte ref). */
    o.max_frame = ax__msg_limits()->max_size + 8;
    if (ax_chan_new(rt->loop, rfd, wfd, &o, &cbs, p, &p->ch) < 0) {
        ax__free(p);
        return NULL;
    }
    p->node = node;
    ev_timer_init(&p->linger, on_linger, 0., 0.);
    p->linger.data = p;
    p->next = nd->peers;
    nd->peers = p;
    if (nd->remote_limit == 0) {
        nd->remote_limit = DEFAULT_REMOTE_LIMIT;
    }
    return p;
}

ax_peer *
ax__peer_new_child(int fds[2], uint64_t node)
{
    ax_peer *p = peer_new(fds[0], fds[1], node);
    ax_frame_hdr h = {K_ROUTE, 0, {node, 0}, AX_PID_NONE};

    if (p == NULL) {
        return NULL;
    }
    if (route_set(node, p) < 0) {
        ax_chan_close(p->ch);
        nd->peers = p->next;
        ax__free(p);
        return NULL;
    }
    p->os_pid = 0;
    nd->children++;
    if (nd->parent != NULL) { /* ancestors learn where node lives */
        ax_chan_send_urgent(nd->parent->ch, &h, NULL, 0);
    }
    return p;
}

void
ax__peer_started(ax_peer *p, pid_t os_pid)
{
    p->os_pid = os_pid;
    ev_child_init(&p->cw, on_child, os_pid, 0);
    p->cw.data = p;
    ev_child_start(rt->loop, &p->cw);
}

int
ax__peer_new_parent(int fds[2], uint64_t node)
{
    ax_peer *p = peer_new(fds[0], fds[1], node);

    if (p == NULL) {
        return AX_ENOMEM;
    }
    p->is_parent = true;
    nd->parent = p;
    return 0;
}

static void
unlink_peer(ax_peer *p)
{
    for (ax_peer **pp = &nd->peers; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

/* The nodes and promoted addresses that lived behind p. */
static size_t
behind(ax_peer *p, uint64_t **nodes)
{
    size_t n = 0;

    *nodes = ax__alloc((nroutes + 1) * sizeof(**nodes));
    for (size_t i = 0; *nodes != NULL && i < caproutes; i++) {
        if (routes[i].node != 0 && routes[i].peer == p) {
            (*nodes)[n++] = routes[i].node;
        }
    }
    return n;
}

/* Every actor behind p ended: its node with p's exit status, the nodes
 * further below with noconnection. Here, and everywhere else. */
static void
announce_down(ax_peer *p, const ax_exit_info *exact)
{
    static const ax_exit_info lost = {AX_EXIT_NOCONNECTION, 0, 0, false};
    uint64_t *nodes;
    size_t n = behind(p, &nodes);
    ax_pid first = {p->node, AX_FIRST_ID};

    if (p->has_bye) { /* its first actor's own words, before the rest */
        ax__node_down(0, &first, &p->bye);
    }
    for (size_t i = 0; i < n; i++) {
        const ax_exit_info *in = nodes[i] == p->node ? exact : &lost;
        ax_msg *m = NULL;

        route_del(nodes[i]);
        ax__node_down(nodes[i], NULL, in);
        if (ax_msg_pack(&m, "[s d d b]", ax_exit_kind_name(in->kind), in->code,
                        in->signal, in->core_dumped) == 0) {
            broadcast(p, K_NODE_DOWN, (ax_pid){nodes[i], 0}, m->data, m->len);
        }
        ax_msg_free(m);
    }
    ax__free(nodes);
    if (p->has_bye) {
        ax__remember_gone(first, &p->bye); /* newest: shadows the node's */
    }
    for (size_t i = 0; i < nmoves;) {
        if (moves[i].peer == p) {
            ax_pid pid = moves[i].pid;

            moves[i] = moves[--nmoves];
            ax__node_down(0, &pid, exact);
        } else {
            i++;
        }
    }
}

static void
peer_gone(ax_peer *p)
{
    ax_exit_info exact = status_info(p->status);

    ev_timer_stop(rt->loop, &p->linger);
    ev_child_stop(rt->loop, &p->cw);
    unlink_peer(p);
    p->eof = true;
    wake_senders(p);
    for (ax_peer *q = nd->peers; q != NULL; q = q->next) {
        if (q->waits_for == p) {
            q->waits_for = NULL;
            resume_peer(q);
        }
    }
    ax_chan_close(p->ch);
    announce_down(p, &exact);
    if (!p->is_parent) {
        nd->children--;
    }
    ax__free(p);
}

bool
ax__nodes_busy(void)
{
    return nd->children > 0;
}

/* Routes, moves and the process-tree links go with the peers. */
static void
forget_routes(void)
{
    ax__free(routes);
    ax__free(moves);
    routes = NULL;
    moves = NULL;
    nroutes = caproutes = nmoves = 0;
    nd->parent = NULL;
    nd->children = 0;
}

/* In a forked child: every inherited peer, dropped without a callback
 * (the loop they were on is gone). Channels are dropped by the caller. */
void
ax__peers_forget(void)
{
    while (nd->peers != NULL) {
        ax_peer *p = nd->peers;

        nd->peers = p->next;
        ax__free(p);
    }
    forget_routes();
}

void
ax__peers_fini(void)
{
    while (nd->peers != NULL) {
        ax_peer *p = nd->peers;

        nd->peers = p->next;
        ev_timer_stop(rt->loop, &p->linger);
        ev_child_stop(rt->loop, &p->cw);
        ax_chan_close(p->ch);
        ax__free(p);
    }
    forget_routes();
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
    for (int step = 0; step < 3 && nd->children > 0; step++) {
        double until = ev_time() + (step < 2 ? rt->stop_timeout[step] : 5.0);

        for (ax_peer *p = nd->peers; p != NULL; p = p->next) {
            if (p->is_parent || p->os_pid <= 0) {
                continue;
            }
            if (step == 0 && !p->eof) {
                ax_chan_send_urgent(p->ch, &h, NULL, 0);
            } else if (step > 0 && !p->reaped) {
                kill(p->os_pid, signals[step]);
            }
        }
        while (nd->children > 0 && ev_time() < until) {
            ev_run(rt->loop, EVRUN_ONCE);
        }
    }
    ev_timer_stop(rt->loop, &tick);
}

void
ax__peer_abort(ax_peer *p)
{
    uint64_t *nodes;
    size_t n = behind(p, &nodes);
    ax_pid first = {p->node, AX_FIRST_ID};

    if (p->has_bye) { /* its first actor's own words, before the rest */
        ax__node_down(0, &first, &p->bye);
    }
    for (size_t i = 0; i < n; i++) {
        route_del(nodes[i]);
    }
    ax__free(nodes);
    unlink_peer(p);
    p->eof = true;
    wake_senders(p);
    ax_chan_close(p->ch);
    nd->children--;
    ax__free(p);
}

void
ax__node_actor_ended(ax_actor *a)
{
    if (a == nd->first) {
        nd->first_exit = a->exit;
        nd->first_done = true;
        nd->first = NULL;
        if (nd->has_arg_stack) { /* its arg is not needed any more */
            nd->has_arg_stack = false;
            ax__stack_free(&nd->arg_stack);
        }
    }
}

static void
kill_one(ax_actor *a, uint64_t node, const ax_pid *one, const ax_exit_info *i)
{
    (void)node;
    (void)one;
    ax__exit_actor(a, *i);
}

/* End every actor of this process (K_STOP, or the parent is gone), and
 * ask the children to do the same; the process ends when all are gone. */
void
ax__process_stop(void)
{
    ax_frame_hdr h = {K_STOP, 0, AX_PID_NONE, AX_PID_NONE};
    ax_exit_info i = {AX_EXIT_KILLED, AX_KILL_SHUTDOWN, 0, false};
    bool held = rt->processing_exits;

    rt->processing_exits = true;
    for (uint32_t s = 0; s < rt->nslots; s++) {
        if (rt->slots[s].actor != NULL) {
            ax__exit_actor(rt->slots[s].actor, i);
        }
    }
    ax__alias_each(kill_one, 0, NULL, &i);
    rt->processing_exits = held;
    if (!held) {
        ax__exits_run();
    }
    for (ax_peer *p = nd->peers; p != NULL; p = p->next) {
        if (!p->is_parent && !p->eof) {
            ax_chan_send_urgent(p->ch, &h, NULL, 0);
        }
    }
}

void
ax__parent_lost(void)
{
    ax__process_stop();
}

/* The scheduler's turn is over: write what its actors sent, now (their
 * channels' own prepare watchers were started too late for this turn). */
void
ax__peers_flush(void)
{
    ax_peer *next;

    for (ax_peer *p = nd->peers; p != NULL; p = next) {
        next = p->next; /* a write error may end p here */
        if (!p->eof) {
            ax__chan_flush_pending(p->ch);
        }
    }
}
