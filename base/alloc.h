/*
 * base/alloc.h - the one allocator every module uses (internal).
 *
 * Going through one hook lets the tests fail the Nth allocation and check
 * that every failure path leaves nothing behind (SQLite's fault injection).
 */
#ifndef AXON_BASE_ALLOC_H
#define AXON_BASE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

#include <axon/alloc.h>

/* Like malloc/realloc/calloc/free; return NULL on failure (or injection). */
void *ax__alloc(size_t size);
void *ax__realloc(void *p, size_t size);
void *ax__calloc(size_t n, size_t size);
void ax__free(void *p);

/* ax__free_sized - ax__free of a block of at least size bytes (what was
 * asked of ax__alloc): a large one may be kept for reuse (ax__big_cache). */
void ax__free_sized(void *p, size_t size);

/*
 * ax__big_cache - on the calling thread, keep large blocks freed with
 * ax__free_sized for reuse by ax__alloc (on), or stop and free the blocks kept
 * (off). The runtime turns it on when it starts (ax_init, and in a forked
 * child) and off in ax_fini. Returns whether it is on: never under ASan
 * or valgrind, which must see every free to report misuse exactly. A
 * block freed twice while kept aborts with a message.
 */
bool ax__big_cache(bool on);

/*
 * ax__forsake - in a forked child, let go of memory inherited from the
 * parent (the root of a table, a list) without freeing it: freeing writes
 * over every page the blocks sit on, which the child then owns a copy of
 * (copy-on-write), so an idle process actor would cost as much memory as
 * its parent. p stays reachable from a static table (up to 256 roots,
 * through the generations of nested process actors), so a leak checker
 * run by an exit() in the child does not report what was never lost.
 */
void ax__forsake(void *p);

/*
 * ax__own_heap - from now on, this process's allocations through this
 * file come from pages of its own (a fresh reserved mapping), not from the
 * heap it inherited: for a child of the fork server, whose every write to
 * an inherited page copies the page. Blocks up to 64 KiB; larger ones
 * stay malloc's. Call it before any allocation that must go there.
 * Returns 0 or AX_ENOMEM.
 */
int ax__own_heap(void);

/*
 * ax__alloc_fail_after - make the allocation n calls from now fail (n = 0:
 * the very next one) and every one after it, until reset with n < 0.
 * Returns how many allocations were made since the previous call, so a test
 * can first count the allocations of an operation and then fail each.
 */
long ax__alloc_fail_after(long n);

#endif /* AXON_BASE_ALLOC_H */
