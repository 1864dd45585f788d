/*
 * base/error.h - error details and misuse aborts (internal).
 */
#ifndef AXON_BASE_ERROR_H
#define AXON_BASE_ERROR_H

#include <axon/error.h>

/*
 * ax__fail - record a detail sentence for ax_error_detail() and return err,
 * so a failing path reads `return ax__fail(AX_EPROTO, "...", ...);`.
 */
int ax__fail(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ax__misuse - abort with file:line and a sentence: the caller has a bug. */
_Noreturn void ax__misuse(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define AX_MISUSE(...) ax__misuse(__FILE__, __LINE__, __VA_ARGS__)

/* AX_REQUIRE - abort with a sentence when a precondition does not hold. */
#define AX_REQUIRE(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) {                                                         \
            AX_MISUSE(__VA_ARGS__);                                            \
        }                                                                      \
    } while (0)

#endif /* AXON_BASE_ERROR_H */
