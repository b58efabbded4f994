/*
 * tsan.h - tells ThreadSanitizer about hand-offs made through Concurrency Kit.
 *
 * ck_pr uses inline assembly that TSan cannot see, so a pointer passed
 * through a ck_stack or ck_ring looks unsynchronised. A release before the
 * push and an acquire after the pop state the happens-before edge the ck
 * structure really provides. Without TSan these compile to nothing.
 */
#ifndef HIVE_TSAN_H
#define HIVE_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define HIVE__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HIVE__TSAN 1
#endif
#endif

#ifdef HIVE__TSAN
#include <sanitizer/tsan_interface.h>
#define HIVE__TSAN_RELEASE(addr) __tsan_release((void *)(addr))
#define HIVE__TSAN_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#else
#define HIVE__TSAN_RELEASE(addr) ((void)(addr))
#define HIVE__TSAN_ACQUIRE(addr) ((void)(addr))
#endif

#endif /* HIVE_TSAN_H */
