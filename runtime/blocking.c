/*
 * blocking.c - the pool that runs actors spawned with HIVE_SPAWN_BLOCKING.
 *
 * Their handlers may sleep or block in system calls, so they never run on
 * the scheduler's workers: a few threads of their own share one FIFO queue
 * (a mutex and a condition variable: these actors are slow by definition, so
 * the queue is not a hot path). A thread whose queue ran dry looks for
 * more for BLOCKING_SPIN_NS before it sleeps: process actors' proxies run
 * here, and a sleep and a wake per request cost their round trip a third.
 * A push wakes a sleeping thread only when the spinning ones are too few
 * for the queue. A blocking thread runs the same turn as a worker; actors
 * it wakes go to the normal workers through the inject queue, blocking
 * ones back to this queue.
 */
#include <sched.h>
#include <stdlib.h>

#define BLOCKING_SPIN_NS 50000

#include "mailbox/tsan.h"
#include "runtime.h"
#include "upcall.h"

void hive__blocking_push(hive_t *h, hive__actor_t *a) {
  HIVE__TSAN_RELEASE(a);
  pthread_mutex_lock(&h->blocking_lock);
  a->inject_next = NULL; /* an actor is in one queue at a time */
  if (h->blocking_tail != NULL)
    h->blocking_tail->inject_next = a;
  else
    h->blocking_head = a;
  h->blocking_tail = a;
  size_t queued = atomic_fetch_add_explicit(&h->blocking_len, 1, memory_order_relaxed) + 1;
  if (queued > h->blocking_spinning) /* a spinning thread takes it without a wake */
    pthread_cond_signal(&h->blocking_cond);
  pthread_mutex_unlock(&h->blocking_lock);
}

static void *blocking_main(void *arg) {
  hive__worker_t *w = arg;
  hive_t *h = w->node;
  hive__worker_thread_enter(w);
  bool spun = false;
  pthread_mutex_lock(&h->blocking_lock);
  while (!h->blocking_quit) {
    hive__actor_t *a = h->blocking_head;
    if (a == NULL && !spun) {
      /* Work often follows work (a process actor's next request): look for
       * it a while, yielding the core, before sleeping, as workers do. */
      spun = true;
      h->blocking_spinning++;
      pthread_mutex_unlock(&h->blocking_lock);
      uint64_t until = hive__now_ns() + BLOCKING_SPIN_NS;
      while (atomic_load_explicit(&h->blocking_len, memory_order_relaxed) == 0 &&
             hive__now_ns() < until)
        sched_yield();
      pthread_mutex_lock(&h->blocking_lock);
      h->blocking_spinning--; /* under the lock, before the queue is looked at again */
      continue;
    }
    if (a == NULL) {
      spun = false;
      hive__worker_note_sleep(w);
      pthread_cond_wait(&h->blocking_cond, &h->blocking_lock);
      hive__worker_note_wake(w);
      continue;
    }
    spun = false;
    atomic_fetch_sub_explicit(&h->blocking_len, 1, memory_order_relaxed);
    h->blocking_head = a->inject_next;
    if (h->blocking_head == NULL)
      h->blocking_tail = NULL;
    pthread_mutex_unlock(&h->blocking_lock);
    HIVE__TSAN_ACQUIRE(a);
    hive__stats_add(&w->turns, 1);
    hive__actor_turn(w, a);
    pthread_mutex_lock(&h->blocking_lock);
  }
  pthread_mutex_unlock(&h->blocking_lock);
  hive__worker_thread_leave(w);
  return NULL;
}

/* Stops and joins the first n threads, frees the pool. */
static void blocking_stop_n(hive_t *h, unsigned n) {
  pthread_mutex_lock(&h->blocking_lock);
  h->blocking_quit = true;
  pthread_cond_broadcast(&h->blocking_cond);
  pthread_mutex_unlock(&h->blocking_lock);
  for (unsigned i = 0; i < n; i++)
    pthread_join(h->blocking[i].thread, NULL);
  free(h->blocking);
  h->blocking = NULL;
  pthread_cond_destroy(&h->blocking_cond);
  pthread_mutex_destroy(&h->blocking_lock);
}

int hive__blocking_start(hive_t *h) {
  if (pthread_mutex_init(&h->blocking_lock, NULL) != 0)
    return HIVE_ESYS;
  if (pthread_cond_init(&h->blocking_cond, NULL) != 0) {
    pthread_mutex_destroy(&h->blocking_lock);
    return HIVE_ESYS;
  }
  h->blocking = aligned_alloc(HIVE__CACHELINE, sizeof(hive__worker_t) * h->nblocking);
  if (h->blocking == NULL) {
    pthread_cond_destroy(&h->blocking_cond);
    pthread_mutex_destroy(&h->blocking_lock);
    return HIVE_ENOMEM;
  }
  for (unsigned i = 0; i < h->nblocking; i++)
    h->blocking[i] = (hive__worker_t){.node = h, .index = i, .blocking = true};
  for (unsigned i = 0; i < h->nblocking; i++) {
    if (pthread_create(&h->blocking[i].thread, NULL, blocking_main, &h->blocking[i]) != 0) {
      blocking_stop_n(h, i);
      return HIVE_ESYS;
    }
  }
  return HIVE_OK;
}

void hive__blocking_stop(hive_t *h) {
  blocking_stop_n(h, h->nblocking);
}
