/*
 * names.c - global names: one owner per name across the cluster, kept in a
 * JetStream key-value bucket ("hive_PREFIX_names") on the NATS servers.
 *
 * A name is a key; its value is the owner's pid (msgpack), or empty once
 * released. Registering is an atomic create, or, over a released name or
 * one whose owner's node incarnation is down, a compare-and-set on the
 * revision read: two nodes racing for a name cannot both win. JetStream
 * replicates the bucket with Raft, so a partition's minority side cannot
 * write at all (it gets HIVE_ENOCONN) rather than give a name twice.
 *
 * Releasing: the node that owns an actor with a global name monitors it
 * (the names actor, on the blocking pool, as every bucket call is a round
 * trip to a server) and releases the name when it ends. A name whose owner
 * was on a node that went down reads as free at once; the lowest live node
 * then releases those names in the bucket too. A node that rejoins (it was
 * declared down) releases the names of its actors, whose pids are now of a
 * dead incarnation, and tells each one (HIVE_TAG_NAME_LOST): whoever took
 * a name meanwhile keeps it, on every node alike, since the bucket alone
 * says who holds a name.
 */
#define _GNU_SOURCE /* tdestroy */
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define NAMES_TAG_WATCH (HIVE__TAG_CLUSTER + 1)    /* payload: pid, then the name */
#define NAMES_TAG_NODEDOWN (HIVE__TAG_CLUSTER + 2) /* payload: node id, incarnation */
#define NAMES_TAG_REJOINED (HIVE__TAG_CLUSTER + 3) /* this node rejoined: its names are lost */
#define NAMES_WAIT_MS                                                                              \
  2000 /* a bucket call's longest wait; also how long a start looks for JetStream */

static kvStore *names_kv(cluster_t *c, int *err);

static int names_error(natsStatus s) {
  switch (s) {
  case NATS_OK:
    return HIVE_OK;
  case NATS_NOT_FOUND:
    return HIVE_ENOTFOUND;
  case NATS_NO_MEMORY:
    return HIVE_ENOMEM;
  case NATS_TIMEOUT:
    return HIVE_ETIMEDOUT;
  default:
    return HIVE_ENOCONN;
  }
}

static bool names_key_ok(const char *name) {
  size_t n = name != NULL ? strlen(name) : 0;
  if (n == 0 || n > HIVE_NAME_MAX || name[0] == '.' || name[n - 1] == '.')
    return false;
  for (size_t i = 0; i < n; i++) {
    char ch = name[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '-' || ch == '_' || ch == '/' || ch == '=' || ch == '.'))
      return false;
  }
  return true;
}

/* The pid an entry holds; 0 for a released name or a value that is none. */
static hive_pid_t names_value_pid(kvEntry *e) {
  const void *data = kvEntry_Value(e);
  int len = kvEntry_ValueLen(e);
  if (data == NULL || len <= 0)
    return 0;
  msgpack_unpacked un;
  msgpack_unpacked_init(&un);
  size_t off = 0;
  hive_pid_t pid = 0;
  if (msgpack_unpack_next(&un, data, (size_t)len, &off) == MSGPACK_UNPACK_SUCCESS &&
      un.data.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
    pid = un.data.via.u64;
  msgpack_unpacked_destroy(&un);
  return pid;
}

/* Whether pid's actor may be alive: here, it is; elsewhere, its node's
 * incarnation is up (its node releases the name when the actor ends). */
static bool names_owner_alive(cluster_t *c, hive_pid_t pid) {
  if (pid == 0)
    return false;
  unsigned node = HIVE_PID_NODE(pid);
  if (node == c->id)
    return HIVE_PID_INCARNATION(pid) == atomic_load(&c->inc) &&
           hive__lookup_live(c->h, pid) != NULL;
  return atomic_load(&c->peers[node].state) == (PEER_UP | HIVE_PID_INCARNATION(pid));
}

/* Sets name's value to empty if it still holds pid at revision rev. */
static void names_release_if(cluster_t *c, const char *name, hive_pid_t pid) {
  kvEntry *e = NULL;
  int err;
  kvStore *kv = names_kv(c, &err);
  if (kv == NULL || kvStore_Get(&e, kv, name) != NATS_OK)
    return;
  if (names_value_pid(e) == pid)
    kvStore_Update(NULL, kv, name, "", 0, kvEntry_Revision(e));
  kvEntry_Destroy(e);
}

/* ---- the names actor ------------------------------------------------------ */

typedef struct {
  uint64_t ref;
  hive_pid_t pid;
  char name[HIVE_NAME_MAX + 1];
} names_watch_t;

typedef struct {
  cluster_t *c;
  void *watches; /* tsearch tree of names_watch_t by ref */
} names_state_t;

static int names_watch_cmp(const void *a, const void *b) {
  const names_watch_t *x = a, *y = b;
  return x->ref < y->ref ? -1 : x->ref > y->ref;
}

static int names_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)ctx;
  (void)len;
  names_state_t *s = state;
  memcpy(&s->c, arg, sizeof(s->c));
  return HIVE_OK;
}

/* Releases the names of node id, incarnation inc, still in the bucket. */
static void names_release_node(cluster_t *c, unsigned id, unsigned inc) {
  int err;
  kvStore *kv = names_kv(c, &err);
  if (kv == NULL)
    return;
  kvKeysList keys = {0};
  kvWatchOptions wo;
  kvWatchOptions_Init(&wo);
  wo.Timeout = NAMES_WAIT_MS; /* bounded, as every bucket call here: hive_stop waits for us */
  if (kvStore_Keys(&keys, kv, &wo) != NATS_OK)
    return;
  for (int i = 0; i < keys.Count; i++) {
    kvEntry *e = NULL;
    if (kvStore_Get(&e, kv, keys.Keys[i]) != NATS_OK)
      continue;
    hive_pid_t pid = names_value_pid(e);
    if (pid != 0 && HIVE_PID_NODE(pid) == id && HIVE_PID_INCARNATION(pid) == inc)
      kvStore_Update(NULL, kv, keys.Keys[i], "", 0, kvEntry_Revision(e));
    kvEntry_Destroy(e);
  }
  kvKeysList_Destroy(&keys);
}

/* Tells each actor that held a global name it lost it, and releases the
 * names (this node rejoined: their pids are of a dead incarnation). */
static void names_visit_lost(const void *node, VISIT which, void *arg) {
  if (which != postorder && which != leaf)
    return;
  const names_watch_t *w = *(names_watch_t *const *)node;
  names_state_t *s = arg;
  names_release_if(s->c, w->name, w->pid);
  hive__msg_t *msg =
      hive__msg_make(w->pid, HIVE_TAG_NAME_LOST, 0, 0, HIVE__MSG_NOBOUND, w->name, strlen(w->name));
  if (msg != NULL)
    hive__deliver(s->c->h, msg);
}

static int names_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  names_state_t *s = state;
  if (msg->tag == NAMES_TAG_WATCH && msg->len > sizeof(hive_pid_t) &&
      msg->len <= sizeof(hive_pid_t) + HIVE_NAME_MAX) {
    names_watch_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
      return HIVE_OK;
    memcpy(&w->pid, msg->data, sizeof(w->pid));
    memcpy(w->name, (const char *)msg->data + sizeof(w->pid), msg->len - sizeof(w->pid));
    if (hive_monitor(ctx, w->pid, &w->ref) != HIVE_OK ||
        tsearch(w, &s->watches, names_watch_cmp) == NULL)
      free(w);
  } else if (msg->tag == HIVE_TAG_DOWN) {
    names_watch_t key = {.ref = msg->ref}, **found = tfind(&key, &s->watches, names_watch_cmp);
    if (found != NULL) {
      names_watch_t *w = *found;
      tdelete(&key, &s->watches, names_watch_cmp);
      names_release_if(s->c, w->name, w->pid);
      free(w);
    }
  } else if (msg->tag == NAMES_TAG_REJOINED) {
    twalk_r(s->watches, names_visit_lost, s);
    tdestroy(s->watches, free); /* their monitors' DOWNs, if any, find nothing */
    s->watches = NULL;
  } else if (msg->tag == NAMES_TAG_NODEDOWN && msg->len == 2) {
    const uint8_t *p = msg->data;
    names_release_node(s->c, p[0], p[1]);
  }
  return HIVE_OK;
}

static void names_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *reason) {
  (void)ctx;
  (void)reason;
  names_state_t *s = state;
  tdestroy(s->watches, free);
}

static const hive_behaviour_t names_behaviour = {
    .name = "hive.cluster.names",
    .state_size = sizeof(names_state_t),
    .init = names_init,
    .handle = names_handle,
    .terminate = names_terminate,
};

/* ---- start and stop ---------------------------------------------------------- */

/* The bucket, opened (or made) on first need and again after a failure,
 * at most once a second: a node that started before JetStream was ready
 * (a JetStream cluster still electing its leader) gets its names later.
 * NULL with *err: HIVE_ENOTSUP (the servers run no JetStream) or
 * HIVE_ENOCONN (it does not answer now). */
static kvStore *names_kv(cluster_t *c, int *err) {
  pthread_mutex_lock(&c->names_lock);
  kvStore *kv = c->kv;
  uint64_t now = hive__now_ns();
  if (kv == NULL && c->js != NULL && now >= c->names_retry_ns) {
    char bucket[CLUSTER_PREFIX_MAX + 16];
    snprintf(bucket, sizeof(bucket), "hive_%s_names", c->prefix);
    natsStatus s = js_KeyValue(&kv, c->js, bucket);
    if (s == NATS_NOT_FOUND) {
      kvConfig cfg;
      kvConfig_Init(&cfg);
      cfg.Bucket = bucket;
      cfg.History = 1;
      s = js_CreateKeyValue(&kv, c->js, &cfg);
      if (s != NATS_OK) /* another node made it meanwhile */
        s = js_KeyValue(&kv, c->js, bucket);
    }
    if (s == NATS_OK) {
      c->kv = kv;
    } else {
      kv = NULL;
      c->names_err = s == NATS_NO_RESPONDERS ? HIVE_ENOTSUP : HIVE_ENOCONN;
      c->names_retry_ns = now + 1000000000ull;
      hive_log(c->h, HIVE_LOG_INFO,
               "cluster: no JetStream key-value bucket for global names yet (%s)%s",
               natsStatus_GetText(s),
               c->names_err == HIVE_ENOTSUP ? ": start nats-server with -js for them" : "");
    }
  }
  int last = c->names_err;
  pthread_mutex_unlock(&c->names_lock);
  if (kv == NULL)
    *err = c->js == NULL ? HIVE_ENOTSUP : last;
  return kv;
}

int hive__names_start(cluster_t *c) {
  pthread_mutex_init(&c->names_lock, NULL);
  c->names_started = true;
  c->names_err = HIVE_ENOTSUP;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = NAMES_WAIT_MS;
  if (natsConnection_JetStream(&c->js, c->nc, &jo) != NATS_OK)
    c->js = NULL;
  int err;
  names_kv(c, &err); /* now if it can: the first call then waits for nothing */
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.flags = HIVE_SPAWN_BLOCKING; /* each bucket call waits for a server */
  return hive_spawn(c->h, &names_behaviour, &c, sizeof(c), &opts, &c->names);
}

void hive__names_free(cluster_t *c) {
  if (!c->names_started)
    return;
  kvStore_Destroy(c->kv);
  jsCtx_Destroy(c->js);
  c->kv = NULL;
  c->js = NULL;
  pthread_mutex_destroy(&c->names_lock);
}

void hive__names_rejoined(cluster_t *c) {
  if (c->names != 0)
    hive__send_internal(c->h, c->names, NAMES_TAG_REJOINED, NULL, 0);
}

void hive__names_node_down(cluster_t *c, unsigned id, unsigned inc) {
  if (c->names == 0)
    return;
  /* The lowest live node cleans up: one node does it, whichever is left. */
  for (unsigned other = 1; other < c->id; other++)
    if (atomic_load(&c->peers[other].state) & PEER_UP)
      return;
  uint8_t *buf = malloc(2);
  if (buf == NULL)
    return;
  buf[0] = (uint8_t)id;
  buf[1] = (uint8_t)inc;
  hive__send_internal(c->h, c->names, NAMES_TAG_NODEDOWN, buf, 2);
}

/* ---- the public calls ---------------------------------------------------------- */

/* The cluster and its bucket for a call on name. */
static int names_cluster(hive_t *h, const char *name, cluster_t **out, kvStore **kv) {
  if (h == NULL || name == NULL)
    return HIVE_EINVAL;
  cluster_t *c = h->cluster;
  if (c == NULL)
    return HIVE_ENOTSUP;
  if (strlen(name) > HIVE_NAME_MAX)
    return HIVE_ENAMETOOLONG;
  if (!names_key_ok(name))
    return HIVE_EINVAL;
  int err = HIVE_OK;
  if ((*kv = names_kv(c, &err)) == NULL)
    return err;
  *out = c;
  return HIVE_OK;
}

int hive_register_global(hive_t *h, const char *name, hive_pid_t pid) {
  cluster_t *c;
  kvStore *kv;
  if (pid == 0)
    return HIVE_EINVAL;
  int rc = names_cluster(h, name, &c, &kv);
  if (rc != HIVE_OK)
    return rc;
  if (!names_owner_alive(c, pid))
    return HIVE_ENOPROC;
  msgpack_sbuffer buf;
  msgpack_sbuffer_init(&buf);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
  msgpack_pack_uint64(&pk, pid);
  /* Create it; else take it over a released name or a dead owner, by
   * compare-and-set on the revision read; a write between the read and
   * ours (another node's, or the release of a dead node's names) means
   * read again. */
  rc = HIVE_EEXIST;
  for (int tries = 0; tries < 4; tries++) {
    natsStatus s = kvStore_Create(NULL, kv, name, buf.data, (int)buf.size);
    if (s == NATS_OK) {
      rc = HIVE_OK;
      break;
    }
    kvEntry *e = NULL;
    s = kvStore_Get(&e, kv, name);
    if (s == NATS_NOT_FOUND)
      continue; /* deleted meanwhile: try to be first again */
    if (s != NATS_OK) {
      rc = names_error(s);
      break;
    }
    hive_pid_t owner = names_value_pid(e);
    bool taken = owner != pid && names_owner_alive(c, owner);
    bool ours = owner == pid || (!taken && kvStore_Update(NULL, kv, name, buf.data, (int)buf.size,
                                                          kvEntry_Revision(e)) == NATS_OK);
    kvEntry_Destroy(e);
    if (taken || ours) {
      rc = ours ? HIVE_OK : HIVE_EEXIST;
      break;
    }
  }
  msgpack_sbuffer_destroy(&buf);
  if (rc == HIVE_OK && HIVE_PID_NODE(pid) == c->id) { /* released when it ends */
    size_t len = strlen(name);
    uint8_t *watch = malloc(sizeof(pid) + len);
    if (watch != NULL) {
      memcpy(watch, &pid, sizeof(pid));
      memcpy(watch + sizeof(pid), name, len);
      hive__send_internal(h, c->names, NAMES_TAG_WATCH, watch, sizeof(pid) + len);
    }
  }
  return rc;
}

/* The entry name holds now (*e: destroy it), or an error. */
static int names_get(hive_t *h, const char *name, kvStore **kv, kvEntry **e) {
  cluster_t *c;
  int rc = names_cluster(h, name, &c, kv);
  if (rc != HIVE_OK)
    return rc;
  natsStatus s = kvStore_Get(e, *kv, name);
  return s == NATS_OK ? HIVE_OK : names_error(s);
}

int hive_unregister_global(hive_t *h, const char *name) {
  kvStore *kv;
  kvEntry *e = NULL;
  int rc = names_get(h, name, &kv, &e);
  if (rc != HIVE_OK)
    return rc;
  if (names_value_pid(e) == 0)
    rc = HIVE_ENOTFOUND;
  else if (kvStore_Update(NULL, kv, name, "", 0, kvEntry_Revision(e)) != NATS_OK)
    rc = HIVE_ENOTFOUND; /* changed meanwhile: released, or another owner's now */
  kvEntry_Destroy(e);
  return rc;
}

int hive_whereis_global(hive_t *h, const char *name, hive_pid_t *pid) {
  kvStore *kv;
  kvEntry *e = NULL;
  if (pid == NULL)
    return HIVE_EINVAL;
  int rc = names_get(h, name, &kv, &e);
  if (rc != HIVE_OK)
    return rc;
  hive_pid_t owner = names_value_pid(e);
  kvEntry_Destroy(e);
  if (!names_owner_alive(h->cluster, owner))
    return HIVE_ENOTFOUND; /* released, or its node is down */
  *pid = owner;
  return HIVE_OK;
}
