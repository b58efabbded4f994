/*
 * message.c - allocating and freeing messages.
 *
 * Messages are plain malloc'd blocks, so any thread may free() one. A
 * worker thread keeps the ones it frees in a cache of its own and hands them
 * out again, which costs a few loads and stores instead of malloc and free:
 * one list per size class, touched by its thread only, no lock. A message
 * made on one worker and finished on another (a producer and a consumer on
 * two cores) piles up in the consumer's cache while the producer's runs dry,
 * so caches trade whole batches through the node's depot; its mutex is taken
 * once per batch, not once per message.
 *
 * Only messages whose payload fits the largest class come from caches; the
 * class is kept in the flags. Everything is freed at hive_stop: caches by
 * their workers, the depot by the node. ASan builds turn the caches off
 * (HIVE_MSG_CACHE=0), so that a message used after its free is caught.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"

_Thread_local hive__msg_cache_t *hive__msg_cache;

/* Takes a batch from the depot into an empty cache list; false if none. */
static bool msg_cache_refill(hive__msg_cache_t *cache, int c) {
  hive__msg_depot_t *depot = cache->depot;
  pthread_mutex_lock(&depot->lock);
  unsigned n = depot->nbatches[c];
  hive__msg_t *batch = n > 0 ? depot->batches[c][n - 1] : NULL;
  if (batch != NULL)
    depot->nbatches[c] = n - 1;
  pthread_mutex_unlock(&depot->lock);
  if (batch == NULL)
    return false;
  cache->free[c] = batch;
  cache->count[c] = HIVE__MSG_BATCH;
  return true;
}

/* Frees a list of messages linked through link.next. */
static void msg_free_list(hive__msg_t *msg) {
  while (msg != NULL) {
    hive__msg_t *next = (hive__msg_t *)msg->link.next;
    free(msg);
    msg = next;
  }
}

/* Moves one batch of a full cache list to the depot (or frees it when the
 * depot is full too). */
static void msg_cache_spill(hive__msg_cache_t *cache, int c) {
  hive__msg_t *batch = cache->free[c], *last = batch;
  for (unsigned i = 1; i < HIVE__MSG_BATCH; i++)
    last = (hive__msg_t *)last->link.next;
  cache->free[c] = (hive__msg_t *)last->link.next;
  cache->count[c] -= HIVE__MSG_BATCH;
  last->link.next = NULL;
  hive__msg_depot_t *depot = cache->depot;
  pthread_mutex_lock(&depot->lock);
  bool kept = depot->nbatches[c] < HIVE__MSG_DEPOT_BATCHES;
  if (kept)
    depot->batches[c][depot->nbatches[c]++] = batch;
  pthread_mutex_unlock(&depot->lock);
  if (!kept)
    msg_free_list(batch);
}

/* hive__msg_new found no cached message: refill from the depot, or malloc. */
hive__msg_t *hive__msg_new_slow(const void *data, size_t len) {
  hive__msg_cache_t *cache = hive__msg_cache;
  int c = hive__msg_class(len);
  hive__msg_t *msg;
  if (cache != NULL && c >= 0 && msg_cache_refill(cache, c)) {
    msg = cache->free[c];
    cache->free[c] = (hive__msg_t *)msg->link.next;
    cache->count[c]--;
  } else if ((msg = malloc(sizeof(*msg) + (c == 1 ? HIVE__MSG_CACHED_PAYLOAD : len))) == NULL) {
    return NULL;
  }
  return hive__msg_init(msg, c, data, len);
}

/* hive__msg_free could not simply cache msg: it owns a payload, this
 * thread has no cache, or the cache is full. */
void hive__msg_free_slow(hive__msg_t *msg) {
  if (msg->flags & HIVE__MSG_OWNED)
    free((void *)msg->pub.data);
  hive__msg_cache_t *cache = hive__msg_cache;
  int c = HIVE__MSG_CLASS_OF(msg->flags);
  if (cache == NULL || c < 0) {
    free(msg);
    return;
  }
  msg->link.next = (ck_stack_entry_t *)cache->free[c];
  cache->free[c] = msg;
  if (++cache->count[c] > HIVE__MSG_CACHE_MAX)
    msg_cache_spill(cache, c);
}

int hive__msg_depot_init(hive__msg_depot_t *depot) {
  memset(depot, 0, sizeof(*depot));
  return pthread_mutex_init(&depot->lock, NULL) == 0 ? 0 : -1;
}

void hive__msg_depot_fini(hive__msg_depot_t *depot) {
  for (int c = 0; c < HIVE__MSG_CLASSES; c++)
    for (unsigned i = 0; i < depot->nbatches[c]; i++)
      msg_free_list(depot->batches[c][i]);
  pthread_mutex_destroy(&depot->lock);
}

void hive__msg_cache_enter(hive__msg_cache_t *cache, hive__msg_depot_t *depot) {
  memset(cache, 0, sizeof(*cache));
  cache->depot = depot;
  hive__msg_cache = HIVE_MSG_CACHE ? cache : NULL;
}

void hive__msg_cache_leave(hive__msg_cache_t *cache) {
  assert(hive__msg_cache == (HIVE_MSG_CACHE ? cache : NULL));
  hive__msg_cache = NULL;
  for (int c = 0; c < HIVE__MSG_CLASSES; c++) {
    msg_free_list(cache->free[c]);
    cache->free[c] = NULL;
    cache->count[c] = 0;
  }
}
