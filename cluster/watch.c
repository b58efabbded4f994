/*
 * watch.c - what a node-down must fire: the links and monitors between
 * actors here and actors on each peer, and node monitors.
 *
 * An actor's own tables (actors/links.c) say whom it is linked to, but
 * only its turn may read them. So the cluster keeps its own record, per
 * peer, of every link and monitor that crosses to that peer, taken from
 * the signals as they pass (out: routed from here; in: delivered here).
 * When the peer goes down, each record becomes the signal its actor here
 * would have got had the remote actor ended with reason noconnection:
 *   link (A here, R there)           exit signal from R to A
 *   monitoring (A watches R, ref)    DOWN to A
 *   watched (R watches A, ref)       A forgets the monitor
 *   request (A asked R, ref)         A gets NOPROC for it (a plain
 *                                    thread's hive_ask returns
 *                                    HIVE_ENOPROC), as when R ends
 * Records of actors here that ended are pruned now and then by the
 * heartbeat thread (a monitor dies with its watcher silently).
 */
#define _GNU_SOURCE /* twalk_r, tdestroy */
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define WATCH_LINK 1
#define WATCH_MONITORING 2
#define WATCH_WATCHED 3
#define WATCH_REQUEST 4 /* local asked remote, ref open; local 0: a plain thread's hive_ask */

typedef struct {
  hive_pid_t local, remote;
  uint64_t ref;
  int kind;
} watch_t;

static int watch_cmp(const void *a, const void *b) {
  const watch_t *x = a, *y = b;
  if (x->local != y->local)
    return x->local < y->local ? -1 : 1;
  if (x->remote != y->remote)
    return x->remote < y->remote ? -1 : 1;
  if (x->ref != y->ref)
    return x->ref < y->ref ? -1 : 1;
  return x->kind - y->kind;
}

/* False if it could not be recorded (no memory). */
static bool watch_add(cluster_peer_t *p, int kind, hive_pid_t local, hive_pid_t remote,
                      uint64_t ref) {
  watch_t *w = malloc(sizeof(*w));
  if (w == NULL)
    return false;
  *w = (watch_t){.local = local, .remote = remote, .ref = ref, .kind = kind};
  pthread_mutex_lock(&p->watch_lock);
  watch_t **found = tsearch(w, &p->watches, watch_cmp);
  bool inserted = found != NULL && *found == w; /* read under the lock: the tree's node may go */
  if (inserted)
    p->nwatches++;
  pthread_mutex_unlock(&p->watch_lock);
  if (!inserted)
    free(w);
  return true;
}

static void watch_del(cluster_peer_t *p, int kind, hive_pid_t local, hive_pid_t remote,
                      uint64_t ref) {
  watch_t key = {.local = local, .remote = remote, .ref = ref, .kind = kind};
  pthread_mutex_lock(&p->watch_lock);
  watch_t **found = tfind(&key, &p->watches, watch_cmp);
  watch_t *w = found != NULL ? *found : NULL;
  if (w != NULL) {
    tdelete(&key, &p->watches, watch_cmp);
    p->nwatches--;
  }
  pthread_mutex_unlock(&p->watch_lock);
  free(w);
}

/* Records what a signal sets up or ends between an actor here and one
 * there; out: routed from here (from is ours), else delivered here (to is
 * ours). A monitor set up from this side is "monitoring", from theirs
 * "watched"; a DOWN ends the one the other side set up. False if what it
 * sets up could not be recorded (no memory). */
static bool watch_signal(cluster_peer_t *p, const wire_env_t *env, bool out) {
  hive_pid_t local = out ? env->from : env->to, remote = out ? env->to : env->from;
  int ours = out ? WATCH_MONITORING : WATCH_WATCHED;
  int theirs = out ? WATCH_WATCHED : WATCH_MONITORING;
  switch (env->signal) {
  case HIVE__SIG_LINK:
    return watch_add(p, WATCH_LINK, local, remote, 0);
  case HIVE__SIG_UNLINK:
    watch_del(p, WATCH_LINK, local, remote, 0);
    break;
  case HIVE__SIG_EXIT:
    if (env->eflags & HIVE__EXIT_FROM_LINK)
      watch_del(p, WATCH_LINK, local, remote, 0);
    break;
  case HIVE__SIG_MONITOR:
    return watch_add(p, ours, local, remote, env->ref);
  case HIVE__SIG_DEMONITOR:
    watch_del(p, ours, local, remote, env->ref);
    break;
  case HIVE__SIG_DOWN: /* from: the actor that ended; to: its watcher */
    watch_del(p, theirs, local, remote, env->ref);
    break;
  default:
    break;
  }
  return true;
}

bool hive__watch_out(cluster_t *c, cluster_peer_t *p, const wire_env_t *env) {
  (void)c;
  return watch_signal(p, env, true);
}

void hive__watch_in(cluster_t *c, cluster_peer_t *p, const wire_env_t *env) {
  (void)c;
  watch_signal(p, env, false);
}

bool hive__watch_request_out(cluster_t *c, cluster_peer_t *p, const wire_env_t *env) {
  (void)c;
  return env->ref == 0 || (env->flags & HIVE__MSG_ANSWER) || env->tag < HIVE_TAG_USER ||
         watch_add(p, WATCH_REQUEST, env->from, env->to, env->ref);
}

void hive__watch_answer_in(cluster_t *c, cluster_peer_t *p, hive_pid_t requester,
                           const wire_env_t *env) {
  (void)c;
  watch_del(p, WATCH_REQUEST, requester, env->from, env->ref);
}

static void watch_fire_one(const void *node, VISIT which, void *arg) {
  if (which != postorder && which != leaf)
    return;
  const watch_t *w = *(watch_t *const *)node;
  hive_t *h = arg;
  const hive_reason_t noconnection = {.kind = HIVE_REASON_NOCONNECTION};
  switch (w->kind) {
  case WATCH_LINK:
    hive__send_exit(h, w->remote, w->local, &noconnection, HIVE__EXIT_FROM_LINK);
    break;
  case WATCH_MONITORING:
    hive__send_down(h, w->remote, w->local, w->ref, &noconnection);
    break;
  case WATCH_WATCHED:
    hive__signal_local(h, HIVE__SIG_DEMONITOR, w->remote, w->local, w->ref);
    break;
  case WATCH_REQUEST:
    if (w->local == 0) {
      hive__ask_answer(h, w->ref, false, NULL, 0);
    } else {
      hive__msg_t *msg =
          hive__msg_make(w->local, HIVE_TAG_NOPROC, w->remote, w->ref, HIVE__MSG_ANSWER, NULL, 0);
      if (msg != NULL)
        hive__deliver(h, msg);
    }
    break;
  default:
    break;
  }
}

void hive__watch_fire(cluster_t *c, cluster_peer_t *p, unsigned inc) {
  (void)inc; /* the records are of the incarnation that was up: a new one starts empty */
  pthread_mutex_lock(&p->watch_lock);
  void *root = p->watches;
  p->watches = NULL;
  p->nwatches = 0;
  pthread_mutex_unlock(&p->watch_lock);
  twalk_r(root, watch_fire_one, c->h);
  tdestroy(root, free);
}

/* What prune collects: records of actors here that ended. */
typedef struct {
  hive_t *h;
  watch_t **dead;
  size_t n, cap;
} watch_prune_t;

static void watch_prune_one(const void *node, VISIT which, void *arg) {
  if (which != postorder && which != leaf)
    return;
  watch_t *w = *(watch_t *const *)node;
  watch_prune_t *pr = arg;
  if (w->local == 0 || hive__lookup_live(pr->h, w->local) != NULL)
    return; /* a plain thread's ask: its answer or the node-down removes it */
  if (pr->n == pr->cap) {
    size_t cap = pr->cap == 0 ? 64 : pr->cap * 2;
    watch_t **dead = realloc(pr->dead, cap * sizeof(*dead));
    if (dead == NULL)
      return; /* the rest waits for the next prune */
    pr->dead = dead;
    pr->cap = cap;
  }
  pr->dead[pr->n++] = w;
}

void hive__watch_prune(cluster_t *c, cluster_peer_t *p) {
  pthread_mutex_lock(&p->watch_lock);
  if (p->nwatches == 0) {
    pthread_mutex_unlock(&p->watch_lock);
    return;
  }
  watch_prune_t pr = {.h = c->h};
  twalk_r(p->watches, watch_prune_one, &pr);
  for (size_t i = 0; i < pr.n; i++) {
    tdelete(pr.dead[i], &p->watches, watch_cmp);
    free(pr.dead[i]);
    p->nwatches--;
  }
  pthread_mutex_unlock(&p->watch_lock);
  free(pr.dead);
}

void hive__watch_free(cluster_peer_t *p) {
  tdestroy(p->watches, free);
  p->watches = NULL;
  p->nwatches = 0;
}

/* ---- node monitors ----------------------------------------------------------- */

typedef struct {
  uint64_t ref;
  hive_pid_t watcher;
  unsigned node;
} node_monitor_t;

static int node_monitor_cmp(const void *a, const void *b) {
  const node_monitor_t *x = a, *y = b;
  return x->ref < y->ref ? -1 : x->ref > y->ref;
}

/* HIVE_TAG_NODEDOWN to watcher: payload [node, incarnation]. */
static void node_monitor_deliver(hive_t *h, hive_pid_t watcher, uint64_t ref, unsigned node,
                                 unsigned inc) {
  msgpack_sbuffer buf;
  msgpack_sbuffer_init(&buf);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 2);
  msgpack_pack_unsigned_int(&pk, node);
  msgpack_pack_unsigned_int(&pk, inc);
  hive__msg_t *msg =
      hive__msg_make(watcher, HIVE_TAG_NODEDOWN, 0, ref, HIVE__MSG_NOBOUND, buf.data, buf.size);
  msgpack_sbuffer_destroy(&buf);
  if (msg != NULL)
    hive__deliver(h, msg);
}

typedef struct {
  unsigned node;
  node_monitor_t **fired;
  size_t n, cap;
  hive_t *h;
  bool prune; /* collect those whose watcher ended, instead */
} node_monitor_walk_t;

static void node_monitor_collect(const void *node, VISIT which, void *arg) {
  if (which != postorder && which != leaf)
    return;
  node_monitor_t *m = *(node_monitor_t *const *)node;
  node_monitor_walk_t *walk = arg;
  if (walk->prune ? hive__lookup_live(walk->h, m->watcher) != NULL : m->node != walk->node)
    return;
  if (walk->n == walk->cap) {
    size_t cap = walk->cap == 0 ? 16 : walk->cap * 2;
    node_monitor_t **fired = realloc(walk->fired, cap * sizeof(*fired));
    if (fired == NULL)
      return;
    walk->fired = fired;
    walk->cap = cap;
  }
  walk->fired[walk->n++] = m;
}

/* Takes the monitors on node (or, prune, those of ended watchers) out. */
static node_monitor_walk_t node_monitors_take(cluster_t *c, unsigned node, bool prune) {
  node_monitor_walk_t walk = {.node = node, .h = c->h, .prune = prune};
  pthread_mutex_lock(&c->lock);
  twalk_r(c->node_monitors, node_monitor_collect, &walk);
  for (size_t i = 0; i < walk.n; i++)
    tdelete(walk.fired[i], &c->node_monitors, node_monitor_cmp);
  pthread_mutex_unlock(&c->lock);
  return walk;
}

void hive__node_monitors_fire(cluster_t *c, unsigned id, unsigned inc) {
  node_monitor_walk_t walk = node_monitors_take(c, id, false);
  for (size_t i = 0; i < walk.n; i++) {
    node_monitor_deliver(c->h, walk.fired[i]->watcher, walk.fired[i]->ref, id, inc);
    free(walk.fired[i]);
  }
  free(walk.fired);
}

void hive__node_monitors_prune(cluster_t *c) {
  node_monitor_walk_t walk = node_monitors_take(c, 0, true);
  for (size_t i = 0; i < walk.n; i++)
    free(walk.fired[i]);
  free(walk.fired);
}

void hive__node_monitors_free(cluster_t *c) {
  tdestroy(c->node_monitors, free);
  c->node_monitors = NULL;
}

int hive_monitor_node(hive_ctx_t *ctx, unsigned node_id, uint64_t *ref) {
  if (ctx == NULL || ref == NULL)
    return HIVE_EINVAL;
  hive_t *h = hive_node(ctx);
  cluster_t *c = h->cluster;
  if (c == NULL)
    return HIVE_ENOTSUP;
  if (node_id == 0 || node_id >= CLUSTER_PEERS || node_id == c->id)
    return HIVE_EINVAL;
  node_monitor_t *m = malloc(sizeof(*m));
  if (m == NULL)
    return HIVE_ENOMEM;
  *m = (node_monitor_t){.ref = atomic_fetch_add_explicit(&h->next_ref, 1, memory_order_relaxed) + 1,
                        .watcher = hive_self(ctx),
                        .node = node_id};
  *ref = m->ref;
  pthread_mutex_lock(&c->lock);
  uint32_t st = atomic_load(&c->peers[node_id].state);
  bool up = st & PEER_UP;
  bool put = up && tsearch(m, &c->node_monitors, node_monitor_cmp) != NULL;
  unsigned inc = up ? PEER_INC(st) : c->peers[node_id].down_inc;
  pthread_mutex_unlock(&c->lock);
  if (!up) { /* not connected now: NODEDOWN at once, as Erlang does */
    node_monitor_deliver(h, m->watcher, m->ref, node_id, inc);
    free(m);
    return HIVE_OK;
  }
  if (!put) {
    free(m);
    return HIVE_ENOMEM;
  }
  return HIVE_OK;
}

int hive_demonitor_node(hive_ctx_t *ctx, uint64_t ref) {
  if (ctx == NULL || ref == 0)
    return HIVE_EINVAL;
  hive_t *h = hive_node(ctx);
  cluster_t *c = h->cluster;
  if (c == NULL)
    return HIVE_ENOTSUP;
  node_monitor_t key = {.ref = ref}, *m = NULL;
  pthread_mutex_lock(&c->lock);
  node_monitor_t **found = tfind(&key, &c->node_monitors, node_monitor_cmp);
  if (found != NULL && (*found)->watcher == hive_self(ctx)) {
    m = *found;
    tdelete(&key, &c->node_monitors, node_monitor_cmp);
  }
  pthread_mutex_unlock(&c->lock);
  free(m);
  return m != NULL ? HIVE_OK : HIVE_ENOTFOUND;
}

int hive_nodedown_info(const hive_msg_t *msg, unsigned *node_id, unsigned *incarnation) {
  if (msg == NULL || msg->tag != HIVE_TAG_NODEDOWN)
    return HIVE_EINVAL;
  msgpack_unpacked un;
  msgpack_unpacked_init(&un);
  size_t off = 0;
  int rc = HIVE_EPAYLOAD;
  if (msgpack_unpack_next(&un, msg->data, msg->len, &off) == MSGPACK_UNPACK_SUCCESS &&
      un.data.type == MSGPACK_OBJECT_ARRAY && un.data.via.array.size == 2 &&
      un.data.via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
      un.data.via.array.ptr[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
    if (node_id != NULL)
      *node_id = (unsigned)un.data.via.array.ptr[0].via.u64;
    if (incarnation != NULL)
      *incarnation = (unsigned)un.data.via.array.ptr[1].via.u64;
    rc = HIVE_OK;
  }
  msgpack_unpacked_destroy(&un);
  return rc;
}
