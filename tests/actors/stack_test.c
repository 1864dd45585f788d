/*
 * tests/actors/stack_test.c - the coroutine stack pool: reuse, sizes,
 * guard pages, a million stacks, trimming, stats, forget_all after fork,
 * allocation failures, and the guard modes chosen by AXON_STACK_GUARD.
 *
 * Forked children report through their exit status; a child that must
 * fault writes with SIGSEGV at its default action and no core dump.
 */
#include "actors/core/stack.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/sanitizers.h"
#include "support/testutil.h"

#define KIB ((size_t)1 << 10)
#define SEGV_EXIT (128 + SIGSEGV)

static size_t page;

static ax_stack_stats
stats(void)
{
    ax_stack_stats st;

    ax__stack_stats(&st);
    return st;
}

static int
setup(void **state)
{
    return t_setup(state);
}

/* Every test frees its stacks; the pool goes back to its first-use state. */
static int
teardown(void **state)
{
    size_t live = stats().live;

    /* Reset even after a failed test, so that the next one starts clean. */
    ax__stack_forget_all(NULL);
    assert_int_equal(live, 0);
    assert_int_equal(stats().slabs, 0);
    assert_int_equal(stats().mapped_bytes, 0);
    return t_teardown(state);
}

static int
count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    int c, n = 0;

    if (f == NULL) {
        return -1;
    }
    while ((c = getc(f)) != EOF) {
        n += c == '\n';
    }
    fclose(f);
    return n;
}

/*
 * No new mapping since before. valgrind and ASan's allocator map memory
 * of their own in the process: a few more are tolerated there.
 */
static int
maps_unchanged(int before)
{
    return count_maps() <= before + (RUNNING_ON_VALGRIND || AX_ASAN ? 8 : 0);
}

/*
 * How a child that writes one byte at addr ends: 0, or 128 + the signal.
 * No cmocka inside, so children may call it too.
 */
static int
write_in_child(char *addr)
{
    struct rlimit no_core = {0, 0};
    int status;
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        setrlimit(RLIMIT_CORE, &no_core);
        signal(SIGSEGV, SIG_DFL); /* not ASan's report and exit(1) */
        *(volatile char *)addr = 1;
        _exit(0);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/*
 * Allocate n default stacks, each touched at its top as a coroutine would.
 * Returns how many were allocated.
 */
static size_t
alloc_touched(ax_stack *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ax__stack_alloc(0, &s[i]) != 0) {
            return i;
        }
        ((volatile char *)s[i].base)[s[i].size - 1] = 1;
    }
    return n;
}

static void
free_all(ax_stack *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ax__stack_free(&s[i]);
    }
}

/* Stacks per slab of the default size (allocates and frees one). */
static size_t
default_per_slab(void)
{
    ax_stack s;
    size_t per;

    assert_int_equal(ax__stack_alloc(0, &s), 0);
    per = stats().mapped_bytes / (s.size + page);
    ax__stack_free(&s);
    return per;
}

static void
test_stack_freed_stack_is_reused_first(void **state)
{
    ax_stack a, b, c, x, y, z;

    (void)state;
    assert_int_equal(ax__stack_alloc(0, &a), 0);
    assert_int_equal(ax__stack_alloc(0, &b), 0);
    assert_int_equal(ax__stack_alloc(0, &c), 0);
    assert_ptr_not_equal(a.base, b.base);
    ax__stack_free(&b);
    ax__stack_free(&c);
    /* LIFO: the last freed (hottest) comes back first. */
    assert_int_equal(ax__stack_alloc(0, &x), 0);
    assert_int_equal(ax__stack_alloc(0, &y), 0);
    assert_int_equal(ax__stack_alloc(0, &z), 0);
    assert_ptr_equal(x.base, c.base);
    assert_ptr_equal(y.base, b.base);
    assert_ptr_not_equal(z.base, a.base);
    assert_ptr_not_equal(z.base, b.base);
    assert_ptr_not_equal(z.base, c.base);
    ax__stack_free(NULL); /* a no-op */
    ax__stack_free(&a);
    ax__stack_free(&x);
    ax__stack_free(&y);
    ax__stack_free(&z);
    assert_int_equal(stats().free, 4);
}

static void
test_stack_sizes_round_up_to_pages(void **state)
{
    static const size_t ask[] = {0, 1, AX_STACK_MIN + 1, 100000, 64 * KIB};
    size_t want[] = {AX_STACK_DEFAULT, AX_STACK_MIN, AX_STACK_MIN + page,
                     (100000 + page - 1) / page * page, 64 * KIB};
    ax_stack s[5], again;

    (void)state;
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(ax__stack_alloc(ask[i], &s[i]), 0);
        assert_int_equal(s[i].size, want[i]);
        assert_int_equal((uintptr_t)s[i].base % page, 0);
    }
    /* 0 and 64 KiB share a pool; the three other sizes have their own. */
    assert_int_equal(stats().slabs, 4);
    /* A freed small stack is not handed out for another size. */
    ax__stack_free(&s[1]);
    assert_int_equal(ax__stack_alloc(0, &again), 0);
    assert_ptr_not_equal(again.base, s[1].base);
    assert_int_equal(again.size, AX_STACK_DEFAULT);
    ax__stack_free(&again);
    assert_int_equal(ax__stack_alloc(AX_STACK_MIN, &again), 0);
    assert_ptr_equal(again.base, s[1].base);
    ax__stack_free(&again);
    for (size_t i = 0; i < 5; i++) {
        if (i != 1) {
            ax__stack_free(&s[i]);
        }
    }
}

static void
test_stack_usable_memory_is_writable_end_to_end(void **state)
{
    static const size_t sizes[] = {AX_STACK_MIN, AX_STACK_DEFAULT, 1 << 20};
    ax_stack a, b;

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        unsigned char *pa, *pb;

        assert_int_equal(ax__stack_alloc(sizes[i], &a), 0);
        assert_int_equal(ax__stack_alloc(sizes[i], &b), 0);
        pa = a.base;
        pb = b.base;
        memset(pa, 0xa5, a.size);
        memset(pb, 0x5a, b.size);
        /* Neighbours in a slab do not overlap. */
        assert_int_equal(pa[0], 0xa5);
        assert_int_equal(pa[a.size - 1], 0xa5);
        assert_int_equal(pb[0], 0x5a);
        assert_int_equal(pb[b.size - 1], 0x5a);
        ax__stack_free(&a);
        ax__stack_free(&b);
    }
}

static void
test_stack_write_below_base_faults(void **state)
{
    ax_stack a, b, again;

    (void)state;
    assert_int_equal(ax__stack_alloc(0, &a), 0);
    assert_int_equal(ax__stack_alloc(0, &b), 0);
    assert_true(stats().guard_madvise || stats().guard_mprotect);
    for (int i = 0; i < 2; i++) {
        char *base = i == 0 ? a.base : b.base;

        assert_int_equal(write_in_child(base - 1), SEGV_EXIT);
        assert_int_equal(write_in_child(base), 0);
        assert_int_equal(write_in_child(base + a.size - 1), 0);
    }
    /* A reused stack keeps its guard. */
    ax__stack_free(&b);
    assert_int_equal(ax__stack_alloc(0, &again), 0);
    assert_ptr_equal(again.base, b.base);
    assert_int_equal(write_in_child((char *)again.base - 1), SEGV_EXIT);
    ax__stack_free(&again);
    ax__stack_free(&a);
}

static void
test_stack_few_free_stacks_are_not_trimmed(void **state)
{
    enum { N = 1000 };
    static ax_stack s[N];

    (void)state;
    assert_int_equal(alloc_touched(s, N), N);
    free_all(s, N);
    assert_int_equal(stats().free, N);
    assert_int_equal(stats().trimmed, 0);
}

static void
test_stack_trimmed_stack_is_zeroed_and_keeps_its_guard(void **state)
{
    enum { N = 3000 };
    static ax_stack s[N];
    ax_stack_stats st;
    size_t slabs;
    char *last;

    (void)state;
    assert_int_equal(alloc_touched(s, N), N);
    slabs = stats().slabs;
    free_all(s, N);
    st = stats();
    /* 1024 + up to a batch of 256 stay hot; the rest are trimmed. */
    assert_int_equal(st.free, N);
    assert_in_range(st.trimmed, N - 1024 - 256, N - 1024);
    /* All come back without a new slab; the last ones were trimmed. */
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(ax__stack_alloc(0, &s[i]), 0);
    }
    assert_int_equal(stats().slabs, slabs);
    last = s[N - 1].base;
    assert_int_equal(last[s[N - 1].size - 1], 0); /* MADV_DONTNEED'd */
    assert_int_equal(write_in_child(last - 1), SEGV_EXIT);
    assert_int_equal(write_in_child(last), 0);
    free_all(s, N);
}

static void
test_stack_stats_count_slabs_live_and_free(void **state)
{
    ax_stack_stats st = stats();
    size_t per, stride = AX_STACK_DEFAULT + page;
    ax_stack *s;

    (void)state;
    /* Before the first alloc: nothing, and no guard mode decided. */
    assert_int_equal(st.slabs + st.mapped_bytes + st.live + st.free, 0);
    assert_false(st.guard_madvise || st.guard_mprotect);
    per = default_per_slab();
    assert_in_range(per, 4, 1024);
    assert_in_range(per * stride, 16 << 20, 64 << 20);
    s = calloc(per + 1, sizeof(*s));
    assert_non_null(s);
    for (size_t i = 0; i < per; i++) {
        assert_int_equal(ax__stack_alloc(0, &s[i]), 0);
    }
    st = stats();
    assert_int_equal(st.slabs, 1);
    assert_int_equal(st.mapped_bytes, per * stride);
    assert_int_equal(st.live, per);
    assert_int_equal(st.free, 0);
    assert_true(st.guard_madvise != st.guard_mprotect);
    assert_int_equal(ax__stack_alloc(0, &s[per]), 0); /* slab 2 */
    assert_int_equal(stats().slabs, 2);
    assert_int_equal(stats().mapped_bytes, 2 * per * stride);
    free_all(s, 10);
    st = stats();
    assert_int_equal(st.live, per + 1 - 10);
    assert_int_equal(st.free, 10);
    free_all(s + 10, per + 1 - 10);
    assert_int_equal(stats().live, 0);
    assert_int_equal(stats().free, per + 1);
    free(s);
}

static void
test_stack_reuse_is_fast(void **state)
{
    long n = RUNNING_ON_VALGRIND ? 100000 : AX_ASAN ? 1000000 : 10000000;
    ax_stack first, s;
    long moved = 0;
    uint64_t t0, t1;
    int maps;

    (void)state;
    assert_int_equal(ax__stack_alloc(0, &first), 0);
    ax__stack_free(&first);
    maps = count_maps();
    t0 = t_now_ns();
    for (long i = 0; i < n; i++) {
        moved += ax__stack_alloc(0, &s) != 0 || s.base != first.base;
        ax__stack_free(&s);
    }
    t1 = t_now_ns();
    assert_int_equal(moved, 0);
    assert_true(maps_unchanged(maps));
    assert_int_equal(stats().slabs, 1);
    printf("stack: reused alloc+free pair: %.1f ns (%ld pairs)\n",
           (double)(t1 - t0) / (double)n, n);
}

/* Under ASan, a stack whose coroutine died mid-frame comes back clean. */
static void
test_stack_reused_stack_is_unpoisoned(void **state)
{
#if AX_ASAN
    ax_stack a, b;

    (void)state;
    assert_int_equal(ax__stack_alloc(0, &a), 0);
    ASAN_POISON_MEMORY_REGION((char *)a.base + 1000, 64); /* a dead frame */
    ax__stack_free(&a);
    assert_int_equal(ax__stack_alloc(0, &b), 0);
    assert_ptr_equal(b.base, a.base);
    assert_null(__asan_region_is_poisoned(b.base, b.size));
    ax__stack_free(&b);
#else
    (void)state;
    skip();
#endif
}

/*
 * A million live 64 KiB stacks, each touched at its top as a coroutine
 * would, fit in a few mappings. Under valgrind (slow, and it keeps its
 * registered stacks in a list) 20,000 are enough to show the same.
 */
static void
test_stack_million_stacks_fit_in_few_mappings(void **state)
{
    size_t n = RUNNING_ON_VALGRIND ? 20000 : 1000000;
    ax_stack *s = malloc(n * sizeof(*s));
    long rss0, rss1, rss2;
    uint64_t t0, t1, t2;
    int maps0, maps1;
    ax_stack_stats st;

    (void)state;
    assert_non_null(s);
    maps0 = count_maps();
    rss0 = t_rss_kib();
    t0 = t_now_ns();
    assert_int_equal(alloc_touched(s, n), n);
    t1 = t_now_ns();
    maps1 = count_maps();
    rss1 = t_rss_kib();
    st = stats();
    assert_int_equal(st.live, n);
    assert_true(maps1 - maps0 < 10000);
    assert_true(st.slabs < 10000);
    /* A page per stack (4 GiB), and under ASan a shadow page per touched
     * page too (each stack's shadow lies on its own page): 8 GiB. */
    assert_true(rss1 < (AX_ASAN ? 12L : 6L) << 20);
    free_all(s, n);
    t2 = t_now_ns();
    rss2 = t_rss_kib();
    st = stats();
    printf("stack: %zu stacks: %zu slabs, +%d maps, RSS %ld -> %ld -> %ld "
           "MiB, alloc+touch %.2f s, free %.2f s, %zu trimmed\n",
           n, st.slabs, maps1 - maps0, rss0 >> 10, rss1 >> 10, rss2 >> 10,
           (double)(t1 - t0) / 1e9, (double)(t2 - t1) / 1e9, st.trimmed);
    assert_int_equal(st.live, 0);
    assert_int_equal(st.free, n);
    assert_true(st.trimmed > 0);
    /* Most of what the stacks added is given back (under ASan, half of it
     * is the shadow of the touched pages, which ASan keeps: measured
     * 2026-12-06, RSS 24 -> 7,846 -> 3,955 MiB). */
    assert_true(rss1 - rss2 > (rss1 - rss0) / (AX_ASAN ? 3 : 2));
    free(s);
}

struct forget_arg {
    ax_stack keep;      /* survives forget_all */
    ax_stack other;     /* in another slab of the same pool */
    ax_stack neighbour; /* in keep's slab */
    ax_stack big;       /* in another pool */
};

static int
has_pattern(const ax_stack *s)
{
    const unsigned char *p = s->base;

    for (size_t i = 0; i < s->size; i += 512) {
        if (p[i] != (unsigned char)(i / 512)) {
            return 0;
        }
    }
    return p[s->size - 1] == 0x77;
}

static void
put_pattern(const ax_stack *s)
{
    unsigned char *p = s->base;

    for (size_t i = 0; i < s->size; i += 512) {
        p[i] = (unsigned char)(i / 512);
    }
    p[s->size - 1] = 0x77;
}

/* After forget_all the pool still works: two sizes, written end to end. */
static int
pool_still_works(void)
{
    ax_stack s[3];

    for (int i = 0; i < 3; i++) {
        if (ax__stack_alloc(i == 2 ? 2 * AX_STACK_DEFAULT : 0, &s[i]) != 0) {
            return 0;
        }
        memset(s[i].base, 0x11, s[i].size);
    }
    free_all(s, 3);
    return 1;
}

static int
child_forget_all(void *varg)
{
    struct forget_arg *a = varg;
    ax_stack_stats st;

    ax__stack_forget_all(&a->keep);
    CHILD_CHECK(has_pattern(&a->keep), 2);
    st = stats();
    CHILD_CHECK(st.slabs == 1 && st.live == 1 && st.free == 1, 3);
    /* The rest of keep's slab gave its pages back. */
    CHILD_CHECK(((char *)a->neighbour.base)[0] == 0, 4);
    CHILD_CHECK(write_in_child(a->other.base) == SEGV_EXIT, 5);
    CHILD_CHECK(write_in_child(a->big.base) == SEGV_EXIT, 6);
    CHILD_CHECK(write_in_child((char *)a->keep.base - 1) == SEGV_EXIT, 7);
    memset(a->keep.base, 0x22, a->keep.size);
    CHILD_CHECK(pool_still_works(), 8);
    ax__stack_free(&a->keep);
    st = stats();
    CHILD_CHECK(st.live == 0, 9);
    ax__stack_forget_all(NULL);
    CHILD_CHECK(stats().slabs == 0, 10);
    return 0;
}

/* keep in slab 2 of the default pool, other in slab 1, big elsewhere. */
static ax_stack *
fill_two_slabs(struct forget_arg *a, size_t *n)
{
    size_t per = default_per_slab();
    ax_stack *s = calloc(per + 2, sizeof(*s));

    assert_non_null(s);
    for (size_t i = 0; i < per + 2; i++) {
        assert_int_equal(ax__stack_alloc(0, &s[i]), 0);
    }
    assert_int_equal(ax__stack_alloc(2 * AX_STACK_DEFAULT, &a->big), 0);
    a->keep = s[per];
    a->neighbour = s[per + 1];
    a->other = s[0];
    put_pattern(&a->keep);
    memset(a->neighbour.base, 0x33, a->neighbour.size);
    *n = per + 2;
    return s;
}

static void
test_stack_forget_all_in_child_keeps_one_stack(void **state)
{
    struct forget_arg a;
    ax_stack *s;
    size_t n;

    (void)state;
    s = fill_two_slabs(&a, &n);
    assert_int_equal(stats().slabs, 3);
    assert_int_equal(t_wait(t_fork(child_forget_all, &a)), 0);
    /* The parent's stacks are untouched by the child. */
    assert_true(has_pattern(&a.keep));
    free_all(s, n);
    ax__stack_free(&a.big);
    free(s);
}

/* In this process: after forget_all and freeing keep, no metadata left. */
static void
test_stack_forget_all_releases_metadata(void **state)
{
    size_t heap0 = mallinfo2().uordblks;
    struct forget_arg a;
    ax_stack *s;
    size_t n;

    (void)state;
    s = fill_two_slabs(&a, &n);
    free(s); /* the other stacks are forgotten, not freed */
    ax__stack_forget_all(&a.keep);
    assert_true(has_pattern(&a.keep));
    assert_int_equal(stats().slabs, 1);
    assert_int_equal(stats().live, 1);
    assert_true(pool_still_works());
    ax__stack_free(&a.keep);
    ax__stack_forget_all(NULL);
    assert_int_equal(mallinfo2().uordblks, heap0);
}

static void
test_stack_metadata_failure_returns_enomem(void **state)
{
    int maps = count_maps(), rc = -1;
    size_t per = default_per_slab();
    ax_stack *s = calloc(per + 1, sizeof(*s));
    long n;

    (void)state;
    assert_non_null(s);
    ax__stack_forget_all(NULL);
    /* The first alloc: a pool, the slab table, the slab's metadata. */
    for (n = 0; rc != 0; n++) {
        ax__alloc_fail_after(n);
        rc = ax__stack_alloc(0, &s[0]);
        ax__alloc_fail_after(-1);
        if (rc != 0) {
            assert_int_equal(rc, AX_ENOMEM);
            assert_int_equal(stats().slabs, 0);
            assert_true(maps_unchanged(maps));
        }
    }
    assert_true(n >= 3);
    /* A second slab for the same pool. */
    for (size_t i = 1; i < per; i++) {
        assert_int_equal(ax__stack_alloc(0, &s[i]), 0);
    }
    ax__alloc_fail_after(0);
    rc = ax__stack_alloc(0, &s[per]);
    ax__alloc_fail_after(-1);
    assert_int_equal(rc, AX_ENOMEM);
    assert_int_equal(stats().slabs, 1);
    assert_int_equal(stats().live, per);
    assert_int_equal(ax__stack_alloc(0, &s[per]), 0);
    free_all(s, per + 1);
    free(s);
}

static int
child_free_unknown_size(void *arg)
{
    ax_stack s;

    (void)arg;
    CHILD_CHECK(ax__stack_alloc(0, &s) == 0, 2);
    s.size += page;       /* no pool has this size */
    close(STDERR_FILENO); /* the misuse sentence is expected */
    ax__stack_free(&s);
    return 3;
}

static void
test_stack_free_of_unknown_size_aborts(void **state)
{
    (void)state;
    assert_int_equal(t_wait(t_fork(child_free_unknown_size, NULL)),
                     128 + SIGABRT);
}

static void
test_stack_mmap_failure_returns_enomem(void **state)
{
    ax_stack s;

    (void)state;
    /* Slabs of at least 4 stacks of 512 PiB: no address space has that. */
    assert_int_equal(ax__stack_alloc((size_t)1 << 59, &s), AX_ENOMEM);
    assert_non_null(strstr(ax_error_detail(), "mmap"));
    assert_int_equal(stats().slabs, 0);
    assert_int_equal(ax__stack_alloc(SIZE_MAX, &s), AX_ENOMEM);
    assert_non_null(strstr(ax_error_detail(), "too large"));
    assert_int_equal(ax__stack_alloc(0, &s), 0);
    ax__stack_free(&s);
}

static int
child_guard_off(void *arg)
{
    ax_stack s[3];
    ax_stack_stats st;

    (void)arg;
    setenv("AXON_STACK_GUARD", "0", 1);
    for (int i = 0; i < 3; i++) {
        CHILD_CHECK(ax__stack_alloc(0, &s[i]) == 0, 2);
    }
    st = stats();
    CHILD_CHECK(!st.guard_madvise && !st.guard_mprotect, 3);
    /* Below a middle stack: the guard slot, mapped and writable. */
    CHILD_CHECK(write_in_child((char *)s[1].base - 1) == 0, 4);
    CHILD_CHECK(write_in_child((char *)s[1].base - page) == 0, 5);
    free_all(s, 3);
    return 0;
}

static void
test_stack_guard_off_by_environment(void **state)
{
    (void)state;
    assert_int_equal(t_wait(t_fork(child_guard_off, NULL)), 0);
    assert_null(getenv("AXON_STACK_GUARD"));
}

/* Allocate until the mapping limit: AX_ENOMEM near 65,530 / 2 stacks. */
static void
mprotect_limit(void)
{
    size_t cap = 70000, n = 0;
    ax_stack *s = malloc(cap * sizeof(*s));
    int rc = 0;

    CHILD_CHECK(s != NULL, 20);
    while (n < cap && (rc = ax__stack_alloc(0, &s[n])) == 0) {
        n++;
    }
    CHILD_CHECK(rc == AX_ENOMEM, 21);
    CHILD_CHECK(n > 20000 && n < 33000, 22);
    while (n > 0) {
        ax__stack_free(&s[--n]);
    }
    free(s);
}

/* Trimming works across mprotect'ed guards, and they stay. */
static void
mprotect_trim(void)
{
    enum { N = 1600 };
    static ax_stack s[N];
    char *last;

    CHILD_CHECK(alloc_touched(s, N) == N, 30);
    free_all(s, N);
    CHILD_CHECK(stats().trimmed > 0, 31);
    for (size_t i = 0; i < N; i++) {
        CHILD_CHECK(ax__stack_alloc(0, &s[i]) == 0, 32);
    }
    last = s[N - 1].base;
    CHILD_CHECK(last[s[N - 1].size - 1] == 0, 33);
    CHILD_CHECK(write_in_child(last - 1) == SEGV_EXIT, 34);
    free_all(s, N);
}

static int
child_guard_mprotect(void *arg)
{
    int maps = count_maps();
    ax_stack s[3];

    (void)arg;
    setenv("AXON_STACK_GUARD", "mprotect", 1);
    for (int i = 0; i < 3; i++) {
        CHILD_CHECK(ax__stack_alloc(0, &s[i]) == 0, 2);
    }
    CHILD_CHECK(stats().guard_mprotect && !stats().guard_madvise, 3);
    /* Each guard splits the slab's mapping. */
    CHILD_CHECK(count_maps() - maps >= 6, 4);
    CHILD_CHECK(write_in_child((char *)s[1].base - 1) == SEGV_EXIT, 5);
    CHILD_CHECK(write_in_child(s[1].base) == 0, 6);
    free_all(s, 3);
    mprotect_trim();
    /*
     * Not under valgrind (its table of mappings is smaller than the
     * kernel's) nor ASan (it dies when its own mmap fails at the limit).
     */
    if (!RUNNING_ON_VALGRIND && !AX_ASAN) {
        mprotect_limit();
    }
    ax__stack_forget_all(NULL);
    CHILD_CHECK(maps_unchanged(maps), 7);
    return 0;
}

static void
test_stack_mprotect_fallback_guards_and_hits_map_limit(void **state)
{
    (void)state;
    assert_int_equal(t_wait(t_fork(child_guard_mprotect, NULL)), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_stack_freed_stack_is_reused_first),
        T(test_stack_sizes_round_up_to_pages),
        T(test_stack_usable_memory_is_writable_end_to_end),
        T(test_stack_write_below_base_faults),
        T(test_stack_few_free_stacks_are_not_trimmed),
        T(test_stack_trimmed_stack_is_zeroed_and_keeps_its_guard),
        T(test_stack_stats_count_slabs_live_and_free),
        T(test_stack_reuse_is_fast),
        T(test_stack_reused_stack_is_unpoisoned),
        T(test_stack_million_stacks_fit_in_few_mappings),
        T(test_stack_forget_all_in_child_keeps_one_stack),
        T(test_stack_forget_all_releases_metadata),
        T(test_stack_metadata_failure_returns_enomem),
        T(test_stack_mmap_failure_returns_enomem),
        T(test_stack_free_of_unknown_size_aborts),
        T(test_stack_guard_off_by_environment),
        T(test_stack_mprotect_fallback_guards_and_hits_map_limit),
    };

    /* The guard tests expect the default mode. */
    unsetenv("AXON_STACK_GUARD");
    page = (size_t)sysconf(_SC_PAGESIZE);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
