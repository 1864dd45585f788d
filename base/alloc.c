/*
 * base/alloc.c - the allocator hook, with fault injection for tests, and a
 * small cache of large blocks for the runtime's thread.
 */
#include "base/alloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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
            free(big.p[--big.n]);
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
    return malloc(size);
}

void *
ax__realloc(void *p, size_t size)
{
    return should_fail() ? NULL : realloc(p, size);
}

void *
ax__calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : calloc(n, size);
}

void
ax__free(void *p)
{
    free(p);
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
        free(p);
    }
}

void
ax_free(void *p)
{
    free(p);
}
