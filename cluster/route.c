/*
 * route.c - messages and signals to other nodes' actors.
 *
 * h->route (runtime/) brings here every message whose pid names another
 * node: sends, requests, replies, and the signals of links and monitors.
 * Each is encoded at once into its peer's batch (wire.h), in the order the
 * senders call: per sender and receiver, order holds.
 *
 * When a batch leaves: a plain thread's message leaves at once (there is
 * no turn to wait for: latency). Inside an actor the batch waits for the
 * end of the turn: the first message asks the flusher, an actor of the
 * cluster, to send it; that request goes through the worker's outbox, so
 * the flusher runs when the sender's turn is over, and one NATS message
 * carries everything the turn sent to that node. A batch that grows past
 * CLUSTER_FLUSH_BYTES, or would pass the server's max_payload, leaves at
 * once. cnats runs with SendAsap: a batch is written when published.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void route_count_dead(cluster_t *c, cluster_peer_t *p, uint64_t n) {
  for (uint64_t i = 0; i < n; i++)
    hive__count_undeliverable(c->h);
  atomic_fetch_add_explicit(&p->dead_letters, n, memory_order_relaxed);
}

/* Sends p's batch. Called with p->out_lock held; returns with it released. */
static void route_publish_locked(cluster_t *c, cluster_peer_t *p) {
  p->flush_pending = false;
  if (p->out.size == 0) {
    pthread_mutex_unlock(&p->out_lock);
    return;
  }
  pthread_mutex_lock(&p->pub_lock); /* before out_lock is let go: batches leave in order */
  msgpack_sbuffer batch = p->out;
  p->out = p->spare; /* empty: the last batch sent, its bytes kept for reuse */
  p->spare = batch;
  size_t msgs = p->out_msgs;
  p->out_msgs = 0;
  unsigned inc = PEER_INC(atomic_load(&p->state));
  pthread_mutex_unlock(&p->out_lock);
  char subject[CLUSTER_SUBJECT_MAX + 8];
  snprintf(subject, sizeof(subject), "%s.%u", p->subject, inc);
  natsStatus s = natsConnection_Publish(c->nc, subject, batch.data, (int)batch.size);
  if (s == NATS_OK) {
    atomic_fetch_add_explicit(&p->bytes_out, batch.size, memory_order_relaxed);
  } else { /* closed, or the reconnect buffer is full: lost, and counted */
    route_count_dead(c, p, msgs);
    hive_log(c->h, HIVE_LOG_WARNING, "cluster: %zu messages to node %u lost: %s", msgs, p->id,
             natsStatus_GetText(s));
  }
  p->spare.size = 0;
  if (p->spare.alloc > CLUSTER_BATCH_KEEP) {
    msgpack_sbuffer_destroy(&p->spare);
    msgpack_sbuffer_init(&p->spare);
  }
  pthread_mutex_unlock(&p->pub_lock);
}

void hive__cluster_flush(cluster_t *c, cluster_peer_t *p) {
  pthread_mutex_lock(&p->out_lock);
  route_publish_locked(c, p);
}

void hive__cluster_drop_out(cluster_t *c, cluster_peer_t *p) {
  pthread_mutex_lock(&p->out_lock);
  size_t msgs = p->out_msgs;
  p->out.size = 0;
  p->out_msgs = 0;
  p->flush_pending = false;
  pthread_mutex_unlock(&p->out_lock);
  route_count_dead(c, p, msgs);
}

/* The envelope of msg. Text and data point into msg. */
static void route_envelope(const hive__msg_t *msg, wire_env_t *env) {
  *env = (wire_env_t){.to = msg->to, .from = msg->pub.from, .ref = msg->pub.ref};
  /* signal shares its word with a user message's send stamp, set only
   * once pushed: a message routed here has none. */
  if (msg->signal == 0 || (msg->flags & HIVE__MSG_STAMPED)) {
    env->kind = WIRE_MESSAGE;
    env->tag = msg->pub.tag;
    env->flags = msg->flags & (HIVE__MSG_ANSWER | HIVE__MSG_NOBOUND);
    env->data = msg->pub.data;
    env->len = msg->pub.len;
    return;
  }
  env->kind = WIRE_SIGNAL;
  env->signal = msg->signal;
  if (msg->signal == HIVE__SIG_EXIT)
    hive__exit_signal_read(msg, &env->reason, &env->eflags);
  else if (msg->signal == HIVE__SIG_DOWN)
    hive_exit_info(&msg->pub, NULL, &env->reason);
  if (env->reason.text != NULL) {
    env->text = env->reason.text;
    env->text_len = strnlen(env->text, WIRE_TEXT_MAX);
    env->reason.text = NULL;
  }
}

/* Room for n more bytes in b. */
static bool route_reserve(msgpack_sbuffer *b, size_t n) {
  if (b->alloc - b->size >= n)
    return true;
  size_t want = b->alloc > 0 ? b->alloc : MSGPACK_SBUFFER_INIT_SIZE;
  while (want - b->size < n)
    want *= 2;
  char *grown = realloc(b->data, want);
  if (grown == NULL)
    return false;
  b->data = grown;
  b->alloc = want;
  return true;
}

int hive__cluster_route(hive_t *h, hive__msg_t *msg) {
  cluster_t *c = h->cluster;
  cluster_peer_t *p = &c->peers[HIVE_PID_NODE(msg->to)];
  unsigned inc = HIVE_PID_INCARNATION(msg->to);
  wire_env_t env;
  route_envelope(msg, &env);
  /* What the batch grows by, at most: a whole batch must fit max_payload. */
  size_t need = WIRE_ENV_OVERHEAD + env.len + env.text_len;
  if (need + WIRE_HEAD_MAX > (size_t)c->max_payload) {
    msg->flags &= ~HIVE__MSG_OWNED;
    hive__msg_free(msg);
    return HIVE_ETOOBIG;
  }
  /* Inside an actor the turn's end sends the batch; a plain thread's now. */
  bool in_turn = hive__tls.worker != NULL && hive__tls.actor != NULL;
  /* A sender of an earlier incarnation of this node (before a rejoin) is
   * cut off: its messages would be dropped there. */
  bool stale = env.from != 0 && HIVE_PID_NODE(env.from) == c->id &&
               HIVE_PID_INCARNATION(env.from) != atomic_load(&c->inc);
  pthread_mutex_lock(&p->out_lock);
  for (;;) {
    uint32_t st = atomic_load(&p->state);
    if (stale || st != (PEER_UP | inc)) {
      pthread_mutex_unlock(&p->out_lock);
      route_count_dead(c, p, 1);
      msg->flags &= ~HIVE__MSG_OWNED;
      hive__msg_free(msg);
      return HIVE_ENOCONN;
    }
    if (p->out.size + need <= (size_t)c->max_payload)
      break;
    route_publish_locked(c, p); /* full: send it and start another */
    pthread_mutex_lock(&p->out_lock);
  }
  /* Room first, so that packing cannot fail half-way and leave a broken
   * envelope in the batch; then what the envelope sets up is recorded. */
  if (!route_reserve(&p->out, need + WIRE_HEAD_MAX) ||
      !(env.kind == WIRE_SIGNAL ? hive__watch_out(c, p, &env)
                                : hive__watch_request_out(c, p, &env))) {
    pthread_mutex_unlock(&p->out_lock);
    msg->flags &= ~HIVE__MSG_OWNED;
    hive__msg_free(msg);
    return HIVE_ENOMEM;
  }
  msgpack_packer pk;
  msgpack_packer_init(&pk, &p->out, msgpack_sbuffer_write);
  if (p->out.size == 0)
    hive__wire_pack_head(
        &pk, &(wire_head_t){.src = c->id, .src_inc = atomic_load(&c->inc), .dst_inc = inc});
  hive__wire_pack_env(&pk, &env);
  p->out_msgs++;
  atomic_fetch_add_explicit(&p->msgs_out, 1, memory_order_relaxed);
  hive__msg_free(msg);
  if (!in_turn || p->out.size >= CLUSTER_FLUSH_BYTES) {
    route_publish_locked(c, p);
    return HIVE_OK;
  }
  bool ask = !p->flush_pending;
  p->flush_pending = true;
  pthread_mutex_unlock(&p->out_lock);
  if (ask) {
    uint8_t *id = malloc(1);
    if (id == NULL || (*id = (uint8_t)p->id,
                       hive__send_internal(h, c->flusher, CLUSTER_TAG_FLUSH, id, 1)) != HIVE_OK)
      hive__cluster_flush(c, p); /* no flusher (the node is stopping): now */
  }
  return HIVE_OK;
}

/* ---- the flusher ------------------------------------------------------------ */

static int flusher_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)ctx;
  (void)len;
  memcpy(state, arg, sizeof(cluster_t *));
  return HIVE_OK;
}

static int flusher_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx;
  cluster_t *c = *(cluster_t **)state;
  if (msg->tag == CLUSTER_TAG_FLUSH && msg->len == 1)
    hive__cluster_flush(c, &c->peers[*(const uint8_t *)msg->data]);
  return HIVE_OK;
}

static const hive_behaviour_t flusher_behaviour = {
    .name = "hive.cluster.flusher",
    .state_size = sizeof(cluster_t *),
    .init = flusher_init,
    .handle = flusher_handle,
};

int hive__cluster_flusher_start(cluster_t *c) {
  return hive_spawn(c->h, &flusher_behaviour, &c, sizeof(c), NULL, &c->flusher);
}
