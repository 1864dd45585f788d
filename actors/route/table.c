/*
 * actors/route/table.c - where every address lives: the route table (node
 * id -> the peer that leads there), promoted addresses that live behind a
 * peer, and the remote actors known to have ended.
 */
#include "actors/route/route.h"

#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"

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

int
ax__route_set(uint64_t node, ax_peer *p)
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
void
ax__route_del(uint64_t node)
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
    return r != NULL ? r->peer : ax__net.parent;
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
            ax__nodes_moved(pid, rt->node); /* back here, for every process */
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
    ax__nodes_moved(pid, p->node); /* p is the child it moves into */
    return 0;
}

/*
 * Where an address lives, for people: a local actor is here; one known to
 * have ended is nowhere; else its node, or the node it was last promoted
 * to (the run's shared table knows moves this process never saw), and
 * that node's OS pid, which its process wrote there as it started.
 */
int
ax_pid_os_pid(ax_pid p)
{
    ax_exit_info gone;

    if (!ax__rt_up || ax_pid_is_none(p)) {
        return AX_ESRCH;
    }
    if (ax__lookup(p) != NULL) {
        return (int)getpid();
    }
    if (ax__is_local(p) || ax__remote_gone(p, &gone)) {
        return AX_ESRCH; /* ended here, or we were told it ended */
    }
    return ax__node_os_pid(ax__node_lives_on(p));
}

/* --- remote actors known to have ended ---------------------------------- */

/*
 * The last REMEMBER ends of actors elsewhere that this process learned
 * (a DOWN or EXIT frame, a node going down): a join, kill, link or checked
 * send after the fact gets the real answer instead of a guess. A process
 * that ends leaves two records (its first actor's, its node's), so the
 * last 1,024 process actors at least are remembered. Every send to
 * another process asks here, so the records are a hash by address (open
 * addressing, linear probes, at most half full), and the oldest goes
 * first (a ring of the addresses in the order they came).
 */
#define REMEMBER 2048
#define GONE_CAP (2 * REMEMBER) /* a power of two */

typedef struct gone_rec {
    ax_pid pid; /* the actor; id 0: every actor of the node */
    ax_exit_info info;
    bool used;
} gone_rec;

/* 192 KiB, allocated at the first end to remember: as a static it sat in
 * the middle of the writable statics, and every process paid a page or
 * two more for the small ones around it. */
typedef struct gone_table {
    gone_rec rec[GONE_CAP];
    ax_pid order[REMEMBER];
    size_t next;
} gone_table;

static gone_table *gone;

static size_t
gone_home(ax_pid pid)
{
    return (size_t)((pid.node ^ pid.id * 0xff51afd7ed558ccdu) *
                        0x9e3779b97f4a7c15u >>
                    32) &
           (GONE_CAP - 1);
}

/* The slot of pid's record, or of the empty slot where it would go. */
static size_t
gone_slot(ax_pid pid)
{
    size_t i = gone_home(pid);

    while (gone->rec[i].used && !ax_pid_equal(gone->rec[i].pid, pid)) {
        i = (i + 1) & (GONE_CAP - 1);
    }
    return i;
}

/* Remove pid's record; later records of its probe run move up. */
static void
gone_erase(ax_pid pid)
{
    gone_rec *r = gone->rec;
    size_t i = gone_slot(pid), j = i;

    if (!r[i].used) {
        return;
    }
    r[i].used = false;
    for (;;) {
        size_t home;

        j = (j + 1) & (GONE_CAP - 1);
        if (!r[j].used) {
            return;
        }
        home = gone_home(r[j].pid);
        /* j's record may fill the hole at i unless its home lies in
         * (i, j], cyclically */
        if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
            r[i] = r[j];
            r[j].used = false;
            i = j;
        }
    }
}

void
ax__remember_gone(ax_pid pid, const ax_exit_info *i)
{
    size_t k;

    if (gone == NULL && (gone = ax__calloc(1, sizeof(*gone))) == NULL) {
        return; /* out of memory: later questions get the guess */
    }
    k = gone_slot(pid);
    if (!gone->rec[k].used) {
        if (gone->next >= REMEMBER) { /* the oldest makes room */
            gone_erase(gone->order[gone->next % REMEMBER]);
            k = gone_slot(pid);
        }
        gone->order[gone->next % REMEMBER] = pid;
        gone->next++;
    }
    gone->rec[k] = (gone_rec){pid, *i, true};
}

/* How the remote actor pid ended, if known: true and *out. The actor's
 * own record wins over its whole process's, whichever came last (a
 * K_PID_DOWN with its exact reason comes just before its node's). */
bool
ax__remote_gone(ax_pid pid, ax_exit_info *out)
{
    const gone_rec *g;

    if (gone == NULL) {
        return false;
    }
    g = &gone->rec[gone_slot(pid)];
    if (g->used) {
        *out = g->info;
        return true;
    }
    g = &gone->rec[gone_slot((ax_pid){pid.node, 0})];
    if (!g->used) {
        return false;
    }
    *out = g->info;
    if (pid.id != AX_FIRST_ID && g->info.kind != AX_EXIT_SIGNAL) {
        out->kind = AX_EXIT_NOPROC; /* its own reason is unknown */
    }
    return true;
}

bool
ax__route_take_moved(ax_peer *p, ax_pid *pid)
{
    for (size_t i = 0; i < nmoves; i++) {
        if (moves[i].peer == p) {
            *pid = moves[i].pid;
            moves[i] = moves[--nmoves];
            return true;
        }
    }
    return false;
}

/* The nodes and promoted addresses that lived behind p. */
size_t
ax__routes_behind(ax_peer *p, uint64_t **nodes)
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

/* Routes, moves and the process-tree links go with the peers. */
void
ax__routes_forget(void)
{
    ax__free(routes);
    ax__free(moves);
    routes = NULL;
    moves = NULL;
    nroutes = caproutes = nmoves = 0;
    ax__net.parent = NULL;
}
