/*
 * base/alloc.c - the allocator hook, with fault injection for tests.
 */
#include "base/alloc.h"

#include <stdlib.h>

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

void *
ax__alloc(size_t size)
{
    return should_fail() ? NULL : malloc(size);
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

void
ax_free(void *p)
{
    free(p);
}
