/*
 * ck_alloc.c - see ck_alloc.h.
 */
#include "ck_alloc.h"

#include <stdlib.h>

static void *ck_alloc_malloc(size_t size) {
  return malloc(size);
}

static void *ck_alloc_realloc(void *p, size_t old, size_t size, bool defer) {
  (void)old, (void)defer; /* no lock-free readers: nothing to defer */
  return realloc(p, size);
}

static void ck_alloc_free(void *p, size_t size, bool defer) {
  (void)size, (void)defer;
  free(p);
}

struct ck_malloc hive__ck_alloc = {
    .malloc = ck_alloc_malloc, .realloc = ck_alloc_realloc, .free = ck_alloc_free};
