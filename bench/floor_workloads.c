/*
 * bench/floor_workloads.c - the machine's own floors, no axon in them
 * (`axon-bench floors` runs them all, in the same session as the
 * workloads they bound):
 *
 *   floor_pipe_pingpong   round trip over two pipes, both sides blocking
 *   floor_futex_pingpong  round trip through shared memory, futex-wait at
 *                         once (the cost of a sleeping side's wake-up)
 *   floor_spin_pingpong   the same, spinning up to 20 us before the wait
 *   floor_busy_pingpong   the same, spinning only (never sleeps)
 *   floor_pipe_stream_32  one-way 32-byte writes to a pipe, one each
 *   floor_ring_bulk       256 MiB one way through a ring of 16 slots of
 *                         64 KiB in shared memory, futex doorbells
 *   floor_memcpy          256 MiB memcpy between two touched buffers
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

#define PING_COUNT 200000
#define SPIN_FOREVER (-1.0)
#define BULK_BYTES ((size_t)256 << 20)
#define SLOT_BYTES ((size_t)64 << 10)
#define SLOTS 16u

static void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void
futex_wait(_Atomic uint32_t *w, uint32_t old)
{
    syscall(SYS_futex, w, FUTEX_WAIT, old, NULL, NULL, 0);
}

static void
futex_wake(_Atomic uint32_t *w)
{
    syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static void *
shared(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        bench_die("mmap: %s", strerror(errno));
    }
    memset(p, 0, len);
    return p;
}

static pid_t
fork_or_die(void)
{
    pid_t pid = fork();

    if (pid < 0) {
        bench_die("fork: %s", strerror(errno));
    }
    return pid;
}

/* --- round trips through shared memory ----------------------------------- */

/*
 * Two processes, one counter each in a MAP_SHARED page; a side waits for
 * its counter to move by spinning up to `spin` seconds (0: not at all,
 * SPIN_FOREVER: never sleeps), then futex-waits; the other bumps it and
 * futex-wakes only if the waiter said it sleeps.
 */
struct cell {
    _Alignas(64) _Atomic uint32_t seq;
    _Alignas(64) _Atomic uint32_t sleeping;
};

static void
cell_post(struct cell *c)
{
    atomic_fetch_add_explicit(&c->seq, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&c->sleeping, memory_order_seq_cst)) {
        futex_wake(&c->seq);
    }
}

static void
cell_wait(struct cell *c, uint32_t old, double spin)
{
    double until = bench_now() + (spin > 0 ? spin : 0);

    for (unsigned i = 0;
         atomic_load_explicit(&c->seq, memory_order_acquire) == old; i++) {
        if (spin == 0 || (spin > 0 && (i & 63) == 63 && bench_now() > until)) {
            atomic_store_explicit(&c->sleeping, 1, memory_order_seq_cst);
            while (atomic_load_explicit(&c->seq, memory_order_seq_cst) == old) {
                futex_wait(&c->seq, old);
            }
            atomic_store_explicit(&c->sleeping, 0, memory_order_relaxed);
            return;
        }
        cpu_relax();
    }
}

/* Microseconds per round trip with waits that spin `spin` seconds. */
static double
cell_pingpong(double spin)
{
    struct cell *c = shared(2 * sizeof(*c));
    uint32_t n = (uint32_t)bench_count(PING_COUNT);
    double t0, t;
    pid_t pid = fork_or_die();

    if (pid == 0) { /* echo: wait for ping i, answer pong i */
        for (uint32_t i = 0; i <= n; i++) {
            cell_wait(&c[0], i, spin);
            cell_post(&c[1]);
        }
        _exit(0);
    }
    cell_post(&c[0]); /* warm up */
    cell_wait(&c[1], 0, spin);
    t0 = bench_now();
    for (uint32_t i = 1; i <= n; i++) {
        cell_post(&c[0]);
        cell_wait(&c[1], i, spin);
    }
    t = bench_now() - t0;
    bench_reap(pid);
    munmap(c, 2 * sizeof(*c));
    return t / (double)n * 1e6;
}

static double
floor_futex_pingpong(void)
{
    return cell_pingpong(0);
}

double
bench_floor_spin_pingpong(void)
{
    return cell_pingpong(20e-6);
}

static double
floor_busy_pingpong(void)
{
    return cell_pingpong(SPIN_FOREVER);
}

/* --- bulk through a ring of slots ------------------------------------------
 */

/* A ring of SLOTS slots: the writer fills slot head % SLOTS, then bumps
 * head; the reader copies slot tail % SLOTS out, then bumps tail. A side
 * that finds no slot spins 20 us, then futex-waits on the other's index. */
struct slot_ring {
    struct cell head, tail;
    _Alignas(4096) unsigned char slot[SLOTS][SLOT_BYTES];
};

static void
wait_index(struct cell *c, uint32_t old)
{
    cell_wait(c, old, 20e-6);
}

static double
floor_ring_bulk(void)
{
    struct slot_ring *r = shared(sizeof(*r));
    uint32_t pieces = (uint32_t)(BULK_BYTES / SLOT_BYTES);
    unsigned char *src = malloc(BULK_BYTES);
    double t0, t;
    pid_t pid;

    if (src == NULL) {
        bench_die("out of memory");
    }
    memset(src, 1, BULK_BYTES);
    if ((pid = fork_or_die()) == 0) {
        unsigned char *dst = malloc(BULK_BYTES);

        if (dst == NULL) {
            _exit(1);
        }
        /* touched, as a reader's buffer is; not with 0: the compiler makes
         * malloc + memset 0 a calloc, which leaves fresh pages untouched */
        memset(dst, 2, BULK_BYTES);
        cell_post(&r->tail); /* ready */
        for (uint32_t i = 0; i < pieces; i++) {
            uint32_t head;

            while ((head = atomic_load_explicit(&r->head.seq,
                                                memory_order_acquire)) == i) {
                wait_index(&r->head, head);
            }
            memcpy(dst + (size_t)i * SLOT_BYTES, r->slot[i % SLOTS],
                   SLOT_BYTES);
            cell_post(&r->tail);
        }
        _exit(dst[BULK_BYTES - 1] == 1 ? 0 : 1);
    }
    while (atomic_load_explicit(&r->tail.seq, memory_order_acquire) == 0) {
        wait_index(&r->tail, 0);
    }
    t0 = bench_now();
    for (uint32_t i = 0; i < pieces; i++) {
        uint32_t tail;

        /* tail counts the ready post too: slot i is free once the reader
         * is done with piece i - SLOTS */
        while (
            (tail = atomic_load_explicit(&r->tail.seq, memory_order_acquire)) +
                SLOTS <=
            i + 1) {
            wait_index(&r->tail, tail);
        }
        memcpy(r->slot[i % SLOTS], src + (size_t)i * SLOT_BYTES, SLOT_BYTES);
        cell_post(&r->head);
    }
    while (atomic_load_explicit(&r->tail.seq, memory_order_acquire) <
           pieces + 1) {
        wait_index(&r->tail,
                   atomic_load_explicit(&r->tail.seq, memory_order_acquire));
    }
    t = bench_now() - t0;
    bench_reap(pid);
    munmap(r, sizeof(*r));
    free(src);
    return (double)BULK_BYTES / t / 1e6;
}

static double
floor_memcpy(void)
{
    unsigned char *a = malloc(BULK_BYTES), *b = malloc(BULK_BYTES);
    double t0, t;

    if (a == NULL || b == NULL) {
        bench_die("out of memory");
    }
    memset(a, 1, BULK_BYTES);
    memset(b, 2, BULK_BYTES); /* not 0: that would become a calloc */
    __asm__ volatile("" : : "r"(a), "r"(b) : "memory"); /* not foldable */
    t0 = bench_now();
    memcpy(b, a, BULK_BYTES);
    __asm__ volatile("" : : "r"(b) : "memory");
    t = bench_now() - t0;
    if (b[BULK_BYTES / 2] != 1) {
        bench_die("memcpy");
    }
    free(a);
    free(b);
    return (double)BULK_BYTES / t / 1e6;
}

const bench_workload bench_floor_workloads[] = {
    {"floor_pipe_pingpong", "us",
     "round trip over two pipes, both sides blocking (no axon)",
     bench_floor_pingpong, NULL},
    {"floor_futex_pingpong", "us",
     "shared-memory round trip, futex-wait at once (no axon)",
     floor_futex_pingpong, NULL},
    {"floor_spin_pingpong", "us",
     "shared-memory round trip, spin 20 us then futex (no axon)",
     bench_floor_spin_pingpong, NULL},
    {"floor_busy_pingpong", "us",
     "shared-memory round trip, spinning only (no axon)", floor_busy_pingpong,
     NULL},
    {"floor_pipe_stream_32", "msg/s",
     "one-way 32-byte writes to a pipe, one each (no axon)",
     bench_floor_stream_32, NULL},
    {"floor_ring_bulk", "MB/s",
     "256 MiB through 16 shared 64 KiB slots, futex doorbells (no axon)",
     floor_ring_bulk, NULL},
    {"floor_memcpy", "MB/s", "256 MiB memcpy between touched buffers",
     floor_memcpy, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};
