/*
 * pidtab.c - the actor table: slots, generations, the free list.
 *
 * Slots live in chunks of HIVE__CHUNK_SLOTS that stay allocated until
 * hive_stop, so any thread may look a pid up and push into the slot's mailbox
 * without a lock or a reference count. What keeps a stale pid away from a
 * later actor is the generation: senders compare the pid with alive_pid, and
 * the owner drops any message whose `to` is not its own pid (a sender that
 * passed the check just before the actor died).
 *
 * A slot goes back to the free list only once its mailbox is empty after the
 * exit. A sender that raced the exit may still schedule the slot later; the
 * turn that runs then finds no incarnation and counts the message as a dead
 * letter. hive__pidtab_alloc claims the mailbox token before handing a slot
 * out, so such a stray turn and a new incarnation never overlap.
 */
#include <assert.h>
#include <stdlib.h>

#include "runtime.h"

int hive__pidtab_init(hive_t *h) {
  h->nchunks = (h->max_actors + HIVE__CHUNK_SLOTS - 1) / HIVE__CHUNK_SLOTS;
  h->chunks = calloc(h->nchunks, sizeof(*h->chunks));
  if (h->chunks == NULL)
    return HIVE_ENOMEM;
  if (pthread_mutex_init(&h->slots_lock, NULL) != 0) {
    free(h->chunks);
    return HIVE_ESYS;
  }
  h->slots_used = 0;
  h->free_slots = NULL;
  return HIVE_OK;
}

void hive__pidtab_free(hive_t *h) {
  for (unsigned c = 0; c < h->nchunks; c++) {
    hive__actor_t *chunk = atomic_load(&h->chunks[c]);
    if (chunk == NULL)
      continue;
    for (unsigned i = 0; i < HIVE__CHUNK_SLOTS; i++) {
      hive__mailbox_t *mb = &chunk[i].mb;
      hive__msg_t *msg;
      /* Whatever a late sender left behind is a dead letter too. */
      while ((msg = hive__mailbox_take_owner(mb, 0)) != NULL) {
        if (!(msg->flags & HIVE__MSG_SYSTEM))
          atomic_fetch_add_explicit(&h->dead_letters, 1, memory_order_relaxed);
        hive__msg_free(msg);
      }
    }
    free(chunk);
  }
  free(h->chunks);
  pthread_mutex_destroy(&h->slots_lock);
}

/* Makes a fresh slot; slots_lock held. */
static hive__actor_t *pidtab_new_slot(hive_t *h, int *err) {
  uint32_t slot = h->slots_used;
  if (slot >= (uint32_t)h->nchunks * HIVE__CHUNK_SLOTS) {
    *err = HIVE_ELIMIT;
    return NULL;
  }
  uint32_t c = slot >> HIVE__CHUNK_SHIFT;
  hive__actor_t *chunk = atomic_load_explicit(&h->chunks[c], memory_order_relaxed);
  if (chunk == NULL) {
    chunk = calloc(HIVE__CHUNK_SLOTS, sizeof(*chunk));
    if (chunk == NULL) {
      *err = HIVE_ENOMEM;
      return NULL;
    }
    for (unsigned i = 0; i < HIVE__CHUNK_SLOTS; i++) {
      chunk[i].slot = (c << HIVE__CHUNK_SHIFT) | i;
      chunk[i].gen = 1;
      hive__mailbox_init(&chunk[i].mb, &hive__ec_mode_sp);
    }
    /* release: lookups that see the chunk see its initialised slots. */
    atomic_store_explicit(&h->chunks[c], chunk, memory_order_release);
  }
  h->slots_used++;
  return &chunk[slot & (HIVE__CHUNK_SLOTS - 1)];
}

hive__actor_t *hive__pidtab_alloc(hive_t *h, int *err) {
  pthread_mutex_lock(&h->slots_lock);
  hive__actor_t *skipped = NULL, *a = NULL;
  while (h->free_slots != NULL) {
    hive__actor_t *candidate = h->free_slots;
    h->free_slots = candidate->free_next;
    if (hive__mailbox_claim(&candidate->mb)) {
      a = candidate;
      break;
    }
    /* A stray turn is draining it; leave it for a later spawn. */
    candidate->free_next = skipped;
    skipped = candidate;
  }
  while (skipped != NULL) {
    hive__actor_t *next = skipped->free_next;
    skipped->free_next = h->free_slots;
    h->free_slots = skipped;
    skipped = next;
  }
  if (a == NULL) {
    a = pidtab_new_slot(h, err);
    if (a != NULL) {
      bool claimed = hive__mailbox_claim(&a->mb);
      assert(claimed);
      (void)claimed;
    }
  }
  pthread_mutex_unlock(&h->slots_lock);
  return a;
}

void hive__pidtab_release(hive_t *h, hive__actor_t *a) {
  a->gen = a->gen == UINT32_MAX ? 1 : a->gen + 1; /* 0 is never a generation */
  pthread_mutex_lock(&h->slots_lock);
  a->free_next = h->free_slots;
  h->free_slots = a;
  pthread_mutex_unlock(&h->slots_lock);
}
