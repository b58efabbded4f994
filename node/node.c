/*
 * node.c - hive_start and hive_stop: every part of a node started, and
 * stopped, in order. The top of the layers (docs/architecture.md): it
 * calls into runtime/, actors/ and admin/, and nothing calls into it.
 *
 * hive_stop ends every actor with an exit signal (reason shutdown), waits
 * until the last terminate callback has run, then joins the workers and
 * frees the table, sweeping whatever late senders left in mailboxes. The
 * wait re-sends the signal now and then, to actors that a concurrent spawn
 * published after the first round.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actors/actor.h"
#include "admin/admin.h"
#include "cluster/cluster.h"
#include "gateway/gateway.h"
#include "process/process.h"
#include "runtime/runtime.h"

/* How often hive_stop re-asks actors spawned during its first round. */
#define NODE_STOP_ROUND_MS 100
/* After this long, actors that have not ended on shutdown (they trap exits
 * and ignore it) are killed. A handler that never returns still cannot be
 * cut off. */
#define NODE_STOP_GRACE_MS 1000

void hive_config_init(hive_config_t *cfg) {
  if (cfg != NULL)
    *cfg = (hive_config_t){.handler_budget_ms = 1000};
}

static int node_resolve_config(hive_t *h, const hive_config_t *cfg) {
  hive_config_t defaults;
  if (cfg == NULL) {
    hive_config_init(&defaults);
    cfg = &defaults;
  }
  if (cfg->log_level < 0 || cfg->log_level > HIVE_LOG_NONE)
    return HIVE_EINVAL;
  if (cfg->workers > HIVE_MAX_WORKERS || cfg->blocking_workers > HIVE_MAX_WORKERS ||
      cfg->batch > HIVE_MAX_BATCH || cfg->max_actors > HIVE_MAX_ACTORS || cfg->node_id > 255)
    return HIVE_EINVAL;
  h->nworkers = cfg->workers;
  if (h->nworkers == 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    h->nworkers = cpus < 1 ? 1 : cpus > HIVE_MAX_WORKERS ? HIVE_MAX_WORKERS : (unsigned)cpus;
  }
  h->nblocking = cfg->blocking_workers != 0 ? cfg->blocking_workers : HIVE_DEFAULT_BLOCKING_WORKERS;
  h->batch = cfg->batch != 0 ? cfg->batch : HIVE_DEFAULT_BATCH;
  h->max_actors = cfg->max_actors != 0 ? cfg->max_actors : HIVE_DEFAULT_MAX_ACTORS;
  h->node_id = cfg->node_id;
  h->gen_mask = UINT32_MAX; /* cluster/ narrows it to 24 bits when the node joins */
  h->data = cfg->data;
  h->log_fn = cfg->log_fn;
  h->log_user = cfg->log_user;
  h->log_level = cfg->log_level != 0 ? cfg->log_level : HIVE_LOG_INFO;
  h->handler_budget_ms = cfg->handler_budget_ms;
  return HIVE_OK;
}

static void node_stop_actors(hive_t *h);

int hive_start(hive_t **out, const hive_config_t *cfg) {
  if (out == NULL)
    return HIVE_EINVAL;
  hive_t *h = aligned_alloc(HIVE__CACHELINE, sizeof(*h));
  if (h == NULL)
    return HIVE_ENOMEM;
  memset(h, 0, sizeof(*h));
  int rc = node_resolve_config(h, cfg);
  if (rc != HIVE_OK)
    goto fail_node;
  rc = HIVE_ESYS;
  if (pthread_mutex_init(&h->stop_lock, NULL) != 0)
    goto fail_node;
  if (hive__cond_init_monotonic(&h->stop_cond) != 0)
    goto fail_lock;
  if (hive__msg_depot_init(&h->msg_depot) != 0)
    goto fail_cond;
  if ((rc = hive__pidtab_init(h)) != HIVE_OK)
    goto fail_depot;
  if ((rc = hive__registry_init(h)) != HIVE_OK)
    goto fail_pidtab;
  if ((rc = hive__asks_init(h)) != HIVE_OK)
    goto fail_registry;
  if ((rc = hive__timers_start(h)) != HIVE_OK)
    goto fail_asks;
  if ((rc = hive__blocking_start(h)) != HIVE_OK)
    goto fail_timers;
  if ((rc = hive__sched_start(h)) != HIVE_OK)
    goto fail_blocking;
  if ((rc = hive__watchdog_start(h)) != HIVE_OK)
    goto fail_sched;
  /* First of the parts that spawn: every pid carries the incarnation. */
  if ((rc = hive__cluster_start(h, cfg)) != HIVE_OK)
    goto fail_watchdog;
  if ((rc = hive__admin_start(h, cfg)) != HIVE_OK)
    goto fail_cluster;
  hive__process_install(h);
  if ((rc = hive__gateway_start(h, cfg)) != HIVE_OK)
    goto fail_admin;
  *out = h;
  return HIVE_OK;

fail_admin:
  hive__admin_stop(h);
fail_cluster:
  node_stop_actors(h); /* the cluster's flusher */
  hive__cluster_stop(h);
fail_watchdog:
  hive__watchdog_stop(h);
fail_sched:
  hive__sched_stop(h);
fail_blocking:
  hive__blocking_stop(h);
fail_timers:
  hive__timers_stop(h);
fail_asks:
  hive__asks_free(h);
fail_registry:
  hive__registry_free(h);
fail_pidtab:
  hive__pidtab_free(h);
fail_depot:
  hive__msg_depot_fini(&h->msg_depot);
fail_cond:
  pthread_cond_destroy(&h->stop_cond);
fail_lock:
  pthread_mutex_destroy(&h->stop_lock);
fail_node:
  free(h->stop_first);
  free(h);
  return rc;
}

/* hive_stop's round: shutdown (or kill) to every live actor. */
typedef struct {
  hive_t *h;
  bool kill;
} node_round_t;

static void node_request_shutdown(hive__actor_t *a, hive_pid_t pid, void *arg) {
  (void)pid;
  node_round_t *round = arg;
  hive__actor_request_shutdown(round->h, a, round->kill); /* live ones only */
}

static void node_request_shutdown_all(hive_t *h, bool kill) {
  hive__pidtab_each(h, node_request_shutdown, &(node_round_t){.h = h, .kill = kill});
}

/* Ends the actors registered with hive__node_stop_first, last first, each
 * gone before the next is asked. */
static void node_stop_first(hive_t *h) {
  for (;;) {
    pthread_mutex_lock(&h->stop_lock);
    hive_pid_t pid = h->nstop_first > 0 ? h->stop_first[--h->nstop_first] : 0;
    pthread_mutex_unlock(&h->stop_lock);
    if (pid == 0)
      return;
    if (hive_exit(h, pid, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN}) == HIVE_OK)
      hive_join(h, pid, -1);
  }
}

/* Ends every actor left: shutdown, then kill after the grace time. */
static void node_stop_actors(hive_t *h) {
  atomic_store(&h->stopping, true);
  pthread_mutex_lock(&h->stop_lock);
  for (unsigned waited_ms = 0; atomic_load(&h->alive) > 0; waited_ms += NODE_STOP_ROUND_MS) {
    pthread_mutex_unlock(&h->stop_lock);
    node_request_shutdown_all(h, waited_ms >= NODE_STOP_GRACE_MS);
    pthread_mutex_lock(&h->stop_lock);
    struct timespec until;
    until = hive__timespec_at(hive__now_ns() + NODE_STOP_ROUND_MS * 1000000u);
    while (atomic_load(&h->alive) > 0 &&
           pthread_cond_timedwait(&h->stop_cond, &h->stop_lock, &until) == 0) {
    }
  }
  pthread_mutex_unlock(&h->stop_lock);
}

int hive_stop(hive_t *h) {
  if (h == NULL)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(h);
  if (hive__tls.node == h)
    return HIVE_EDEADLK;
  hive__gateway_stop(h); /* calls in flight answered "shutdown" while all else runs */
  hive__admin_stop(h);   /* no inspector's request meets a node half gone */
  node_stop_first(h);    /* spawns still work: a supervisor may restart on its way down */
  node_stop_actors(h);
  hive__process_stop(h); /* every process actor's child is reaped by now */

  hive__watchdog_stop(h);
  hive__timers_stop(h);
  hive__cluster_stop(h); /* what the last actors sent leaves; the others hear it leave */
  hive__blocking_stop(h);
  hive__sched_stop(h);
  hive__asks_free(h);
  hive__registry_free(h);
  hive__pidtab_free(h);
  hive__msg_depot_fini(&h->msg_depot); /* after every thread that caches messages */
  free(h->stop_first);
  pthread_cond_destroy(&h->stop_cond);
  pthread_mutex_destroy(&h->stop_lock);
  free(h);
  return HIVE_OK;
}
