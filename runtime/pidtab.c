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
 *
 * Each worker keeps up to PIDTAB_CACHE_MAX free slots of its own, so that
 * actors spawned and ended on different workers do not queue for the
 * node's lock one slot at a time: a worker takes PIDTAB_BATCH slots from the
 * node's list at once, and gives its whole cache back when it overflows, so
 * every freed slot returns to the node's list in time. The table has room
 * for max_actors plus what the caches can hold, so a cached slot never makes
 * a spawn fail; where the pid's 24 slot bits leave no such room, the caches
 * are off.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define PIDTAB_BATCH 32
#define PIDTAB_CACHE_MAX (2 * PIDTAB_BATCH)

int hive__pidtab_init(hive_t *h) {
  uint64_t cached = (uint64_t)h->nworkers * PIDTAB_CACHE_MAX;
  h->slot_caches = h->max_actors + cached <= HIVE_MAX_ACTORS;
  uint64_t slots = h->max_actors + (h->slot_caches ? cached : 0);
  h->nchunks = (unsigned)((slots + HIVE__CHUNK_SLOTS - 1) / HIVE__CHUNK_SLOTS);
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
    chunk = aligned_alloc(HIVE__CACHELINE, HIVE__CHUNK_SLOTS * sizeof(*chunk));
    if (chunk == NULL) {
      *err = HIVE_ENOMEM;
      return NULL;
    }
    memset(chunk, 0, HIVE__CHUNK_SLOTS * sizeof(*chunk));
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

/* A free slot whose mailbox token it could claim, from h's list; slots_lock held. */
static hive__actor_t *pidtab_claim_shared(hive_t *h) {
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
  return a;
}

/* Pushes a onto w's cache. */
static void pidtab_cache_push(hive__worker_t *w, hive__actor_t *a) {
  if (w->free_slots == NULL)
    w->free_slots_last = a;
  a->free_next = w->free_slots;
  w->free_slots = a;
  w->nfree_slots++;
}

/* Moves up to n slots from h's list to w's cache; slots_lock held. */
static void pidtab_move_to_cache(hive_t *h, hive__worker_t *w, unsigned n) {
  for (; n > 0 && h->free_slots != NULL; n--) {
    hive__actor_t *a = h->free_slots;
    h->free_slots = a->free_next;
    pidtab_cache_push(w, a);
  }
}

/* The current thread's worker if it is one of h's scheduler workers and
 * the caches are on. */
static hive__worker_t *pidtab_worker(hive_t *h) {
  hive__worker_t *w = hive__tls.worker;
  return h->slot_caches && w != NULL && w->node == h && !w->blocking ? w : NULL;
}

/* A claimed slot from w's cache, refilled from h's list when empty. */
static hive__actor_t *pidtab_claim_cached(hive_t *h, hive__worker_t *w) {
  if (w->free_slots == NULL) {
    pthread_mutex_lock(&h->slots_lock);
    pidtab_move_to_cache(h, w, PIDTAB_BATCH);
    pthread_mutex_unlock(&h->slots_lock);
  }
  while (w->free_slots != NULL) {
    hive__actor_t *a = w->free_slots;
    w->free_slots = a->free_next;
    w->nfree_slots--;
    if (w->free_slots == NULL)
      w->free_slots_last = NULL;
    if (hive__mailbox_claim(&a->mb))
      return a;
    /* A stray turn is draining it: back to the node's list, for later. */
    pthread_mutex_lock(&h->slots_lock);
    a->free_next = h->free_slots;
    h->free_slots = a;
    pthread_mutex_unlock(&h->slots_lock);
  }
  return NULL;
}

hive__actor_t *hive__pidtab_alloc(hive_t *h, int *err) {
  hive__worker_t *w = pidtab_worker(h);
  hive__actor_t *a = w != NULL ? pidtab_claim_cached(h, w) : NULL;
  if (a != NULL)
    return a;
  pthread_mutex_lock(&h->slots_lock);
  a = pidtab_claim_shared(h);
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
  /* 0 is never a count: a pid's generation is never its node's bare base. */
  a->gen = ((a->gen + 1) & h->gen_mask) == 0 ? 1 : a->gen + 1;
  hive__worker_t *w = pidtab_worker(h);
  if (w != NULL) {
    pidtab_cache_push(w, a);
    if (w->nfree_slots <= PIDTAB_CACHE_MAX)
      return;
  }
  pthread_mutex_lock(&h->slots_lock);
  if (w != NULL) { /* the whole cache goes back, oldest slots too */
    w->free_slots_last->free_next = h->free_slots;
    h->free_slots = w->free_slots;
    w->free_slots = w->free_slots_last = NULL;
    w->nfree_slots = 0;
  } else {
    a->free_next = h->free_slots;
    h->free_slots = a;
  }
  pthread_mutex_unlock(&h->slots_lock);
}

void hive__pidtab_each(hive_t *h, void (*visit)(hive__actor_t *a, hive_pid_t pid, void *arg),
                       void *arg) {
  pthread_mutex_lock(&h->slots_lock);
  uint32_t used = h->slots_used;
  pthread_mutex_unlock(&h->slots_lock);
  for (uint32_t slot = 0; slot < used; slot++) {
    hive__actor_t *chunk =
        atomic_load_explicit(&h->chunks[slot >> HIVE__CHUNK_SHIFT], memory_order_acquire);
    hive__actor_t *a = &chunk[slot & (HIVE__CHUNK_SLOTS - 1)];
    hive_pid_t pid = atomic_load_explicit(&a->pid, memory_order_acquire);
    if (pid != 0)
      visit(a, pid, arg);
  }
}
