/*
 * actors/route/interest.c - who must hear that a process went down.
 *
 * When a process dies, its parent tells the others (K_PID_DOWN, then
 * K_NODE_DOWN) so that their links and monitors to its actors fire. Told
 * to every peer, each death reached every other process: with ten
 * thousand process actors, one that ended woke the other 9,999, and ten
 * thousand that ended made a hundred million frames. A down goes instead
 * to the parent (the ancestors always hear: the registry is at the root)
 * and to the children through which a frame to or from the dead node
 * passed here: links, monitors, kills, messages and calls between
 * processes travel along the process tree, so every process that can
 * hold a half of a link or a monitor to an actor there, or has sent it a
 * message, is behind one of those children. A node noted for more than
 * NOTED children is told to every peer, as before.
 */
#include "actors/route/route.h"

#include "base/alloc.h"

#define NOTED 4

typedef struct interest {
    uint64_t node;         /* 0: an empty slot */
    uint64_t peers[NOTED]; /* children (by node id) to tell */
    uint8_t n;
    bool everyone; /* more than NOTED: every peer */
} interest;

static interest *table;
static size_t used, cap; /* open addressing, at most half full */

static size_t
home(uint64_t node)
{
    return (size_t)(node * 0x9e3779b97f4a7c15u >> 17) & (cap - 1);
}

static interest *
find(uint64_t node)
{
    if (cap == 0) {
        return NULL;
    }
    for (size_t i = home(node);; i = (i + 1) & (cap - 1)) {
        if (table[i].node == node) {
            return &table[i];
        }
        if (table[i].node == 0) {
            return NULL;
        }
    }
}

static interest *
insert(uint64_t node)
{
    size_t i;

    if (2 * (used + 1) > cap) {
        size_t ncap = cap ? 2 * cap : 64;
        interest *old = table, *n = ax__calloc(ncap, sizeof(*n));
        size_t ocap = cap;

        if (n == NULL) {
            return NULL;
        }
        table = n;
        cap = ncap;
        for (size_t k = 0; k < ocap; k++) {
            if (old[k].node != 0) {
                for (i = home(old[k].node); table[i].node != 0;
                     i = (i + 1) & (cap - 1)) {
                }
                table[i] = old[k];
            }
        }
        ax__free(old);
    }
    for (i = home(node); table[i].node != 0; i = (i + 1) & (cap - 1)) {
    }
    table[i].node = node;
    used++;
    return &table[i];
}

static void drop(uint64_t node);

/* The child of this process whose node id is node, if it lives. */
static ax_peer *
child_peer(uint64_t node)
{
    ax_peer *p = ax__route((ax_pid){node, AX_FIRST_ID});

    return p != NULL && !p->is_parent && p->node == node ? p : NULL;
}

/* Child peer `via` (by node id) is to hear when node goes down. */
static void
note(uint64_t node, uint64_t via)
{
    interest *e;

    if (node == 0 || node == via) {
        return;
    }
    e = find(node);
    if (e == NULL && (e = insert(node)) == NULL) {
        return; /* out of memory: told to nobody more, as is the parent */
    }
    if (e->everyone) {
        return;
    }
    for (uint8_t k = 0; k < e->n; k++) {
        if (e->peers[k] == via) {
            return;
        }
    }
    if (e->n == NOTED) {
        e->everyone = true;
        return;
    }
    e->peers[e->n++] = via;
}

void
ax__interest_note(const ax_peer *in, const ax_peer *out, const ax_frame_hdr *h)
{
    if (!in->is_parent) { /* in's side sent to dst's node */
        note(h->dst.node, in->node);
    }
    if (!out->is_parent) { /* out's side now knows src's node */
        note(h->src.node, out->node);
    }
}

void
ax__down_send(ax_peer *from, int kind, ax_pid dst, const void *body, size_t len)
{
    ax_frame_hdr h = {(uint8_t)kind, 0, dst, AX_PID_NONE};
    interest *e = find(dst.node);
    ax_peer *up = ax__net.parent;

    if (e != NULL && e->everyone) {
        ax__broadcast(from, kind, dst, body, len);
    } else {
        if (up != NULL && up != from && !up->eof && !up->wbroken) {
            ax_chan_send_urgent(up->ch, &h, body, len);
        }
        for (uint8_t k = 0; e != NULL && k < e->n; k++) {
            ax_peer *p = child_peer(e->peers[k]);

            if (p != NULL && p != from && !p->eof && !p->wbroken) {
                ax_chan_send_urgent(p->ch, &h, body, len);
            }
        }
    }
    if (kind == K_NODE_DOWN && e != NULL) {
        drop(dst.node);
    }
}

static void
drop(uint64_t node)
{
    interest *e = find(node);
    size_t i, j;

    if (e == NULL) {
        return;
    }
    /* Linear probing: move later entries of the run into the hole. */
    i = (size_t)(e - table);
    table[i].node = 0;
    used--;
    for (j = (i + 1) & (cap - 1); table[j].node != 0; j = (j + 1) & (cap - 1)) {
        size_t h = home(table[j].node);

        if (i <= j ? (h <= i || h > j) : (h <= i && h > j)) {
            table[i] = table[j];
            table[j].node = 0;
            i = j;
        }
    }
}

/* Let the table go (a forked child: forsaken) or free it (ax_fini). */
static void
reset(bool forsake)
{
    if (forsake) {
        ax__forsake(table);
    } else {
        ax__free(table);
    }
    table = NULL;
    used = cap = 0;
}

void
ax__interest_forget(void)
{
    reset(true);
}

void
ax__interest_fini(void)
{
    reset(false);
}
