/*
 * registry.c - registered names: one live actor per name, one name per actor.
 *
 * A ck_hs set of entries keyed by name. ck_hs allows one writer at a time
 * and lock-free readers, but readers would then need ck_epoch to keep a
 * removed entry alive while they compare it; names are looked up far less
 * often than messages are sent, so one mutex guards every operation and no
 * entry can be freed under a reader.
 *
 * An actor's name dies with it: the exit path clears alive_pid and then
 * looks at the actor's name (locking only if it has one); registration
 * stores the name and then looks at alive_pid again. Both pairs are
 * seq_cst, so one side always sees the other: a name is never left behind
 * on a dead actor.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "util/ck_alloc.h"

typedef struct hive__name {
  hive_pid_t pid;
  hive__actor_t *actor;
  char text[HIVE_NAME_MAX + 1];
} hive__name_t;

static unsigned long registry_hash(const void *object, unsigned long seed) {
  const hive__name_t *entry = object;
  unsigned long hash = 14695981039346656037ul ^ seed; /* FNV-1a */
  for (const unsigned char *c = (const unsigned char *)entry->text; *c; c++)
    hash = (hash ^ *c) * 1099511628211ul;
  return hash;
}

static bool registry_equal(const void *a, const void *b) {
  return strcmp(((const hive__name_t *)a)->text, ((const hive__name_t *)b)->text) == 0;
}

int hive__registry_init(hive_t *h) {
  if (pthread_mutex_init(&h->names_lock, NULL) != 0)
    return HIVE_ESYS;
  if (!ck_hs_init(&h->names, CK_HS_MODE_OBJECT | CK_HS_MODE_SPMC, registry_hash, registry_equal,
                  &hive__ck_alloc, 64, 0x9e3779b9u)) {
    pthread_mutex_destroy(&h->names_lock);
    return HIVE_ENOMEM;
  }
  return HIVE_OK;
}

void hive__registry_free(hive_t *h) {
  ck_hs_iterator_t it = CK_HS_ITERATOR_INITIALIZER;
  void *entry;
  while (ck_hs_next(&h->names, &it, &entry))
    free(entry);
  ck_hs_destroy(&h->names);
  pthread_mutex_destroy(&h->names_lock);
}

/* Checks a user-supplied name; HIVE_OK and its length in *len. */
static int registry_check_name(const char *name, size_t *len) {
  if (name == NULL)
    return HIVE_EINVAL;
  size_t n = strnlen(name, HIVE_NAME_MAX + 1);
  if (n == 0)
    return HIVE_EINVAL;
  if (n > HIVE_NAME_MAX)
    return HIVE_ENAMETOOLONG;
  *len = n;
  return HIVE_OK;
}

static hive__name_t *registry_find(hive_t *h, const char *name, size_t len, unsigned long *hash) {
  hive__name_t key;
  memcpy(key.text, name, len + 1);
  *hash = CK_HS_HASH(&h->names, registry_hash, &key);
  return ck_hs_get(&h->names, *hash, &key);
}

int hive_register(hive_t *h, const char *name, hive_pid_t pid) {
  size_t len;
  if (h == NULL || pid == 0)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(h);
  int rc = registry_check_name(name, &len);
  if (rc != HIVE_OK)
    return rc;
  hive__actor_t *a = hive__pidtab_lookup(h, pid);
  if (a == NULL)
    return HIVE_ENOPROC;

  pthread_mutex_lock(&h->names_lock);
  unsigned long hash;
  if (atomic_load(&a->alive_pid) != pid) {
    rc = HIVE_ENOPROC;
  } else if (registry_find(h, name, len, &hash) != NULL) {
    rc = HIVE_EEXIST;
  } else if (atomic_load(&a->name) != NULL) {
    rc = HIVE_EALREADY;
  } else {
    hive__name_t *entry = malloc(sizeof(*entry));
    if (entry == NULL) {
      rc = HIVE_ENOMEM;
    } else {
      entry->pid = pid;
      entry->actor = a;
      memcpy(entry->text, name, len + 1);
      if (ck_hs_put(&h->names, hash, entry)) {
        /* Store, then look again (both seq_cst): an exit that began
         * meanwhile either sees the name and releases it, or we see the
         * exit here and take the name back. */
        atomic_store(&a->name, entry);
        if (atomic_load(&a->alive_pid) != pid) {
          ck_hs_remove(&h->names, hash, entry);
          atomic_store(&a->name, NULL);
          free(entry);
          rc = HIVE_ENOPROC;
        }
      } else {
        free(entry);
        rc = HIVE_ENOMEM;
      }
    }
  }
  pthread_mutex_unlock(&h->names_lock);
  return rc;
}

int hive_unregister(hive_t *h, const char *name) {
  size_t len;
  if (h == NULL)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(h);
  int rc = registry_check_name(name, &len);
  if (rc != HIVE_OK)
    return rc;
  pthread_mutex_lock(&h->names_lock);
  unsigned long hash;
  hive__name_t *entry = registry_find(h, name, len, &hash);
  if (entry == NULL) {
    rc = HIVE_ENOTFOUND;
  } else {
    ck_hs_remove(&h->names, hash, entry);
    atomic_store(&entry->actor->name, NULL);
    free(entry);
  }
  pthread_mutex_unlock(&h->names_lock);
  return rc;
}

hive_pid_t hive_whereis(hive_t *h, const char *name) {
  size_t len;
  if (h == NULL || h->child || registry_check_name(name, &len) != HIVE_OK)
    return 0;
  pthread_mutex_lock(&h->names_lock);
  unsigned long hash;
  hive__name_t *entry = registry_find(h, name, len, &hash);
  hive_pid_t pid = entry != NULL ? entry->pid : 0;
  pthread_mutex_unlock(&h->names_lock);
  return pid;
}

void hive__registry_release(hive_t *h, hive__actor_t *a) {
  /* Most actors have no name: no lock for them. seq_cst, after the exit
   * cleared alive_pid (seq_cst): see hive_register. */
  if (atomic_load(&a->name) == NULL)
    return;
  pthread_mutex_lock(&h->names_lock);
  hive__name_t *entry = atomic_load(&a->name);
  if (entry != NULL) {
    ck_hs_remove(&h->names, CK_HS_HASH(&h->names, registry_hash, entry), entry);
    atomic_store(&a->name, NULL);
    free(entry);
  }
  pthread_mutex_unlock(&h->names_lock);
}

void hive__registry_name_of(hive_t *h, hive__actor_t *a, char *buf) {
  pthread_mutex_lock(&h->names_lock);
  hive__name_t *entry = atomic_load(&a->name);
  if (entry != NULL)
    memcpy(buf, entry->text, sizeof(entry->text));
  else
    buf[0] = '\0';
  pthread_mutex_unlock(&h->names_lock);
}
