/*
 * actors/core/ctx.c - the context switch: hand-written for x86-64 (System V)
 * and AArch64, ucontext elsewhere (or when AXON_CTX_UCONTEXT is defined).
 *
 * A suspended context is its stack pointer: the switch pushes the
 * callee-saved registers and the floating-point control words on the
 * running stack, stores the stack pointer in from->sp, loads to->sp, pops
 * the same frame from the other stack and returns into the other context.
 * No system call, no signal mask: coroutines share the thread's mask.
 *
 * A new context's stack is given a frame of the same shape whose return
 * address is a trampoline (ax__ctx_boot_asm): the first switch to it
 * "returns" there, with the C start function, entry and arg in
 * callee-saved registers. The trampoline calls ctx_start(entry, arg) on a
 * 16-byte aligned stack. Its CFI marks the return address undefined (and
 * the frame pointer is 0), so debuggers end a backtrace there. If entry
 * returns, ctx_start traps (ud2 / brk): there is nothing to return to.
 *
 * Under AddressSanitizer every switch is announced (start before, finish
 * after, in the resumed context) so ASan knows which stack is live; the
 * first finish on a new context tells the context it came from its stack
 * bounds, which is how the main context learns its own.
 */
#include "actors/core/ctx.h"

#include <stdint.h>
#include <string.h>

#include "base/error.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AX_CTX_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(AX_CTX_ASAN)
#define AX_CTX_ASAN 1
#endif

#ifdef AX_CTX_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

/* --- AddressSanitizer fiber annotations ----------------------------------- */

#ifdef AX_CTX_ASAN
/*
 * The context that switched last on this thread, so the context it
 * resumed can store the bounds ASan reports for it (the main context does
 * not know its own). NULL after a final switch: the ended context may be
 * freed once the next one runs.
 */
static _Thread_local ax_ctx *asan_from;

static void
asan_before(ax_ctx *from, ax_ctx *to, int final)
{
    asan_from = final ? NULL : from;
    /* NULL: the ending context's fake stack is destroyed, not saved. */
    __sanitizer_start_switch_fiber(final ? NULL : &from->fake_stack,
                                   to->stack_base, to->stack_size);
}

/* In the context that runs now; self is NULL the first time it runs. */
static void
asan_after(ax_ctx *self)
{
    const void *base;
    size_t size;
    ax_ctx *from = asan_from;

    __sanitizer_finish_switch_fiber(self ? self->fake_stack : NULL, &base,
                                    &size);
    if (from != NULL && from->stack_size == 0) {
        from->stack_base = base;
        from->stack_size = size;
    }
}
#endif

/*
 * ctx_start - the first C frame of every new context: entry must not
 * return (it ends with ax__ctx_switch_final), and if it does, the process
 * traps: SIGILL on x86-64, SIGTRAP on AArch64.
 */
__attribute__((noreturn, used)) static void
ctx_start(void (*entry)(void *), void *arg)
{
#ifdef AX_CTX_ASAN
    asan_after(NULL);
#endif
    entry(arg);
    __builtin_trap();
}

/* A new stack may hold the poisoned frames of a coroutine that ended. */
static void
ctx_clean_stack(void *base, size_t size)
{
#ifdef AX_CTX_ASAN
    ASAN_UNPOISON_MEMORY_REGION(base, size);
#else
    (void)base;
    (void)size;
#endif
}

#ifndef AXON_CTX_UCONTEXT

/* --- hand-written switch -------------------------------------------------- */

/*
 * ax__ctx_swap_asm - push the callee-saved registers and the control
 * words, *from_sp = sp, sp = to_sp, pop, return into the other context.
 * ax__ctx_boot_asm - where a new context's first switch returns to: calls
 * start(entry, arg) from the registers ax__ctx_make left in the frame.
 */
__attribute__((visibility("hidden"))) void ax__ctx_swap_asm(void **from_sp,
                                                            void *to_sp);
__attribute__((visibility("hidden"))) void ax__ctx_boot_asm(void);

#if defined(__x86_64__)
/*
 * Frame, from the saved sp upwards (64 bytes):
 *   +0 MXCSR (4 bytes), +4 x87 control word (2 bytes), +6 unused
 *   +8 r15, +16 r14, +24 r13, +32 r12, +40 rbx, +48 rbp, +56 return address
 */
#define FRAME_WORDS 8
#define SLOT_CTL 0
#define SLOT_R15 1
#define SLOT_R14 2
#define SLOT_R13 3
#define SLOT_R12 4
#define SLOT_RBX 5
#define SLOT_RBP 6
#define SLOT_RET 7
__asm__(".pushsection .text\n"
        ".globl ax__ctx_swap_asm\n"
        ".hidden ax__ctx_swap_asm\n"
        ".type ax__ctx_swap_asm, @function\n"
        ".p2align 4\n"
        "ax__ctx_swap_asm:\n"
        ".cfi_startproc\n"
        "    pushq %rbp\n"
        ".cfi_adjust_cfa_offset 8\n"
        ".cfi_rel_offset %rbp, 0\n"
        "    pushq %rbx\n"
        ".cfi_adjust_cfa_offset 8\n"
        ".cfi_rel_offset %rbx, 0\n"
        "    pushq %r12\n"
        ".cfi_adjust_cfa_offset 8\n"
        ".cfi_rel_offset %r12, 0\n"
        "    pushq %r13\n"
        ".cfi_adjust_cfa_offset 8\n"
        ".cfi_rel_offset %r13, 0\n"
        "    pushq %r14\n"
        ".cfi_adjust_cfa_offset 8\n"
        ".cfi_rel_offset %r14, 0\n"
        "    pushq %r15\n"
        ".cfi_adjust_cfa_offset 8\n"
        ".cfi_rel_offset %r15, 0\n"
        "    subq $8, %rsp\n"
        ".cfi_adjust_cfa_offset 8\n"
        "    stmxcsr (%rsp)\n"
        "    fnstcw 4(%rsp)\n"
        /* The other stack holds a frame of the same shape: the CFI
         * above stays true after the exchange. */
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    ldmxcsr (%rsp)\n"
        "    fldcw 4(%rsp)\n"
        "    addq $8, %rsp\n"
        ".cfi_adjust_cfa_offset -8\n"
        "    popq %r15\n"
        ".cfi_adjust_cfa_offset -8\n"
        ".cfi_restore %r15\n"
        "    popq %r14\n"
        ".cfi_adjust_cfa_offset -8\n"
        ".cfi_restore %r14\n"
        "    popq %r13\n"
        ".cfi_adjust_cfa_offset -8\n"
        ".cfi_restore %r13\n"
        "    popq %r12\n"
        ".cfi_adjust_cfa_offset -8\n"
        ".cfi_restore %r12\n"
        "    popq %rbx\n"
        ".cfi_adjust_cfa_offset -8\n"
        ".cfi_restore %rbx\n"
        "    popq %rbp\n"
        ".cfi_adjust_cfa_offset -8\n"
        ".cfi_restore %rbp\n"
        "    ret\n"
        ".cfi_endproc\n"
        ".size ax__ctx_swap_asm, .-ax__ctx_swap_asm\n"
        "\n"
        /* Entered by ret with rsp 16-byte aligned: the call leaves
         * rsp + 8 aligned at ctx_start's first instruction, as the ABI
         * wants. rbx = start, r12 = entry, r13 = arg, rbp = 0. */
        ".globl ax__ctx_boot_asm\n"
        ".hidden ax__ctx_boot_asm\n"
        ".type ax__ctx_boot_asm, @function\n"
        ".p2align 4\n"
        "ax__ctx_boot_asm:\n"
        ".cfi_startproc\n"
        ".cfi_undefined %rip\n"
        "    movq %r12, %rdi\n"
        "    movq %r13, %rsi\n"
        "    call *%rbx\n"
        "    ud2\n"
        ".cfi_endproc\n"
        ".size ax__ctx_boot_asm, .-ax__ctx_boot_asm\n"
        ".popsection\n"
        ".pushsection .note.GNU-stack, \"\", @progbits\n"
        ".popsection\n");

static void
frame_set_ctl(uintptr_t *frame)
{
    uint32_t mxcsr;
    uint16_t fcw;

    /* A new context starts with its creator's modes, as a new thread. */
    __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(fcw));
    memcpy((char *)&frame[SLOT_CTL], &mxcsr, sizeof(mxcsr));
    memcpy((char *)&frame[SLOT_CTL] + 4, &fcw, sizeof(fcw));
}

static void
frame_set_regs(uintptr_t *frame, void (*entry)(void *), void *arg)
{
    frame[SLOT_RBX] = (uintptr_t)ctx_start;
    frame[SLOT_R12] = (uintptr_t)entry;
    frame[SLOT_R13] = (uintptr_t)arg;
    frame[SLOT_RET] = (uintptr_t)ax__ctx_boot_asm;
}

#elif defined(__aarch64__)
/*
 * Frame, from the saved sp upwards (176 bytes, a multiple of 16):
 *   +0 x19 x20 x21 ... x28, +80 x29 (fp), +88 x30 (lr),
 *   +96 d8 ... d15, +160 FPCR, +168 unused
 */
#define FRAME_WORDS 22
#define SLOT_X19 0
#define SLOT_X20 1
#define SLOT_X21 2
#define SLOT_X29 10
#define SLOT_X30 11
#define SLOT_CTL 20
__asm__(".pushsection .text\n"
        ".globl ax__ctx_swap_asm\n"
        ".hidden ax__ctx_swap_asm\n"
        ".type ax__ctx_swap_asm, %function\n"
        ".p2align 4\n"
        "ax__ctx_swap_asm:\n"
        ".cfi_startproc\n"
        "    sub sp, sp, #176\n"
        ".cfi_adjust_cfa_offset 176\n"
        "    stp x19, x20, [sp, #0]\n"
        "    stp x21, x22, [sp, #16]\n"
        "    stp x23, x24, [sp, #32]\n"
        "    stp x25, x26, [sp, #48]\n"
        "    stp x27, x28, [sp, #64]\n"
        "    stp x29, x30, [sp, #80]\n"
        ".cfi_rel_offset x29, 80\n"
        ".cfi_rel_offset x30, 88\n"
        "    stp d8, d9, [sp, #96]\n"
        "    stp d10, d11, [sp, #112]\n"
        "    stp d12, d13, [sp, #128]\n"
        "    stp d14, d15, [sp, #144]\n"
        "    mrs x9, fpcr\n"
        "    str x9, [sp, #160]\n"
        /* The other stack holds a frame of the same shape. */
        "    mov x9, sp\n"
        "    str x9, [x0]\n"
        "    mov sp, x1\n"
        "    ldr x9, [sp, #160]\n"
        "    msr fpcr, x9\n"
        "    ldp x19, x20, [sp, #0]\n"
        "    ldp x21, x22, [sp, #16]\n"
        "    ldp x23, x24, [sp, #32]\n"
        "    ldp x25, x26, [sp, #48]\n"
        "    ldp x27, x28, [sp, #64]\n"
        "    ldp x29, x30, [sp, #80]\n"
        "    ldp d8, d9, [sp, #96]\n"
        "    ldp d10, d11, [sp, #112]\n"
        "    ldp d12, d13, [sp, #128]\n"
        "    ldp d14, d15, [sp, #144]\n"
        "    add sp, sp, #176\n"
        ".cfi_adjust_cfa_offset -176\n"
        ".cfi_restore x29\n"
        ".cfi_restore x30\n"
        "    ret\n"
        ".cfi_endproc\n"
        ".size ax__ctx_swap_asm, .-ax__ctx_swap_asm\n"
        "\n"
        /* Entered by ret with sp 16-byte aligned (always, on AArch64).
         * x19 = start, x20 = entry, x21 = arg, x29 = 0. */
        ".globl ax__ctx_boot_asm\n"
        ".hidden ax__ctx_boot_asm\n"
        ".type ax__ctx_boot_asm, %function\n"
        ".p2align 4\n"
        "ax__ctx_boot_asm:\n"
        ".cfi_startproc\n"
        ".cfi_undefined x30\n"
        "    mov x0, x20\n"
        "    mov x1, x21\n"
        "    blr x19\n"
        "    brk #0x3e8\n"
        ".cfi_endproc\n"
        ".size ax__ctx_boot_asm, .-ax__ctx_boot_asm\n"
        ".popsection\n"
        ".pushsection .note.GNU-stack, \"\", %progbits\n"
        ".popsection\n");

static void
frame_set_ctl(uintptr_t *frame)
{
    uint64_t fpcr;

    /* A new context starts with its creator's modes, as a new thread. */
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    frame[SLOT_CTL] = (uintptr_t)fpcr;
}

static void
frame_set_regs(uintptr_t *frame, void (*entry)(void *), void *arg)
{
    frame[SLOT_X19] = (uintptr_t)ctx_start;
    frame[SLOT_X20] = (uintptr_t)entry;
    frame[SLOT_X21] = (uintptr_t)arg;
    frame[SLOT_X30] = (uintptr_t)ax__ctx_boot_asm;
}
#else
#error "no hand-written switch for this architecture: define AXON_CTX_UCONTEXT"
#endif

void
ax__ctx_init_current(ax_ctx *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
}

void
ax__ctx_make(ax_ctx *ctx, void *base, size_t size, void (*entry)(void *),
             void *arg)
{
    uintptr_t top = (uintptr_t)base + size;
    uintptr_t *frame;

    AX_REQUIRE(((uintptr_t)base | size) % 16 == 0 &&
                   size >= 2 * FRAME_WORDS * sizeof(uintptr_t),
               "ax__ctx_make: stack %p + %zu is not 16-byte aligned or too "
               "small",
               base, size);
    ctx_clean_stack(base, size);
    /*
     * Two zero words on top (a null return address and frame link for
     * unwinders that walk frame pointers), then the switch frame: after
     * its ret, sp = top - 16, 16-byte aligned, in the trampoline.
     */
    frame = (uintptr_t *)(top - 16) - FRAME_WORDS;
    memset(frame, 0, (FRAME_WORDS + 2) * sizeof(uintptr_t));
    frame_set_ctl(frame);
    frame_set_regs(frame, entry, arg);
    ctx->sp = frame;
    ctx->stack_base = base;
    ctx->stack_size = size;
    ctx->fake_stack = NULL;
}

static inline void
ctx_swap(ax_ctx *from, ax_ctx *to)
{
    ax__ctx_swap_asm(&from->sp, to->sp);
}

#else /* AXON_CTX_UCONTEXT */

/* --- ucontext fallback ---------------------------------------------------- */

/*
 * makecontext passes int arguments only: entry and arg travel split in
 * 32-bit halves (the high ones are 0 where pointers are 32 bits), so
 * nothing is kept outside the new context.
 */
static uintptr_t
uc_join(unsigned int hi, unsigned int lo)
{
    return ((uintptr_t)hi << 16 << 16) | (uintptr_t)lo;
}

static void
uc_start(unsigned int entry_hi, unsigned int entry_lo, unsigned int arg_hi,
         unsigned int arg_lo)
{
    ctx_start((void (*)(void *))uc_join(entry_hi, entry_lo),
              (void *)uc_join(arg_hi, arg_lo));
}

void
ax__ctx_init_current(ax_ctx *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
}

void
ax__ctx_make(ax_ctx *ctx, void *base, size_t size, void (*entry)(void *),
             void *arg)
{
    uintptr_t e = (uintptr_t)entry;
    uintptr_t a = (uintptr_t)arg;

    AX_REQUIRE(((uintptr_t)base | size) % 16 == 0,
               "ax__ctx_make: stack %p + %zu is not 16-byte aligned", base,
               size);
    ctx_clean_stack(base, size);
    memset(ctx, 0, sizeof(*ctx));
    if (getcontext(&ctx->uc) != 0) {
        AX_MISUSE("ax__ctx_make: getcontext failed");
    }
    ctx->uc.uc_stack.ss_sp = base;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    ctx->stack_base = base;
    ctx->stack_size = size;
    makecontext(&ctx->uc, (void (*)(void))uc_start, 4,
                (unsigned int)(e >> 16 >> 16), (unsigned int)e,
                (unsigned int)(a >> 16 >> 16), (unsigned int)a);
}

static inline void
ctx_swap(ax_ctx *from, ax_ctx *to)
{
    if (swapcontext(&from->uc, &to->uc) != 0) {
        AX_MISUSE("ax__ctx_switch: swapcontext failed");
    }
}

#endif /* AXON_CTX_UCONTEXT */

/* --- the switch ----------------------------------------------------------- */

void
ax__ctx_switch(ax_ctx *from, ax_ctx *to)
{
#ifdef AX_CTX_ASAN
    asan_before(from, to, 0);
    ctx_swap(from, to);
    asan_after(from);
#else
    ctx_swap(from, to);
#endif
}

void
ax__ctx_switch_final(ax_ctx *from, ax_ctx *to)
{
#ifdef AX_CTX_ASAN
    asan_before(from, to, 1);
#endif
    ctx_swap(from, to);
    /* Nothing switches back to an ended context. */
    __builtin_trap();
}
