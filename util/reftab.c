/*
 * reftab.c - see reftab.h.
 */
#include "reftab.h"

#include "ck_alloc.h"

#include <stdlib.h>

ck_ht_t *hive__reftab_new(void) {
  ck_ht_t *t = malloc(sizeof(*t));
  if (t != NULL && !ck_ht_init(t, CK_HT_MODE_DIRECT, NULL, &hive__ck_alloc, 8, 0x5eed)) {
    free(t);
    t = NULL;
  }
  return t;
}

void hive__reftab_destroy(ck_ht_t *t) {
  if (t != NULL) {
    ck_ht_destroy(t);
    free(t);
  }
}

bool hive__reftab_put(ck_ht_t *t, uint64_t key, uint64_t value) {
  ck_ht_hash_t hash;
  ck_ht_entry_t entry;
  ck_ht_hash_direct(&hash, t, (uintptr_t)key);
  ck_ht_entry_set_direct(&entry, hash, (uintptr_t)key, (uintptr_t)value);
  return ck_ht_put_spmc(t, hash, &entry);
}

/* Looks key up with ck_ht's get or remove; its value into *value. */
static bool reftab_find(ck_ht_t *t, uint64_t key, uint64_t *value,
                        bool (*op)(ck_ht_t *, ck_ht_hash_t, ck_ht_entry_t *)) {
  if (t == NULL)
    return false;
  ck_ht_hash_t hash;
  ck_ht_entry_t entry;
  ck_ht_hash_direct(&hash, t, (uintptr_t)key);
  ck_ht_entry_key_set_direct(&entry, (uintptr_t)key);
  if (!op(t, hash, &entry))
    return false;
  if (value != NULL)
    *value = ck_ht_entry_value_direct(&entry);
  return true;
}

bool hive__reftab_take(ck_ht_t *t, uint64_t key, uint64_t *value) {
  return reftab_find(t, key, value, ck_ht_remove_spmc);
}

bool hive__reftab_get(ck_ht_t *t, uint64_t key, uint64_t *value) {
  return reftab_find(t, key, value, ck_ht_get_spmc);
}

bool hive__reftab_has(ck_ht_t *t, uint64_t key) {
  return hive__reftab_get(t, key, NULL);
}

uint64_t hive__reftab_count(ck_ht_t *t) {
  return t != NULL ? ck_ht_count(t) : 0;
}

void hive__reftab_each(ck_ht_t *t, void (*visit)(uint64_t key, uint64_t value, void *arg),
                       void *arg) {
  if (t == NULL)
    return;
  ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
  ck_ht_entry_t *entry;
  while (ck_ht_next(t, &it, &entry))
    visit((uint64_t)(uintptr_t)ck_ht_entry_key_direct(entry),
          (uint64_t)ck_ht_entry_value_direct(entry), arg);
}
