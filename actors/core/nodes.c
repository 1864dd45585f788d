/*
 * actors/core/nodes.c - the nodes of this run, numbered, and the OS process
 * each one is.
 *
 * A node id is a random 64-bit value (ax__new_node_id): unique, but no one
 * can read it. So the first ax__new_node_id of a process (ax_init's) maps
 * one table MAP_SHARED (a memfd), before anything forks: every process of the
 * tree (forked from the root directly, by the fork server, by promotion, or
 * from a child) shares it. A node is numbered once, where its id is
 * drawn: its number is its entry's index + 1, the same in every process,
 * for as long as the run lives (the root, drawn first, is 1). An entry
 * also holds the node's OS pid (written by that process as its runtime
 * starts, marked ended when the node is known down), and the table the
 * nodes promoted actors moved to (appended at each move: the last entry of
 * an address wins).
 *
 * Entries are only appended. A slot is claimed with one atomic add; its
 * key is written (release) before the id leaves the process that drew it
 * (before the fork, before ax_spawn returns), so whoever learns an id,
 * through a frame or a fork, finds its entry. A reader skips a slot whose
 * key is still 0. Pages are touched as nodes come: the sizes are limits,
 * not costs. Past them a node has no number (ax_pid_format prints its id)
 * and no known OS pid.
 */
#include "actors/core/core.h"

#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/error.h"

#define MAX_NODES 65536
#define MAX_MOVES 16384
#define OS_ENDED (-1)

typedef struct node_ent {
    _Atomic uint64_t node; /* the node id; 0: claimed, not written yet */
    _Atomic int32_t os;    /* its OS pid; 0: not started; OS_ENDED */
} node_ent;

typedef struct move_ent {
    _Atomic uint64_t to; /* where the address lives now; 0: not written */
    uint64_t node, id;   /* the promoted address (written before `to`) */
} move_ent;

typedef struct node_table {
    _Atomic uint32_t nnodes; /* slots claimed (may pass MAX_NODES) */
    _Atomic uint32_t nmoves;
    node_ent nodes[MAX_NODES];
    move_ent moves[MAX_MOVES];
} node_table;

static node_table *tab; /* NULL: not mapped (or the map failed) */

/*
 * Map the table, once per tree: a forked process inherits the mapping. A
 * memfd, not MAP_ANONYMOUS: /proc/<pid>/maps names it (axon-nodes), and
 * it is not taken for a channel's rings (/dev/zero). Its fd goes at once.
 */
static node_table *
table(void)
{
    void *p = MAP_FAILED;
    int fd;

    if (tab != NULL) {
        return tab;
    }
    fd = memfd_create("axon-nodes", MFD_CLOEXEC);
    if (fd < 0) {
        return NULL;
    }
    if (ftruncate(fd, sizeof(*tab)) == 0) {
        p = mmap(NULL, sizeof(*tab), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    }
    close(fd);
    tab = p == MAP_FAILED ? NULL : p;
    return tab;
}

/* How many slots of a list (count n, cap slots) a reader looks at. */
static uint32_t
claimed(_Atomic uint32_t *n, uint32_t cap)
{
    uint32_t k = atomic_load_explicit(n, memory_order_acquire);

    return k < cap ? k : cap;
}

static node_ent *
find(uint64_t node)
{
    uint32_t n;

    if (tab == NULL || node == 0) {
        return NULL;
    }
    n = claimed(&tab->nnodes, MAX_NODES);
    for (uint32_t i = 0; i < n; i++) {
        if (atomic_load_explicit(&tab->nodes[i].node, memory_order_acquire) ==
            node) {
            return &tab->nodes[i];
        }
    }
    return NULL;
}

/* Number node (a new id, drawn here); nothing if the table is full. */
void
ax__nodes_add(uint64_t node)
{
    node_table *t = table();
    uint32_t i;

    if (t == NULL || node == 0 || find(node) != NULL) {
        return;
    }
    i = atomic_fetch_add_explicit(&t->nnodes, 1, memory_order_relaxed);
    if (i < MAX_NODES) {
        atomic_store_explicit(&t->nodes[i].node, node, memory_order_release);
    }
}

uint32_t
ax__node_number(uint64_t node)
{
    node_ent *e = find(node);

    return e != NULL ? (uint32_t)(e - tab->nodes) + 1 : 0;
}

uint64_t
ax__node_of_number(uint32_t number)
{
    if (tab == NULL || number == 0 ||
        number > claimed(&tab->nnodes, MAX_NODES)) {
        return 0;
    }
    return atomic_load_explicit(&tab->nodes[number - 1].node,
                                memory_order_acquire);
}

/* This process is node (its runtime starts): numbered if it was not. */
void
ax__nodes_started(uint64_t node)
{
    node_ent *e;

    ax__nodes_add(node);
    if ((e = find(node)) != NULL) {
        atomic_store_explicit(&e->os, (int32_t)getpid(), memory_order_release);
    }
}

void
ax__nodes_ended(uint64_t node)
{
    node_ent *e = find(node);

    if (e != NULL) {
        atomic_store_explicit(&e->os, OS_ENDED, memory_order_release);
    }
}

void
ax__nodes_moved(ax_pid pid, uint64_t to)
{
    node_table *t = table();
    uint32_t i;

    if (t == NULL || to == 0) {
        return;
    }
    i = atomic_fetch_add_explicit(&t->nmoves, 1, memory_order_relaxed);
    if (i < MAX_MOVES) {
        t->moves[i].node = pid.node;
        t->moves[i].id = pid.id;
        atomic_store_explicit(&t->moves[i].to, to, memory_order_release);
    }
}

uint64_t
ax__node_lives_on(ax_pid pid)
{
    uint32_t n;

    if (tab == NULL) {
        return pid.node;
    }
    n = claimed(&tab->nmoves, MAX_MOVES);
    for (uint32_t i = n; i-- > 0;) { /* the last move wins */
        uint64_t to =
            atomic_load_explicit(&tab->moves[i].to, memory_order_acquire);

        if (to != 0 && tab->moves[i].node == pid.node &&
            tab->moves[i].id == pid.id) {
            return to;
        }
    }
    return pid.node;
}

int
ax__node_os_pid(uint64_t node)
{
    node_ent *e = find(node);
    int32_t os;

    if (e == NULL) {
        return AX_ESRCH;
    }
    os = atomic_load_explicit(&e->os, memory_order_acquire);
    return os == 0 ? AX_EAGAIN : os == OS_ENDED ? AX_ESRCH : os;
}
