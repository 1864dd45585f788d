/*
 * actors/core/stack.c - the coroutine stack pool: slabs, lazy guard pages,
 * intrusive LIFO free lists, trimming of cold free stacks.
 *
 * One pool per usable size (rounded to pages). A pool maps slabs of
 * per_slab stacks, each [guard page][usable bytes], and carves them from
 * the low end of its newest slab as needed; a stack's guard is installed
 * when it is carved (one madvise) and stays until the slab is unmapped.
 *
 * A free stack is in one of two places:
 *   hot:  on the pool's doubly linked LIFO list, whose links live in the
 *         top bytes of the free stack itself (the page a coroutine touches
 *         first, so it is resident): alloc and free are a few pointer moves.
 *   cold: its pages were returned with MADV_DONTNEED (the guard marker
 *         survives that); its index sits in its slab's cold[] array, since
 *         writing a link into it would fault a page back in.
 * Alloc takes hot, then cold, then carves. When the hot list outgrows
 * max(TRIM_KEEP, live) by TRIM_BATCH stacks, its TRIM_BATCH coldest (the
 * tail) are trimmed, address-sorted so that neighbours share one madvise.
 *
 * Slabs are unmapped only by ax__stack_forget_all. Not thread-safe: one
 * runtime per process runs on one thread, and only it calls these.
 */
#include "actors/core/stack.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/sanitizers.h"

#ifndef AX_HAVE_VALGRIND_H
#define VALGRIND_STACK_REGISTER(start, end) ((void)(start), (void)(end), 0u)
#define VALGRIND_STACK_DEREGISTER(id) ((void)(id))
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/* A slab is about this big, within the per-slab bounds below. */
#define SLAB_TARGET ((size_t)32 << 20)
#define MIN_PER_SLAB 4
#define MAX_PER_SLAB 1024
/* Hot free stacks kept beyond the live count, and the trim batch. */
#define TRIM_KEEP 1024
#define TRIM_BATCH 256
/* Larger usable sizes are refused: per_slab * stride must not overflow. */
#define MAX_USABLE (SIZE_MAX / 16)

enum guard_mode {
    GUARD_UNDECIDED, /* nothing allocated since start or forget_all(NULL) */
    GUARD_PROBE,     /* try madvise at the first carve, else mprotect */
    GUARD_MADVISE,   /* MADV_GUARD_INSTALL works */
    GUARD_MPROTECT,  /* a PROT_NONE page: splits the mapping */
    GUARD_NONE,      /* AXON_STACK_GUARD=0 */
};

/* The link of a hot free stack, in its top bytes. */
struct node {
    struct node *prev; /* hotter neighbour, NULL at the head */
    struct node *next; /* colder neighbour, NULL at the tail */
};

struct pool;

struct slab {
    char *mem;              /* the mapping: per_slab * stride bytes */
    struct pool *pool;      /* the pool it belongs to */
    struct slab *next;      /* the pool's slabs, newest first */
    struct slab *cold_next; /* the pool's slabs with ncold > 0 */
    uint32_t carved;        /* stacks carved so far, from the low end */
    uint32_t ncold;         /* trimmed free stacks: cold_of(s)[0..ncold) */
    uint32_t ids[];         /* valgrind ids [per_slab], then cold[per_slab] */
};

struct pool {
    size_t size;          /* usable bytes of each stack */
    size_t stride;        /* size plus the guard page */
    uint32_t per_slab;    /* stacks per slab */
    struct node *head;    /* hot free list: the hottest */
    struct node *tail;    /* ... and the coldest */
    size_t nhot;          /* stacks on the hot list */
    size_t ncold;         /* trimmed free stacks in all slabs */
    size_t nlive;         /* stacks handed out */
    struct slab *slabs;   /* all slabs, newest first */
    struct slab *carving; /* the slab with uncarved stacks, or NULL */
    struct slab *cold;    /* slabs holding cold stacks */
    struct pool *next;    /* the next pool */
};

static struct {
    size_t page;           /* page size; 0 until the first alloc */
    enum guard_mode guard; /* how guards are made */
    struct pool *pools;    /* all pools */
    struct pool *last;     /* the pool used last: the fast path's guess */
    struct slab **by_addr; /* every slab, sorted by address */
    size_t nslabs;         /* entries in by_addr */
    size_t cap;            /* its capacity */
    size_t mapped_bytes;   /* bytes of all slabs */
    size_t trimmed;        /* stacks trimmed so far */
} g;

static uint32_t *
cold_of(struct slab *s)
{
    return s->ids + s->pool->per_slab;
}

static size_t
slab_bytes(const struct pool *p)
{
    return p->per_slab * p->stride;
}

static char *
base_of(const struct pool *p, const struct node *n)
{
    return (char *)(n + 1) - p->size;
}

static struct node *
node_of(const struct pool *p, void *base)
{
    return (struct node *)((char *)base + p->size) - 1;
}

static uint32_t
index_of(const struct slab *s, const char *base)
{
    return (uint32_t)((size_t)(base - g.page - s->mem) / s->pool->stride);
}

/* Under ASan, a reused stack may keep the redzones of dead frames. */
static void
unpoison(void *base, size_t size)
{
#if AX_ASAN
    /* Only when needed: writing shadow would make it resident. */
    if (__asan_region_is_poisoned(base, size) != NULL) {
        ASAN_UNPOISON_MEMORY_REGION(base, size);
    }
#else
    (void)base;
    (void)size;
#endif
}

/*
 * Under ASan, zero the shadow of a new slab: the range may have held an
 * older slab with poisoned frames, and gcc's ASan leaves the shadow of an
 * munmap'ed range as it was. By madvise where whole shadow pages are
 * covered: a shadow page written stays resident (4 MiB per slab).
 */
static void
clear_shadow(char *mem, size_t len)
{
#if AX_ASAN
    size_t scale, offset, grain;
    uintptr_t lo, hi;

    __asan_get_shadow_mapping(&scale, &offset);
    grain = g.page << scale; /* app bytes per shadow page */
    lo = ((uintptr_t)mem + grain - 1) & ~(uintptr_t)(grain - 1);
    hi = ((uintptr_t)mem + len) & ~(uintptr_t)(grain - 1);
    if (lo >= hi) {
        ASAN_UNPOISON_MEMORY_REGION(mem, len);
        return;
    }
    ASAN_UNPOISON_MEMORY_REGION(mem, lo - (uintptr_t)mem);
    ASAN_UNPOISON_MEMORY_REGION((char *)hi, (uintptr_t)mem + len - hi);
    madvise((void *)((lo >> scale) + offset), (hi - lo) >> scale,
            MADV_DONTNEED);
#else
    (void)mem;
    (void)len;
#endif
}

static void
decide_guard_mode(void)
{
    const char *env = getenv("AXON_STACK_GUARD");

    if (env != NULL && strcmp(env, "0") == 0) {
        g.guard = GUARD_NONE;
    } else if (env != NULL && strcmp(env, "mprotect") == 0) {
        g.guard = GUARD_MPROTECT;
    } else {
        g.guard = GUARD_PROBE;
    }
}

static int
install_guard(char *guard)
{
    if (g.guard == GUARD_PROBE || g.guard == GUARD_MADVISE) {
        if (madvise(guard, g.page, MADV_GUARD_INSTALL) == 0) {
            g.guard = GUARD_MADVISE;
            return 0;
        }
        if (errno != EINVAL || g.guard == GUARD_MADVISE) {
            return ax__fail(AX_ENOMEM, "stack guard: madvise: errno %d", errno);
        }
        g.guard = GUARD_MPROTECT; /* a kernel before 6.13 */
    }
    if (g.guard == GUARD_MPROTECT && mprotect(guard, g.page, PROT_NONE)) {
        return ax__fail(AX_ENOMEM,
                        "stack guard: mprotect: errno %d (%zu slabs; "
                        "vm.max_map_count reached?)",
                        errno, g.nslabs);
    }
    return 0;
}

/* The index in by_addr of the first slab at or above address a. */
static size_t
slab_pos(uintptr_t a)
{
    size_t lo = 0, hi = g.nslabs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if ((uintptr_t)g.by_addr[mid]->mem < a) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The slab holding addr, or NULL. */
static struct slab *
slab_of(const void *addr)
{
    uintptr_t a = (uintptr_t)addr;
    size_t pos = slab_pos(a + 1);
    struct slab *s = pos > 0 ? g.by_addr[pos - 1] : NULL;

    if (s == NULL || a >= (uintptr_t)s->mem + slab_bytes(s->pool)) {
        return NULL;
    }
    return s;
}

static int
reserve_slot(void)
{
    struct slab **a;
    size_t cap;

    if (g.nslabs < g.cap) {
        return 0;
    }
    cap = g.cap ? g.cap * 2 : 16;
    a = ax__realloc(g.by_addr, cap * sizeof(*a));
    if (a == NULL) {
        return ax__fail(AX_ENOMEM, "stack slab table: out of memory");
    }
    g.by_addr = a;
    g.cap = cap;
    return 0;
}

/* Link a new slab into p and into by_addr (which has room). */
static void
slab_link(struct pool *p, struct slab *s)
{
    size_t pos = slab_pos((uintptr_t)s->mem);

    s->pool = p;
    s->carved = 0;
    s->ncold = 0;
    s->cold_next = NULL;
    s->next = p->slabs;
    p->slabs = s;
    p->carving = s;
    memmove(g.by_addr + pos + 1, g.by_addr + pos,
            (g.nslabs - pos) * sizeof(*g.by_addr));
    g.by_addr[pos] = s;
    g.nslabs++;
    g.mapped_bytes += slab_bytes(p);
}

static int
slab_new(struct pool *p)
{
    size_t len = slab_bytes(p);
    struct slab *s;
    int err = reserve_slot();

    if (err) {
        return err;
    }
    s = ax__alloc(sizeof(*s) + 2 * sizeof(uint32_t) * p->per_slab);
    if (s == NULL) {
        return ax__fail(AX_ENOMEM, "stack slab metadata: out of memory");
    }
    s->mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (s->mem == MAP_FAILED) {
        err = ax__fail(AX_ENOMEM, "stack slab of %zu bytes: mmap: errno %d",
                       len, errno);
        goto out_free_slab;
    }
    err = install_guard(s->mem); /* stack 0's: it is carved now */
    if (err) {
        goto out_unmap;
    }
    clear_shadow(s->mem, len);
    slab_link(p, s);
    return 0;

out_unmap:
    munmap(s->mem, len);
out_free_slab:
    ax__free(s);
    return err;
}

/* Unmap s and free its metadata; the caller fixes the lists. */
static void
slab_unmap(struct slab *s)
{
    for (uint32_t i = s->carved; i-- > 0;) {
        /* Newest first: valgrind keeps its stacks newest first too. */
        VALGRIND_STACK_DEREGISTER(s->ids[i]);
    }
    clear_shadow(s->mem, slab_bytes(s->pool)); /* for what is mapped next
                                                  there (a ring) */
    munmap(s->mem, slab_bytes(s->pool));
    g.mapped_bytes -= slab_bytes(s->pool);
    ax__free(s);
}

static int
carve(struct pool *p, ax_stack *out)
{
    struct slab *s = p->carving;
    int err = s == NULL ? slab_new(p)
                        : install_guard(s->mem + (size_t)s->carved * p->stride);

    if (err) {
        return err;
    }
    s = p->carving;
    out->base = s->mem + (size_t)s->carved * p->stride + g.page;
    out->size = p->size;
    s->ids[s->carved] = VALGRIND_STACK_REGISTER(
        (char *)out->base, (char *)out->base + p->size - 1);
    if (++s->carved == p->per_slab) {
        p->carving = NULL;
    }
    p->nlive++;
    return 0;
}

static void
take_hot(struct pool *p, ax_stack *out)
{
    struct node *n = p->head;

    p->head = n->next;
    if (n->next != NULL) {
        n->next->prev = NULL;
    } else {
        p->tail = NULL;
    }
    p->nhot--;
    p->nlive++;
    out->base = base_of(p, n);
    out->size = p->size;
    unpoison(out->base, out->size);
}

static void
take_cold(struct pool *p, ax_stack *out)
{
    struct slab *s = p->cold;
    uint32_t i = cold_of(s)[--s->ncold];

    if (s->ncold == 0) {
        p->cold = s->cold_next;
    }
    p->ncold--;
    p->nlive++;
    out->base = s->mem + (size_t)i * p->stride + g.page;
    out->size = p->size;
    unpoison(out->base, out->size);
}

static void
put_cold(struct slab *s, uint32_t i)
{
    struct pool *p = s->pool;

    if (s->ncold == 0) {
        s->cold_next = p->cold;
        p->cold = s;
    }
    cold_of(s)[s->ncold++] = i;
    p->ncold++;
}

/* Round a requested size; 0 if it is too large. */
static size_t
usable_size(size_t size)
{
    if (size == 0) {
        size = AX_STACK_DEFAULT;
    }
    if (size < AX_STACK_MIN) {
        size = AX_STACK_MIN;
    }
    if (size > MAX_USABLE) {
        return 0;
    }
    return (size + g.page - 1) & ~(g.page - 1);
}

static struct pool *
pool_find(size_t size)
{
    for (struct pool *p = g.pools; p != NULL; p = p->next) {
        if (p->size == size) {
            return p;
        }
    }
    return NULL;
}

/* A stack from a new pool, which is kept only if that succeeds. */
static int
alloc_new_pool(size_t size, ax_stack *out)
{
    struct pool *p = ax__calloc(1, sizeof(*p));
    size_t n;
    int err;

    if (p == NULL) {
        return ax__fail(AX_ENOMEM, "stack pool: out of memory");
    }
    p->size = size;
    p->stride = size + g.page;
    n = SLAB_TARGET / p->stride;
    n = n < MIN_PER_SLAB ? MIN_PER_SLAB : n;
    p->per_slab = (uint32_t)(n > MAX_PER_SLAB ? MAX_PER_SLAB : n);
    err = carve(p, out);
    if (err) {
        ax__free(p);
        return err;
    }
    p->next = g.pools;
    g.pools = p;
    g.last = p;
    return 0;
}

static int
alloc_slow(size_t size, ax_stack *out)
{
    struct pool *p;

    if (g.page == 0) {
        g.page = (size_t)sysconf(_SC_PAGESIZE);
    }
    if (g.guard == GUARD_UNDECIDED) {
        decide_guard_mode();
    }
    size = usable_size(size);
    if (size == 0) {
        return ax__fail(AX_ENOMEM, "stack size too large");
    }
    p = pool_find(size);
    if (p == NULL) {
        return alloc_new_pool(size, out);
    }
    g.last = p;
    if (p->head != NULL) {
        take_hot(p, out);
        return 0;
    }
    if (p->cold != NULL) {
        take_cold(p, out);
        return 0;
    }
    return carve(p, out);
}

int
ax__stack_alloc(size_t size, ax_stack *out)
{
    struct pool *p = g.last;

    AX_REQUIRE(out != NULL, "ax__stack_alloc: out is NULL");
    if (size == 0) {
        size = AX_STACK_DEFAULT;
    }
    /* The fast path: a reused stack of the size used last. */
    if (p == NULL || p->size != size || p->head == NULL) {
        return alloc_slow(size, out);
    }
    take_hot(p, out);
    return 0;
}

static int
cmp_addr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (char *const *)a;
    uintptr_t y = (uintptr_t) * (char *const *)b;

    return (x > y) - (x < y);
}

/* Give back the pages of bases[0..n) (sorted, same slab s). */
static void
trim_run(struct slab *s, char **bases, size_t n)
{
    size_t size = s->pool->size;

    /* One call for n neighbours; their guard markers survive it. */
    if (madvise(bases[0], (size_t)(bases[n - 1] - bases[0]) + size,
                MADV_DONTNEED) == 0) {
        g.trimmed += n;
    }
    for (size_t i = 0; i < n; i++) {
        put_cold(s, index_of(s, bases[i]));
    }
}

/* Trim the TRIM_BATCH coldest hot stacks of p. */
static void
trim(struct pool *p)
{
    char *bases[TRIM_BATCH];
    size_t n = 0, i, j;
    uintptr_t end;

    while (n < TRIM_BATCH && p->tail != NULL) {
        struct node *t = p->tail;

        p->tail = t->prev;
        bases[n++] = base_of(p, t);
    }
    if (p->tail != NULL) {
        p->tail->next = NULL;
    } else {
        p->head = NULL;
    }
    p->nhot -= n;
    qsort(bases, n, sizeof(*bases), cmp_addr);
    for (i = 0; i < n; i = j) {
        struct slab *s = slab_of(bases[i]);

        /* A run of neighbours in one slab. */
        end = (uintptr_t)s->mem + slab_bytes(p);
        for (j = i + 1; j < n && bases[j] == bases[j - 1] + p->stride &&
                        (uintptr_t)bases[j] < end;
             j++) {
        }
        trim_run(s, bases + i, j - i);
    }
}

void
ax__stack_free(const ax_stack *s)
{
    struct pool *p = g.last;
    struct node *n;

    if (s == NULL || s->base == NULL) {
        return;
    }
    if (p == NULL || p->size != s->size) {
        p = pool_find(s->size);
        AX_REQUIRE(p != NULL, "ax__stack_free: no pool of %zu-byte stacks",
                   s->size);
        g.last = p;
    }
    AX_REQUIRE(p->nlive > 0, "ax__stack_free: no stack of this size is live");
    n = node_of(p, s->base);
    unpoison(n, sizeof(*n));
    n->prev = NULL;
    n->next = p->head;
    if (p->head != NULL) {
        p->head->prev = n;
    } else {
        p->tail = n;
    }
    p->head = n;
    p->nhot++;
    p->nlive--;
    if (p->nhot >= TRIM_BATCH + (p->nlive > TRIM_KEEP ? p->nlive : TRIM_KEEP)) {
        trim(p);
    }
}

void
ax__stack_stats(ax_stack_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (struct pool *p = g.pools; p != NULL; p = p->next) {
        out->live += p->nlive;
        out->free += p->nhot + p->ncold;
    }
    out->slabs = g.nslabs;
    out->mapped_bytes = g.mapped_bytes;
    out->trimmed = g.trimmed;
    out->guard_madvise = g.guard == GUARD_MADVISE;
    out->guard_mprotect = g.guard == GUARD_MPROTECT;
}

/* Make ks the only slab of its pool, keep its one live stack. */
static void
keep_slab(struct slab *ks, const ax_stack *keep)
{
    struct pool *p = ks->pool;
    char *base = keep->base;
    char *used_end = ks->mem + (size_t)ks->carved * p->stride;
    uint32_t k = index_of(ks, base);

    p->head = NULL;
    p->tail = NULL;
    p->nhot = 0;
    p->ncold = 0;
    p->nlive = 1;
    p->slabs = ks;
    p->cold = NULL;
    p->next = NULL;
    ks->next = NULL;
    ks->ncold = 0;
    /* The other carved stacks keep their guards; they become cold. */
    for (uint32_t i = ks->carved; i-- > 0;) {
        if (i != k) {
            put_cold(ks, i);
        }
    }
    p->carving = ks->carved < p->per_slab ? ks : NULL;
    if (base - g.page > ks->mem) {
        madvise(ks->mem, (size_t)(base - g.page - ks->mem), MADV_DONTNEED);
    }
    if (base + p->size < used_end) {
        madvise(base + p->size, (size_t)(used_end - base - p->size),
                MADV_DONTNEED);
    }
    g.pools = p;
    g.by_addr[0] = ks;
    g.nslabs = 1;
    g.mapped_bytes = slab_bytes(p);
}

void
ax__stack_forget_all(const ax_stack *keep)
{
    struct slab *ks = NULL;
    struct pool *p, *pn;
    struct slab *s, *sn;

    if (keep != NULL && keep->base != NULL) {
        ks = slab_of(keep->base);
        AX_REQUIRE(ks != NULL && ks->pool->size == keep->size,
                   "ax__stack_forget_all: keep is not a stack of the pool");
    }
    for (p = g.pools; p != NULL; p = pn) {
        pn = p->next;
        for (s = p->slabs; s != NULL; s = sn) {
            sn = s->next;
            if (s != ks) {
                slab_unmap(s);
            }
        }
        if (ks == NULL || ks->pool != p) {
            ax__free(p);
        }
    }
    g.last = NULL;
    if (ks != NULL) {
        keep_slab(ks, keep);
        return;
    }
    /* Nothing left: back to the first-use state. */
    ax__free(g.by_addr);
    memset(&g, 0, sizeof(g));
}
