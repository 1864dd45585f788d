/*
 * transport/ring.h - byte rings in memory shared by two processes: the
 * carrier under the frames of a channel between two axon processes, with
 * the channel's pipes as doorbells (internal).
 *
 * A ring map holds two rings, one per direction, in one MAP_SHARED
 * mapping made before the fork; after it, each process opens its side:
 * the ring it writes (tx) and the ring it reads (rx). A ring is a byte
 * stream like a pipe, in memory: the writer copies whole frames in and
 * then publishes its position; the reader copies bytes out into its own
 * buffer (the frame reader's), and parses them there.
 *
 * What the rules guarantee:
 * - bytes are visible to the reader only after the writer's commit, which
 *   comes after the bytes (a release store): a writer killed mid-frame
 *   leaves what it committed, never a torn frame, and what it committed
 *   survives its death;
 * - the peer is not trusted: each side keeps its own position privately
 *   and only publishes it; the peer's position is read once per call and
 *   checked against the capacity (AX_EPROTO when it cannot be true), and
 *   bytes are copied out before anyone parses them, so a hostile peer can
 *   make neither side touch memory outside the mapping;
 * - doorbells only when needed (the eventcount pattern): a reader about to
 *   sleep says so in the ring, then looks once more; a writer that
 *   committed looks at that flag after a full fence, and only then rings
 *   (writes a byte to the pipe). The same pattern, the other way, wakes a
 *   writer that waits for room.
 */
#ifndef AXON_TRANSPORT_RING_H
#define AXON_TRANSPORT_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * The shared header of one ring, each field on a cache line of its own.
 * Both processes can write all of it; each trusts only what it writes.
 */
struct ring_shared {
    _Alignas(64) _Atomic uint64_t head;   /* bytes committed by the writer */
    _Alignas(64) _Atomic uint64_t tail;   /* bytes consumed by the reader */
    _Alignas(64) _Atomic uint32_t sleeps; /* the reader waits for bytes */
    _Alignas(64) _Atomic uint32_t waits;  /* the writer waits for room */
};

/* The shared mapping: two rings' headers and data. */
typedef struct ax_ring_map ax_ring_map;

/* One side's view of one ring (its position is its own, not shared). */
typedef struct ax_ring {
    struct ring_shared *sh; /* the ring's shared header */
    uint8_t *data;          /* its bytes (cap of them) */
    size_t cap;             /* a power of two */
    uint64_t pos;           /* tx: bytes written; rx: bytes read */
    uint64_t committed;     /* tx: the position last published */
    uint64_t seen;          /* tx: the reader's position, last loaded */
} ax_ring;

/* The smallest and largest capacity of a ring. */
#define AX_RING_MIN (4u * 1024u)
#define AX_RING_MAX (64u * 1024u * 1024u)

/*
 * ax__ring_map_new - map two rings of cap bytes each (a power of two in
 * [AX_RING_MIN, AX_RING_MAX]), shared with the processes forked after.
 * Returns 0, AX_EINVAL (cap) or AX_ENOMEM.
 */
int ax__ring_map_new(size_t cap, ax_ring_map **out);

/*
 * ax__ring_map_new_fd - like ax__ring_map_new, in a memfd of its own
 * (close-on-exec), whose fd goes in *fd: a process that is not forked
 * from this one maps it with ax__ring_map_from_fd (the fd passed by
 * SCM_RIGHTS, or inherited from a process that got it so). The caller
 * closes *fd when it has passed it on; the mapping stays. Returns 0,
 * AX_EINVAL or -errno.
 */
int ax__ring_map_new_fd(size_t cap, ax_ring_map **out, int *fd);

/* ax__ring_map_from_fd - map the memfd of a ring map of cap bytes a ring
 * (its size is checked: AX_EINVAL). The fd stays the caller's. */
int ax__ring_map_from_fd(int fd, size_t cap, ax_ring_map **out);

/*
 * ax__ring_map_hold - one more owner of m in this process (a channel and a
 * fork request that will hand the map to the child). Each owner frees.
 */
ax_ring_map *ax__ring_map_hold(ax_ring_map *m);

/* ax__ring_map_free - drop one owner; the last unmaps (in this process:
 * the other keeps its own mapping). Accepts NULL. */
void ax__ring_map_free(ax_ring_map *m);

/*
 * ax__ring_maps_forget - in a forked child: unmap every map inherited
 * (let go of, not freed), but keep (NULL: none), which the caller holds
 * once and which is from now on the only map of this process.
 */
void ax__ring_maps_forget(ax_ring_map *keep);

/* ax__ring_read_past - whether the reader of tx's ring has read past
 * byte pos of its stream (pos: tx->committed after a write). */
bool ax__ring_read_past(const ax_ring *tx, uint64_t pos);

/* The bytes the mapping takes (for the fuzz target and the tests). */
size_t ax__ring_map_size(const ax_ring_map *m);

/*
 * ax__ring_open - this process's side: `side` 0 writes ring 0 and reads
 * ring 1, side 1 the other way round (the parent takes 0, the child 1).
 */
void ax__ring_open(ax_ring_map *m, int side, ax_ring *tx, ax_ring *rx);

/* --- writing -------------------------------------------------------------- */

/*
 * ax__ring_room - bytes that can be written now. Returns >= 0, or
 * AX_EPROTO if the reader's published position cannot be true.
 */
long ax__ring_room(ax_ring *tx);

/*
 * ax__ring_room_for - like ax__ring_room, but when the room last seen
 * holds need bytes it returns that without loading the reader's position
 * (a line the reader writes at every read: loading it at every put cost
 * the writer a transfer between the cores per message).
 */
long ax__ring_room_for(ax_ring *tx, size_t need);

/*
 * ax__ring_put - copy the n pieces in, all or nothing; they are not
 * visible before ax__ring_commit. Returns 0, AX_EAGAIN (no room for all:
 * nothing written), AX_EMSGSIZE (more than the ring holds) or AX_EPROTO.
 */
int ax__ring_put(ax_ring *tx, const struct iovec *iov, int n);

/*
 * ax__ring_write - copy in what fits of the n pieces, in order (a part of
 * a frame, as a pipe takes part of a write); not visible before
 * ax__ring_commit. Returns the bytes copied (0: full), or AX_EPROTO.
 */
long ax__ring_write(ax_ring *tx, const struct iovec *iov, int n);

/*
 * ax__ring_commit - publish what was put. Returns true if the reader
 * sleeps and must be woken (the caller rings its doorbell); the flag is
 * taken, so one wake-up is asked for once.
 */
bool ax__ring_commit(ax_ring *tx);

/*
 * ax__ring_commit in two steps, for a writer that commits many frames
 * and rings once: ax__ring_publish publishes what was put (a release
 * store, no fence; false if there was nothing new); ax__ring_reader_asleep,
 * after one or more publishes, is the fence and the look at the reader's
 * flag (true: ring, as for ax__ring_commit). A frame is the reader's, and
 * survives the writer, from its publish on.
 */
static inline bool
ax__ring_publish(ax_ring *tx)
{
    if (tx->pos == tx->committed) {
        return false;
    }
    tx->committed = tx->pos;
    atomic_store_explicit(&tx->sh->head, tx->pos, memory_order_release);
    return true;
}

bool ax__ring_reader_asleep(ax_ring *tx);

/*
 * ax__ring_claim - where need bytes can be written in one piece now, by
 * the room last seen (no load of the reader's position), or NULL: then
 * the caller takes ax__ring_put. What the caller writes there is put by
 * ax__ring_claimed(tx, need), and seen by the reader after a publish.
 * The way of nearly every small frame, inline.
 */
/* Whether the room last seen holds need bytes (the reader's position only
 * grows: what was seen is there still). */
static inline bool
ax__ring_seen_holds(const ax_ring *tx, size_t need)
{
    uint64_t used = tx->pos - tx->seen;

    return used <= tx->cap && tx->cap - used >= need;
}

static inline uint8_t *
ax__ring_claim(const ax_ring *tx, size_t need)
{
    size_t at = (size_t)(tx->pos & (tx->cap - 1));

    return ax__ring_seen_holds(tx, need) && tx->cap - at >= need ? tx->data + at
                                                                 : NULL;
}

static inline void
ax__ring_claimed(ax_ring *tx, size_t need)
{
    tx->pos += need;
}

/*
 * ax__ring_wait_room - the writer is about to wait for room: the reader
 * rings when it has read. Returns false if room for `need` bytes came
 * meanwhile (do not wait), true if the caller must wait for the doorbell.
 */
bool ax__ring_wait_room(ax_ring *tx, size_t need);

/* ax__ring_unwait - the writer no longer waits for the doorbell (it
 * watches the room itself for a while, then waits again). */
void ax__ring_unwait(ax_ring *tx);

/* --- reading -------------------------------------------------------------- */

/*
 * ax__ring_read - copy up to size committed bytes out into buf and
 * consume them. Returns the bytes copied (0: the ring is empty), or
 * AX_EPROTO if the writer's published position cannot be true. *wake is
 * set when a writer waits for room and must be woken (the caller rings).
 */
long ax__ring_read(ax_ring *rx, void *buf, size_t size, bool *wake);

/*
 * ax__ring_sleep - the reader is about to sleep: the writer rings at its
 * next commit. Returns false if bytes came meanwhile (do not sleep: read
 * them), true if the caller may sleep until the doorbell.
 */
bool ax__ring_sleep(ax_ring *rx);

/* ax__ring_awake - the reader is awake again: no doorbell is needed. */
void ax__ring_awake(ax_ring *rx);

/* Committed bytes not yet read (0 if the writer's position is bad). */
size_t ax__ring_pending(const ax_ring *rx);

#endif /* AXON_TRANSPORT_RING_H */
