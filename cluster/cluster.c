/*
 * cluster.c - a node joins its cluster over NATS, keeps track of the
 * other nodes, and declares them down.
 *
 * Joining: the node picks an incarnation (1..255) and says hello on P.join;
 * every live node answers with its id, its incarnation, and the
 * incarnation it knows for the joiner's id. An answer from a node with the
 * joiner's id means that id is live: hive_start fails with HIVE_EEXIST. The
 * incarnation is chosen again if any answer knows it, so a pid of an
 * earlier run of this node never names an actor of this run.
 *
 * Liveness: a thread of its own sends a heartbeat every heartbeat_ms and
 * declares down every node not heard from (heartbeat or batch) for
 * node_down_ms. It runs apart from the workers, so a node whose workers are
 * all busy still beats. A heartbeat from a new incarnation of a live node
 * declares the old one down at once (it restarted); a node that stops
 * sends "leave" first.
 *
 * Coming back: a node that learns it was declared down (a notice on
 * P.ctl, or its own heartbeat thread woke past node_down_ms: it was
 * stopped) declares every other node down and rejoins as a new
 * incarnation. A NATS disconnect shorter than node_down_ms changes
 * nothing (the other nodes' clocks restart when this node reconnects); a
 * longer one is handled as a node-down on both sides.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "internal.h"

#define CLUSTER_DEFAULT_HEARTBEAT_MS 250
#define CLUSTER_DEFAULT_NODE_DOWN_MS 2000
#define CLUSTER_JOIN_MIN_MS 100        /* how long a hello waits for answers, at least */
#define CLUSTER_NOTICE_NS 500000000ull /* a node declared down is told at most this often */
#define CLUSTER_PRUNE_MS 10000         /* how often ended actors' watches are forgotten */
/* A subscription holds at most this much before cnats drops (counted). */
#define CLUSTER_PENDING_MSGS (1 << 20)
#define CLUSTER_PENDING_BYTES (1024 * 1024 * 1024)

uint64_t hive__cluster_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int cluster_error(natsStatus s) {
  switch (s) {
  case NATS_OK:
    return HIVE_OK;
  case NATS_NO_MEMORY:
    return HIVE_ENOMEM;
  case NATS_INVALID_ARG:
    return HIVE_EINVAL;
  default:
    return HIVE_ENOCONN;
  }
}

static unsigned cluster_random_inc(unsigned not1, unsigned not2) {
  for (;;) {
    uint8_t b = 0;
    if (getrandom(&b, 1, 0) != 1)
      b = (uint8_t)(time(NULL) ^ clock());
    if (b != 0 && b != not1 && b != not2)
      return b;
  }
}

/* Publishes the msgpack bytes buf holds on subject. */
static void cluster_publish(cluster_t *c, const char *subject, const msgpack_sbuffer *buf) {
  natsConnection_Publish(c->nc, subject, buf->data, (int)buf->size);
}

static void cluster_subject(cluster_t *c, char *out, const char *what) {
  snprintf(out, CLUSTER_SUBJECT_MAX, "%s.%s", c->prefix, what);
}

static void cluster_send_ctl(cluster_t *c, int kind, unsigned id, unsigned inc) {
  msgpack_sbuffer buf;
  msgpack_sbuffer_init(&buf);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
  hive__wire_pack_ctl(&pk, kind, id, inc);
  char subject[CLUSTER_SUBJECT_MAX];
  cluster_subject(c, subject, "ctl");
  cluster_publish(c, subject, &buf);
  msgpack_sbuffer_destroy(&buf);
}

static void cluster_fill_hb(cluster_t *c, wire_hb_t *hb) {
  *hb = (wire_hb_t){.id = c->id,
                    .inc = atomic_load(&c->inc),
                    .started_ms = c->started_ms,
                    .actors = atomic_load_explicit(&c->h->alive, memory_order_relaxed)};
  snprintf(hb->name, sizeof(hb->name), "%s", c->name);
}

/* This node's heartbeat, packed into buf (initialised here). */
static void cluster_pack_hb(cluster_t *c, msgpack_sbuffer *buf) {
  wire_hb_t hb;
  cluster_fill_hb(c, &hb);
  msgpack_sbuffer_init(buf);
  msgpack_packer pk;
  msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
  hive__wire_pack_hb(&pk, &hb);
}

static void cluster_send_hb(cluster_t *c) {
  msgpack_sbuffer buf;
  cluster_pack_hb(c, &buf);
  char subject[CLUSTER_SUBJECT_MAX];
  cluster_subject(c, subject, "hb");
  cluster_publish(c, subject, &buf);
  msgpack_sbuffer_destroy(&buf);
}

/* ---- peers ----------------------------------------------------------------- */

bool hive__cluster_peer_seen(cluster_t *c, unsigned id, unsigned inc, const wire_hb_t *hb) {
  if (id == c->id || id == 0 || id >= CLUSTER_PEERS)
    return false;
  cluster_peer_t *p = &c->peers[id];
  uint64_t now = hive__now_ns();
  for (;;) {
    pthread_mutex_lock(&c->lock);
    uint32_t st = atomic_load(&p->state);
    if (st == (PEER_UP | inc)) {
      atomic_store_explicit(&p->heard_ns, now, memory_order_relaxed);
      if (hb != NULL) {
        p->actors = hb->actors;
        p->started_ms = hb->started_ms;
        memcpy(p->name, hb->name, sizeof(p->name));
      }
      pthread_mutex_unlock(&c->lock);
      return true;
    }
    if (inc == p->down_inc) { /* an incarnation declared down: it must rejoin */
      bool notice = now - p->down_noticed_ns > CLUSTER_NOTICE_NS;
      if (notice)
        p->down_noticed_ns = now;
      pthread_mutex_unlock(&c->lock);
      if (notice)
        cluster_send_ctl(c, WIRE_CTL_DOWN, id, inc);
      return false;
    }
    if (st & PEER_UP) { /* a new incarnation: the old one restarted */
      pthread_mutex_unlock(&c->lock);
      hive__cluster_peer_down(c, p, PEER_INC(st), true, "it restarted");
      continue;
    }
    atomic_store_explicit(&p->heard_ns, now, memory_order_relaxed);
    if (hb != NULL) {
      p->actors = hb->actors;
      p->started_ms = hb->started_ms;
      memcpy(p->name, hb->name, sizeof(p->name));
    } else {
      snprintf(p->name, sizeof(p->name), "node%u", id);
      p->actors = 0;
      p->started_ms = 0;
    }
    atomic_store(&p->state, PEER_UP | inc);
    pthread_mutex_unlock(&c->lock);
    hive_log(c->h, HIVE_LOG_INFO, "cluster: node %u up (incarnation %u)", id, inc);
    return true;
  }
}

void hive__cluster_peer_down(cluster_t *c, cluster_peer_t *p, unsigned inc, bool dead,
                             const char *why) {
  pthread_mutex_lock(&c->lock);
  if (atomic_load(&p->state) != (PEER_UP | inc)) {
    pthread_mutex_unlock(&c->lock);
    return; /* down already, or another incarnation */
  }
  atomic_store(&p->state, 0);
  if (dead)
    p->down_inc = inc;
  p->down_noticed_ns = 0;
  char name[sizeof(p->name)];
  memcpy(name, p->name, sizeof(name));
  pthread_mutex_unlock(&c->lock);
  atomic_fetch_add_explicit(&p->downs, 1, memory_order_relaxed);
  /* A batch from it being delivered now ends first: nothing after DOWN. */
  pthread_mutex_lock(&p->in_lock);
  pthread_mutex_unlock(&p->in_lock);
  hive__cluster_drop_out(c, p);
  hive__watch_fire(c, p, inc);
  hive__node_monitors_fire(c, p->id, inc);
  if (dead)
    hive__names_node_down(c, p->id, inc);
  hive_log(c->h, HIVE_LOG_WARNING, "cluster: node %u (%s, incarnation %u) down: %s", p->id, name,
           inc, why);
}

/* ---- subscriptions ----------------------------------------------------------- */

static void cluster_on_hb(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg) {
  (void)nc;
  (void)sub;
  cluster_t *c = arg;
  wire_hb_t hb;
  if (hive__wire_read_hb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &hb)) {
    if (hb.id == c->id)
      hive_log(c->h, HIVE_LOG_ERROR,
               "cluster: another node (%s, incarnation %u) beats with this node's id %u", hb.name,
               hb.inc, c->id);
    else
      hive__cluster_peer_seen(c, hb.id, hb.inc, &hb);
  } else {
    atomic_fetch_add_explicit(&c->bad_batches, 1, memory_order_relaxed);
  }
  natsMsg_Destroy(m);
}

static void cluster_on_ctl(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg) {
  (void)nc;
  (void)sub;
  cluster_t *c = arg;
  int kind;
  unsigned id, inc;
  if (hive__wire_read_ctl(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &kind, &id, &inc)) {
    if (kind == WIRE_CTL_LEAVE && id != c->id) {
      hive__cluster_peer_down(c, &c->peers[id], inc, true, "it left");
    } else if (kind == WIRE_CTL_DOWN && id == c->id) {
      pthread_mutex_lock(&c->lock);
      if (inc == atomic_load(&c->inc)) { /* not about an incarnation this node left already */
        c->rejoin = true;
        pthread_cond_signal(&c->cond);
      }
      pthread_mutex_unlock(&c->lock);
    }
  }
  natsMsg_Destroy(m);
}

/* A joining node's hello: answer who we are and what we know of its id. */
static void cluster_on_join(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg) {
  (void)sub;
  cluster_t *c = arg;
  wire_hb_t hb;
  const char *reply = natsMsg_GetReply(m);
  if (reply != NULL &&
      hive__wire_read_hb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &hb)) {
    unsigned seen = 0;
    if (hb.id != c->id) {
      pthread_mutex_lock(&c->lock);
      uint32_t st = atomic_load(&c->peers[hb.id].state);
      seen = st & PEER_UP ? PEER_INC(st) : c->peers[hb.id].down_inc;
      pthread_mutex_unlock(&c->lock);
      /* Not up here: it is up from now, before it hears this answer, so
       * that it may send as soon as hive_start returns there. (Up with
       * another incarnation: it may be a second node with a live id, and
       * its heartbeat will say whether it restarted.) */
      if (!(st & PEER_UP) && hb.inc != seen)
        hive__cluster_peer_seen(c, hb.id, hb.inc, &hb);
    }
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    hive__wire_pack_answer(&pk, c->id, atomic_load(&c->inc), seen);
    natsConnection_Publish(nc, reply, buf.data, (int)buf.size);
    msgpack_sbuffer_destroy(&buf);
  }
  natsMsg_Destroy(m);
}

static void cluster_on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *arg) {
  (void)nc;
  cluster_t *c = arg;
  if (err != NATS_SLOW_CONSUMER || sub == NULL) {
    hive_log(c->h, HIVE_LOG_WARNING, "cluster: NATS error: %s", natsStatus_GetText(err));
    return;
  }
  int64_t dropped = 0;
  natsSubscription_GetDropped(sub, &dropped);
  uint64_t before = atomic_exchange(&c->slow_consumer_drops, (uint64_t)dropped);
  hive_log(c->h, HIVE_LOG_WARNING,
           "cluster: slow consumer on %s: NATS dropped %" PRIu64 " messages (%" PRId64 " in all)",
           natsSubscription_GetSubject(sub), (uint64_t)dropped - before, dropped);
}

static void cluster_on_disconnected(natsConnection *nc, void *arg) {
  (void)nc;
  cluster_t *c = arg;
  pthread_mutex_lock(&c->lock);
  if (c->quit) { /* hive_stop closes the connection */
    pthread_mutex_unlock(&c->lock);
    return;
  }
  if (!c->disconnected) {
    c->disconnected = true;
    c->disconnected_ns = hive__now_ns();
  }
  pthread_mutex_unlock(&c->lock);
  hive_log(c->h, HIVE_LOG_WARNING, "cluster: disconnected from NATS; reconnecting");
}

static void cluster_on_reconnected(natsConnection *nc, void *arg) {
  (void)nc;
  cluster_t *c = arg;
  uint64_t now = hive__now_ns();
  pthread_mutex_lock(&c->lock);
  uint64_t away_ms = (now - c->disconnected_ns) / 1000000u;
  if (away_ms >= c->node_down_ms) {
    c->rejoin = true; /* the others have declared this node down by now */
  } else {
    /* Nobody could be heard meanwhile: their clocks restart now. */
    for (unsigned id = 1; id < CLUSTER_PEERS; id++)
      atomic_store_explicit(&c->peers[id].heard_ns, now, memory_order_relaxed);
  }
  c->disconnected = false;
  pthread_cond_signal(&c->cond);
  pthread_mutex_unlock(&c->lock);
  hive_log(c->h, HIVE_LOG_INFO, "cluster: reconnected to NATS after %" PRIu64 " ms", away_ms);
}

/* cnats's last callback on the connection: after it, c may be freed. */
static void cluster_on_closed(natsConnection *nc, void *arg) {
  (void)nc;
  cluster_t *c = arg;
  pthread_mutex_lock(&c->lock);
  c->closed = true;
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->lock);
}

/* Closes the connection and waits for its callbacks to be over. */
static void cluster_close(cluster_t *c) {
  if (c->nc == NULL)
    return;
  pthread_mutex_lock(&c->lock);
  c->quit = true;
  pthread_mutex_unlock(&c->lock);
  natsConnection_Close(c->nc);
  pthread_mutex_lock(&c->lock);
  struct timespec until = hive__timespec_at(hive__now_ns() + 5000000000ull);
  while (!c->closed && pthread_cond_timedwait(&c->cond, &c->lock, &until) == 0) {
  }
  pthread_mutex_unlock(&c->lock);
  natsConnection_Destroy(c->nc);
  c->nc = NULL;
}

/* Every subscription's callback: none starts once the node stops. */
static void cluster_dispatch(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg) {
  cluster_sub_t *cs = arg;
  cluster_t *c = cs->c;
  atomic_fetch_add(&c->in_callbacks, 1); /* then closing: seq_cst, as the stop's order */
  if (atomic_load(&c->closing))
    natsMsg_Destroy(m);
  else
    cs->handle(nc, sub, m, c);
  atomic_fetch_sub(&c->in_callbacks, 1);
}

static int cluster_subscribe(cluster_t *c, cluster_sub_t *cs, const char *what,
                             natsMsgHandler handle) {
  char subject[CLUSTER_SUBJECT_MAX];
  cluster_subject(c, subject, what);
  cs->c = c;
  cs->handle = handle;
  natsStatus s = natsConnection_Subscribe(&cs->sub, c->nc, subject, cluster_dispatch, cs);
  if (s == NATS_OK)
    s = natsSubscription_SetPendingLimits(cs->sub, CLUSTER_PENDING_MSGS, CLUSTER_PENDING_BYTES);
  return cluster_error(s);
}

static int cluster_subscribe_data(cluster_t *c) {
  char what[32];
  snprintf(what, sizeof(what), "n.%u.%u", c->id, atomic_load(&c->inc));
  return cluster_subscribe(c, &c->sub_data, what, hive__cluster_on_data);
}

/* No message reaches the subscription after this (a callback under way may
 * still run: cluster_dispatch counts those). */
static void cluster_unsubscribe(cluster_sub_t *cs) {
  if (cs->sub == NULL)
    return;
  natsSubscription_Unsubscribe(cs->sub);
  natsSubscription_Destroy(cs->sub);
  cs->sub = NULL;
}

/* ---- joining ---------------------------------------------------------------- */

/* Says hello and collects the answers: HIVE_EEXIST if a live node has our
 * id; else picks an incarnation no answer knows, and learns the nodes
 * that answered. */
static int cluster_hello_once(cluster_t *c, bool *again) {
  natsInbox *inbox = NULL;
  natsSubscription *answers = NULL;
  natsStatus s = natsInbox_Create(&inbox);
  if (s == NATS_OK)
    s = natsConnection_SubscribeSync(&answers, c->nc, inbox);
  if (s != NATS_OK) {
    natsInbox_Destroy(inbox);
    return cluster_error(s);
  }
  msgpack_sbuffer buf;
  cluster_pack_hb(c, &buf); /* a hello is a heartbeat with a reply inbox */
  char subject[CLUSTER_SUBJECT_MAX];
  cluster_subject(c, subject, "join");
  s = natsConnection_PublishRequest(c->nc, subject, inbox, buf.data, (int)buf.size);
  msgpack_sbuffer_destroy(&buf);

  bool known[256] = {false};
  unsigned live_ids[CLUSTER_PEERS], live_incs[CLUSTER_PEERS], nlive = 0;
  int rc = cluster_error(s);
  unsigned wait_ms = c->heartbeat_ms > CLUSTER_JOIN_MIN_MS ? c->heartbeat_ms : CLUSTER_JOIN_MIN_MS;
  uint64_t until = hive__now_ns() + (uint64_t)wait_ms * 1000000u;
  while (rc == HIVE_OK) {
    uint64_t now = hive__now_ns();
    if (now >= until)
      break;
    natsMsg *m = NULL;
    s = natsSubscription_NextMsg(&m, answers, (int64_t)((until - now) / 1000000u) + 1);
    if (s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS) /* the server says: nobody listens */
      break;
    if (s != NATS_OK) {
      rc = cluster_error(s);
      break;
    }
    unsigned id, inc, seen;
    if (hive__wire_read_answer(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &id, &inc,
                               &seen)) {
      if (id == c->id) {
        hive_log(c->h, HIVE_LOG_ERROR, "cluster: node id %u is taken by a live node", id);
        rc = HIVE_EEXIST;
      } else if (nlive < CLUSTER_PEERS) {
        known[seen] = true;
        live_ids[nlive] = id;
        live_incs[nlive++] = inc;
      }
    }
    natsMsg_Destroy(m);
  }
  natsSubscription_Destroy(answers);
  natsInbox_Destroy(inbox);
  if (rc != HIVE_OK)
    return rc;
  unsigned inc = atomic_load(&c->inc);
  *again = known[inc];
  if (*again) { /* a pid of an earlier run could name an actor of this one */
    while (known[inc])
      inc = cluster_random_inc(inc, 0);
    atomic_store(&c->inc, inc);
    return HIVE_OK;
  }
  for (unsigned i = 0; i < nlive; i++)
    hive__cluster_peer_seen(c, live_ids[i], live_incs[i], NULL);
  return HIVE_OK;
}

static int cluster_hello(cluster_t *c) {
  bool again = true;
  int rc = HIVE_OK;
  for (int tries = 0; again && rc == HIVE_OK && tries < 8; tries++)
    rc = cluster_hello_once(c, &again);
  return rc;
}

/* This node was declared down: every other node is down for it too, and
 * it comes back as a new incarnation, which the caller already chose (old:
 * the one before). */
static void cluster_rejoin(cluster_t *c, unsigned old) {
  unsigned inc = atomic_load(&c->inc);
  hive_log(c->h, HIVE_LOG_WARNING,
           "cluster: this node was cut off past node_down_ms: every other node is down for it, "
           "and it rejoins as a new incarnation");
  for (unsigned id = 1; id < CLUSTER_PEERS; id++) {
    uint32_t st = atomic_load(&c->peers[id].state);
    if (st & PEER_UP)
      /* Not dead: their next heartbeat brings them up again here. */
      hive__cluster_peer_down(c, &c->peers[id], PEER_INC(st), false, "this node rejoins");
  }
  hive__names_rejoined(c);
  cluster_unsubscribe(&c->sub_data);
  if (cluster_subscribe_data(c) != HIVE_OK)
    hive_log(c->h, HIVE_LOG_ERROR, "cluster: cannot subscribe as incarnation %u", inc);
  cluster_send_hb(c);
  hive_log(c->h, HIVE_LOG_INFO, "cluster: rejoined as incarnation %u (was %u)", inc, old);
}

/* ---- the heartbeat thread -------------------------------------------------- */

static void *cluster_heartbeat_main(void *arg) {
  cluster_t *c = arg;
  uint64_t period = (uint64_t)c->heartbeat_ms * 1000000u;
  uint64_t down_ns = (uint64_t)c->node_down_ms * 1000000u;
  uint64_t last = hive__now_ns(), next = last + period, pruned = last;
  pthread_mutex_lock(&c->lock);
  while (!c->quit) {
    /* Wake for the next beat, or as a peer's silence passes the window:
     * detection does not wait for the beat after it. */
    uint64_t wake = next;
    for (unsigned id = 1; id < CLUSTER_PEERS && !c->disconnected; id++) {
      uint64_t heard = atomic_load_explicit(&c->peers[id].heard_ns, memory_order_relaxed);
      if ((atomic_load(&c->peers[id].state) & PEER_UP) && heard + down_ns + 1000000u < wake)
        wake = heard + down_ns + 1000000u;
    }
    struct timespec until = hive__timespec_at(wake);
    while (!c->quit && !(c->rejoin && !c->disconnected) && hive__now_ns() < wake)
      pthread_cond_timedwait(&c->cond, &c->lock, &until);
    if (c->quit)
      break;
    uint64_t now = hive__now_ns();
    if (now - last > down_ns) /* this thread did not run for that long: stopped */
      c->rejoin = true;
    if (c->disconnected && now - c->disconnected_ns > down_ns)
      c->rejoin = true;
    bool connected = !c->disconnected, rejoin = c->rejoin && connected;
    unsigned old = atomic_load(&c->inc);
    if (rejoin) { /* the new incarnation at once: notices about the old one are stale now */
      c->rejoin = false;
      unsigned inc = cluster_random_inc(old, 0);
      atomic_store(&c->inc, inc);
      atomic_store(&c->h->gen_base, (uint32_t)inc << 24);
    }
    pthread_mutex_unlock(&c->lock);
    last = now;
    bool beat = now >= next || rejoin;
    if (beat)
      next = now + period;
    if (rejoin)
      cluster_rejoin(c, old);
    if (connected) {
      if (beat)
        cluster_send_hb(c);
      for (unsigned id = 1; id < CLUSTER_PEERS; id++) {
        cluster_peer_t *p = &c->peers[id];
        uint32_t st = atomic_load(&p->state);
        uint64_t heard = atomic_load_explicit(&p->heard_ns, memory_order_relaxed);
        if ((st & PEER_UP) && now > heard && now - heard > down_ns) {
          char why[64];
          snprintf(why, sizeof(why), "silent for %" PRIu64 " ms", (now - heard) / 1000000u);
          hive__cluster_peer_down(c, p, PEER_INC(st), true, why);
        }
      }
    }
    if (now - pruned > (uint64_t)CLUSTER_PRUNE_MS * 1000000u) {
      pruned = now;
      for (unsigned id = 1; id < CLUSTER_PEERS; id++)
        hive__watch_prune(c, &c->peers[id]);
      hive__node_monitors_prune(c);
    }
    pthread_mutex_lock(&c->lock);
  }
  pthread_mutex_unlock(&c->lock);
  return NULL;
}

/* ---- start and stop ----------------------------------------------------------- */

/* [A-Za-z0-9_-]{1,max}, and '.' if dots (a cluster's name is a subject's
 * first token: no dots). */
static bool cluster_name_ok(const char *s, size_t max, bool dots) {
  size_t n = strlen(s);
  if (n == 0 || n > max)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || (dots && s[i] == '.')))
      return false;
  return true;
}

static int cluster_options(cluster_t *c, const hive_config_t *cfg, natsOptions **out) {
  natsOptions *opts = NULL;
  natsStatus s = natsOptions_Create(&opts);
  if (s != NATS_OK)
    return cluster_error(s);
  /* The server list: "nats://a:4222, nats://b:4222". */
  char *urls = strdup(cfg->cluster_url);
  const char *servers[64];
  int n = 0;
  bool tls = false;
  if (urls == NULL) {
    natsOptions_Destroy(opts);
    return HIVE_ENOMEM;
  }
  for (char *save = NULL, *tok = strtok_r(urls, ", ", &save); tok != NULL && n < 64;
       tok = strtok_r(NULL, ", ", &save)) {
    servers[n++] = tok;
    tls = tls || strncmp(tok, "tls://", 6) == 0;
  }
  char name[CLUSTER_PREFIX_MAX + HIVE_NODE_NAME_MAX + 32];
  snprintf(name, sizeof(name), "hive %s node %u (%s)", c->prefix, c->id, c->name);
  if (n == 0)
    s = NATS_INVALID_ARG;
  if (s == NATS_OK)
    s = natsOptions_SetServers(opts, servers, n);
  if (s == NATS_OK)
    s = natsOptions_SetName(opts, name);
  if (s == NATS_OK) /* tried in the order given: each node lists its nearest first */
    s = natsOptions_SetNoRandomize(opts, true);
  if (s == NATS_OK) /* a reply leaves at once: a batch is already whole */
    s = natsOptions_SetSendAsap(opts, true);
  if (s == NATS_OK)
    s = natsOptions_SetNoEcho(opts, true);
  if (s == NATS_OK)
    s = natsOptions_SetMaxReconnect(opts, -1);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectWait(opts, 100);
  if (s == NATS_OK) /* a dead server noticed within about 2 s, not 4 minutes */
    s = natsOptions_SetPingInterval(opts, 1000);
  if (s == NATS_OK)
    s = natsOptions_SetMaxPingsOut(opts, 2);
  if (s == NATS_OK)
    s = natsOptions_SetTimeout(opts, 2000);
  if (s == NATS_OK)
    s = natsOptions_SetErrorHandler(opts, cluster_on_error, c);
  if (s == NATS_OK)
    s = natsOptions_SetDisconnectedCB(opts, cluster_on_disconnected, c);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectedCB(opts, cluster_on_reconnected, c);
  if (s == NATS_OK)
    s = natsOptions_SetClosedCB(opts, cluster_on_closed, c);
  if (s == NATS_OK && cfg->cluster_user != NULL)
    s = natsOptions_SetUserInfo(opts, cfg->cluster_user, cfg->cluster_password);
  if (s == NATS_OK && cfg->cluster_token != NULL)
    s = natsOptions_SetToken(opts, cfg->cluster_token);
  if (s == NATS_OK && cfg->cluster_creds != NULL)
    s = natsOptions_SetUserCredentialsFromFiles(opts, cfg->cluster_creds, NULL);
  if (s == NATS_OK && (tls || cfg->cluster_ca_file != NULL))
    s = natsOptions_SetSecure(opts, true);
  if (s == NATS_OK && cfg->cluster_ca_file != NULL)
    s = natsOptions_LoadCATrustedCertificates(opts, cfg->cluster_ca_file);
  free(urls);
  if (s != NATS_OK) {
    natsOptions_Destroy(opts);
    return cluster_error(s);
  }
  *out = opts;
  return HIVE_OK;
}

static void cluster_free(cluster_t *c) {
  for (unsigned id = 0; id < CLUSTER_PEERS; id++) {
    cluster_peer_t *p = &c->peers[id];
    hive__watch_free(p);
    msgpack_sbuffer_destroy(&p->out);
    msgpack_sbuffer_destroy(&p->spare);
    pthread_mutex_destroy(&p->out_lock);
    pthread_mutex_destroy(&p->pub_lock);
    pthread_mutex_destroy(&p->in_lock);
    pthread_mutex_destroy(&p->watch_lock);
  }
  hive__node_monitors_free(c);
  pthread_cond_destroy(&c->cond);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

static cluster_t *cluster_new(hive_t *h, const hive_config_t *cfg) {
  cluster_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  c->h = h;
  c->id = cfg->node_id;
  snprintf(c->prefix, sizeof(c->prefix), "%s",
           cfg->cluster_name != NULL ? cfg->cluster_name : "hive");
  if (cfg->node_name != NULL)
    snprintf(c->name, sizeof(c->name), "%s", cfg->node_name);
  else
    snprintf(c->name, sizeof(c->name), "node%u", c->id);
  c->heartbeat_ms = cfg->heartbeat_ms != 0 ? cfg->heartbeat_ms : CLUSTER_DEFAULT_HEARTBEAT_MS;
  c->node_down_ms = cfg->node_down_ms != 0 ? cfg->node_down_ms : CLUSTER_DEFAULT_NODE_DOWN_MS;
  c->started_ms = hive__cluster_now_ms();
  atomic_store(&c->inc, cluster_random_inc(0, 0));
  pthread_mutex_init(&c->lock, NULL);
  hive__cond_init_monotonic(&c->cond);
  for (unsigned id = 0; id < CLUSTER_PEERS; id++) {
    cluster_peer_t *p = &c->peers[id];
    p->id = id;
    snprintf(p->subject, sizeof(p->subject), "%s.n.%u", c->prefix, id); /* + .INC when sent */
    msgpack_sbuffer_init(&p->out);
    msgpack_sbuffer_init(&p->spare);
    pthread_mutex_init(&p->out_lock, NULL);
    pthread_mutex_init(&p->pub_lock, NULL);
    pthread_mutex_init(&p->in_lock, NULL);
    pthread_mutex_init(&p->watch_lock, NULL);
  }
  return c;
}

int hive__cluster_start(hive_t *h, const hive_config_t *cfg) {
  if (cfg == NULL || cfg->cluster_url == NULL)
    return HIVE_OK;
  if (cfg->node_id == 0 || cfg->node_id >= CLUSTER_PEERS ||
      (cfg->cluster_name != NULL && !cluster_name_ok(cfg->cluster_name, 48, false)) ||
      (cfg->node_name != NULL && !cluster_name_ok(cfg->node_name, HIVE_NODE_NAME_MAX, true)))
    return HIVE_EINVAL;
  unsigned hb = cfg->heartbeat_ms != 0 ? cfg->heartbeat_ms : CLUSTER_DEFAULT_HEARTBEAT_MS;
  unsigned down = cfg->node_down_ms != 0 ? cfg->node_down_ms : CLUSTER_DEFAULT_NODE_DOWN_MS;
  if (down < 2 * hb || down > 3600000u)
    return HIVE_EINVAL; /* at least two beats in the window */
  cluster_t *c = cluster_new(h, cfg);
  if (c == NULL)
    return HIVE_ENOMEM;
  natsOptions *opts = NULL;
  int rc = cluster_options(c, cfg, &opts);
  if (rc == HIVE_OK) {
    natsStatus s = natsConnection_Connect(&c->nc, opts);
    natsOptions_Destroy(opts);
    if (s != NATS_OK) {
      hive_log(h, HIVE_LOG_ERROR, "cluster: cannot connect to %s: %s", cfg->cluster_url,
               natsStatus_GetText(s));
      rc = cluster_error(s);
    }
  }
  if (rc == HIVE_OK) {
    c->max_payload = natsConnection_GetMaxPayload(c->nc);
    rc = cluster_hello(c);
  }
  if (rc == HIVE_OK) {
    h->gen_mask = 0x00ffffffu;
    atomic_store(&h->gen_base, (uint32_t)atomic_load(&c->inc) << 24);
    rc = hive__cluster_flusher_start(c);
  }
  if (rc == HIVE_OK) {
    h->cluster = c;
    h->route = hive__cluster_route;
    rc = cluster_subscribe_data(c);
  }
  if (rc == HIVE_OK)
    rc = cluster_subscribe(c, &c->sub_hb, "hb", cluster_on_hb);
  if (rc == HIVE_OK)
    rc = cluster_subscribe(c, &c->sub_ctl, "ctl", cluster_on_ctl);
  if (rc == HIVE_OK)
    rc = cluster_subscribe(c, &c->sub_join, "join", cluster_on_join);
  if (rc == HIVE_OK) {
    char what[32];
    snprintf(what, sizeof(what), "adm.%u", c->id);
    rc = cluster_subscribe(c, &c->sub_admin, what, hive__cluster_on_admin);
  }
  if (rc == HIVE_OK) {
    h->metrics_more = hive__cluster_metrics;
    h->nodes = hive_nodes;
  }
  if (rc == HIVE_OK) {
    cluster_send_hb(c);
    if (pthread_create(&c->hb_thread, NULL, cluster_heartbeat_main, c) != 0)
      rc = HIVE_ESYS;
    else
      c->hb_started = true;
  }
  /* Last: the bucket lookup may wait for JetStream, and the nodes that
   * answered the hello count this one up already: it must beat by then. */
  if (rc == HIVE_OK)
    rc = hive__names_start(c);
  if (rc != HIVE_OK) {
    if (c->flusher != 0 && hive_kill(h, c->flusher) == HIVE_OK)
      hive_join(h, c->flusher, -1);
    if (c->names != 0 && hive_kill(h, c->names) == HIVE_OK)
      hive_join(h, c->names, -1);
    if (h->cluster == c) {
      hive__cluster_stop(h);
      return rc;
    }
    hive__names_free(c);
    cluster_close(c);
    cluster_free(c);
    return rc;
  }
  hive_log(h, HIVE_LOG_INFO, "cluster: node %u (%s) joined %s as incarnation %u", c->id, c->name,
           c->prefix, atomic_load(&c->inc));
  return HIVE_OK;
}

void hive__cluster_stop(hive_t *h) {
  cluster_t *c = h->cluster;
  if (c == NULL)
    return;
  pthread_mutex_lock(&c->lock);
  c->quit = true;
  pthread_cond_signal(&c->cond);
  pthread_mutex_unlock(&c->lock);
  if (c->hb_started)
    pthread_join(c->hb_thread, NULL);
  h->metrics_more = NULL;
  h->nodes = NULL;
  atomic_store(&c->closing, true);
  cluster_unsubscribe(&c->sub_admin);
  cluster_unsubscribe(&c->sub_join);
  cluster_unsubscribe(&c->sub_hb);
  cluster_unsubscribe(&c->sub_ctl);
  cluster_unsubscribe(&c->sub_data);
  while (atomic_load(&c->in_callbacks) > 0) /* a delivery under way: microseconds */
    nanosleep(&(struct timespec){.tv_nsec = 100000}, NULL);
  for (unsigned id = 1; id < CLUSTER_PEERS; id++)
    hive__cluster_flush(c, &c->peers[id]);
  if (natsConnection_Status(c->nc) == NATS_CONN_STATUS_CONNECTED) {
    /* Last, what the last actors sent, and "leave": the others need not
     * wait node_down_ms. Not connected: nothing to wait for. */
    cluster_send_ctl(c, WIRE_CTL_LEAVE, c->id, atomic_load(&c->inc));
    natsConnection_FlushTimeout(c->nc, 1000);
  }
  h->route = NULL;
  h->cluster = NULL;
  hive__names_free(c);
  cluster_close(c);
  cluster_free(c);
}

/* ---- the public calls ----------------------------------------------------- */

int hive_nodes(hive_t *h, hive_node_info_t *out, size_t max) {
  if (h == NULL || (max > 0 && out == NULL))
    return HIVE_EINVAL;
  cluster_t *c = h->cluster;
  if (c == NULL)
    return HIVE_ENOTSUP;
  size_t n = 0;
  if (max > 0) {
    out[0] = (hive_node_info_t){.id = c->id,
                                .incarnation = atomic_load(&c->inc),
                                .self = true,
                                .started_ms = c->started_ms,
                                .actors = atomic_load_explicit(&h->alive, memory_order_relaxed)};
    memcpy(out[0].name, c->name, sizeof(out[0].name));
  }
  n++;
  uint64_t now = hive__now_ns();
  pthread_mutex_lock(&c->lock);
  for (unsigned id = 1; id < CLUSTER_PEERS; id++) {
    cluster_peer_t *p = &c->peers[id];
    uint32_t st = atomic_load(&p->state);
    if (!(st & PEER_UP))
      continue;
    if (n < max) {
      hive_node_info_t *o = &out[n];
      uint64_t heard = atomic_load_explicit(&p->heard_ns, memory_order_relaxed);
      *o = (hive_node_info_t){
          .id = id,
          .incarnation = PEER_INC(st),
          .started_ms = p->started_ms,
          .heartbeat_age_ms = now > heard ? (now - heard) / 1000000u : 0,
          .actors = p->actors,
          .msgs_out = atomic_load_explicit(&p->msgs_out, memory_order_relaxed),
          .bytes_out = atomic_load_explicit(&p->bytes_out, memory_order_relaxed),
          .msgs_in = atomic_load_explicit(&p->msgs_in, memory_order_relaxed),
          .bytes_in = atomic_load_explicit(&p->bytes_in, memory_order_relaxed),
          .dead_letters = atomic_load_explicit(&p->dead_letters, memory_order_relaxed),
          .downs = atomic_load_explicit(&p->downs, memory_order_relaxed)};
      memcpy(o->name, p->name, sizeof(o->name));
    }
    n++;
  }
  pthread_mutex_unlock(&c->lock);
  return (int)n;
}
