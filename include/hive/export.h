/*
 * export.h - HIVE_API marks the calls libhive exports. The library is
 * built with hidden visibility, so its internal functions (hive__*) stay
 * out of libhive.so's dynamic symbol table; only what carries HIVE_API is
 * there (tests/check-exports.sh says so).
 */
#ifndef HIVE_EXPORT_H
#define HIVE_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define HIVE_API __attribute__((visibility("default")))
#else
#define HIVE_API
#endif

#endif /* HIVE_EXPORT_H */
