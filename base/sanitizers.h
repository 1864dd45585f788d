/*
 * base/sanitizers.h - whether ASan or valgrind watches this code
 * (internal; the tests use it too).
 *
 *   AX_ASAN              1 in a build with AddressSanitizer, else 0;
 *                        <sanitizer/asan_interface.h> is included then
 *   RUNNING_ON_VALGRIND  true at run time under valgrind (0 where
 *                        <valgrind/valgrind.h> is missing)
 *   AX_HAVE_VALGRIND_H   defined when <valgrind/valgrind.h> was found
 */
#ifndef AXON_BASE_SANITIZERS_H
#define AXON_BASE_SANITIZERS_H

#if defined(__SANITIZE_ADDRESS__)
#define AX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AX_ASAN 1
#endif
#endif
#ifndef AX_ASAN
#define AX_ASAN 0
#endif
#if AX_ASAN
#include <sanitizer/asan_interface.h>
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define AX_HAVE_VALGRIND_H 1
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#endif /* AXON_BASE_SANITIZERS_H */
