/*
 * ck_alloc.h - the allocator hive hands Concurrency Kit's hash tables
 * (ck_ht, ck_hs): malloc, realloc and free, with nothing deferred. For
 * tables read only under their writer's lock or on the writer's thread:
 * a table with lock-free readers would need ck_epoch to free what it
 * replaces while they still look.
 */
#ifndef HIVE_CK_ALLOC_H
#define HIVE_CK_ALLOC_H

#include <ck_malloc.h>

extern struct ck_malloc hive__ck_alloc;

#endif /* HIVE_CK_ALLOC_H */
