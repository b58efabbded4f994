/*
 * timers.c - send-after and periodic timers: one thread and a binary heap.
 *
 * A node has one timer thread, whatever the number of timers: a min-heap of
 * due times under a mutex, and a ck_hs from timer id to timer for cancel.
 * The thread sleeps on a condition variable (CLOCK_MONOTONIC) until the
 * earliest due time, then delivers the due messages, at most a batch at a
 * time, while it holds the lock: so once hive_timer_cancel has returned
 * HIVE_OK, no message of that timer can still be on its way (a message
 * the canceller sends next comes after every tick). A push costs well
 * under a microsecond, so a batch holds the lock a short while. A timer
 * never fires before its due time: it is taken off the heap only once the
 * clock has reached it.
 *
 * Every timer aims at one actor and sits on that slot's `timers` list (under
 * the same mutex); when the actor ends, the list is cancelled, so a dead
 * actor's timers never fire. A timer created while its target is dying is
 * dropped at delivery instead (its target is no longer alive).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime.h"
#include "util/ck_alloc.h"

struct hive__timer {
  uint64_t id;
  uint64_t due_ns;
  uint64_t interval_ns; /* 0: fires once */
  size_t heap_index;
  hive__actor_t *slot; /* the target's slot: timers are on its list */
  struct hive__timer *slot_next, *slot_prev;
  hive_pid_t to;
  uint32_t tag;
  uint64_t ref;
  uint32_t msg_flags;
  size_t len; /* payload bytes after the struct */
};

uint64_t hive__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct timespec hive__timespec_at(uint64_t ns) {
  return (struct timespec){.tv_sec = (time_t)(ns / 1000000000u),
                           .tv_nsec = (long)(ns % 1000000000u)};
}

int hive__cond_init_monotonic(pthread_cond_t *cond) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  int rc = pthread_cond_init(cond, &attr);
  pthread_condattr_destroy(&attr);
  return rc;
}

/* ---- The heap (timers.lock held) ---------------------------------------- */

static void heap_set(hive__timers_t *t, size_t i, hive__timer_t *timer) {
  t->heap[i] = timer;
  timer->heap_index = i;
}

static void heap_up(hive__timers_t *t, size_t i) {
  hive__timer_t *timer = t->heap[i];
  while (i > 0 && t->heap[(i - 1) / 2]->due_ns > timer->due_ns) {
    heap_set(t, i, t->heap[(i - 1) / 2]);
    i = (i - 1) / 2;
  }
  heap_set(t, i, timer);
}

static void heap_down(hive__timers_t *t, size_t i) {
  hive__timer_t *timer = t->heap[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= t->count)
      break;
    if (child + 1 < t->count && t->heap[child + 1]->due_ns < t->heap[child]->due_ns)
      child++;
    if (t->heap[child]->due_ns >= timer->due_ns)
      break;
    heap_set(t, i, t->heap[child]);
    i = child;
  }
  heap_set(t, i, timer);
}

static bool heap_push(hive__timers_t *t, hive__timer_t *timer) {
  if (t->count == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 64;
    hive__timer_t **heap = realloc(t->heap, cap * sizeof(*heap));
    if (heap == NULL)
      return false;
    t->heap = heap;
    t->cap = cap;
  }
  heap_set(t, t->count++, timer);
  heap_up(t, t->count - 1);
  return true;
}

static void heap_remove(hive__timers_t *t, hive__timer_t *timer) {
  size_t i = timer->heap_index;
  hive__timer_t *last = t->heap[--t->count];
  if (i == t->count)
    return;
  heap_set(t, i, last);
  heap_up(t, i);
  heap_down(t, last->heap_index);
}

/* ---- The id table (timers.lock held) ------------------------------------ */

static unsigned long timers_hash(const void *object, unsigned long seed) {
  return (unsigned long)((((const hive__timer_t *)object)->id ^ seed) * 0x9e3779b97f4a7c15ull);
}
static bool timers_equal(const void *a, const void *b) {
  return ((const hive__timer_t *)a)->id == ((const hive__timer_t *)b)->id;
}

static hive__timer_t *timers_find(hive__timers_t *t, uint64_t id) {
  hive__timer_t key = {.id = id};
  return ck_hs_get(&t->by_id, CK_HS_HASH(&t->by_id, timers_hash, &key), &key);
}

/* Takes timer off the heap, the table and its slot's list. */
static void timers_unlink(hive__timers_t *t, hive__timer_t *timer) {
  heap_remove(t, timer);
  ck_hs_remove(&t->by_id, CK_HS_HASH(&t->by_id, timers_hash, timer), timer);
  if (timer->slot_prev != NULL)
    timer->slot_prev->slot_next = timer->slot_next;
  else
    atomic_store_explicit(&timer->slot->timers, timer->slot_next, memory_order_relaxed);
  if (timer->slot_next != NULL)
    timer->slot_next->slot_prev = timer->slot_prev;
}

/* ---- The thread ---------------------------------------------------------- */

#define TIMERS_BATCH 256

static hive__msg_t *timers_message(const hive__timer_t *timer) {
  return hive__msg_make(timer->to, timer->tag, 0, timer->ref, timer->msg_flags, timer + 1,
                        timer->len);
}

static void *timers_main(void *arg) {
  hive_t *h = arg;
  hive__timers_t *t = &h->timers;
  pthread_mutex_lock(&t->lock);
  while (!t->quit) {
    if (t->count == 0) {
      pthread_cond_wait(&t->cond, &t->lock);
      continue;
    }
    uint64_t now = hive__now_ns();
    if (t->heap[0]->due_ns > now) {
      uint64_t until = t->heap[0]->due_ns;
      struct timespec ts = hive__timespec_at(until);
      pthread_cond_timedwait(&t->cond, &t->lock, &ts);
      continue;
    }
    size_t n = 0;
    while (n < TIMERS_BATCH && t->count > 0 && t->heap[0]->due_ns <= now) {
      hive__timer_t *timer = t->heap[0];
      hive__actor_t *a = hive__lookup_live(h, timer->to);
      if (a == NULL) {
        timers_unlink(t, timer); /* its target ended: a periodic one too */
        free(timer);
        continue;
      }
      /* (Should the target end between the look and the push, the push
       * counts a dead letter, as any send to a dead actor does.) */
      hive__msg_t *msg = timers_message(timer);
      if (msg != NULL && hive__push_user(h, a, msg) == HIVE_EFULL)
        hive__count_undeliverable(h); /* a full bounded mailbox refused it */
      n++;
      if (timer->interval_ns > 0) {
        /* Next due time on the original grid; skip ticks missed entirely. */
        timer->due_ns += timer->interval_ns;
        if (timer->due_ns <= now)
          timer->due_ns = now + timer->interval_ns - (now - timer->due_ns) % timer->interval_ns;
        heap_down(t, 0);
      } else {
        timers_unlink(t, timer);
        free(timer);
      }
    }
    /* Lets arms and cancels in between two batches. */
    pthread_mutex_unlock(&t->lock);
    pthread_mutex_lock(&t->lock);
  }
  pthread_mutex_unlock(&t->lock);
  return NULL;
}

/* ---- Start, stop, arm, cancel -------------------------------------------- */

int hive__timers_start(hive_t *h) {
  hive__timers_t *t = &h->timers;
  if (pthread_mutex_init(&t->lock, NULL) != 0)
    return HIVE_ESYS;
  if (hive__cond_init_monotonic(&t->cond) != 0)
    goto fail_lock;
  if (!ck_hs_init(&t->by_id, CK_HS_MODE_OBJECT | CK_HS_MODE_SPMC, timers_hash, timers_equal,
                  &hive__ck_alloc, 64, 0x51ed27u))
    goto fail_cond;
  if (pthread_create(&t->thread, NULL, timers_main, h) != 0)
    goto fail_table;
  return HIVE_OK;
fail_table:
  ck_hs_destroy(&t->by_id);
fail_cond:
  pthread_cond_destroy(&t->cond);
fail_lock:
  pthread_mutex_destroy(&t->lock);
  return HIVE_ESYS;
}

void hive__timers_stop(hive_t *h) {
  hive__timers_t *t = &h->timers;
  pthread_mutex_lock(&t->lock);
  t->quit = true;
  pthread_cond_signal(&t->cond);
  pthread_mutex_unlock(&t->lock);
  pthread_join(t->thread, NULL);
  for (size_t i = 0; i < t->count; i++)
    free(t->heap[i]);
  free(t->heap);
  ck_hs_destroy(&t->by_id);
  pthread_cond_destroy(&t->cond);
  pthread_mutex_destroy(&t->lock);
}

int hive__timer_arm(hive_t *h, hive_pid_t to, uint32_t tag, uint64_t ref, uint32_t msg_flags,
                    const void *data, size_t len, uint64_t delay_ns, uint64_t interval_ns,
                    uint64_t *id) {
  hive__actor_t *a = hive__lookup_live(h, to);
  if (a == NULL)
    return HIVE_ENOPROC;
  hive__timer_t *timer = malloc(sizeof(*timer) + len);
  if (timer == NULL)
    return HIVE_ENOMEM;
  *timer = (hive__timer_t){.due_ns = hive__now_ns() + delay_ns,
                           .interval_ns = interval_ns,
                           .slot = a,
                           .to = to,
                           .tag = tag,
                           .ref = ref,
                           .msg_flags = msg_flags,
                           .len = len};
  if (len > 0)
    memcpy(timer + 1, data, len);

  hive__timers_t *t = &h->timers;
  pthread_mutex_lock(&t->lock);
  timer->id = ++t->next_id;
  if (!heap_push(t, timer)) {
    pthread_mutex_unlock(&t->lock);
    free(timer);
    return HIVE_ENOMEM;
  }
  if (!ck_hs_put(&t->by_id, CK_HS_HASH(&t->by_id, timers_hash, timer), timer)) {
    heap_remove(t, timer);
    pthread_mutex_unlock(&t->lock);
    free(timer);
    return HIVE_ENOMEM;
  }
  hive__timer_t *head = atomic_load_explicit(&a->timers, memory_order_relaxed);
  timer->slot_next = head;
  if (head != NULL)
    head->slot_prev = timer;
  atomic_store_explicit(&a->timers, timer, memory_order_relaxed);
  if (timer->heap_index == 0)
    pthread_cond_signal(&t->cond); /* a new earliest due time */
  *id = timer->id;
  pthread_mutex_unlock(&t->lock);
  return HIVE_OK;
}

int hive__timer_cancel(hive_t *h, uint64_t id) {
  hive__timers_t *t = &h->timers;
  pthread_mutex_lock(&t->lock);
  hive__timer_t *timer = timers_find(t, id);
  if (timer != NULL)
    timers_unlink(t, timer);
  pthread_mutex_unlock(&t->lock);
  free(timer);
  return timer != NULL ? HIVE_OK : HIVE_ENOTFOUND;
}

void hive__timers_cancel_slot(hive_t *h, hive__actor_t *a) {
  /* Most actors have no timers: no lock for them. A timer armed at this
   * moment for the ending actor is dropped when it fires (its target is no
   * longer alive), and freed then. */
  if (atomic_load_explicit(&a->timers, memory_order_relaxed) == NULL)
    return;
  hive__timers_t *t = &h->timers;
  pthread_mutex_lock(&t->lock);
  hive__timer_t *timer;
  while ((timer = atomic_load_explicit(&a->timers, memory_order_relaxed)) != NULL) {
    timers_unlink(t, timer);
    free(timer);
  }
  pthread_mutex_unlock(&t->lock);
}

/* ---- Public calls ------------------------------------------------------- */

static int timers_public_arm(hive_t *h, hive_pid_t to, uint32_t tag, const void *data, size_t len,
                             unsigned ms, bool periodic, hive_timer_t *timer) {
  if (h == NULL || to == 0 || tag < HIVE_TAG_USER || (len > 0 && data == NULL) || timer == NULL ||
      (periodic && ms == 0))
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(h);
  uint64_t ns = (uint64_t)ms * 1000000u;
  return hive__timer_arm(h, to, tag, 0, 0, data, len, ns, periodic ? ns : 0, timer);
}

int hive_send_after(hive_t *h, hive_pid_t to, uint32_t tag, const void *data, size_t len,
                    unsigned delay_ms, hive_timer_t *timer) {
  return timers_public_arm(h, to, tag, data, len, delay_ms, false, timer);
}

int hive_send_interval(hive_t *h, hive_pid_t to, uint32_t tag, const void *data, size_t len,
                       unsigned interval_ms, hive_timer_t *timer) {
  return timers_public_arm(h, to, tag, data, len, interval_ms, true, timer);
}

int hive_timer_cancel(hive_t *h, hive_timer_t timer) {
  if (h == NULL || timer == 0)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(h);
  return hive__timer_cancel(h, timer);
}
