/*
 * node_state.c - what the runtime keeps about the node as a whole: its
 * totals and statistics, hive_join's waits, and the actors hive_stop ends
 * first. Starting and stopping the node is node/node.c's.
 */
#include <stdlib.h>
#include <time.h>

#include "runtime.h"

void *hive_data(hive_t *h) {
  return h != NULL ? h->data : NULL;
}

int hive_system_monitor(hive_t *h, hive_pid_t pid) {
  if (h == NULL)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(h);
  if (pid != 0 && hive__lookup_live(h, pid) == NULL)
    return HIVE_ENOPROC;
  atomic_store(&h->system_monitor, pid);
  return HIVE_OK;
}

int hive_join(hive_t *h, hive_pid_t pid, int timeout_ms) {
  if (h == NULL || pid == 0)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(h);
  if (hive__tls.node == h)
    return HIVE_EDEADLK;
  hive__actor_t *a = hive__pidtab_lookup(h, pid);
  if (a == NULL)
    return HIVE_OK;
  struct timespec until;
  if (timeout_ms >= 0)
    until = hive__timespec_at(hive__now_ns() + (uint64_t)timeout_ms * 1000000u);
  int rc = HIVE_OK;
  atomic_store(&a->joined, pid);
  pthread_mutex_lock(&h->stop_lock);
  while (atomic_load(&a->pid) == pid) {
    if (timeout_ms < 0) {
      pthread_cond_wait(&h->stop_cond, &h->stop_lock);
    } else if (pthread_cond_timedwait(&h->stop_cond, &h->stop_lock, &until) != 0 &&
               atomic_load(&a->pid) == pid) {
      rc = HIVE_ETIMEDOUT;
      break;
    }
  }
  pthread_mutex_unlock(&h->stop_lock);
  return rc;
}

uint32_t hive__stats_next_gap(void) {
  uint64_t x = hive__tls.rng;
  if (x == 0)
    x = (uint64_t)(uintptr_t)&hive__tls | 1u; /* differs per thread */
  x ^= x << 13;                               /* xorshift64 */
  x ^= x >> 7;
  x ^= x << 17;
  hive__tls.rng = x;
  return 1u + (uint32_t)(x % (2u * HIVE__STATS_SAMPLE - 1u));
}

bool hive__node_count_exit(hive_t *h, int reason_kind) {
  if (reason_kind >= 0 && reason_kind < HIVE_REASON_KINDS)
    atomic_fetch_add_explicit(&h->exits[reason_kind], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->exited, 1, memory_order_relaxed);
  return atomic_fetch_sub(&h->alive, 1) == 1 && atomic_load(&h->stopping);
}

void hive__node_actor_exited(hive_t *h, hive__actor_t *a, hive_pid_t pid, bool last) {
  /* seq_cst, after the seq_cst clearing of a->pid: hive_join stores
   * `joined` before it reads a->pid, so one of the two sees the other. */
  if (last || atomic_load(&a->joined) == pid) {
    pthread_mutex_lock(&h->stop_lock);
    pthread_cond_broadcast(&h->stop_cond);
    pthread_mutex_unlock(&h->stop_lock);
  }
}

void hive__node_count_restart(hive_t *h) {
  atomic_fetch_add_explicit(&h->restarts, 1, memory_order_relaxed);
}

int hive__node_stop_first(hive_t *h, hive_pid_t pid) {
  pthread_mutex_lock(&h->stop_lock);
  int rc = HIVE_OK;
  if (h->nstop_first == h->stop_first_cap) {
    size_t cap = h->stop_first_cap ? 2 * h->stop_first_cap : 8;
    hive_pid_t *grown = realloc(h->stop_first, cap * sizeof(*grown));
    if (grown == NULL)
      rc = HIVE_ENOMEM;
    else
      h->stop_first = grown, h->stop_first_cap = cap;
  }
  if (rc == HIVE_OK)
    h->stop_first[h->nstop_first++] = pid;
  pthread_mutex_unlock(&h->stop_lock);
  return rc;
}

/* Worker index i, then the blocking pool's threads. */
static hive__worker_t *node_thread(hive_t *h, unsigned i) {
  return i < h->nworkers ? &h->workers[i] : &h->blocking[i - h->nworkers];
}

/* A live incarnation's part of the node's processed and queued. */
static void node_add_actor(hive__actor_t *a, hive_pid_t pid, void *arg) {
  (void)pid;
  hive_node_stats_t *out = arg;
  out->processed += atomic_load_explicit(&a->processed, memory_order_relaxed);
  out->queued += (uint64_t)hive__mailbox_len(&a->mb);
}

int hive_node_stats(hive_t *h, hive_node_stats_t *out) {
  if (h == NULL || out == NULL)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(h);
  *out = (hive_node_stats_t){
      .workers = h->nworkers,
      .blocking_workers = h->nblocking,
      .actors_alive = atomic_load(&h->alive),
      .actors_spawned = atomic_load(&h->spawned),
      .actors_exited = atomic_load(&h->exited),
      .dead_letters = atomic_load(&h->dead_letters),
      .dropped = atomic_load(&h->dropped),
      .late_replies = atomic_load(&h->late_replies),
      .restarts = atomic_load(&h->restarts),
  };
  for (int k = 0; k < HIVE_REASON_KINDS; k++)
    out->exits[k] = atomic_load_explicit(&h->exits[k], memory_order_relaxed);
  /* The ended incarnations first: one that ends during the walk is then
   * missing (or, read after, counted twice): exact once the node is quiet. */
  out->processed = atomic_load_explicit(&h->processed_ended, memory_order_relaxed);
  out->sent = atomic_load_explicit(&h->sent_outside, memory_order_relaxed);
  for (unsigned i = 0; i < h->nworkers + h->nblocking; i++) {
    hive__worker_t *w = node_thread(h, i);
    out->messages += atomic_load_explicit(&w->messages, memory_order_relaxed);
    out->sent += atomic_load_explicit(&w->sent, memory_order_relaxed);
    out->sent += atomic_load_explicit(&w->outbox.sent, memory_order_relaxed);
  }
  hive__pidtab_each(h, node_add_actor, out);
  return HIVE_OK;
}

int hive_gateway_stats(hive_t *h, hive_gateway_stats_t *out) {
  if (h == NULL || out == NULL)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(h);
  const hive__gateway_counters_t *c = &h->gw;
  *out = (hive_gateway_stats_t){
      .running = atomic_load(&c->running),
      .connections = atomic_load_explicit(&c->connections, memory_order_relaxed),
      .accepted = atomic_load_explicit(&c->accepted, memory_order_relaxed),
      .refused = atomic_load_explicit(&c->refused, memory_order_relaxed),
      .frames_in = atomic_load_explicit(&c->frames_in, memory_order_relaxed),
      .frames_out = atomic_load_explicit(&c->frames_out, memory_order_relaxed),
      .bytes_in = atomic_load_explicit(&c->bytes_in, memory_order_relaxed),
      .bytes_out = atomic_load_explicit(&c->bytes_out, memory_order_relaxed),
      .slow_reader_closes = atomic_load_explicit(&c->slow_reader_closes, memory_order_relaxed),
  };
  for (int k = 0; k < HIVE_GW_ERROR_KINDS; k++)
    out->errors[k] = atomic_load_explicit(&c->errors[k], memory_order_relaxed);
  return HIVE_OK;
}

int hive_worker_stats(hive_t *h, unsigned index, hive_worker_stats_t *out) {
  if (h == NULL || out == NULL || index >= h->nworkers + h->nblocking)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(h);
  hive__worker_t *w = node_thread(h, index);
  *out = (hive_worker_stats_t){
      .index = index,
      .blocking = w->blocking,
      .turns = atomic_load_explicit(&w->turns, memory_order_relaxed),
      .messages = atomic_load_explicit(&w->messages, memory_order_relaxed),
      .steals_tried = atomic_load_explicit(&w->steals_tried, memory_order_relaxed),
      .steals_won = atomic_load_explicit(&w->steals_won, memory_order_relaxed),
      .parks = atomic_load_explicit(&w->parks, memory_order_relaxed),
      .busy_ns = atomic_load_explicit(&w->busy_ns, memory_order_relaxed),
  };
  uint64_t since = atomic_load_explicit(&w->awake_since, memory_order_relaxed);
  uint64_t now = hive__now_ns();
  if (since != 0 && now > since) /* awake now: count the time so far */
    out->busy_ns += now - since;
  return HIVE_OK;
}
