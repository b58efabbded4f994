/*
 * internal.h - what the files of cluster/ share.
 *
 *   cluster.c  joining, heartbeats, the table of peers, node-down, rejoin
 *   route.c    messages and signals to other nodes: batches, the flusher
 *   inbound.c  batches from other nodes, delivered here
 *   watch.c    links and monitors that cross nodes, node monitors: what a
 *              node-down must fire
 *   names.c    global names, in a JetStream key-value bucket
 *   inspect.c  hivectl --node over NATS, Prometheus families per peer
 *   wire.c     the msgpack shapes
 *
 * Locks, in the order they may be taken: peer.in_lock, then
 * cluster.lock or peer.out_lock, then peer.pub_lock or peer.watch_lock.
 * A peer's state (up, incarnation) is one atomic word, written under
 * cluster.lock and read anywhere.
 */
#ifndef HIVE_CLUSTER_INTERNAL_H
#define HIVE_CLUSTER_INTERNAL_H

#include <msgpack.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "actors/actor.h"
#include "cluster.h"
#include "wire.h"

#define CLUSTER_PEERS 256
#define CLUSTER_PREFIX_MAX 64
#define CLUSTER_SUBJECT_MAX 128
/* A batch is sent once it holds this much, even mid-turn. */
#define CLUSTER_FLUSH_BYTES (64 * 1024)
/* A batch's buffer grown past this (by a large message) is freed once
 * sent rather than kept for the next batch: up to max_payload each, a
 * peer's two buffers would otherwise hold megabytes for ever. */
#define CLUSTER_BATCH_KEEP (2 * CLUSTER_FLUSH_BYTES)

/* Internal tags (actors/actor.h's block for cluster/). */
#define CLUSTER_TAG_FLUSH (HIVE__TAG_CLUSTER + 0) /* payload: one byte, the peer's id */

/* A peer's state word: up bit and incarnation. */
#define PEER_UP 0x100u
#define PEER_INC(state) ((state)&0xffu)

typedef struct cluster_peer {
  unsigned id;
  _Atomic uint32_t state; /* PEER_UP | incarnation; 0: never seen or down */
  char subject[CLUSTER_SUBJECT_MAX];
  /* Under cluster.lock. */
  unsigned down_inc; /* the incarnation last declared down (0: none) */
  char name[HIVE_NODE_NAME_MAX + 1];
  uint64_t started_ms, actors;
  uint64_t down_noticed_ns;  /* when it was last told it is down */
  _Atomic uint64_t heard_ns; /* last heartbeat or batch from it */

  /* Outgoing: the batch being filled (out), under out_lock; the one being
   * published (spare), under pub_lock, taken before out_lock is let go so
   * that batches leave in the order they were filled. */
  pthread_mutex_t out_lock;
  msgpack_sbuffer out;
  size_t out_msgs;
  bool flush_pending; /* the flusher has been asked to send out */
  pthread_mutex_t pub_lock;
  msgpack_sbuffer spare;

  /* Incoming: held while a batch from it is delivered, so that a node-down
   * waits for the batch under way and nothing is delivered after it. */
  pthread_mutex_t in_lock;

  /* Links and monitors between actors here and actors there (watch.c). */
  pthread_mutex_t watch_lock;
  void *watches; /* tsearch tree of watch_t */
  size_t nwatches;

  _Atomic uint64_t msgs_out, bytes_out, msgs_in, bytes_in, dead_letters, downs;
} cluster_peer_t;

/* A subscription, and the handler cluster.c's dispatch calls for it. */
typedef struct cluster_sub {
  struct hive__cluster *c;
  natsMsgHandler handle; /* called with arg = the cluster */
  natsSubscription *sub;
} cluster_sub_t;

struct hive__cluster {
  hive_t *h;
  unsigned id;
  char prefix[CLUSTER_PREFIX_MAX];
  char name[HIVE_NODE_NAME_MAX + 1];
  unsigned heartbeat_ms, node_down_ms;
  uint64_t started_ms;
  _Atomic unsigned inc; /* this node's incarnation */
  natsConnection *nc;
  cluster_sub_t sub_hb, sub_ctl, sub_join, sub_data, sub_admin;
  /* Subscription callbacks under way, and the stop that lets no more in:
   * hive_stop frees the cluster once none runs. */
  _Atomic int in_callbacks;
  _Atomic bool closing;
  int64_t max_payload;
  hive_pid_t flusher;
  jsCtx *js;        /* JetStream, for global names; NULL: none */
  hive_pid_t names; /* the names actor (names.c) */
  bool names_started;
  pthread_mutex_t names_lock;
  kvStore *kv;             /* the names bucket, under names_lock; NULL until open */
  int names_err;           /* why it is not open: HIVE_ENOTSUP or HIVE_ENOCONN */
  uint64_t names_retry_ns; /* when to try opening it again */

  pthread_mutex_t lock; /* membership; the heartbeat thread's wait */
  pthread_cond_t cond;
  bool quit;
  bool rejoin; /* declared down, or cut off past the window */
  bool disconnected;
  uint64_t disconnected_ns;
  bool closed; /* cnats's closed callback ran: no callback comes after it */
  pthread_t hb_thread;
  bool hb_started;

  void *node_monitors; /* tsearch tree of node_monitor_t, under lock */

  _Atomic uint64_t slow_consumer_drops, bad_batches;
  cluster_peer_t peers[CLUSTER_PEERS];
};
typedef struct hive__cluster cluster_t;

uint64_t hive__cluster_now_ms(void); /* Unix time */

/* cluster.c */
/* Learns that node id, incarnation inc, is alive (a heartbeat, a batch):
 * a new node or incarnation comes up, an older incarnation goes down.
 * false if that incarnation was declared down (it is told so). */
bool hive__cluster_peer_seen(cluster_t *c, unsigned id, unsigned inc, const wire_hb_t *hb);
/* Declares the incarnation inc of peer p down (why: for the log); dead: it
 * must rejoin to be heard again (not so when this node rejoins). */
void hive__cluster_peer_down(cluster_t *c, cluster_peer_t *p, unsigned inc, bool dead,
                             const char *why);

/* route.c */
int hive__cluster_route(hive_t *h, hive__msg_t *msg);
int hive__cluster_flusher_start(cluster_t *c);
/* Sends what p's batch holds now. Any thread. */
void hive__cluster_flush(cluster_t *c, cluster_peer_t *p);
/* Drops p's unsent batch (p went down): counted as dead letters. */
void hive__cluster_drop_out(cluster_t *c, cluster_peer_t *p);

/* names.c */
int hive__names_start(cluster_t *c); /* HIVE_OK without JetStream too: names off */
void hive__names_free(cluster_t *c);
void hive__names_node_down(cluster_t *c, unsigned id, unsigned inc);
void hive__names_rejoined(cluster_t *c); /* the names of the old incarnation are lost */

/* inspect.c: hivectl --node, and the cluster's Prometheus families */
void hive__cluster_on_admin(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg);
void hive__cluster_metrics(hive_t *h, FILE *out);

/* inbound.c */
void hive__cluster_on_data(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg);

/* watch.c: what crosses nodes, recorded as it passes (out: routed from
 * here; in: delivered here), and fired by a node-down. hive__watch_out
 * is false if what the signal sets up could not be recorded (no memory):
 * the signal must not leave. What comes in and cannot be recorded is
 * lost: that actor hears nothing if the node goes down. */
bool hive__watch_out(cluster_t *c, cluster_peer_t *p, const wire_env_t *env);
void hive__watch_in(cluster_t *c, cluster_peer_t *p, const wire_env_t *env);
/* Requests to a peer's actors, open until answered: a node-down answers
 * them noproc. requester: the actor here, 0 for a plain thread. False if
 * it could not be recorded: the request must not leave. */
bool hive__watch_request_out(cluster_t *c, cluster_peer_t *p, const wire_env_t *env);
void hive__watch_answer_in(cluster_t *c, cluster_peer_t *p, hive_pid_t requester,
                           const wire_env_t *env);
void hive__watch_fire(cluster_t *c, cluster_peer_t *p, unsigned inc);
void hive__watch_prune(cluster_t *c, cluster_peer_t *p); /* forgets actors here that ended */
void hive__watch_free(cluster_peer_t *p);
void hive__node_monitors_fire(cluster_t *c, unsigned id, unsigned inc);
void hive__node_monitors_prune(cluster_t *c); /* those of watchers that ended */
void hive__node_monitors_free(cluster_t *c);

#endif /* HIVE_CLUSTER_INTERNAL_H */
