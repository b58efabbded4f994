/*
 * module.c - naming a static object so that another process running the
 * same program can find it: the module it lies in (the program, or a
 * library loaded at start) and its offset from that module's load
 * address. Both sides measure from dl_iterate_phdr's dlpi_addr, so it
 * holds for position-independent programs and for fixed ones alike.
 */
#define _GNU_SOURCE
#include <link.h>
#include <string.h>

#include "process.h"

typedef struct {
  uintptr_t p;
  size_t size;
  const char *want; /* resolve: the module's name */
  uint64_t offset;
  bool found;
  char *module;
  size_t module_size;
  uintptr_t resolved;
} module_search_t;

/* True if [p, p + size) lies in one of the module's loaded segments. */
static bool module_holds(const struct dl_phdr_info *info, uintptr_t p, size_t size) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD)
      continue;
    uintptr_t start = info->dlpi_addr + ph->p_vaddr;
    if (p >= start && p - start <= ph->p_memsz && ph->p_memsz - (p - start) >= size)
      return true;
  }
  return false;
}

static int module_locate(struct dl_phdr_info *info, size_t info_size, void *arg) {
  (void)info_size;
  module_search_t *s = arg;
  if (!module_holds(info, s->p, s->size))
    return 0;
  const char *name = info->dlpi_name != NULL ? info->dlpi_name : "";
  if (strlen(name) >= s->module_size)
    return 1; /* found, but the name does not fit: not usable */
  strcpy(s->module, name);
  s->offset = (uint64_t)(s->p - info->dlpi_addr);
  s->found = true;
  return 1;
}

bool hive__proc_locate(const void *p, char *module, size_t module_size, uint64_t *offset) {
  module_search_t s = {.p = (uintptr_t)p, .size = 1, .module = module, .module_size = module_size};
  dl_iterate_phdr(module_locate, &s);
  if (s.found)
    *offset = s.offset;
  return s.found;
}

static int module_resolve(struct dl_phdr_info *info, size_t info_size, void *arg) {
  (void)info_size;
  module_search_t *s = arg;
  const char *name = info->dlpi_name != NULL ? info->dlpi_name : "";
  if (strcmp(name, s->want) != 0)
    return 0;
  uintptr_t p = info->dlpi_addr + (uintptr_t)s->offset;
  if (module_holds(info, p, s->size)) {
    s->resolved = p;
    s->found = true;
  }
  return 1;
}

const void *hive__proc_resolve(const char *module, uint64_t offset, size_t size) {
  module_search_t s = {.want = module, .offset = offset, .size = size};
  dl_iterate_phdr(module_resolve, &s);
  return s.found ? (const void *)s.resolved : NULL;
}
