/*
 * sanitizers.h - UNDER_ASAN is defined in an AddressSanitizer build (gcc
 * and clang say so differently): some checks cannot run there, such as an
 * address-space limit (ASan reserves terabytes at start).
 */
#ifndef HIVE_TESTS_SANITIZERS_H
#define HIVE_TESTS_SANITIZERS_H

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#endif /* HIVE_TESTS_SANITIZERS_H */
