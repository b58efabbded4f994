/*
 * watchdog.c - reports handler calls that run past the node's budget.
 *
 * Each worker marks the handler call in progress (call_seq odd, call_pid);
 * that costs two stores a message and no clock. A watchdog thread looks at
 * the marks every quarter budget: a call still in progress under the same
 * sequence number after `budget` since it was first seen has run at least
 * that long, and is reported once: a counter in the actor's statistics, a
 * warning in the log, and a HIVE_TAG_LONG_HANDLER message to the system
 * monitor, if one is registered. The blocking pool is not watched: its
 * handlers are expected to block.
 *
 * The same look also rescues actors stuck behind a long call: actors a
 * worker scheduled sit in its `next` slot and run queue, which wake nobody
 * (sched.c). If every other worker is parked, they would wait for the call
 * to return. A worker seen in the same call twice in a row has its next
 * slot moved to the inject queue and, if its run queue holds actors, a
 * parked worker woken to steal them. While no call runs the watchdog naps
 * a quarter budget; a worker that queues an actor while others are parked
 * pokes it (hive__watchdog_poke), so that calls of a few milliseconds are
 * looked at too.
 */
#include <stdlib.h>
#include <time.h>

#include "runtime.h"

/* How often the watchdog looks while some worker is inside a call: bounds
 * how long actors queued behind a long handler wait, since a worker's run
 * queue wakes nobody (sched.c): a call seen twice, 1-2 ms, and a parked
 * worker comes to steal. About a thousand wakeups a second while the node
 * is busy, a fraction of a percent of a core. When no call runs, it looks
 * every quarter budget, so an idle node wakes it a few times a second. */
#define WATCHDOG_BUSY_PERIOD_NS 1000000u
/* Looks at the busy period after a poke, whether or not a call runs at
 * each: 10 ms, so that pokes come at most about a hundred times a second. */
#define WATCHDOG_POKED_LOOKS 10

void hive__watchdog_poke(hive_t *h) {
  pthread_mutex_lock(&h->watchdog_lock);
  h->watchdog_poked = true;
  pthread_cond_signal(&h->watchdog_cond);
  pthread_mutex_unlock(&h->watchdog_lock);
}

typedef struct {
  uint64_t seq;      /* the call_seq last seen */
  uint64_t since_ns; /* when that call was first seen */
  uint64_t reported; /* the call_seq already reported */
} watch_t;

static void watchdog_report(hive_t *h, hive_pid_t pid, uint64_t ran_ns) {
  hive__actor_t *a = hive__pidtab_lookup(h, pid);
  if (a == NULL || atomic_load_explicit(&a->pid, memory_order_acquire) != pid)
    return; /* it ended meanwhile */
  atomic_fetch_add_explicit(&a->long_handlers, 1, memory_order_relaxed);
  const char *name = atomic_load_explicit(&a->behaviour_name, memory_order_relaxed);
  name = name != NULL ? name : "";
  char text[HIVE_PID_STRLEN];
  hive_pid_format(pid, text, sizeof(text));
  hive_log(h, HIVE_LOG_WARNING,
           "long handler: actor %s (behaviour %s) has run for %llu ms (budget %u ms)", text, name,
           (unsigned long long)(ran_ns / 1000000u), h->handler_budget_ms);
  hive_pid_t monitor = atomic_load(&h->system_monitor);
  void *payload;
  size_t len;
  if (monitor == 0 ||
      hive_pack(&payload, &len, "uus", (uint64_t)pid, ran_ns / 1000u, name) != HIVE_OK)
    return;
  hive__msg_t *msg =
      hive__msg_make(monitor, HIVE_TAG_LONG_HANDLER, 0, 0, HIVE__MSG_NOBOUND, NULL, 0);
  if (msg == NULL) {
    free(payload);
    return;
  }
  msg->pub.data = payload; /* handed over */
  msg->pub.len = len;
  msg->flags |= HIVE__MSG_OWNED;
  if (hive__deliver(h, msg) == HIVE_ENOPROC)
    free(payload); /* a failed delivery leaves an owned buffer to us */
}

static void *watchdog_main(void *arg) {
  hive_t *h = arg;
  uint64_t budget_ns = (uint64_t)h->handler_budget_ms * 1000000u;
  uint64_t idle_period_ns = budget_ns / 4 > 1000000u ? budget_ns / 4 : 1000000u;
  uint64_t busy_period_ns =
      idle_period_ns < WATCHDOG_BUSY_PERIOD_NS ? idle_period_ns : WATCHDOG_BUSY_PERIOD_NS;
  uint64_t period_ns = idle_period_ns;
  unsigned busy_looks_left = 0; /* looks to keep the busy period after a poke */
  watch_t *watch = calloc(h->nworkers, sizeof(*watch));
  pthread_mutex_lock(&h->watchdog_lock);
  while (!h->watchdog_quit && watch != NULL) {
    uint64_t wake = hive__now_ns() + period_ns;
    struct timespec ts = hive__timespec_at(wake);
    atomic_store(&h->watchdog_napping, period_ns == idle_period_ns);
    if (!h->watchdog_poked)
      pthread_cond_timedwait(&h->watchdog_cond, &h->watchdog_lock, &ts);
    atomic_store(&h->watchdog_napping, false);
    if (h->watchdog_poked) { /* work was queued while workers were parked */
      h->watchdog_poked = false;
      busy_looks_left = WATCHDOG_POKED_LOOKS;
    }
    if (h->watchdog_quit)
      break;
    pthread_mutex_unlock(&h->watchdog_lock);
    uint64_t now = hive__now_ns();
    period_ns = idle_period_ns;
    if (busy_looks_left > 0) {
      busy_looks_left--;
      period_ns = busy_period_ns;
    }
    for (unsigned i = 0; i < h->nworkers; i++) {
      hive__worker_t *w = &h->workers[i];
      uint64_t seq = atomic_load_explicit(&w->call_seq, memory_order_acquire);
      hive_pid_t pid = atomic_load_explicit(&w->call_pid, memory_order_relaxed);
      if (seq & 1)
        period_ns = busy_period_ns; /* a call runs: look again soon */
      if (seq != watch[i].seq) {    /* idle, or another call since */
        watch[i].seq = seq;
        watch[i].since_ns = now;
        continue;
      }
      if (seq & 1) /* the same call as at the last look */
        hive__sched_rescue(h, w);
      if ((seq & 1) && watch[i].reported != seq && now - watch[i].since_ns >= budget_ns) {
        watch[i].reported = seq;
        watchdog_report(h, pid, now - watch[i].since_ns);
      }
    }
    pthread_mutex_lock(&h->watchdog_lock);
  }
  pthread_mutex_unlock(&h->watchdog_lock);
  free(watch);
  return NULL;
}

int hive__watchdog_start(hive_t *h) {
  if (h->handler_budget_ms == 0)
    return HIVE_OK;
  if (pthread_mutex_init(&h->watchdog_lock, NULL) != 0)
    return HIVE_ESYS;
  if (hive__cond_init_monotonic(&h->watchdog_cond) != 0) {
    pthread_mutex_destroy(&h->watchdog_lock);
    return HIVE_ESYS;
  }
  atomic_store(&h->watchdog_napping, true); /* pokes count from the start */
  if (pthread_create(&h->watchdog, NULL, watchdog_main, h) != 0) {
    pthread_cond_destroy(&h->watchdog_cond);
    pthread_mutex_destroy(&h->watchdog_lock);
    return HIVE_ESYS;
  }
  return HIVE_OK;
}

void hive__watchdog_stop(hive_t *h) {
  if (h->handler_budget_ms == 0)
    return;
  pthread_mutex_lock(&h->watchdog_lock);
  h->watchdog_quit = true;
  pthread_cond_signal(&h->watchdog_cond);
  pthread_mutex_unlock(&h->watchdog_lock);
  pthread_join(h->watchdog, NULL);
  pthread_cond_destroy(&h->watchdog_cond);
  pthread_mutex_destroy(&h->watchdog_lock);
}
