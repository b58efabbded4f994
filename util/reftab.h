/*
 * reftab.h - small uint64 -> uint64 tables on ck_ht (direct mode), used by
 * one writer at a time with no concurrent readers: an actor's open
 * requests, owed replies, links and monitors, and the node's waiting asks
 * (under its mutex). Keys must not be 0 or UINT64_MAX (ck_ht's markers):
 * pids and refs never are.
 */
#ifndef HIVE_REFTAB_H
#define HIVE_REFTAB_H

#include <ck_ht.h>
#include <stdbool.h>
#include <stdint.h>

ck_ht_t *hive__reftab_new(void);                                   /* NULL: no memory */
void hive__reftab_destroy(ck_ht_t *t);                             /* NULL is fine */
bool hive__reftab_put(ck_ht_t *t, uint64_t key, uint64_t value);   /* false: no memory or present */
bool hive__reftab_take(ck_ht_t *t, uint64_t key, uint64_t *value); /* t may be NULL */
bool hive__reftab_has(ck_ht_t *t, uint64_t key);                   /* t may be NULL */
bool hive__reftab_get(ck_ht_t *t, uint64_t key, uint64_t *value);  /* t may be NULL */
uint64_t hive__reftab_count(ck_ht_t *t);                           /* t may be NULL */
/* Calls visit for every entry; t may be NULL. visit must not change t. */
void hive__reftab_each(ck_ht_t *t, void (*visit)(uint64_t key, uint64_t value, void *arg),
                       void *arg);

#endif /* HIVE_REFTAB_H */
