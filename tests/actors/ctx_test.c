/*
 * tests/actors/ctx_test.c - coroutine contexts and the context switch.
 *
 * Ping-pong a million times (and the time per round trip, printed), a
 * thousand coroutines round-robin, direct switches between coroutines,
 * callee-saved registers and floating-point modes kept per context, stack
 * alignment at entry, deep recursion, reuse of a stack, the trap when an
 * entry function returns (in a forked child: under valgrind it reports the
 * ud2 as an unrecognised instruction, then dies of SIGILL as it should),
 * and under ASan, that ASan knows which stack is running.
 *
 * Stacks are mmap'd here (64 KiB with a guard page below), not taken from
 * actors/stack.h, and registered with valgrind so it follows the switches.
 * The same tests run against the ucontext fallback when this file and
 * actors/ctx.c are both built with -DAXON_CTX_UCONTEXT.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <valgrind/valgrind.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(T_ASAN)
#define T_ASAN 1
#endif
#ifdef T_ASAN
#include <sanitizer/asan_interface.h>
#endif

#include "actors/core/ctx.h"
#include "support/testutil.h"

#define KiB ((size_t)1024)
#define STACK_SIZE (64 * KiB)

/* --- stacks --------------------------------------------------------------- */

/* A test stack: [guard page][size usable bytes]. */
struct tstack {
    void *map;       /* the whole mapping, guard included */
    size_t map_size; /* its size */
    void *base;      /* lowest usable address */
    size_t size;     /* usable bytes */
    unsigned vg_id;  /* valgrind's id of the registered stack */
};

/* Stacks opened and not closed: teardown wants 0. */
static int stacks_live;

/* No cmocka here: forked children use it too. 0 or -1. */
static int
tstack_open(struct tstack *s, size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    s->map_size = size + page;
    s->map = mmap(NULL, s->map_size, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s->map == MAP_FAILED) {
        return -1;
    }
    /* An overflow faults instead of writing over something else. */
    if (mprotect(s->map, page, PROT_NONE) != 0) {
        munmap(s->map, s->map_size);
        return -1;
    }
    s->base = (char *)s->map + page;
    s->size = size;
    s->vg_id = VALGRIND_STACK_REGISTER(s->base, (char *)s->base + size);
    stacks_live++;
    return 0;
}

static void
tstack_close(struct tstack *s)
{
    VALGRIND_STACK_DEREGISTER(s->vg_id);
    munmap(s->map, s->map_size);
    stacks_live--;
}

/* --- floating-point control words ----------------------------------------- */

enum round_mode { ROUND_NEAREST, ROUND_UP, ROUND_ZERO };

/*
 * The control words a context must keep: MXCSR and x87 CW, or FPCR. The
 * MXCSR exception flags (bits 0-5) are status, not modes: left out.
 */
struct fpctl {
    uint32_t a;
    uint32_t b;
};

#if defined(__x86_64__)
#define HAVE_FPCTL 1
static struct fpctl
fp_get(void)
{
    uint32_t mxcsr;
    uint16_t fcw;

    __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(fcw));
    return (struct fpctl){mxcsr & ~0x3fu, fcw};
}

static void
fp_put(struct fpctl c)
{
    uint32_t mxcsr = c.a;
    uint16_t fcw = (uint16_t)c.b;

    __asm__ volatile("ldmxcsr %0\n\tfldcw %1" : : "m"(mxcsr), "m"(fcw));
}

/* Rounding in both units; ROUND_UP also sets flush-to-zero (MXCSR.FZ). */
static void
fp_set_round(enum round_mode m)
{
    static const uint32_t rc[] = {0, 2, 3};
    struct fpctl c = fp_get();

    c.a = (c.a & ~(3u << 13 | 1u << 15)) | rc[m] << 13;
    c.a |= m == ROUND_UP ? 1u << 15 : 0;
    c.b = (c.b & ~(3u << 10)) | rc[m] << 10;
    fp_put(c);
}
#elif defined(__aarch64__)
#define HAVE_FPCTL 1
static struct fpctl
fp_get(void)
{
    uint64_t fpcr;

    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    return (struct fpctl){(uint32_t)fpcr, 0};
}

static void
fp_put(struct fpctl c)
{
    uint64_t fpcr = c.a;

    __asm__ volatile("msr fpcr, %0" : : "r"(fpcr));
}

/* FPCR.RMode (bits 22-23); ROUND_UP also sets flush-to-zero (FZ, 24). */
static void
fp_set_round(enum round_mode m)
{
    static const uint32_t rmode[] = {0, 1, 3};
    struct fpctl c = fp_get();

    c.a = (c.a & ~(3u << 22 | 1u << 24)) | rmode[m] << 22;
    c.a |= m == ROUND_UP ? 1u << 24 : 0;
    fp_put(c);
}
#endif

/*
 * 1 + 2^-30 rounded to float now, in the current rounding mode (never
 * folded): 1 to nearest or toward zero, 1 + 2^-23 upward. A conversion,
 * not a division: valgrind honours rounding modes only in conversions.
 */
static float
round_probe(void)
{
    double x = 1.0 + 0x1p-30;
    float f;

    __asm__ volatile("" : "+m"(x));
    f = (float)x;
    __asm__ volatile("" : "+m"(f));
    return f;
}

/* --- setup and teardown --------------------------------------------------- */

#ifdef HAVE_FPCTL
static struct fpctl fp_at_setup;
#endif

static int
setup(void **state)
{
#ifdef HAVE_FPCTL
    fp_at_setup = fp_get();
#endif
    stacks_live = 0;
    return t_setup(state);
}

static int
teardown(void **state)
{
    /* A test leaves no stack mapped and the modes as it found them. */
    assert_int_equal(stacks_live, 0);
#ifdef HAVE_FPCTL
    assert_int_equal(fp_get().a, fp_at_setup.a);
    assert_int_equal(fp_get().b, fp_at_setup.b);
#endif
    return t_teardown(state);
}

/* --- ping-pong ------------------------------------------------------------ */

#define PINGPONG_ROUNDS 1000000L

struct pingpong {
    ax_ctx main, co;
    long main_count; /* switches made by main */
    long co_count;   /* switches made by the coroutine */
    long bad;        /* turns taken out of order */
};

static void
pingpong_entry(void *arg)
{
    struct pingpong *p = arg;

    for (;;) {
        /* main switched exactly once since our last turn */
        if (p->main_count != p->co_count + 1) {
            p->bad++;
        }
        p->co_count++;
        if (p->co_count == PINGPONG_ROUNDS) {
            ax__ctx_switch_final(&p->co, &p->main);
        }
        ax__ctx_switch(&p->co, &p->main);
    }
}

static void
test_ctx_pingpong_a_million_times_keeps_turns(void **state)
{
    struct pingpong p = {0};
    struct tstack s;
    uint64_t t0, t1;
    long i;

    (void)state;
    assert_int_equal(tstack_open(&s, STACK_SIZE), 0);
    ax__ctx_init_current(&p.main);
    ax__ctx_make(&p.co, s.base, s.size, pingpong_entry, &p);
    t0 = t_now_ns();
    for (i = 0; i < PINGPONG_ROUNDS; i++) {
        p.main_count++;
        ax__ctx_switch(&p.main, &p.co);
        if (p.co_count != i + 1) {
            p.bad++;
        }
    }
    t1 = t_now_ns();
    tstack_close(&s);
    printf("ctx: %.1f ns per switch round trip (%ld round trips)\n",
           (double)(t1 - t0) / (double)PINGPONG_ROUNDS, PINGPONG_ROUNDS);
    assert_int_equal(p.bad, 0);
    assert_int_equal(p.main_count, PINGPONG_ROUNDS);
    assert_int_equal(p.co_count, PINGPONG_ROUNDS);
}

/* --- many coroutines round-robin ------------------------------------------ */

#define RR_COUNT 1000
#define RR_ROUNDS 10

struct rr;

struct rr_co {
    ax_ctx ctx;
    struct tstack stack;
    struct rr *rr;
    int id;
    uint64_t result; /* what the coroutine computed from its locals */
};

struct rr {
    ax_ctx main;
    struct rr_co *cos;
    long step; /* turns taken by all coroutines */
    long bad;  /* turns out of order or locals changed */
};

/* What rr_entry must compute for coroutine id. */
static uint64_t
rr_expected(int id)
{
    uint64_t a = (uint64_t)id * 2654435761u + 1;
    uint64_t sum = 0;
    int round;

    for (round = 0; round < RR_ROUNDS; round++) {
        sum = sum * 31 + (a ^ (uint64_t)round);
    }
    return sum;
}

static void
rr_entry(void *arg)
{
    struct rr_co *c = arg;
    struct rr *r = c->rr;
    uint64_t a = (uint64_t)c->id * 2654435761u + 1;
    uint64_t sum = 0;
    uint32_t local[16];
    int round, k;

    for (k = 0; k < 16; k++) {
        local[k] = (uint32_t)(c->id * 16 + k);
    }
    for (round = 0; round < RR_ROUNDS; round++) {
        if (r->step != (long)round * RR_COUNT + c->id) {
            r->bad++;
        }
        r->step++;
        sum = sum * 31 + (a ^ (uint64_t)round);
        ax__ctx_switch(&c->ctx, &r->main);
        for (k = 0; k < 16; k++) {
            if (local[k] != (uint32_t)(c->id * 16 + k)) {
                r->bad++;
            }
        }
    }
    c->result = sum;
    ax__ctx_switch_final(&c->ctx, &r->main);
}

static void
test_ctx_thousand_coroutines_round_robin_keep_their_locals(void **state)
{
    struct rr r = {0};
    int round, i;

    (void)state;
    r.cos = calloc(RR_COUNT, sizeof(*r.cos));
    assert_non_null(r.cos);
    ax__ctx_init_current(&r.main);
    for (i = 0; i < RR_COUNT; i++) {
        assert_int_equal(tstack_open(&r.cos[i].stack, STACK_SIZE), 0);
        r.cos[i].rr = &r;
        r.cos[i].id = i;
        ax__ctx_make(&r.cos[i].ctx, r.cos[i].stack.base, r.cos[i].stack.size,
                     rr_entry, &r.cos[i]);
    }
    /* RR_ROUNDS turns each, and one more in which each one ends */
    for (round = 0; round <= RR_ROUNDS; round++) {
        for (i = 0; i < RR_COUNT; i++) {
            ax__ctx_switch(&r.main, &r.cos[i].ctx);
        }
    }
    for (i = 0; i < RR_COUNT; i++) {
        tstack_close(&r.cos[i].stack);
    }
    assert_int_equal(r.bad, 0);
    assert_int_equal(r.step, (long)RR_COUNT * RR_ROUNDS);
    for (i = 0; i < RR_COUNT; i++) {
        assert_true(r.cos[i].result == rr_expected(i));
    }
    free(r.cos);
}

/* --- coroutines switching to each other ----------------------------------- */

#define RING_SIZE 8
#define RING_LAPS 1000

struct ring {
    ax_ctx main;
    ax_ctx ctx[RING_SIZE];
    struct tstack stack[RING_SIZE];
    int ids[RING_SIZE];
    int trail[RING_SIZE * 2]; /* the first ids that ran, in order */
    long hops;
    long bad;
};

static struct ring *ring;

static void
ring_entry(void *arg)
{
    int id = *(int *)arg;
    int next = (id + 1) % RING_SIZE;
    int lap;

    for (lap = 0; lap < RING_LAPS; lap++) {
        if (ring->hops % RING_SIZE != id) {
            ring->bad++;
        }
        if (ring->hops < RING_SIZE * 2) {
            ring->trail[ring->hops] = id;
        }
        ring->hops++;
        if (lap == RING_LAPS - 1) {
            /* the last one of the last lap hands back to main */
            ax__ctx_switch_final(&ring->ctx[id],
                                 next == 0 ? &ring->main : &ring->ctx[next]);
        }
        ax__ctx_switch(&ring->ctx[id], &ring->ctx[next]);
    }
}

static void
test_ctx_coroutines_switch_directly_to_each_other(void **state)
{
    int i;

    (void)state;
    ring = calloc(1, sizeof(*ring));
    assert_non_null(ring);
    ax__ctx_init_current(&ring->main);
    for (i = 0; i < RING_SIZE; i++) {
        assert_int_equal(tstack_open(&ring->stack[i], STACK_SIZE), 0);
        ring->ids[i] = i;
        ax__ctx_make(&ring->ctx[i], ring->stack[i].base, ring->stack[i].size,
                     ring_entry, &ring->ids[i]);
    }
    ax__ctx_switch(&ring->main, &ring->ctx[0]);
    for (i = 0; i < RING_SIZE; i++) {
        tstack_close(&ring->stack[i]);
    }
    assert_int_equal(ring->bad, 0);
    assert_int_equal(ring->hops, (long)RING_SIZE * RING_LAPS);
    for (i = 0; i < RING_SIZE * 2; i++) {
        assert_int_equal(ring->trail[i], i % RING_SIZE);
    }
    free(ring);
    ring = NULL;
}

/* --- callee-saved registers ----------------------------------------------- */

#if defined(__x86_64__) || defined(__aarch64__)
#define HAVE_REGS_PROBE 1
/*
 * t_switch_with_regs(from, to, seed, out, sw) loads seed + 1, seed + 2,
 * ... into every callee-saved register, calls sw(from, to) and stores
 * what the registers hold when it returns in out[]. The other context
 * loads other values into the same registers before it switches back.
 */
typedef void (*switch_fn)(ax_ctx *, ax_ctx *);
void t_switch_with_regs(ax_ctx *from, ax_ctx *to, uint64_t seed, uint64_t *out,
                        switch_fn sw);
#endif

#if defined(__x86_64__)
/* rbx, rbp, r12, r13, r14, r15 */
#define NREGS 6
__asm__(".pushsection .text\n"
        ".globl t_switch_with_regs\n"
        ".type t_switch_with_regs, @function\n"
        "t_switch_with_regs:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    pushq %rcx\n" /* out; rsp is 16-byte aligned now */
        "    leaq 1(%rdx), %rbx\n"
        "    leaq 2(%rdx), %rbp\n"
        "    leaq 3(%rdx), %r12\n"
        "    leaq 4(%rdx), %r13\n"
        "    leaq 5(%rdx), %r14\n"
        "    leaq 6(%rdx), %r15\n"
        "    call *%r8\n"
        "    movq (%rsp), %rcx\n"
        "    movq %rbx, 0(%rcx)\n"
        "    movq %rbp, 8(%rcx)\n"
        "    movq %r12, 16(%rcx)\n"
        "    movq %r13, 24(%rcx)\n"
        "    movq %r14, 32(%rcx)\n"
        "    movq %r15, 40(%rcx)\n"
        "    popq %rcx\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size t_switch_with_regs, .-t_switch_with_regs\n"
        ".popsection\n");
#elif defined(__aarch64__)
/* x19 ... x28, x29, then d8 ... d15 (as bits) */
#define NREGS 19
__asm__(".pushsection .text\n"
        ".globl t_switch_with_regs\n"
        ".type t_switch_with_regs, %function\n"
        "t_switch_with_regs:\n"
        "    stp x29, x30, [sp, #-176]!\n"
        "    stp x19, x20, [sp, #16]\n"
        "    stp x21, x22, [sp, #32]\n"
        "    stp x23, x24, [sp, #48]\n"
        "    stp x25, x26, [sp, #64]\n"
        "    stp x27, x28, [sp, #80]\n"
        "    stp d8, d9, [sp, #96]\n"
        "    stp d10, d11, [sp, #112]\n"
        "    stp d12, d13, [sp, #128]\n"
        "    stp d14, d15, [sp, #144]\n"
        "    str x3, [sp, #160]\n"
        "    add x19, x2, #1\n"
        "    add x20, x2, #2\n"
        "    add x21, x2, #3\n"
        "    add x22, x2, #4\n"
        "    add x23, x2, #5\n"
        "    add x24, x2, #6\n"
        "    add x25, x2, #7\n"
        "    add x26, x2, #8\n"
        "    add x27, x2, #9\n"
        "    add x28, x2, #10\n"
        "    add x29, x2, #11\n"
        "    add x9, x2, #12\n"
        "    fmov d8, x9\n"
        "    add x9, x2, #13\n"
        "    fmov d9, x9\n"
        "    add x9, x2, #14\n"
        "    fmov d10, x9\n"
        "    add x9, x2, #15\n"
        "    fmov d11, x9\n"
        "    add x9, x2, #16\n"
        "    fmov d12, x9\n"
        "    add x9, x2, #17\n"
        "    fmov d13, x9\n"
        "    add x9, x2, #18\n"
        "    fmov d14, x9\n"
        "    add x9, x2, #19\n"
        "    fmov d15, x9\n"
        "    blr x4\n"
        "    ldr x3, [sp, #160]\n"
        "    stp x19, x20, [x3, #0]\n"
        "    stp x21, x22, [x3, #16]\n"
        "    stp x23, x24, [x3, #32]\n"
        "    stp x25, x26, [x3, #48]\n"
        "    stp x27, x28, [x3, #64]\n"
        "    str x29, [x3, #80]\n"
        "    stp d8, d9, [x3, #88]\n"
        "    stp d10, d11, [x3, #104]\n"
        "    stp d12, d13, [x3, #120]\n"
        "    stp d14, d15, [x3, #136]\n"
        "    ldp x19, x20, [sp, #16]\n"
        "    ldp x21, x22, [sp, #32]\n"
        "    ldp x23, x24, [sp, #48]\n"
        "    ldp x25, x26, [sp, #64]\n"
        "    ldp x27, x28, [sp, #80]\n"
        "    ldp d8, d9, [sp, #96]\n"
        "    ldp d10, d11, [sp, #112]\n"
        "    ldp d12, d13, [sp, #128]\n"
        "    ldp d14, d15, [sp, #144]\n"
        "    ldp x29, x30, [sp], #176\n"
        "    ret\n"
        ".size t_switch_with_regs, .-t_switch_with_regs\n"
        ".popsection\n");
#endif

#ifdef HAVE_REGS_PROBE
#define SEED_MAIN UINT64_C(0x1111111111111100)
#define SEED_CO UINT64_C(0x7777777777777700)
#define REGS_TURNS 3

struct regs {
    ax_ctx main, co;
    uint64_t co_out[REGS_TURNS][NREGS];
};

static void
regs_entry(void *arg)
{
    struct regs *r = arg;
    int turn;

    for (turn = 0; turn < REGS_TURNS; turn++) {
        t_switch_with_regs(&r->co, &r->main, SEED_CO + (uint64_t)turn * 32,
                           r->co_out[turn], ax__ctx_switch);
    }
    ax__ctx_switch_final(&r->co, &r->main);
}

static void
test_ctx_callee_saved_registers_survive_a_switch(void **state)
{
    struct regs r;
    uint64_t out[REGS_TURNS][NREGS];
    struct tstack s;
    int turn, k;

    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(tstack_open(&s, STACK_SIZE), 0);
    ax__ctx_init_current(&r.main);
    ax__ctx_make(&r.co, s.base, s.size, regs_entry, &r);
    for (turn = 0; turn < REGS_TURNS; turn++) {
        t_switch_with_regs(&r.main, &r.co, SEED_MAIN + (uint64_t)turn * 32,
                           out[turn], ax__ctx_switch);
    }
    ax__ctx_switch(&r.main, &r.co); /* the coroutine ends */
    tstack_close(&s);
    for (turn = 0; turn < REGS_TURNS; turn++) {
        for (k = 0; k < NREGS; k++) {
            /* main's registers after each of its switches */
            assert_true(out[turn][k] ==
                        SEED_MAIN + (uint64_t)turn * 32 + (uint64_t)k + 1);
            /* the coroutine's registers after each of its switches */
            assert_true(r.co_out[turn][k] ==
                        SEED_CO + (uint64_t)turn * 32 + (uint64_t)k + 1);
        }
    }
}
#endif /* HAVE_REGS_PROBE */

/* --- floating-point state ------------------------------------------------- */

#ifdef HAVE_FPCTL
struct fpstate {
    ax_ctx main, co;
    struct fpctl co_at_entry; /* inherited from the creator */
    struct fpctl co_set;      /* after the coroutine set ROUND_UP */
    struct fpctl co_later;    /* its modes after main changed its own */
    float co_probe_up;        /* round_probe() rounded up, before and after */
    float co_probe_later;
    double co_acc; /* doubles carried across switches */
};

/* The values fp_entry and the test accumulate in doubles. */
static double
fp_step(double acc, int k)
{
    return acc * 1.5 + (double)k / 8;
}

static void
fp_entry(void *arg)
{
    struct fpstate *f = arg;
    double acc = 1.0;
    int k;

    f->co_at_entry = fp_get();
    fp_set_round(ROUND_UP);
    f->co_set = fp_get();
    f->co_probe_up = round_probe();
    for (k = 0; k < 4; k++) {
        acc = fp_step(acc, k);
        ax__ctx_switch(&f->co, &f->main);
    }
    f->co_later = fp_get();
    f->co_probe_later = round_probe();
    f->co_acc = acc;
    ax__ctx_switch_final(&f->co, &f->main);
}

static void
test_ctx_floating_point_modes_stay_with_their_context(void **state)
{
    struct fpstate f;
    struct fpctl orig = fp_get(), zero, main_after, main_end;
    float nearest = round_probe(), main_probe_after;
    double acc = 2.0, expect = 1.0;
    struct tstack s;
    int k;

    (void)state;
    memset(&f, 0, sizeof(f));
    assert_int_equal(tstack_open(&s, STACK_SIZE), 0);
    ax__ctx_init_current(&f.main);
    ax__ctx_make(&f.co, s.base, s.size, fp_entry, &f);
    ax__ctx_switch(&f.main, &f.co);
    /* the coroutine rounds up now; this context must not */
    main_after = fp_get();
    main_probe_after = round_probe();
    fp_set_round(ROUND_ZERO);
    zero = fp_get();
    for (k = 0; k < 4; k++) {
        acc = acc * 3 - 1;
        ax__ctx_switch(&f.main, &f.co);
    }
    main_end = fp_get();
    fp_put(orig); /* before any assert can leave this test */
    tstack_close(&s);
    for (k = 0; k < 4; k++) {
        expect = fp_step(expect, k);
    }
    assert_int_equal(f.co_at_entry.a, orig.a);
    assert_int_equal(f.co_at_entry.b, orig.b);
    assert_int_not_equal(f.co_set.a, orig.a);
    assert_int_equal(main_after.a, orig.a);
    assert_int_equal(main_after.b, orig.b);
    assert_true(main_probe_after == nearest);
    assert_true(nearest == 1.0f);
    assert_true(f.co_probe_up == 1.0f + 0x1p-23f);
    assert_int_equal(f.co_later.a, f.co_set.a);
    assert_int_equal(f.co_later.b, f.co_set.b);
    assert_true(f.co_probe_later == f.co_probe_up);
    assert_int_equal(main_end.a, zero.a);
    assert_int_equal(main_end.b, zero.b);
    assert_true(f.co_acc == expect);
    assert_true(acc == 2.0 * 81 - 40);
}
#endif /* HAVE_FPCTL */

/* --- stack alignment at entry --------------------------------------------- */

struct align {
    uintptr_t sp_at_entry;         /* set by the probe (x86/AArch64) */
    void (*cont)(struct align *a); /* where the probe goes on */
    ax_ctx main, co;
    uintptr_t frame; /* __builtin_frame_address(0) */
    uintptr_t local; /* address of an aligned local */
};

#if defined(__x86_64__)
/* t_align_probe(a): a->sp_at_entry = rsp, then jump to a->cont(a). */
#define SP_AT_CALL(sp) ((sp) + 8) /* rsp before the call pushed rip */
__asm__(".pushsection .text\n"
        ".globl t_align_probe\n"
        ".type t_align_probe, @function\n"
        "t_align_probe:\n"
        "    movq %rsp, (%rdi)\n"
        "    jmp *8(%rdi)\n"
        ".size t_align_probe, .-t_align_probe\n"
        ".popsection\n");
#elif defined(__aarch64__)
#define SP_AT_CALL(sp) (sp)
__asm__(".pushsection .text\n"
        ".globl t_align_probe\n"
        ".type t_align_probe, %function\n"
        "t_align_probe:\n"
        "    mov x9, sp\n"
        "    str x9, [x0]\n"
        "    ldr x9, [x0, #8]\n"
        "    br x9\n"
        ".size t_align_probe, .-t_align_probe\n"
        ".popsection\n");
#endif
#if defined(__x86_64__) || defined(__aarch64__)
#define HAVE_ALIGN_PROBE 1
void t_align_probe(void *arg);
#endif

static void
align_cont(struct align *a)
{
    _Alignas(16) volatile char local[16];

    local[0] = 1;
    a->frame = (uintptr_t)__builtin_frame_address(0);
    a->local = (uintptr_t)&local[0];
    ax__ctx_switch_final(&a->co, &a->main);
}

static void
align_entry(void *arg)
{
    align_cont(arg);
}

static void
test_ctx_stack_is_16_byte_aligned_at_entry(void **state)
{
    struct align a;
    struct tstack s;
    size_t shift;

    (void)state;
    assert_int_equal(tstack_open(&s, STACK_SIZE), 0);
    /* every 16-byte aligned top the caller may give */
    for (shift = 0; shift < 64; shift += 16) {
        memset(&a, 0, sizeof(a));
        a.cont = align_cont;
        ax__ctx_init_current(&a.main);
#ifdef HAVE_ALIGN_PROBE
        ax__ctx_make(&a.co, s.base, s.size - shift, t_align_probe, &a);
#else
        ax__ctx_make(&a.co, s.base, s.size - shift, align_entry, &a);
#endif
        ax__ctx_switch(&a.main, &a.co);
#ifdef HAVE_ALIGN_PROBE
        assert_true(a.sp_at_entry != 0);
        assert_int_equal(SP_AT_CALL(a.sp_at_entry) % 16, 0);
        assert_true(a.sp_at_entry < (uintptr_t)s.base + s.size - shift);
        assert_true(a.sp_at_entry > (uintptr_t)s.base);
#endif
        assert_int_equal(a.frame % 16, 0);
        assert_int_equal(a.local % 16, 0);
    }
    /* and through a C entry function */
    memset(&a, 0, sizeof(a));
    ax__ctx_init_current(&a.main);
    ax__ctx_make(&a.co, s.base, s.size, align_entry, &a);
    ax__ctx_switch(&a.main, &a.co);
    assert_int_equal(a.frame % 16, 0);
    assert_int_equal(a.local % 16, 0);
    tstack_close(&s);
}

/* --- deep recursion ------------------------------------------------------- */

#define DEEP_BYTES (48 * KiB)
#define DEEP_FRAME 256

struct deep {
    ax_ctx main, co;
    uintptr_t top;    /* the stack's top */
    uintptr_t lowest; /* lowest frame address reached */
    unsigned max_depth;
    unsigned long sum;
    long bad;
};

/* Recurse until DEEP_BYTES of the stack are in use, check on the way up. */
static unsigned long
deep_recurse(struct deep *d, unsigned depth)
{
    unsigned char buf[DEEP_FRAME];
    uintptr_t fa = (uintptr_t)__builtin_frame_address(0);
    unsigned long sum = depth;
    size_t i;

    memset(buf, (int)(depth & 0xff), sizeof(buf));
    __asm__ volatile("" : : "r"(buf) : "memory");
    if (fa < d->lowest) {
        d->lowest = fa;
        d->max_depth = depth;
    }
    if (d->top - fa < DEEP_BYTES) {
        sum += deep_recurse(d, depth + 1);
    }
    for (i = 0; i < sizeof(buf); i++) {
        if (buf[i] != (depth & 0xff)) {
            d->bad++;
        }
        sum += buf[i];
    }
    return sum;
}

static void
deep_entry(void *arg)
{
    struct deep *d = arg;

    d->sum = deep_recurse(d, 0);
    ax__ctx_switch_final(&d->co, &d->main);
}

static void
test_ctx_deep_recursion_uses_most_of_a_64k_stack(void **state)
{
    struct deep d;
    struct tstack s;
    unsigned long expect = 0;
    unsigned k;

    (void)state;
    memset(&d, 0, sizeof(d));
    assert_int_equal(tstack_open(&s, STACK_SIZE), 0);
    d.top = (uintptr_t)s.base + s.size;
    d.lowest = d.top;
    ax__ctx_init_current(&d.main);
    ax__ctx_make(&d.co, s.base, s.size, deep_entry, &d);
    ax__ctx_switch(&d.main, &d.co);
    tstack_close(&s);
    for (k = 0; k <= d.max_depth; k++) {
        expect += k + (unsigned long)DEEP_FRAME * (k & 0xff);
    }
    assert_int_equal(d.bad, 0);
    assert_true(d.top - d.lowest >= DEEP_BYTES);
    assert_true(d.lowest > (uintptr_t)s.base);
    assert_true(d.max_depth > 0);
    assert_int_equal(d.sum, expect);
}

/* --- reuse of a stack ----------------------------------------------------- */

/*
 * A coroutine that ends deep in its stack leaves its frames behind (under
 * ASan: their poisoned red zones); the next coroutine made on the same
 * stack must find all of it clean.
 */
#define REUSE_DEPTH 24
#define REUSE_FRAME 512

struct reuse {
    ax_ctx main, co;
    struct tstack stack;
    int ended;
    unsigned long sum;
    long poisoned; /* ASan: poisoned bytes seen below the new frame */
};

static unsigned long
reuse_recurse(struct reuse *r, int depth)
{
    char buf[REUSE_FRAME];
    unsigned long sum = 0;
    size_t i;

    memset(buf, depth, sizeof(buf));
    __asm__ volatile("" : : "r"(buf) : "memory");
    if (depth < REUSE_DEPTH) {
        sum += reuse_recurse(r, depth + 1);
    } else {
        /* end here, with every frame still on the stack */
        r->ended++;
        ax__ctx_switch_final(&r->co, &r->main);
    }
    for (i = 0; i < sizeof(buf); i++) {
        sum += (unsigned char)buf[i];
    }
    return sum;
}

static void
reuse_deep_entry(void *arg)
{
    reuse_recurse(arg, 0);
}

static void
reuse_flat_entry(void *arg)
{
    struct reuse *r = arg;
    char buf[REUSE_FRAME];
    size_t i;

#ifdef T_ASAN
    /* the rest of the stack, where the ended frames were */
    char *low = r->stack.base;
    char *here = (char *)__builtin_frame_address(0) - 2 * REUSE_FRAME;
    char *bad = __asan_region_is_poisoned(low, (size_t)(here - low));

    r->poisoned += bad != NULL ? here - bad : 0;
#endif
    memset(buf, 1, sizeof(buf));
    __asm__ volatile("" : : "r"(buf) : "memory");
    for (i = 0; i < sizeof(buf); i++) {
        r->sum += (unsigned char)buf[i];
    }
    ax__ctx_switch_final(&r->co, &r->main);
}

static void
test_ctx_stack_is_reusable_after_a_final_switch(void **state)
{
    struct reuse r;
    int i;

    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(tstack_open(&r.stack, STACK_SIZE), 0);
    ax__ctx_init_current(&r.main);
    for (i = 0; i < 3; i++) {
        ax__ctx_make(&r.co, r.stack.base, r.stack.size, reuse_deep_entry, &r);
        ax__ctx_switch(&r.main, &r.co);
        ax__ctx_make(&r.co, r.stack.base, r.stack.size, reuse_flat_entry, &r);
        ax__ctx_switch(&r.main, &r.co);
    }
    tstack_close(&r.stack);
    assert_int_equal(r.ended, 3);
    assert_int_equal(r.poisoned, 0);
    assert_int_equal(r.sum, 3ul * REUSE_FRAME);
}

/* --- AddressSanitizer follows the switches -------------------------------- */

#ifdef T_ASAN
/*
 * ASan names a stack variable only if the address lies in the stack it
 * believes is running: the switch annotations keep that belief true on
 * the coroutine and, once the main context learned its bounds, back on
 * the main stack.
 */
struct asan_seen {
    ax_ctx main, co;
    char co_kind[16]; /* what ASan says of a coroutine local */
    char co_name[16];
};

static void
asan_locate(void *addr, char kind[16], char name[16])
{
    void *region = NULL;
    size_t size = 0;
    const char *k = __asan_locate_address(addr, name, 16, &region, &size);

    snprintf(kind, 16, "%s", k != NULL ? k : "?");
}

static void
asan_entry(void *arg)
{
    struct asan_seen *a = arg;
    volatile char co_local[32];

    co_local[0] = 1;
    asan_locate((void *)co_local, a->co_kind, a->co_name);
    ax__ctx_switch_final(&a->co, &a->main);
}

static void
test_ctx_asan_knows_which_stack_runs(void **state)
{
    struct asan_seen a;
    struct tstack s;
    volatile char main_local[32];
    char kind[16], name[16];
    uintptr_t frame = (uintptr_t)__builtin_frame_address(0);

    (void)state;
    memset(&a, 0, sizeof(a));
    main_local[0] = 1;
    assert_int_equal(tstack_open(&s, STACK_SIZE), 0);
    ax__ctx_init_current(&a.main);
    ax__ctx_make(&a.co, s.base, s.size, asan_entry, &a);
    ax__ctx_switch(&a.main, &a.co);
    asan_locate((void *)main_local, kind, name);
    tstack_close(&s);
    assert_string_equal(a.co_kind, "stack");
    assert_string_equal(a.co_name, "co_local");
    assert_string_equal(kind, "stack");
    assert_string_equal(name, "main_local");
    /* the main context learned its bounds from the first switch (locals
     * may live on a fake stack: the frame itself is on the real one) */
    assert_true(a.main.stack_size > 0);
    assert_true(frame >= (uintptr_t)a.main.stack_base);
    assert_true(frame < (uintptr_t)a.main.stack_base + a.main.stack_size);
}
#endif

/* --- an entry function that returns --------------------------------------- */

struct trap {
    ax_ctx main, co;
    int ran;
};

static void
trap_entry(void *arg)
{
    struct trap *t = arg;

    t->ran = 1; /* and return: there is nowhere to return to */
}

/* In a forked child: must die by a signal before it can exit. */
static int
trap_child(void *arg)
{
    struct rlimit no_core = {0, 0};
    struct trap t = {0};
    struct tstack s;

    (void)arg;
    /* cmocka catches these in the parent: die of them here */
    signal(SIGILL, SIG_DFL);
    signal(SIGTRAP, SIG_DFL);
    setrlimit(RLIMIT_CORE, &no_core);
    CHILD_CHECK(tstack_open(&s, STACK_SIZE) == 0, 2);
    ax__ctx_init_current(&t.main);
    ax__ctx_make(&t.co, s.base, s.size, trap_entry, &t);
    ax__ctx_switch(&t.main, &t.co);
    return t.ran ? 3 : 4; /* reached only if nothing trapped */
}

static void
test_ctx_entry_returning_traps(void **state)
{
    int status;

    (void)state;
    status = t_wait(t_fork(trap_child, NULL));
    if (status != 128 + SIGILL && status != 128 + SIGTRAP) {
        fail_msg("child status %d, want death by SIGILL or SIGTRAP", status);
    }
}

/* --- the ucontext fallback ------------------------------------------------ */

#ifdef AXON_CTX_UCONTEXT
/*
 * makecontext passes int arguments: the entry and arg pointers travel in
 * halves. Give it pointers with high bits set and see them arrive whole.
 */
struct high {
    ax_ctx main, co;
    void *seen;
};

static void
high_entry(void *arg)
{
    struct high *h = *(struct high **)arg;

    h->seen = arg;
    ax__ctx_switch_final(&h->co, &h->main);
}

static void
test_ctx_ucontext_passes_pointers_above_4gib(void **state)
{
    struct high h = {0};
    struct tstack s;
    struct high **slot;

    (void)state;
    assert_int_equal(tstack_open(&s, STACK_SIZE), 0);
    /* the arg: a slot at the stack's top, which ends below it */
    slot = (struct high **)((char *)s.base + s.size - 16);
    *slot = &h;
    ax__ctx_init_current(&h.main);
    ax__ctx_make(&h.co, s.base, s.size - 16, high_entry, slot);
    ax__ctx_switch(&h.main, &h.co);
    tstack_close(&s);
    assert_ptr_equal(h.seen, slot);
    /* valgrind maps the program and its mmaps low: nothing to prove */
    if ((uintptr_t)slot <= UINT32_MAX || (uintptr_t)high_entry <= UINT32_MAX) {
        skip();
    }
}
#endif

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_ctx_pingpong_a_million_times_keeps_turns),
        T(test_ctx_thousand_coroutines_round_robin_keep_their_locals),
        T(test_ctx_coroutines_switch_directly_to_each_other),
#ifdef HAVE_REGS_PROBE
        T(test_ctx_callee_saved_registers_survive_a_switch),
#endif
#ifdef HAVE_FPCTL
        T(test_ctx_floating_point_modes_stay_with_their_context),
#endif
        T(test_ctx_stack_is_16_byte_aligned_at_entry),
        T(test_ctx_deep_recursion_uses_most_of_a_64k_stack),
        T(test_ctx_stack_is_reusable_after_a_final_switch),
        T(test_ctx_entry_returning_traps),
#ifdef T_ASAN
        T(test_ctx_asan_knows_which_stack_runs),
#endif
#ifdef AXON_CTX_UCONTEXT
        T(test_ctx_ucontext_passes_pointers_above_4gib),
#endif
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
