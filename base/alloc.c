/*
 * base/alloc.c - the allocator hook, with fault injection for tests, and a
 * small cache of large blocks for the runtime's thread.
 */
#include "base/alloc.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/error.h"
#include "base/sanitizers.h"

/* Allocations left before injected failures start; < 0 means never. */
static long fail_countdown = -1;
/* Allocations made since the last ax__alloc_fail_after call. */
static long alloc_count;

static int
should_fail(void)
{
    alloc_count++;
    if (fail_countdown < 0) {
        return 0;
    }
    if (fail_countdown == 0) {
        return 1;
    }
    fail_countdown--;
    return 0;
}

long
ax__alloc_fail_after(long n)
{
    long made = alloc_count;

    alloc_count = 0;
    fail_countdown = n;
    return made;
}

/*
 * A process's own heap (ax__own_heap): the allocations of a child of the
 * fork server come from fresh pages of its own, side by side, instead of
 * from free blocks scattered over the heap it inherited, each of which
 * would make a whole inherited page its own copy. Blocks of 16 B .. 64 KiB
 * in power-of-two classes, each with a 16-byte header that names its
 * class, carved from a large reserved mapping and kept on a free list per
 * class once freed; larger blocks, and any block once the mapping is
 * used up, are malloc's. A lock makes ax_free safe from other threads.
 * ASan and valgrind are told of each block, so they still see a use after
 * free or an overrun into a free block.
 */
#if defined(AX_HAVE_VALGRIND_H) && __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define VG_ALLOC(p, n, zero) VALGRIND_MALLOCLIKE_BLOCK(p, n, 0, zero)
#define VG_FREE(p) VALGRIND_FREELIKE_BLOCK(p, 0)
#define VG_RESIZE(p, o, n) VALGRIND_RESIZEINPLACE_BLOCK(p, o, n, 0)
#define VG_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#define VG_NOACCESS(p, n) VALGRIND_MAKE_MEM_NOACCESS(p, n)
#else
#define VG_ALLOC(p, n, zero) ((void)0)
#define VG_FREE(p) ((void)0)
#define VG_RESIZE(p, o, n) ((void)0)
#define VG_DEFINED(p, n) ((void)0)
#define VG_NOACCESS(p, n) ((void)0)
#endif
#if AX_ASAN
#define AS_OPEN(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#define AS_SHUT(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#else
#define AS_OPEN(p, n) ((void)0)
#define AS_SHUT(p, n) ((void)0)
#endif
/* What the tools are told: a block is given / taken back; the free-list
 * link in a free block is read or written by the heap itself. */
#define AX_MEM_ALLOCATED(p, n, zero)                                           \
    do {                                                                       \
        AS_OPEN(p, n);                                                         \
        VG_ALLOC(p, n, zero);                                                  \
    } while (0)
#define AX_MEM_FREED(p, n)                                                     \
    do {                                                                       \
        AS_SHUT(p, n);                                                         \
        VG_FREE(p);                                                            \
    } while (0)
#define AX_MEM_RESIZED(p, o, n)                                                \
    do {                                                                       \
        AS_OPEN(p, n);                                                         \
        VG_RESIZE(p, o, n);                                                    \
    } while (0)
#define AX_MEM_LINK_OPEN(p)                                                    \
    do {                                                                       \
        AS_OPEN(p, sizeof(void *));                                            \
        VG_DEFINED(p, sizeof(void *));                                         \
    } while (0)
#define AX_MEM_LINK_SHUT(p)                                                    \
    do {                                                                       \
        AS_SHUT(p, sizeof(void *));                                            \
        VG_NOACCESS(p, sizeof(void *));                                        \
    } while (0)

#define OWN_RESERVE ((size_t)1 << 34) /* address space only */
#define OWN_CLASSES 17                /* 16 B << 0 .. 16 B << 16 = 1 MiB */
#define OWN_HDR 16

/* Classes from here on (4 KiB blocks) are carved from the upper half of
 * the mapping: the small blocks a process actor writes at its start pack
 * into a page or two, not between its buffers and tables. */
#define OWN_PAGE_CLASS 8

static struct {
    char *base, *end;
    char *bump[2]; /* small classes, then page-sized and larger ones */
    char *limit[2];
    void *free[OWN_CLASSES];
    atomic_flag lock;
} own = {.lock = ATOMIC_FLAG_INIT};

static bool
own_has(const void *p)
{
    return own.base != NULL && (const char *)p >= own.base &&
           (const char *)p < own.end;
}

static size_t
own_class_size(int c)
{
    return (size_t)OWN_HDR << c;
}

static void
own_lock(void)
{
    while (atomic_flag_test_and_set_explicit(&own.lock, memory_order_acquire)) {
    }
}

static void
own_unlock(void)
{
    atomic_flag_clear_explicit(&own.lock, memory_order_release);
}

/* A block of size bytes (zeroed if zero), or NULL: not ours to give. */
static void *
own_alloc(size_t size, bool zero)
{
    size_t need = size + OWN_HDR;
    bool fresh = false;
    char *h = NULL;
    int c = 0, area;

    if (own.base == NULL || need > own_class_size(OWN_CLASSES - 1)) {
        return NULL;
    }
    while (own_class_size(c) < need) {
        c++;
    }
    area = c >= OWN_PAGE_CLASS;
    own_lock();
    if ((h = own.free[c]) != NULL) {
        AX_MEM_LINK_OPEN(h + OWN_HDR);
        own.free[c] = *(void **)(h + OWN_HDR);
    } else if ((size_t)(own.limit[area] - own.bump[area]) >=
               own_class_size(c)) {
        h = own.bump[area]; /* never touched: reads as zeros */
        own.bump[area] += own_class_size(c);
        fresh = true;
    }
    own_unlock();
    if (h == NULL) {
        return NULL;
    }
    AX_MEM_ALLOCATED(h + OWN_HDR, size, fresh || zero);
    *(int *)h = c;
    *(size_t *)(h + 8) = size; /* what was asked, for realloc */
    if (zero && !fresh) {
        memset(h + OWN_HDR, 0, size);
    }
    return h + OWN_HDR;
}

static size_t
own_usable(const void *p)
{
    return own_class_size(*(const int *)((const char *)p - OWN_HDR)) - OWN_HDR;
}

static size_t
own_asked(const void *p)
{
    return *(const size_t *)((const char *)p - OWN_HDR + 8);
}

static void
own_free(void *p)
{
    char *h = (char *)p - OWN_HDR;
    int c = *(int *)h;

    AX_MEM_FREED(p, own_asked(p));
    AX_MEM_LINK_OPEN(p);
    own_lock();
    *(void **)p = own.free[c];
    own.free[c] = h;
    own_unlock();
    AX_MEM_LINK_SHUT(p);
}

/* free(3), or the own heap's free, as p came. */
static void
any_free(void *p)
{
    if (own_has(p)) {
        own_free(p);
    } else {
        free(p);
    }
}

int
ax__own_heap(void)
{
    /* Valgrind walks a mapping's shadow at each fork and exit: 16 GiB
     * took it 20 s a process. */
    size_t size = RUNNING_ON_VALGRIND ? OWN_RESERVE >> 6 : OWN_RESERVE;
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    _Static_assert(((size_t)OWN_HDR << OWN_PAGE_CLASS) == 4096, "a page");
    if (m == MAP_FAILED) {
        return AX_ENOMEM;
    }
    own.base = own.bump[0] = m;
    own.limit[0] = own.bump[1] = own.base + size / 2;
    own.end = own.limit[1] = own.base + size;
    memset(own.free, 0, sizeof(own.free));
    return 0;
}

/*
 * Large blocks. A stream of large messages allocates and frees a 64 KiB
 * block per message on both sides (the packed message, the body read
 * from the pipe); at the top of glibc's heap each free gave the memory
 * back (trim) and the next allocation faulted it in again, zeroed: a
 * fifth of proc_stream_64k's time. Blocks of BIG_MIN..BIG_MAX bytes freed
 * on a thread that enabled the cache (the runtime's) are kept instead, a
 * few at a time, and reused for an allocation of at least half their
 * size. Only ax__free_sized keeps blocks (the callers that free large
 * blocks know their size; a plain ax__free costs nothing more than
 * free(3)). The blocks stay plain malloc blocks: ax_free/free(3) of one
 * taken out of the cache is fine.
 */
#define BIG_MIN (32u * 1024u)
#define BIG_MAX (4u * 1024u * 1024u)
#define BIG_SLOTS 8
#define BIG_KEEP (4u * 1024u * 1024u)

typedef struct big_cache {
    bool on;
    int n;
    size_t bytes;
    void *p[BIG_SLOTS];
    size_t cap[BIG_SLOTS];
} big_cache;

static _Thread_local big_cache big;

static void *
big_take(size_t size)
{
    /* The most recently freed first (the slots stay in the order of the
     * frees): its lines may still be in the CPU's cache. */
    for (int i = big.n - 1; i >= 0; i--) {
        if (big.cap[i] >= size && big.cap[i] / 2 <= size) {
            void *p = big.p[i];

            big.bytes -= big.cap[i];
            big.n--;
            memmove(&big.p[i], &big.p[i + 1],
                    (size_t)(big.n - i) * sizeof(big.p[0]));
            memmove(&big.cap[i], &big.cap[i + 1],
                    (size_t)(big.n - i) * sizeof(big.cap[0]));
            return p;
        }
    }
    return NULL;
}

static bool
big_keep(void *p, size_t cap)
{
    if (cap < BIG_MIN || cap > BIG_MAX || big.n == BIG_SLOTS ||
        big.bytes + cap > BIG_KEEP) {
        return false;
    }
    for (int i = 0; i < big.n; i++) {
        AX_REQUIRE(big.p[i] != p, "ax__free: %p freed twice", p);
    }
    big.p[big.n] = p;
    big.cap[big.n++] = cap;
    big.bytes += cap;
    return true;
}

bool
ax__big_cache(bool on)
{
    /* Under ASan and memcheck the cache stays off: they then see every
     * free and every reuse, and report a double free or a use after free
     * exactly. */
    if (AX_ASAN || RUNNING_ON_VALGRIND) {
        on = false;
    }
    /* Turned on again (a forked child's new runtime): the blocks the
     * parent kept serve the child as well; freeing them here would only
     * copy their pages. */
    if (!on) {
        while (big.n > 0) {
            any_free(big.p[--big.n]);
        }
        big.bytes = 0;
    }
    big.on = on;
    return on;
}

void *
ax__alloc(size_t size)
{
    void *p;

    if (should_fail()) {
        return NULL;
    }
    if (big.on && size >= BIG_MIN / 2 && (p = big_take(size)) != NULL) {
        return p;
    }
    if ((p = own_alloc(size, false)) != NULL) {
        return p;
    }
    return malloc(size);
}

void *
ax__realloc(void *p, size_t size)
{
    void *n;

    if (should_fail()) {
        return NULL;
    }
    if (p == NULL && (n = own_alloc(size, false)) != NULL) {
        return n;
    }
    if (p == NULL || !own_has(p)) {
        return realloc(p, size);
    }
    if (size <= own_usable(p)) {
        AX_MEM_RESIZED(p, own_asked(p), size);
        *(size_t *)((char *)p - OWN_HDR + 8) = size;
        return p;
    }
    if ((n = own_alloc(size, false)) == NULL && (n = malloc(size)) == NULL) {
        return NULL;
    }
    memcpy(n, p, own_asked(p));
    own_free(p);
    return n;
}

void *
ax__calloc(size_t n, size_t size)
{
    void *p;

    if (should_fail()) {
        return NULL;
    }
    if (size != 0 && n > SIZE_MAX / size) {
        return NULL;
    }
    if ((p = own_alloc(n * size, true)) != NULL) {
        return p;
    }
    return calloc(n, size);
}

void
ax__free(void *p)
{
    any_free(p);
}

/* Roots let go of in forked children: held, never read. */
static void *forsaken[256];
static size_t nforsaken;

void
ax__forsake(void *p)
{
    if (p != NULL && nforsaken < sizeof(forsaken) / sizeof(forsaken[0])) {
        forsaken[nforsaken++] = p;
    }
}

void
ax__free_sized(void *p, size_t size)
{
    if (p != NULL && !(big.on && big_keep(p, size))) {
        any_free(p);
    }
}

void
ax_free(void *p)
{
    any_free(p);
}
