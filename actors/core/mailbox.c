/*
 * actors/core/mailbox.c - send, receive, selective receive, reply.
 *
 * A local send moves the message (no copy: the sender gave it up) onto the
 * receiver's mailbox list and, if the receiver waits for it, hands it over
 * directly and makes the receiver runnable. No system call, no watcher.
 *
 * A mailbox with a capacity makes senders wait in a FIFO of their own; a
 * sender has at most one message waiting, so per-sender order holds. Exit
 * and down messages and call replies use ax__deliver, which never waits.
 */
#include "actors/core/core.h"

#include <axon/values.h>

#include "base/alloc.h"
#include "base/error.h"

static ax_rt *const rt = &ax__rt;
static const ax_core_hooks *const hooks = &ax__core_hooks;

bool
ax__wants(const ax_actor *a, const ax_msg *m)
{
    const want *w = &a->want;

    switch (w->kind) {
    case WANT_ANY:
        return m->kind != MSG_REPLY;
    case WANT_TAG:
        return m->kind != MSG_REPLY && ax__msg_has_tag(m, w->tag, w->taglen);
    case WANT_PRED:
        return m->kind != MSG_REPLY && w->pred(m, w->ud);
    default: /* WANT_REPLY */
        return m->kind == MSG_REPLY && m->ref == w->ref;
    }
}

static void
append(ax_actor *a, ax_msg *m)
{
    m->next = NULL;
    if (a->mb_tail != NULL) {
        a->mb_tail->next = m;
    } else {
        a->mb_head = m;
    }
    a->mb_tail = m;
    a->mb_bytes += m->len;
    if (++a->mb_count > a->st.mailbox_peak) {
        a->st.mailbox_peak = a->mb_count;
    }
}

void
ax__deliver(ax_actor *a, ax_msg *m)
{
    if (m->kind == MSG_REPLY && m->ref != a->call_ref) {
        rt->st.stale_replies++; /* its call timed out: never a later answer */
        ax_msg_free(m);
        return;
    }
    if (a->state == A_WAITING && a->wait == W_RECV && ax__wants(a, m)) {
        a->taken = m;
        a->st.received++;
        ax__wake(a);
        return;
    }
    append(a, m);
}

/*
 * a's mailbox moved to another process (promotion): its waiting senders
 * wake with their messages still theirs, oldest first, and send them
 * again, to where a is now.
 */
void
ax__return_senders(ax_actor *a)
{
    ax_actor *s;

    while ((s = a->senders) != NULL) {
        a->senders = s->send_next;
        s->send_next = NULL;
        s->send_target = NULL;
        ax__wake(s);
    }
    a->senders_tail = NULL;
}

/* Room was made in a's mailbox: let waiting senders in, oldest first. */
void
ax__admit_senders(ax_actor *a)
{
    ax_actor *s;

    while ((s = a->senders) != NULL &&
           (a->mb_cap == 0 || a->mb_count < a->mb_cap)) {
        a->senders = s->send_next;
        if (a->senders == NULL) {
            a->senders_tail = NULL;
        }
        s->send_next = NULL;
        s->send_target = NULL;
        ax__deliver(a, s->send_msg);
        s->send_msg = NULL;
        ax__wake(s);
    }
}

/* Take the oldest message a wants out of its mailbox, or NULL. */
static ax_msg *
take(ax_actor *a)
{
    ax_msg **pp = &a->mb_head;
    ax_msg *prev = NULL;

    for (ax_msg *m = a->mb_head; m != NULL; prev = m, m = m->next) {
        if (ax__wants(a, m)) {
            *pp = m->next;
            if (a->mb_tail == m) {
                a->mb_tail = prev;
            }
            m->next = NULL;
            a->mb_count--;
            a->mb_bytes -= m->len;
            a->st.received++;
            ax__admit_senders(a);
            if (a->held_peers != NULL && hooks->mailbox_drained != NULL) {
                hooks->mailbox_drained(a);
            }
            return m;
        }
        pp = &m->next;
    }
    return NULL;
}

void
ax__park_sender(ax_actor *a, ax_actor **head, ax_actor **tail)
{
    a->send_next = NULL;
    if (*tail != NULL) {
        (*tail)->send_next = a;
    } else {
        *head = a;
    }
    *tail = a;
    ax__park(a, W_SEND, AX_FOREVER);
}

/* The running actor waits for room in b's full mailbox. */
static void
wait_for_room(ax_actor *a, ax_actor *b, ax_msg *m)
{
    a->send_msg = m;
    a->send_target = b;
    ax__park_sender(a, &b->senders, &b->senders_tail);
}

/* Whether to, not found here, lives in another process. */
static bool
elsewhere(ax_pid to)
{
    return hooks->elsewhere != NULL && hooks->elsewhere(to);
}

int
ax__send(ax_pid to, ax_msg *m, bool checked)
{
    ax_actor *self = rt->current;
    ax_actor *b;

    AX_REQUIRE(ax__rt_up, "ax_send before ax_init");
    if (m == NULL) {
        return ax__fail(AX_EINVAL, "ax_send: message is NULL");
    }
    b = ax__lookup(to);
    if (b == NULL && !ax_pid_is_none(to) && elsewhere(to)) {
        m->from = self ? ax__pid_of(self) : AX_PID_NONE;
        if (self != NULL) {
            self->st.sent++;
        }
        return hooks->send_elsewhere(to, m, checked);
    }
    if (b == NULL || b->dying) {
        if (checked) {
            return ax__fail(AX_ESRCH, "ax_send_checked: no such actor");
        }
        rt->st.dead_letters++;
        ax_msg_free(m);
        return 0;
    }
    m->from = self ? ax__pid_of(self) : AX_PID_NONE;
    if (self != NULL) {
        self->st.sent++;
    }
    if (b->mb_cap != 0 && b->mb_count >= b->mb_cap && b != self &&
        !(b->state == A_WAITING && b->wait == W_RECV && ax__wants(b, m))) {
        if (self == NULL) {
            return ax__fail(AX_EAGAIN, "ax_send: mailbox full");
        }
        wait_for_room(self, b, m);
        if (self->send_msg == NULL) {
            return 0; /* delivered when room was made (or a dead letter) */
        }
        m = self->send_msg; /* handed back: b moved away (promotion) */
        self->send_msg = NULL;
        return ax__send(to, m, checked);
    }
    ax__deliver(b, m);
    return 0;
}

int
ax_send(ax_pid to, ax_msg *m)
{
    return ax__send(to, m, false);
}

int
ax_send_checked(ax_pid to, ax_msg *m)
{
    return ax__send(to, m, true);
}

/* Send m, just built (rc is how building went); nothing sent on error. */
static int
send_built(ax_pid to, int rc, ax_msg *m)
{
    if (rc < 0) {
        return rc;
    }
    rc = ax_send(to, m);
    if (rc < 0) {
        ax_msg_free(m);
    }
    return rc;
}

int
ax_sendf(ax_pid to, const char *fmt, ...)
{
    ax_msg *m = NULL;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = ax_msg_vpack(&m, fmt, ap);
    va_end(ap);
    return send_built(to, rc, m);
}

int
ax_send_values(ax_pid to, const ax_value *v, size_t n)
{
    ax_msg *m = NULL;
    int rc = ax_msg_pack_values(&m, v, n);

    return send_built(to, rc, m);
}

/* Receive what a->want describes. */
static int
recv_want(ax_actor *a, ax_msg **out, int timeout_ms)
{
    ax_msg *m = take(a);

    if (m == NULL && timeout_ms != 0) {
        ax__park(a, W_RECV, timeout_ms);
        m = a->taken;
        a->taken = NULL;
    }
    if (m == NULL) { /* a detail of its own, not an older failure's */
        return timeout_ms == 0
                   ? ax__fail(AX_ETIMEDOUT, "receive: nothing that matches "
                                            "is in the mailbox")
                   : ax__fail(AX_ETIMEDOUT,
                              "receive: nothing that matches "
                              "came within %d ms",
                              timeout_ms);
    }
    *out = m;
    return 0;
}

int
ax_recv(ax_msg **out, int timeout_ms)
{
    ax_actor *a = ax__self_actor("ax_recv");

    AX_REQUIRE(out != NULL, "ax_recv: out is NULL");
    a->want = (want){WANT_ANY, NULL, 0, NULL, NULL, 0};
    return recv_want(a, out, timeout_ms);
}

int
ax_recv_match(const char *tag, ax_msg **out, int timeout_ms)
{
    ax_actor *a = ax__self_actor("ax_recv_match");

    AX_REQUIRE(tag != NULL && out != NULL, "ax_recv_match: NULL argument");
    a->want = (want){WANT_TAG, tag, strlen(tag), NULL, NULL, 0};
    return recv_want(a, out, timeout_ms);
}

int
ax_recv_if(bool (*match)(const ax_msg *m, void *ud), void *ud, ax_msg **out,
           int timeout_ms)
{
    ax_actor *a = ax__self_actor("ax_recv_if");

    AX_REQUIRE(match != NULL && out != NULL, "ax_recv_if: NULL argument");
    a->want = (want){WANT_PRED, NULL, 0, match, ud, 0};
    return recv_want(a, out, timeout_ms);
}

/* The reply to call ref (ax_call, the registry's requests). */
int
ax__recv_reply(ax_actor *a, uint64_t ref, ax_msg **out, int timeout_ms)
{
    a->want = (want){WANT_REPLY, NULL, 0, NULL, NULL, ref};
    return recv_want(a, out, timeout_ms);
}

int
ax__recv_pred(ax_actor *a, bool (*pred)(const ax_msg *m, void *ud), void *ud,
              ax_msg **out, int timeout_ms)
{
    a->want = (want){WANT_PRED, NULL, 0, pred, ud, 0};
    return recv_want(a, out, timeout_ms);
}

int
ax_reply(const ax_msg *req, ax_msg *reply)
{
    ax_actor *b;

    AX_REQUIRE(ax__rt_up && req != NULL && reply != NULL,
               "ax_reply: NULL argument");
    if (req->kind != MSG_CALL) {
        return ax__fail(AX_EINVAL, "ax_reply: not a call's request");
    }
    reply->kind = MSG_REPLY;
    reply->ref = req->ref;
    reply->from = ax_self();
    b = ax__lookup(req->from);
    if (b == NULL && elsewhere(req->from)) {
        return hooks->send_elsewhere(req->from, reply, false);
    }
    if (b == NULL || b->dying) {
        rt->st.dead_letters++;
        ax_msg_free(reply);
        return 0;
    }
    ax__deliver(b, reply);
    return 0;
}

bool
ax_msg_is_call(const ax_msg *m)
{
    return m != NULL && m->kind == MSG_CALL;
}

/*
 * a is dying: drop its mailbox, let its blocked senders go (their messages
 * are dead letters), and withdraw its own waiting send, if any.
 */
void
ax__mailbox_release(ax_actor *a)
{
    ax_msg *m;
    ax_actor *s;

    while ((m = a->mb_head) != NULL) {
        a->mb_head = m->next;
        ax_msg_free(m);
    }
    a->mb_tail = NULL;
    a->mb_count = 0;
    a->mb_bytes = 0;
    ax_msg_free(a->taken);
    a->taken = NULL;
    while ((s = a->senders) != NULL) {
        a->senders = s->send_next;
        s->send_next = NULL;
        s->send_target = NULL;
        rt->st.dead_letters++;
        ax_msg_free(s->send_msg);
        s->send_msg = NULL;
        ax__wake(s);
    }
    a->senders_tail = NULL;
    if (a->send_target != NULL) {
        ax_actor *t = a->send_target, **pp = &t->senders, *prev = NULL;

        for (; *pp != a; prev = *pp, pp = &(*pp)->send_next) {
        }
        *pp = a->send_next;
        if (t->senders_tail == a) {
            t->senders_tail = prev;
        }
        rt->st.dead_letters++; /* its sender died before it got in */
        ax_msg_free(a->send_msg);
        a->send_msg = NULL;
        a->send_target = NULL;
    }
}

bool
ax__mailbox_drop(ax_actor *a, bool (*pred)(const ax_msg *m, void *ud), void *ud)
{
    ax_msg *prev = NULL;

    for (ax_msg *m = a->mb_head; m != NULL; prev = m, m = m->next) {
        if (pred(m, ud)) {
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
            return true;
        }
    }
    return false;
}
