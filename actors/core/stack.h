/*
 * actors/core/stack.h - coroutine stacks: pooled, in slabs, with guard pages
 * (internal).
 *
 * A million actors must fit in one process, and vm.max_map_count is 65,530:
 * one mapping per stack does not scale, and neither does one mprotect'ed
 * guard per stack (each splits the mapping in two). So stacks are carved
 * from large slabs (one mapping each) and each stack's guard page is
 * installed with madvise(MADV_GUARD_INSTALL) (Linux 6.13+), which marks
 * page table entries without splitting the mapping. On older kernels the
 * guard falls back to mprotect(PROT_NONE), which splits the slab's mapping
 * at every guard: two mappings per stack, so at most about 30,000 stacks
 * (65,530 / 2, less the process's other mappings) before ax__stack_alloc
 * fails with AX_ENOMEM. AXON_STACK_GUARD=0 in the environment turns guards
 * off (no limit but the memory); AXON_STACK_GUARD=mprotect forces the
 * fallback (for its tests). The environment is read at the first alloc.
 *
 * A slab is one MAP_NORESERVE mapping of about 32 MiB (481 stacks of
 * 64 KiB, between 4 and 1024 stacks): a million 64 KiB stacks take about
 * 2,100 slabs. A stack's guard is installed when it is first carved; a
 * reused stack costs no system call. Slabs stay mapped until
 * ax__stack_forget_all; their free stacks' pages are trimmed instead.
 *
 * Layout of one stack: [guard page][usable bytes ...] with the usable part
 * growing down from its top; an overflow hits the guard: SIGSEGV.
 *
 * Freed stacks go back to a per-size free list and are reused first (their
 * pages are hot); free stacks beyond a threshold are returned to the
 * system with MADV_DONTNEED: when a pool's untrimmed free stacks exceed
 * max(1024, its live stacks) by 256, its 256 least recently freed ones are
 * trimmed (the guards survive it).
 *
 * Under valgrind each stack is registered (VALGRIND_STACK_REGISTER) when
 * carved and deregistered when its slab is unmapped; under ASan a reused
 * stack is unpoisoned. Not thread-safe: one runtime per process, one
 * thread, calls these.
 */
#ifndef AXON_ACTORS_STACK_H
#define AXON_ACTORS_STACK_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ax_stack {
    void *base;  /* lowest usable address (the guard page is below it) */
    size_t size; /* usable bytes, a multiple of the page size */
} ax_stack;

/*
 * Counters of the stack allocator, for tests and benchmarks. Neither guard
 * flag set: guards are off, or no stack was allocated yet.
 */
typedef struct ax_stack_stats {
    size_t slabs;        /* slabs mapped now (one mapping each) */
    size_t mapped_bytes; /* bytes mapped in all slabs */
    size_t live;         /* stacks handed out and not freed */
    size_t free;         /* stacks in the free lists */
    size_t trimmed;      /* free stacks returned to the system so far */
    bool guard_madvise;  /* guards by MADV_GUARD_INSTALL */
    bool guard_mprotect; /* guards by mprotect (fallback) */
} ax_stack_stats;

/* Default usable size of a coroutine stack. */
#define AX_STACK_DEFAULT ((size_t)64 << 10)
/* Smallest usable size accepted (rounded up to pages). */
#define AX_STACK_MIN ((size_t)16 << 10)

/*
 * ax__stack_alloc - a stack of at least size usable bytes (rounded up to
 * whole pages; 0 means AX_STACK_DEFAULT; below AX_STACK_MIN is raised).
 * Returns 0, or AX_ENOMEM (no memory, or the mapping limit is reached).
 */
int ax__stack_alloc(size_t size, ax_stack *out);

/*
 * ax__stack_free - give a stack back to the pool (s or s->base NULL: no-op).
 * It writes the free list's link into the stack's top bytes: never free
 * the stack you are running on.
 */
void ax__stack_free(const ax_stack *s);

/* ax__stack_stats - a snapshot of the counters. */
void ax__stack_stats(ax_stack_stats *out);

/*
 * ax__stack_forget_all - after fork, in the child: unmap every slab except
 * the one holding keep (may be NULL), whose stack stays valid, and reset
 * the pool. Stacks of inherited coroutines are released, so no garbage
 * accumulates per process generation. keep stays live (free it with
 * ax__stack_free); the other carved stacks of its slab become free stacks
 * with their pages returned. With keep NULL every slab and all metadata
 * are released and the allocator is back to its first-use state (the
 * guard mode is decided again): also the way to release everything when
 * no stack is live.
 */
void ax__stack_forget_all(const ax_stack *keep);

#endif /* AXON_ACTORS_STACK_H */
