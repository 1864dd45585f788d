/*
 * axon/cdefs.h - the few spellings that differ between C and C++.
 *
 * The public headers are C11, and a C++ program (C++11 or later) includes
 * them too: every construct that C and C++ spell differently is written
 * through a macro of this header, so each header reads the same in both
 * languages. The other headers include it; a program need not.
 */
#ifndef AXON_CDEFS_H
#define AXON_CDEFS_H

#ifdef __cplusplus
#define AX__NORETURN [[noreturn]]
#define AX__LITERAL(type) type
#define AX__ALIGNAS(n) alignas(n)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 202311L
#define AX__NORETURN [[noreturn]] /* C23 deprecates _Noreturn */
#define AX__LITERAL(type) (type)
#define AX__ALIGNAS(n) _Alignas(n)
#else
#define AX__NORETURN _Noreturn
#define AX__LITERAL(type) (type)
#define AX__ALIGNAS(n) _Alignas(n)
#endif

/*
 * AX_NORETURN - marks a function that never returns to its caller:
 * _Noreturn in C11, [[noreturn]] in C++ and C23. It comes first in the
 * declaration: AX_NORETURN void ax_exit(int code);
 */
#define AX_NORETURN AX__NORETURN

/*
 * AX_LITERAL - a value of type made from a brace list, in an expression:
 * AX_LITERAL(ax_pid){0, 0} is a compound literal in C and a list-initialised
 * temporary in C++ (which has no compound literals).
 */
#define AX_LITERAL(type) AX__LITERAL(type)

/*
 * AX_ALIGNAS - a member aligned to n bytes: _Alignas(n) in C11,
 * alignas(n) in C++. AX_ALIGNAS(16) void *p;
 */
#define AX_ALIGNAS(n) AX__ALIGNAS(n)

#endif /* AXON_CDEFS_H */
