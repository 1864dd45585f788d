/*
 * actors/core/ctx.h - coroutine contexts and the context switch (internal).
 *
 * A context is a saved stack pointer: switching pushes the callee-saved
 * registers and the FPU/SSE control words on the current stack, stores the
 * stack pointer, loads the other one and pops. No system call. Hand-written
 * for x86-64 (System V) and AArch64; ucontext elsewhere, chosen at build
 * time (AXON_CTX_UCONTEXT forces the fallback for testing).
 *
 * Under ASan every switch is announced with __sanitizer_start_switch_fiber
 * / __sanitizer_finish_switch_fiber, so the sanitizer follows the stacks.
 */
#ifndef AXON_ACTORS_CTX_H
#define AXON_ACTORS_CTX_H

#include <stddef.h>

#if !defined(AXON_CTX_UCONTEXT) && !defined(__x86_64__) && !defined(__aarch64__)
#define AXON_CTX_UCONTEXT 1
#endif

#ifdef AXON_CTX_UCONTEXT
#include <ucontext.h>
#endif

typedef struct ax_ctx {
#ifdef AXON_CTX_UCONTEXT
    ucontext_t uc; /* the fallback's whole register file */
#else
    void *sp; /* saved stack pointer, registers below it */
#endif
    const void *stack_base; /* lowest address of the stack (ASan) */
    size_t stack_size;      /* its size; 0: not known yet (the main stack) */
    void *fake_stack;       /* ASan's fake stack of this context */
} ax_ctx;

/*
 * ax__ctx_init_current - make ctx stand for the context that is running
 * now (the scheduler's, on the thread's own stack), so it can be switched
 * away from and back to.
 */
void ax__ctx_init_current(ax_ctx *ctx);

/*
 * ax__ctx_make - prepare ctx so that the first switch to it runs
 * entry(arg) on the stack [base, base + size). base and size must be
 * 16-byte aligned. entry must never return: it ends by switching away
 * with ax__ctx_switch_final.
 */
void ax__ctx_make(ax_ctx *ctx, void *base, size_t size, void (*entry)(void *),
                  void *arg);

/* ax__ctx_switch - save the running context in from and resume to. */
void ax__ctx_switch(ax_ctx *from, ax_ctx *to);

/*
 * ax__ctx_switch_final - like ax__ctx_switch, for a context that will
 * never be resumed (its coroutine has ended): tells ASan to drop its fake
 * stack. The stack itself may be reused once to is running.
 */
void ax__ctx_switch_final(ax_ctx *from, ax_ctx *to);

#endif /* AXON_ACTORS_CTX_H */
