/*
 * transport/ring.c - byte rings in shared memory (see ring.h for the
 * rules). The memory orders, once:
 * - bytes, then the writer's position with release; the reader loads it
 *   with acquire, then copies: it never sees a position before its bytes;
 * - the reader's position the same way back, so the writer never
 *   overwrites bytes not yet copied out;
 * - a doorbell flag and the position it guards are a Dekker pair: each
 *   side stores its own, a full fence, then loads the other's, so at least
 *   one of the two sees the other (no wake-up is lost).
 */
#include "transport/ring.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"

#define HEADERS 4096 /* the first page: the two headers */

/*
 * The maps of a process are slots of a few large shared mappings (pools
 * of POOL_SLOTS slots of one size each), not one mapping each: a fork
 * copies every mapping of its parent, and a forked child unmaps those of
 * its siblings, so with ten thousand process actors one mapping each made
 * every spawn copy and unmap ten thousand. A child cuts its own slot out
 * of the pools it inherits and unmaps the rest (ax__ring_maps_forget):
 * then that slot is a mapping of its own ("alone"). A freed slot's pages
 * go back to the system (MADV_REMOVE: it reads as zeros again); a pool
 * whose slots are all free is unmapped.
 */
#define POOL_SLOTS 64

typedef struct pool {
    uint8_t *base;
    size_t slot_size;
    uint64_t used; /* one bit per slot */
    struct pool *next;
} pool;

struct ax_ring_map {
    uint8_t *base; /* HEADERS, then ring 0's bytes, then ring 1's */
    size_t cap;
    size_t size;
    int owners;               /* in this process */
    pool *pool;               /* NULL: a mapping of its own */
    int slot;                 /* in pool */
    ax_ring_map **alone_link; /* in the list of maps alone, if alone */
    ax_ring_map *alone_next;
};

static pool *pools;
static ax_ring_map *alone; /* maps with a mapping of their own */

static size_t
slot_size_of(size_t cap)
{
    size_t page = 4096, size = HEADERS + 2 * cap;

    return (size + page - 1) / page * page;
}

/* A free slot of slot_size bytes: its address, or NULL. */
static uint8_t *
slot_take(size_t slot_size, pool **from, int *slot)
{
    pool *p;
    void *base;

    for (p = pools; p != NULL; p = p->next) {
        if (p->slot_size == slot_size && p->used != ~(uint64_t)0) {
            break;
        }
    }
    if (p == NULL) {
        p = ax__calloc(1, sizeof(*p));
        if (p == NULL) {
            return NULL;
        }
        base = mmap(NULL, POOL_SLOTS * slot_size, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (base == MAP_FAILED) {
            ax__free(p);
            return NULL;
        }
        p->base = base;
        p->slot_size = slot_size;
        p->next = pools;
        pools = p;
    }
    *slot = __builtin_ctzll(~p->used);
    p->used |= (uint64_t)1 << *slot;
    *from = p;
    return p->base + (size_t)*slot * slot_size;
}

static void
slot_give_back(pool *p, int slot)
{
    p->used &= ~((uint64_t)1 << slot);
    if (p->used != 0) { /* its pages go; it reads as zeros */
        madvise(p->base + (size_t)slot * p->slot_size, p->slot_size,
                MADV_REMOVE);
        return;
    }
    munmap(p->base, POOL_SLOTS * p->slot_size);
    for (pool **pp = &pools; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    ax__free(p);
}

static void
alone_add(ax_ring_map *m)
{
    m->alone_next = alone;
    m->alone_link = &alone;
    if (alone != NULL) {
        alone->alone_link = &m->alone_next;
    }
    alone = m;
}

static void
alone_remove(ax_ring_map *m)
{
    *m->alone_link = m->alone_next;
    if (m->alone_next != NULL) {
        m->alone_next->alone_link = m->alone_link;
    }
    m->alone_link = NULL;
}

/* Whether a ring may hold cap bytes: a power of two in [MIN, MAX]. */
static bool
cap_ok(size_t cap)
{
    return cap >= AX_RING_MIN && cap <= AX_RING_MAX && (cap & (cap - 1)) == 0;
}

/* Both readers asleep: the first commit each way rings (a reader learns
 * of its first bytes by its doorbell). */
static void
both_asleep(uint8_t *base)
{
    for (int i = 0; i < 2; i++) {
        atomic_store_explicit(&((struct ring_shared *)base + i)->sleeps, 1,
                              memory_order_relaxed);
    }
}

int
ax__ring_map_new(size_t cap, ax_ring_map **out)
{
    ax_ring_map *m;
    uint8_t *base;

    _Static_assert(sizeof(struct ring_shared) == 256, "docs/wire.md layout");
    _Static_assert(2 * sizeof(struct ring_shared) <= HEADERS, "headers");
    if (!cap_ok(cap)) {
        return ax__fail(AX_EINVAL,
                        "ring: capacity %zu is not a power of "
                        "two in [4 KiB, 64 MiB]",
                        cap);
    }
    m = ax__calloc(1, sizeof(*m));
    if (m == NULL) {
        return AX_ENOMEM;
    }
    m->cap = cap;
    m->size = HEADERS + 2 * cap;
    m->owners = 1;
    base = slot_take(slot_size_of(cap), &m->pool, &m->slot);
    if (base == NULL) {
        ax__free(m);
        return ax__fail(AX_ENOMEM, "ring: mmap of %zu bytes failed",
                        POOL_SLOTS * slot_size_of(cap));
    }
    m->base = base;    /* zero-filled: both rings empty, nobody waits */
    both_asleep(base); /* neither reader reads yet */
    *out = m;
    return 0;
}

/* A map with a mapping of its own of fd (a memfd of the map's size). */
static int
map_fd(int fd, size_t cap, ax_ring_map **out)
{
    ax_ring_map *m = ax__calloc(1, sizeof(*m));
    void *base;

    if (m == NULL) {
        return AX_ENOMEM;
    }
    base = mmap(NULL, slot_size_of(cap), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                0);
    if (base == MAP_FAILED) {
        int err = -errno;

        ax__free(m);
        return ax__fail(err, "ring: mmap of a memfd: %s", ax_strerror(err));
    }
    m->base = base;
    m->cap = cap;
    m->size = HEADERS + 2 * cap;
    m->owners = 1;
    alone_add(m);
    *out = m;
    return 0;
}

int
ax__ring_map_new_fd(size_t cap, ax_ring_map **out, int *fd)
{
    int rc;

    if (!cap_ok(cap)) {
        return ax__fail(AX_EINVAL,
                        "ring: capacity %zu is not a power of "
                        "two in [4 KiB, 64 MiB]",
                        cap);
    }
    *fd = memfd_create("axon-ring", MFD_CLOEXEC);
    if (*fd < 0) {
        rc = -errno;
        return ax__fail(rc, "ring: memfd_create: %s", ax_strerror(rc));
    }
    if (ftruncate(*fd, (off_t)slot_size_of(cap)) < 0) {
        rc = -errno;
        ax__fail(rc, "ring: ftruncate of a memfd: %s", ax_strerror(rc));
    } else {
        rc = map_fd(*fd, cap, out);
    }
    if (rc < 0) {
        close(*fd);
        *fd = -1;
        return rc;
    }
    both_asleep((*out)->base);
    return 0;
}

int
ax__ring_map_from_fd(int fd, size_t cap, ax_ring_map **out)
{
    struct stat st;

    if (!cap_ok(cap) || fstat(fd, &st) < 0 ||
        (size_t)st.st_size != slot_size_of(cap)) {
        return ax__fail(AX_EINVAL,
                        "ring: fd %d is not a map of two %zu-byte rings", fd,
                        cap);
    }
    return map_fd(fd, cap, out);
}

ax_ring_map *
ax__ring_map_hold(ax_ring_map *m)
{
    m->owners++;
    return m;
}

void
ax__ring_map_free(ax_ring_map *m)
{
    if (m == NULL || --m->owners > 0) {
        return;
    }
    if (m->pool != NULL) {
        slot_give_back(m->pool, m->slot);
    } else {
        munmap(m->base, slot_size_of(m->cap));
        alone_remove(m);
    }
    ax__free(m);
}

void
ax__ring_maps_forget(ax_ring_map *keep)
{
    size_t ks = keep != NULL ? slot_size_of(keep->cap) : 0;

    for (pool *p = pools; p != NULL; p = p->next) {
        uint8_t *end = p->base + POOL_SLOTS * p->slot_size;

        if (keep != NULL && keep->pool == p) { /* cut keep's slot out */
            if (keep->base > p->base) {
                munmap(p->base, (size_t)(keep->base - p->base));
            }
            if (keep->base + ks < end) {
                munmap(keep->base + ks, (size_t)(end - keep->base - ks));
            }
        } else {
            munmap(p->base, (size_t)(end - p->base));
        }
    }
    for (ax_ring_map *m = alone; m != NULL; m = m->alone_next) {
        if (m != keep) {
            munmap(m->base, slot_size_of(m->cap));
        }
    }
    ax__forsake(pools);
    ax__forsake(alone);
    pools = NULL;
    alone = NULL;
    if (keep != NULL) {
        keep->pool = NULL; /* a mapping of its own now */
        keep->owners = 1;  /* the caller's: inherited channels held the rest */
        alone_add(keep);
    }
}

bool
ax__ring_read_past(const ax_ring *tx, uint64_t pos)
{
    return atomic_load_explicit(&tx->sh->tail, memory_order_acquire) >= pos;
}

size_t
ax__ring_map_size(const ax_ring_map *m)
{
    return m->size;
}

/* Ring i of the map, seen by its writer or its reader, at the position
 * that side left it at (0 when new; a ring reopened continues). */
static void
view(ax_ring_map *m, int i, bool writer, ax_ring *r)
{
    r->sh = (struct ring_shared *)m->base + i;
    r->data = m->base + HEADERS + (size_t)i * m->cap;
    r->cap = m->cap;
    r->pos = atomic_load_explicit(writer ? &r->sh->head : &r->sh->tail,
                                  memory_order_acquire);
    r->committed = r->pos;
    r->seen = writer ? atomic_load_explicit(&r->sh->tail, memory_order_acquire)
                     : r->pos;
}

void
ax__ring_open(ax_ring_map *m, int side, ax_ring *tx, ax_ring *rx)
{
    view(m, side, true, tx);
    view(m, 1 - side, false, rx);
}

/* --- writing -------------------------------------------------------------- */

long
ax__ring_room(ax_ring *tx)
{
    uint64_t tail = atomic_load_explicit(&tx->sh->tail, memory_order_acquire);
    uint64_t used = tx->pos - tail;

    if (used > tx->cap) { /* ahead of what we wrote, or too far behind */
        tx->seen = tx->pos - tx->cap; /* no room seen: every put looks */
        return ax__fail(AX_EPROTO,
                        "ring: the reader's position %llu cannot "
                        "be true (written: %llu)",
                        (unsigned long long)tail, (unsigned long long)tx->pos);
    }
    tx->seen = tail;
    return (long)(tx->cap - used);
}

long
ax__ring_room_for(ax_ring *tx, size_t need)
{
    return ax__ring_seen_holds(tx, need)
               ? (long)(tx->cap - (tx->pos - tx->seen))
               : ax__ring_room(tx);
}

/* Copy len bytes to the ring at position pos (wrapping). */
static void
copy_in(ax_ring *tx, uint64_t pos, const uint8_t *p, size_t len)
{
    size_t at = (size_t)(pos & (tx->cap - 1));
    size_t first = len < tx->cap - at ? len : tx->cap - at;

    if (len == 0) {
        return; /* p may be NULL */
    }
    memcpy(tx->data + at, p, first);
    if (first < len) { /* wrapped */
        memcpy(tx->data, p + first, len - first);
    }
}

/* Copy the n pieces in, in order, up to max bytes; returns the bytes. */
static size_t
copy_iov(ax_ring *tx, const struct iovec *iov, int n, size_t max)
{
    size_t left = max;

    for (int i = 0; i < n && left > 0; i++) {
        size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;

        copy_in(tx, tx->pos, iov[i].iov_base, k);
        tx->pos += k;
        left -= k;
    }
    return max - left;
}

int
ax__ring_put(ax_ring *tx, const struct iovec *iov, int n)
{
    size_t len = 0;
    long room;

    for (int i = 0; i < n; i++) {
        len += iov[i].iov_len;
    }
    if ((room = ax__ring_room_for(tx, len)) < 0) {
        return (int)room;
    }
    if (len > tx->cap) {
        return ax__fail(AX_EMSGSIZE,
                        "ring: %zu bytes do not fit a ring of "
                        "%zu",
                        len, tx->cap);
    }
    if (len > (size_t)room) {
        return AX_EAGAIN;
    }
    copy_iov(tx, iov, n, len);
    return 0;
}

long
ax__ring_write(ax_ring *tx, const struct iovec *iov, int n)
{
    long room = ax__ring_room(tx);

    return room < 0 ? room : (long)copy_iov(tx, iov, n, (size_t)room);
}

bool
ax__ring_reader_asleep(ax_ring *tx)
{
    atomic_thread_fence(memory_order_seq_cst);
    return atomic_load_explicit(&tx->sh->sleeps, memory_order_relaxed) &&
           atomic_exchange_explicit(&tx->sh->sleeps, 0, memory_order_relaxed);
}

bool
ax__ring_commit(ax_ring *tx)
{
    return ax__ring_publish(tx) && ax__ring_reader_asleep(tx);
}

bool
ax__ring_wait_room(ax_ring *tx, size_t need)
{
    long room;

    atomic_store_explicit(&tx->sh->waits, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    room = ax__ring_room(tx);
    if (room < 0 || (size_t)room >= need) {
        atomic_store_explicit(&tx->sh->waits, 0, memory_order_relaxed);
        return false; /* room came (or the ring is broken: look again) */
    }
    return true;
}

void
ax__ring_unwait(ax_ring *tx)
{
    atomic_store_explicit(&tx->sh->waits, 0, memory_order_relaxed);
}

/* --- reading -------------------------------------------------------------- */

/* Committed bytes after rx->pos, or (size_t)-1 if the position is bad. */
static size_t
avail(const ax_ring *rx)
{
    uint64_t head = atomic_load_explicit(&rx->sh->head, memory_order_acquire);
    uint64_t n = head - rx->pos;

    return n > rx->cap ? (size_t)-1 : (size_t)n;
}

size_t
ax__ring_pending(const ax_ring *rx)
{
    size_t n = avail(rx);

    return n == (size_t)-1 ? 0 : n;
}

long
ax__ring_read(ax_ring *rx, void *buf, size_t size, bool *wake)
{
    size_t n = avail(rx), at, first;

    *wake = false;
    if (n == (size_t)-1) {
        return ax__fail(AX_EPROTO,
                        "ring: the writer's position cannot be "
                        "true (read: %llu)",
                        (unsigned long long)rx->pos);
    }
    if (n > size) {
        n = size;
    }
    if (n == 0) {
        return 0;
    }
    at = (size_t)(rx->pos & (rx->cap - 1));
    first = n < rx->cap - at ? n : rx->cap - at;
    memcpy(buf, rx->data + at, first);
    memcpy((uint8_t *)buf + first, rx->data, n - first);
    rx->pos += n;
    atomic_store_explicit(&rx->sh->tail, rx->pos, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    *wake = atomic_load_explicit(&rx->sh->waits, memory_order_relaxed) &&
            atomic_exchange_explicit(&rx->sh->waits, 0, memory_order_relaxed);
    return (long)n;
}

bool
ax__ring_sleep(ax_ring *rx)
{
    atomic_store_explicit(&rx->sh->sleeps, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (avail(rx) != 0) { /* bytes came (or a bad position: read it) */
        atomic_store_explicit(&rx->sh->sleeps, 0, memory_order_relaxed);
        return false;
    }
    return true;
}

void
ax__ring_awake(ax_ring *rx)
{
    atomic_store_explicit(&rx->sh->sleeps, 0, memory_order_relaxed);
}
