/*
 * scenarios.c - the concurrency scenarios of scenarios.h.
 *
 * Globals hold what the checks read; a scenario runs alone in its process
 * (Criterion forks a process per test; concurrency_checks runs them one
 * after another), and each resets its globals first.
 */
#define _GNU_SOURCE
#include "scenarios.h"

#include "gateway_actors.h"
#include "gw_client.h"
#include "http_client.h"

#include <errno.h>
#include <hive/hive.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define JOIN_TIMEOUT_MS 300000 /* generous: a loaded 2-core machine under TSan */

static _Thread_local char failure_text[256];

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      snprintf(failure_text, sizeof(failure_text), __VA_ARGS__);                                   \
      return failure_text;                                                                         \
    }                                                                                              \
  } while (0)

/* The node-wide accounting (hive_node_stats) once the node is quiet: the
 * senders' count against what became of the messages. A worker publishes
 * its turn's sends when the turn ends, which may be just after the work the
 * scenario waited for: read again until it balances, for at most 10 s. */
static bool balanced(hive_t *h, hive_node_stats_t *ns) {
  for (int i = 0; i < 10000; i++) {
    hive_node_stats(h, ns);
    if (ns->sent == ns->processed + ns->dropped + ns->dead_letters + ns->queued)
      return true;
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  return false;
}
#define CHECK_BALANCED(ns)                                                                         \
  CHECK(balanced_ok, /* set by balanced() before the node stops */                                 \
        "sent %llu != processed %llu + dropped %llu + dead letters %llu + queued %llu",            \
        (unsigned long long)(ns).sent, (unsigned long long)(ns).processed,                         \
        (unsigned long long)(ns).dropped, (unsigned long long)(ns).dead_letters,                   \
        (unsigned long long)(ns).queued)

static hive_t *start_node(unsigned workers) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.workers = workers;
  cfg.log_level = HIVE_LOG_NONE; /* actors here fail on purpose */
  hive_t *h = NULL;
  return hive_start(&h, &cfg) == HIVE_OK ? h : NULL;
}

static uint64_t xorshift(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* ---- per_sender_order -------------------------------------------------- */

#define ORDER_PRODUCERS 4
#define ORDER_PER_PRODUCER 200000

struct order_msg {
  uint32_t producer;
  uint64_t seq;
};
struct order_state {
  uint64_t next[ORDER_PRODUCERS];
  uint64_t total;
};
static atomic_int order_in_handler, order_overlaps, order_out_of_order;
static atomic_int order_send_failures;
static hive_t *order_node;
static hive_pid_t order_sink;

static int order_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx;
  struct order_state *s = state;
  if (atomic_exchange(&order_in_handler, 1) != 0)
    atomic_fetch_add(&order_overlaps, 1);
  struct order_msg m;
  memcpy(&m, msg->data, sizeof(m));
  if (m.seq != s->next[m.producer])
    atomic_fetch_add(&order_out_of_order, 1);
  s->next[m.producer] = m.seq + 1;
  atomic_store(&order_in_handler, 0);
  return ++s->total == (uint64_t)ORDER_PRODUCERS * ORDER_PER_PRODUCER ? HIVE_STOP : HIVE_OK;
}
static const hive_behaviour_t order_b = {
    .name = "order_sink", .state_size = sizeof(struct order_state), .handle = order_handle};

static void *order_producer(void *arg) {
  struct order_msg m = {.producer = (uint32_t)(uintptr_t)arg};
  for (m.seq = 0; m.seq < ORDER_PER_PRODUCER; m.seq++)
    if (hive_send(order_node, order_sink, HIVE_TAG_USER, &m, sizeof(m)) != HIVE_OK)
      atomic_fetch_add(&order_send_failures, 1);
  return NULL;
}

scenario_result_t scenario_per_sender_order(unsigned workers) {
  atomic_store(&order_overlaps, 0);
  atomic_store(&order_out_of_order, 0);
  atomic_store(&order_send_failures, 0);
  CHECK((order_node = start_node(workers)) != NULL, "hive_start failed");
  CHECK(hive_spawn(order_node, &order_b, NULL, 0, NULL, &order_sink) == HIVE_OK, "spawn");
  hive_actor_stats_t before;
  CHECK(hive_actor_stats(order_node, order_sink, &before) == HIVE_OK, "stats");
  pthread_t threads[ORDER_PRODUCERS];
  for (uintptr_t i = 0; i < ORDER_PRODUCERS; i++)
    pthread_create(&threads[i], NULL, order_producer, (void *)i);
  for (int i = 0; i < ORDER_PRODUCERS; i++)
    pthread_join(threads[i], NULL);
  int joined = hive_join(order_node, order_sink, JOIN_TIMEOUT_MS);
  hive_node_stats_t ns;
  bool balanced_ok = balanced(order_node, &ns);
  hive_stop(order_node);
  CHECK(joined == HIVE_OK, "the sink never saw all %d messages",
        ORDER_PRODUCERS * ORDER_PER_PRODUCER);
  CHECK_BALANCED(ns);
  CHECK(atomic_load(&order_send_failures) == 0, "%d sends failed",
        atomic_load(&order_send_failures));
  CHECK(atomic_load(&order_out_of_order) == 0, "%d messages out of order",
        atomic_load(&order_out_of_order));
  CHECK(atomic_load(&order_overlaps) == 0, "handler calls overlapped %d times",
        atomic_load(&order_overlaps));
  CHECK(ns.dead_letters == 0, "%llu dead letters", (unsigned long long)ns.dead_letters);
  return NULL;
}

/* ---- actor_sender_order ------------------------------------------------- */

#define AORDER_PRODUCERS 4
#define AORDER_RECEIVERS 8
#define AORDER_ROUNDS 20000 /* calls of each producer, each a message it sent itself */

enum { AORDER_GO = HIVE_TAG_USER, AORDER_DATA, AORDER_END };

struct aorder_msg {
  uint32_t producer;
  uint64_t seq; /* AORDER_END: how many data messages came before it */
};
struct aorder_producer {
  uint32_t id;
  uint64_t rng;
  uint64_t rounds_left;
  uint64_t sent[AORDER_RECEIVERS];
};
struct aorder_receiver {
  uint64_t got[AORDER_PRODUCERS];
  uint32_t ends;
};
static hive_pid_t aorder_receivers[AORDER_RECEIVERS]; /* written before the first GO */
static atomic_int aorder_out_of_order, aorder_lost, aorder_send_failures;

static void aorder_send(hive_ctx_t *ctx, hive_pid_t to, uint32_t tag, struct aorder_msg m,
                        bool move) {
  int rc;
  struct aorder_msg *buf;
  if (move && (buf = malloc(sizeof(*buf))) != NULL) {
    *buf = m;
    if ((rc = hive_send_move(hive_node(ctx), to, tag, buf, sizeof(*buf))) != HIVE_OK)
      free(buf);
  } else {
    rc = hive_send(hive_node(ctx), to, tag, &m, sizeof(m));
  }
  if (rc != HIVE_OK)
    atomic_fetch_add(&aorder_send_failures, 1);
}

static int aorder_producer_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  memcpy(state, arg, len);
  return hive_send(hive_node(ctx), hive_self(ctx), AORDER_GO, NULL, 0);
}
/* Each call sends 0-7 messages to random receivers: within one turn, some
 * receivers are woken by it and some are already queued or running. */
static int aorder_producer_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)msg;
  struct aorder_producer *p = state;
  for (uint64_t n = xorshift(&p->rng) % 8; n > 0; n--) {
    uint64_t r = xorshift(&p->rng);
    unsigned i = (unsigned)(r % AORDER_RECEIVERS);
    struct aorder_msg m = {.producer = p->id, .seq = p->sent[i]++};
    aorder_send(ctx, aorder_receivers[i], AORDER_DATA, m, (r >> 32) % 4 == 0);
  }
  if (--p->rounds_left > 0)
    return hive_send(hive_node(ctx), hive_self(ctx), AORDER_GO, NULL, 0);
  for (unsigned i = 0; i < AORDER_RECEIVERS; i++)
    aorder_send(ctx, aorder_receivers[i], AORDER_END,
                (struct aorder_msg){.producer = p->id, .seq = p->sent[i]}, false);
  return HIVE_STOP;
}
static const hive_behaviour_t aorder_producer_b = {.name = "aorder_producer",
                                                   .state_size = sizeof(struct aorder_producer),
                                                   .init = aorder_producer_init,
                                                   .handle = aorder_producer_handle};

static int aorder_receiver_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx;
  struct aorder_receiver *r = state;
  struct aorder_msg m;
  memcpy(&m, msg->data, sizeof(m));
  if (msg->tag == AORDER_DATA) {
    if (m.seq != r->got[m.producer])
      atomic_fetch_add(&aorder_out_of_order, 1);
    r->got[m.producer] = m.seq + 1;
    return HIVE_OK;
  }
  if (m.seq != r->got[m.producer]) /* END overtook data, or data was lost */
    atomic_fetch_add(&aorder_lost, 1);
  return ++r->ends == AORDER_PRODUCERS ? HIVE_STOP : HIVE_OK;
}
static const hive_behaviour_t aorder_receiver_b = {.name = "aorder_receiver",
                                                   .state_size = sizeof(struct aorder_receiver),
                                                   .handle = aorder_receiver_handle};

scenario_result_t scenario_actor_sender_order(unsigned workers) {
  atomic_store(&aorder_out_of_order, 0);
  atomic_store(&aorder_lost, 0);
  atomic_store(&aorder_send_failures, 0);
  hive_t *h = start_node(workers);
  CHECK(h != NULL, "hive_start failed");
  for (int i = 0; i < AORDER_RECEIVERS; i++)
    CHECK(hive_spawn(h, &aorder_receiver_b, NULL, 0, NULL, &aorder_receivers[i]) == HIVE_OK,
          "spawn");
  for (uint32_t id = 0; id < AORDER_PRODUCERS; id++) {
    struct aorder_producer p = {
        .id = id, .rng = 0x9e3779b97f4a7c15ull * (id + 1), .rounds_left = AORDER_ROUNDS};
    CHECK(hive_spawn(h, &aorder_producer_b, &p, sizeof(p), NULL, NULL) == HIVE_OK, "spawn");
  }
  int joined = HIVE_OK;
  for (int i = 0; i < AORDER_RECEIVERS && joined == HIVE_OK; i++)
    joined = hive_join(h, aorder_receivers[i], JOIN_TIMEOUT_MS);
  hive_node_stats_t ns;
  hive_node_stats(h, &ns);
  hive_stop(h);
  CHECK(joined == HIVE_OK, "a receiver never got every producer's end");
  CHECK(atomic_load(&aorder_send_failures) == 0, "%d sends failed",
        atomic_load(&aorder_send_failures));
  CHECK(atomic_load(&aorder_out_of_order) == 0, "%d messages out of order",
        atomic_load(&aorder_out_of_order));
  CHECK(atomic_load(&aorder_lost) == 0, "%d ends came before their data",
        atomic_load(&aorder_lost));
  CHECK(ns.dead_letters == 0, "%llu dead letters", (unsigned long long)ns.dead_letters);
  return NULL;
}

/* ---- forwarding_no_loss ------------------------------------------------- */

#define FWD_ACTORS 1000
#define FWD_TOKENS 1000
#define FWD_HOPS 1000

struct token {
  uint32_t id;
  uint32_t hops_left;
  uint64_t rng;
};
static hive_pid_t fwd_pids[FWD_ACTORS]; /* written before the first token */
static hive_pid_t fwd_collector;
static atomic_uint_fast64_t fwd_hops_counted;
static atomic_int fwd_send_failures, fwd_duplicates;

struct forwarder {
  uint64_t hops;
};

static int forwarder_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  struct forwarder *f = state;
  struct token t;
  memcpy(&t, msg->data, sizeof(t));
  f->hops++;
  hive_pid_t next = --t.hops_left == 0 ? fwd_collector : fwd_pids[xorshift(&t.rng) % FWD_ACTORS];
  if (hive_send(hive_node(ctx), next, HIVE_TAG_USER, &t, sizeof(t)) != HIVE_OK)
    atomic_fetch_add(&fwd_send_failures, 1);
  return HIVE_OK;
}
static void forwarder_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *r) {
  (void)ctx, (void)r;
  atomic_fetch_add(&fwd_hops_counted, ((struct forwarder *)state)->hops);
}
static const hive_behaviour_t forwarder_b = {.name = "forwarder",
                                             .state_size = sizeof(struct forwarder),
                                             .handle = forwarder_handle,
                                             .terminate = forwarder_terminate};

struct collector {
  uint8_t seen[FWD_TOKENS];
  uint32_t count;
};
static int collector_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx;
  struct collector *c = state;
  struct token t;
  memcpy(&t, msg->data, sizeof(t));
  if (c->seen[t.id]++ != 0)
    atomic_fetch_add(&fwd_duplicates, 1);
  return ++c->count == FWD_TOKENS ? HIVE_STOP : HIVE_OK;
}
static const hive_behaviour_t collector_b = {
    .name = "collector", .state_size = sizeof(struct collector), .handle = collector_handle};

scenario_result_t scenario_forwarding_no_loss(unsigned workers) {
  atomic_store(&fwd_hops_counted, 0);
  atomic_store(&fwd_send_failures, 0);
  atomic_store(&fwd_duplicates, 0);
  hive_t *h = start_node(workers);
  CHECK(h != NULL, "hive_start failed");
  CHECK(hive_spawn(h, &collector_b, NULL, 0, NULL, &fwd_collector) == HIVE_OK, "spawn");
  for (int i = 0; i < FWD_ACTORS; i++)
    CHECK(hive_spawn(h, &forwarder_b, NULL, 0, NULL, &fwd_pids[i]) == HIVE_OK, "spawn");
  for (uint32_t id = 0; id < FWD_TOKENS; id++) {
    struct token t = {.id = id, .hops_left = FWD_HOPS, .rng = 0x9e3779b97f4a7c15ull + id};
    CHECK(hive_send(h, fwd_pids[id % FWD_ACTORS], HIVE_TAG_USER, &t, sizeof(t)) == HIVE_OK, "send");
  }
  int joined = hive_join(h, fwd_collector, JOIN_TIMEOUT_MS);
  hive_node_stats_t ns;
  bool balanced_ok = balanced(h, &ns);
  hive_stop(h); /* runs every forwarder's terminate */
  CHECK(joined == HIVE_OK, "not every token reached the collector");
  CHECK_BALANCED(ns);
  CHECK(atomic_load(&fwd_duplicates) == 0, "%d tokens arrived twice", atomic_load(&fwd_duplicates));
  CHECK(atomic_load(&fwd_send_failures) == 0, "%d forwards failed",
        atomic_load(&fwd_send_failures));
  CHECK(atomic_load(&fwd_hops_counted) == (uint64_t)FWD_TOKENS * FWD_HOPS,
        "%llu hops counted, expected %llu", (unsigned long long)atomic_load(&fwd_hops_counted),
        (unsigned long long)FWD_TOKENS * FWD_HOPS);
  CHECK(ns.dead_letters == 0, "%llu dead letters", (unsigned long long)ns.dead_letters);
  return NULL;
}

/* ---- stale_pid_race ----------------------------------------------------- */

#define STALE_ROUNDS 2000

static hive_t *stale_node;
static _Atomic hive_pid_t stale_target;
static atomic_bool stale_done;
static atomic_uint_fast64_t stale_sent_ok, stale_enoproc, stale_handled, stale_misdelivered;

static int victim_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  hive_pid_t meant;
  memcpy(&meant, msg->data, sizeof(meant));
  if (meant != hive_self(ctx))
    atomic_fetch_add(&stale_misdelivered, 1);
  atomic_fetch_add(&stale_handled, 1);
  return HIVE_OK;
}
static const hive_behaviour_t victim_b = {.name = "victim", .handle = victim_handle};

static void *stale_sender(void *arg) {
  (void)arg;
  while (!atomic_load(&stale_done)) {
    hive_pid_t to = atomic_load(&stale_target);
    if (to == 0)
      continue;
    int rc = hive_send(stale_node, to, HIVE_TAG_USER, &to, sizeof(to));
    if (rc == HIVE_OK)
      atomic_fetch_add(&stale_sent_ok, 1);
    else if (rc == HIVE_ENOPROC)
      atomic_fetch_add(&stale_enoproc, 1);
  }
  return NULL;
}

scenario_result_t scenario_stale_pid_race(unsigned workers) {
  atomic_store(&stale_target, 0);
  atomic_store(&stale_done, false);
  atomic_store(&stale_sent_ok, 0);
  atomic_store(&stale_enoproc, 0);
  atomic_store(&stale_handled, 0);
  atomic_store(&stale_misdelivered, 0);
  CHECK((stale_node = start_node(workers)) != NULL, "hive_start failed");
  pthread_t sender;
  pthread_create(&sender, NULL, stale_sender, NULL);
  unsigned reused = 0;
  hive_pid_t previous = 0;
  for (int round = 0; round < STALE_ROUNDS; round++) {
    /* Spawn until the new actor lands in the previous one's slot (a slot
     * still draining stray messages is not handed out), within reason. */
    hive_pid_t pid = 0;
    for (int attempt = 0; attempt < 1000; attempt++) {
      if (pid != 0) {
        hive_kill(stale_node, pid);
        CHECK(hive_join(stale_node, pid, JOIN_TIMEOUT_MS) == HIVE_OK, "join");
      }
      CHECK(hive_spawn(stale_node, &victim_b, NULL, 0, NULL, &pid) == HIVE_OK, "spawn");
      if (previous == 0 || HIVE_PID_SLOT(pid) == HIVE_PID_SLOT(previous))
        break;
    }
    if (previous != 0 && HIVE_PID_SLOT(pid) == HIVE_PID_SLOT(previous))
      reused++;
    atomic_store(&stale_target, pid);
    /* Let a few messages in, then kill it while the sender keeps going. */
    hive_pid_t probe = pid;
    if (hive_send(stale_node, pid, HIVE_TAG_USER, &probe, sizeof(probe)) == HIVE_OK)
      atomic_fetch_add(&stale_sent_ok, 1);
    CHECK(hive_kill(stale_node, pid) == HIVE_OK, "kill");
    CHECK(hive_join(stale_node, pid, JOIN_TIMEOUT_MS) == HIVE_OK, "join");
    previous = pid;
  }
  atomic_store(&stale_done, true);
  pthread_join(sender, NULL);
  /* Stray turns may still be draining the last slot: wait for the sum. */
  hive_node_stats_t ns;
  uint64_t enoproc = atomic_load(&stale_enoproc), ok = atomic_load(&stale_sent_ok);
  for (int i = 0; i < 300000; i++) {
    hive_node_stats(stale_node, &ns);
    if (atomic_load(&stale_handled) + ns.dead_letters == ok + enoproc)
      break;
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  hive_stop(stale_node);
  CHECK(atomic_load(&stale_misdelivered) == 0,
        "%llu messages reached a later actor in the same slot",
        (unsigned long long)atomic_load(&stale_misdelivered));
  CHECK(reused >= STALE_ROUNDS / 2, "slots were reused only %u times", reused);
  CHECK(atomic_load(&stale_handled) + ns.dead_letters == ok + enoproc,
        "handled %llu + dead letters %llu != sent %llu + refused %llu",
        (unsigned long long)atomic_load(&stale_handled), (unsigned long long)ns.dead_letters,
        (unsigned long long)ok, (unsigned long long)enoproc);
  return NULL;
}

/* ---- churn_and_stop ----------------------------------------------------- */

#define CHURN_PARENTS 8
#define CHURN_CHILDREN 10
#define CHURN_SLOTS 1024

static atomic_uint_fast64_t churn_started, churn_terminated, churn_rounds;
static _Atomic hive_pid_t churn_pids[CHURN_SLOTS];
static sem_t churn_enough;
static atomic_bool churn_posted;
static atomic_bool churn_stop_outsiders;
static hive_t *churn_node;

static int churn_child_init(hive_ctx_t *ctx, void *s, const void *a, size_t l) {
  (void)ctx, (void)s, (void)a, (void)l;
  atomic_fetch_add(&churn_started, 1);
  return HIVE_OK;
}
static int churn_child_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state;
  return msg->len > 0 && ((const uint8_t *)msg->data)[0] == 1 ? HIVE_EINVAL : HIVE_STOP;
}
static void churn_child_terminate(hive_ctx_t *ctx, void *s, const hive_reason_t *r) {
  (void)ctx, (void)s, (void)r;
  atomic_fetch_add(&churn_terminated, 1);
}
static const hive_behaviour_t churn_child_b = {.name = "child",
                                               .init = churn_child_init,
                                               .handle = churn_child_handle,
                                               .terminate = churn_child_terminate};

struct churn_parent {
  uint64_t rng;
};
static int churn_parent_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)msg;
  struct churn_parent *p = state;
  hive_t *h = hive_node(ctx);
  if (p->rng == 0)
    p->rng = hive_self(ctx) | 1;
  for (int i = 0; i < CHURN_CHILDREN; i++) {
    hive_pid_t child;
    int rc = hive_spawn(h, &churn_child_b, NULL, 0, NULL, &child);
    if (rc == HIVE_ESHUTDOWN)
      return HIVE_OK;
    if (rc != HIVE_OK)
      return rc;
    atomic_store(&churn_pids[xorshift(&p->rng) % CHURN_SLOTS], child);
    uint8_t how = (uint8_t)(xorshift(&p->rng) % 2);
    hive_send(h, child, HIVE_TAG_USER, &how, 1);
  }
  if (atomic_fetch_add(&churn_rounds, 1) == 2000 && !atomic_exchange(&churn_posted, true))
    sem_post(&churn_enough);
  return hive_send(h, hive_self(ctx), HIVE_TAG_USER, NULL, 0);
}
static void churn_parent_terminate(hive_ctx_t *ctx, void *s, const hive_reason_t *r) {
  (void)ctx, (void)s, (void)r;
  atomic_fetch_add(&churn_terminated, 1);
}
static const hive_behaviour_t churn_parent_b = {.name = "parent",
                                                .state_size = sizeof(struct churn_parent),
                                                .init = churn_child_init,
                                                .handle = churn_parent_handle,
                                                .terminate = churn_parent_terminate};

static void *churn_outsider(void *arg) {
  uint64_t rng = (uintptr_t)arg * 7919 + 1;
  char name[32];
  while (!atomic_load(&churn_stop_outsiders)) {
    hive_pid_t to = atomic_load(&churn_pids[xorshift(&rng) % CHURN_SLOTS]);
    if (to == 0)
      continue;
    uint8_t how = 0;
    hive_send(churn_node, to, HIVE_TAG_USER, &how, 1);
    snprintf(name, sizeof(name), "n%u", (unsigned)(xorshift(&rng) % 64));
    hive_register(churn_node, name, to);
    hive_whereis(churn_node, name);
  }
  return NULL;
}

scenario_result_t scenario_churn_and_stop(unsigned workers) {
  atomic_store(&churn_started, 0);
  atomic_store(&churn_terminated, 0);
  atomic_store(&churn_rounds, 0);
  atomic_store(&churn_posted, false);
  atomic_store(&churn_stop_outsiders, false);
  for (int i = 0; i < CHURN_SLOTS; i++)
    atomic_store(&churn_pids[i], 0);
  sem_init(&churn_enough, 0, 0);
  CHECK((churn_node = start_node(workers)) != NULL, "hive_start failed");
  pthread_t outsiders[2];
  for (uintptr_t i = 0; i < 2; i++)
    pthread_create(&outsiders[i], NULL, churn_outsider, (void *)i);
  for (int i = 0; i < CHURN_PARENTS; i++) {
    hive_pid_t parent;
    CHECK(hive_spawn(churn_node, &churn_parent_b, NULL, 0, NULL, &parent) == HIVE_OK, "spawn");
    CHECK(hive_send(churn_node, parent, HIVE_TAG_USER, NULL, 0) == HIVE_OK, "send");
  }
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += JOIN_TIMEOUT_MS / 1000;
  int waited;
  while ((waited = sem_timedwait(&churn_enough, &until)) != 0 && errno == EINTR) {
  }
  atomic_store(&churn_stop_outsiders, true);
  for (int i = 0; i < 2; i++)
    pthread_join(outsiders[i], NULL);
  /* Stop while the parents are still spawning. */
  int stopped = hive_stop(churn_node);
  sem_destroy(&churn_enough);
  CHECK(waited == 0, "the parents never finished 2000 rounds");
  CHECK(stopped == HIVE_OK, "hive_stop: %s", hive_strerror(stopped));
  CHECK(atomic_load(&churn_started) == atomic_load(&churn_terminated),
        "%llu actors started but %llu terminate calls ran",
        (unsigned long long)atomic_load(&churn_started),
        (unsigned long long)atomic_load(&churn_terminated));
  return NULL;
}

/* ---- requests_and_timers ------------------------------------------------ */

#define RQ_SERVERS 4 /* 0 and 1 normal, 2 and 3 on the blocking pool */
#define RQ_CLIENTS 200
#define RQ_PER_CLIENT 50
#define RQ_ASKERS 2
#define RQ_ASKS 2000

static hive_t *rq_node;
static _Atomic hive_pid_t rq_servers[RQ_SERVERS];
static atomic_long rq_answers, rq_bad_answers, rq_bad_asks, rq_asks_ok;

struct rq_server {
  hive_msg_t held;
  bool holding;
  unsigned seen;
};

/* Echoes; every 7th request is held and answered with the next one. */
static int rq_server_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  struct rq_server *s = state;
  if (msg->ref == 0)
    return HIVE_OK;
  if (s->holding) {
    hive_reply(ctx, &s->held, "held", 5);
    s->holding = false;
  }
  if (++s->seen % 7 == 0) {
    s->held = *msg;
    s->holding = true;
    return HIVE_OK;
  }
  return hive_reply(ctx, msg, msg->data, msg->len);
}
static const hive_behaviour_t rq_server_b = {
    .name = "rq_server", .state_size = sizeof(struct rq_server), .handle = rq_server_handle};

struct rq_client {
  uint64_t rng, ref;
  hive_timer_t nudge;
  int answered;
};

/* Makes the next request; a server that is gone counts as answered. */
static int rq_next(hive_ctx_t *ctx, struct rq_client *c) {
  hive_t *h = hive_node(ctx);
  while (c->answered < RQ_PER_CLIENT) {
    hive_pid_t to = atomic_load(&rq_servers[xorshift(&c->rng) % RQ_SERVERS]);
    int rc = hive_request(ctx, to, HIVE_TAG_USER, &c->rng, sizeof(c->rng), 20, &c->ref);
    if (rc == HIVE_OK) {
      /* A timer raced against the answer, cancelled when it comes. */
      hive_send_after(h, hive_self(ctx), HIVE_TAG_USER + 1, NULL, 0, 10, &c->nudge);
      return HIVE_OK;
    }
    if (rc != HIVE_ENOPROC)
      return rc;
    c->answered++;
    atomic_fetch_add(&rq_answers, 1);
  }
  return HIVE_STOP;
}
static int rq_client_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)len;
  struct rq_client *c = state;
  memcpy(&c->rng, arg, sizeof(c->rng));
  return rq_next(ctx, c);
}
static int rq_client_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  struct rq_client *c = state;
  if (msg->tag == HIVE_TAG_USER + 1)
    return HIVE_OK; /* the nudge won its race */
  bool answer =
      msg->tag == HIVE_TAG_REPLY || msg->tag == HIVE_TAG_TIMEOUT || msg->tag == HIVE_TAG_NOPROC;
  if (!answer || msg->ref != c->ref) {
    atomic_fetch_add(&rq_bad_answers, 1);
    return HIVE_OK;
  }
  hive_timer_cancel(hive_node(ctx), c->nudge);
  c->answered++;
  atomic_fetch_add(&rq_answers, 1);
  return rq_next(ctx, c);
}
static const hive_behaviour_t rq_client_b = {.name = "rq_client",
                                             .state_size = sizeof(struct rq_client),
                                             .init = rq_client_init,
                                             .handle = rq_client_handle};

static void *rq_asker(void *arg) {
  uint64_t rng = (uintptr_t)arg * 31 + 7;
  for (int i = 0; i < RQ_ASKS; i++) {
    if (arg == NULL && i == RQ_ASKS / 2)
      hive_kill(rq_node, atomic_load(&rq_servers[0])); /* owed and queued: noproc */
    void *reply;
    size_t len;
    int rc = hive_ask(rq_node, atomic_load(&rq_servers[xorshift(&rng) % RQ_SERVERS]), HIVE_TAG_USER,
                      &i, sizeof(i), 20, &reply, &len);
    if (rc == HIVE_OK) {
      atomic_fetch_add(&rq_asks_ok, 1);
      free(reply);
    } else if (rc != HIVE_ETIMEDOUT && rc != HIVE_ENOPROC) {
      atomic_fetch_add(&rq_bad_asks, 1);
    }
  }
  return NULL;
}

scenario_result_t scenario_requests_and_timers(unsigned workers) {
  atomic_store(&rq_answers, 0);
  atomic_store(&rq_bad_answers, 0);
  atomic_store(&rq_bad_asks, 0);
  atomic_store(&rq_asks_ok, 0);
  CHECK((rq_node = start_node(workers)) != NULL, "hive_start failed");
  for (int i = 0; i < RQ_SERVERS; i++) {
    hive_spawn_opts_t opts;
    hive_spawn_opts_init(&opts);
    opts.flags = i >= 2 ? HIVE_SPAWN_BLOCKING : 0;
    hive_pid_t pid;
    CHECK(hive_spawn(rq_node, &rq_server_b, NULL, 0, &opts, &pid) == HIVE_OK, "spawn server");
    atomic_store(&rq_servers[i], pid);
  }
  pthread_t askers[RQ_ASKERS];
  for (uintptr_t i = 0; i < RQ_ASKERS; i++)
    pthread_create(&askers[i], NULL, rq_asker, (void *)i);
  hive_pid_t clients[RQ_CLIENTS];
  for (uint64_t i = 0; i < RQ_CLIENTS; i++) {
    uint64_t seed = 0x9e3779b97f4a7c15ull * (i + 1);
    CHECK(hive_spawn(rq_node, &rq_client_b, &seed, sizeof(seed), NULL, &clients[i]) == HIVE_OK,
          "spawn client");
  }
  for (int i = 0; i < RQ_CLIENTS; i++)
    CHECK(hive_join(rq_node, clients[i], JOIN_TIMEOUT_MS) == HIVE_OK, "a client never finished");
  for (int i = 0; i < RQ_ASKERS; i++)
    pthread_join(askers[i], NULL);
  hive_stop(rq_node);
  CHECK(atomic_load(&rq_answers) == (long)RQ_CLIENTS * RQ_PER_CLIENT, "%ld answers, expected %d",
        atomic_load(&rq_answers), RQ_CLIENTS * RQ_PER_CLIENT);
  CHECK(atomic_load(&rq_bad_answers) == 0, "%ld answers were not for the open request",
        atomic_load(&rq_bad_answers));
  CHECK(atomic_load(&rq_bad_asks) == 0, "%ld asks failed oddly", atomic_load(&rq_bad_asks));
  CHECK(atomic_load(&rq_asks_ok) > 0, "no ask got a reply");
  return NULL;
}

/* ---- links_and_monitors -------------------------------------------------- */

#define LM_ACTORS 1000
#define LM_MESSAGES 20

static hive_t *lm_node;
static _Atomic hive_pid_t lm_pids[LM_ACTORS];
static atomic_long lm_started, lm_ended, lm_downs, lm_bad_downs;

struct lm_state {
  uint64_t rng;
  uint64_t refs[4];
  int nrefs;
  int left;
};

/* Each actor links to and monitors random others, passes messages around,
 * demonitors and unlinks now and then, and ends by itself at random, with
 * a normal or an abnormal reason: a web of links that keeps tearing. */
static int lm_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)len;
  struct lm_state *s = state;
  memcpy(&s->rng, arg, sizeof(s->rng));
  s->left = LM_MESSAGES;
  atomic_fetch_add(&lm_started, 1);
  hive_trap_exit(ctx, xorshift(&s->rng) % 2 == 0);
  return HIVE_OK;
}
static int lm_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  struct lm_state *s = state;
  hive_t *h = hive_node(ctx);
  if (msg->tag == HIVE_TAG_DOWN) {
    bool mine = false;
    for (int i = 0; i < s->nrefs; i++)
      if (s->refs[i] == msg->ref) {
        s->refs[i] = s->refs[--s->nrefs];
        mine = true;
        break;
      }
    if (!mine)
      atomic_fetch_add(&lm_bad_downs, 1);
    atomic_fetch_add(&lm_downs, 1);
    return HIVE_OK;
  }
  if (msg->tag == HIVE_TAG_EXIT)
    return HIVE_OK; /* trapped: live on */
  hive_pid_t other = atomic_load(&lm_pids[xorshift(&s->rng) % LM_ACTORS]);
  switch (xorshift(&s->rng) % 8) {
  case 0:
    if (other != 0)
      hive_link(ctx, other);
    break;
  case 1:
    if (other != 0 && s->nrefs < 4 && hive_monitor(ctx, other, &s->refs[s->nrefs]) == HIVE_OK)
      s->nrefs++;
    break;
  case 2:
    if (s->nrefs > 0 && hive_demonitor(ctx, s->refs[--s->nrefs]) != HIVE_OK)
      atomic_fetch_add(&lm_bad_downs, 1); /* an active monitor must demonitor */
    break;
  case 3:
    if (other != 0)
      hive_unlink(ctx, other);
    break;
  }
  if (other != 0)
    hive_send(h, other, HIVE_TAG_USER, NULL, 0);
  if (--s->left > 0)
    return hive_send(h, hive_self(ctx), HIVE_TAG_USER, NULL, 0);
  return xorshift(&s->rng) % 2 ? HIVE_STOP : -1; /* end, normally or not */
}
static void lm_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *r) {
  (void)ctx, (void)state, (void)r;
  atomic_fetch_add(&lm_ended, 1);
}
static const hive_behaviour_t lm_b = {.name = "web",
                                      .state_size = sizeof(struct lm_state),
                                      .init = lm_init,
                                      .handle = lm_handle,
                                      .terminate = lm_terminate};

scenario_result_t scenario_links_and_monitors(unsigned workers) {
  atomic_store(&lm_started, 0);
  atomic_store(&lm_ended, 0);
  atomic_store(&lm_downs, 0);
  atomic_store(&lm_bad_downs, 0);
  for (int i = 0; i < LM_ACTORS; i++)
    atomic_store(&lm_pids[i], 0);
  CHECK((lm_node = start_node(workers)) != NULL, "hive_start failed");
  hive_pid_t pids[LM_ACTORS];
  for (uint64_t i = 0; i < LM_ACTORS; i++) {
    uint64_t seed = 0x9e3779b97f4a7c15ull * (i + 7);
    CHECK(hive_spawn(lm_node, &lm_b, &seed, sizeof(seed), NULL, &pids[i]) == HIVE_OK, "spawn");
    atomic_store(&lm_pids[i], pids[i]);
  }
  for (int i = 0; i < LM_ACTORS; i++)
    hive_send(lm_node, pids[i], HIVE_TAG_USER, NULL, 0); /* some died of a link already */
  for (int i = 0; i < LM_ACTORS; i++)
    CHECK(hive_join(lm_node, pids[i], JOIN_TIMEOUT_MS) == HIVE_OK, "an actor never ended");
  hive_node_stats_t ns;
  bool balanced_ok = balanced(lm_node, &ns);
  hive_stop(lm_node);
  CHECK_BALANCED(ns);
  CHECK(atomic_load(&lm_started) == LM_ACTORS, "%ld started", atomic_load(&lm_started));
  CHECK(atomic_load(&lm_ended) == LM_ACTORS, "%ld terminate calls for %d actors",
        atomic_load(&lm_ended), LM_ACTORS);
  CHECK(atomic_load(&lm_bad_downs) == 0, "%ld DOWNs or demonitors for monitors not held",
        atomic_load(&lm_bad_downs));
  CHECK(ns.actors_alive == 0, "%llu actors still alive", (unsigned long long)ns.actors_alive);
  return NULL;
}

/* ---- supervision_churn ------------------------------------------------------ */

#define SC_CHILDREN 20
#define SC_CRASHES 2000

static atomic_long sc_started, sc_ended;
static hive_t *sc_node;
static hive_pid_t sc_sup;

static int sc_init(hive_ctx_t *ctx, void *s, const void *a, size_t l) {
  (void)ctx, (void)s, (void)a, (void)l;
  atomic_fetch_add(&sc_started, 1);
  return HIVE_OK;
}
static int sc_handle(hive_ctx_t *ctx, void *s, const hive_msg_t *m) {
  (void)ctx, (void)s, (void)m;
  return -1; /* any message: crash */
}
static void sc_terminate(hive_ctx_t *ctx, void *s, const hive_reason_t *r) {
  (void)ctx, (void)s, (void)r;
  atomic_fetch_add(&sc_ended, 1);
}
static const hive_behaviour_t sc_b = {
    .name = "crashy", .init = sc_init, .handle = sc_handle, .terminate = sc_terminate};

static void *sc_crasher(void *arg) {
  uint64_t rng = (uintptr_t)arg + 99;
  hive_child_info_t info[SC_CHILDREN];
  for (int i = 0; i < SC_CRASHES; i++) {
    size_t n;
    if (hive_sup_which_children(sc_node, sc_sup, info, SC_CHILDREN, &n) != HIVE_OK)
      break;
    hive_pid_t pid = info[xorshift(&rng) % SC_CHILDREN].pid;
    if (pid != 0)
      hive_send(sc_node, pid, HIVE_TAG_USER, NULL, 0);
    if (i % 100 == 0) {
      hive_child_counts_t counts;
      hive_sup_count_children(sc_node, sc_sup, &counts);
      hive_sup_terminate_child(sc_node, sc_sup, info[0].id, 0);
      hive_sup_restart_child(sc_node, sc_sup, info[0].id, NULL);
    }
  }
  return NULL;
}

/* Reads every statistic, as the admin socket does, until told to stop. */
static atomic_bool sc_inspecting;
static void *sc_inspector(void *arg) {
  (void)arg;
  while (atomic_load(&sc_inspecting)) {
    char *text;
    size_t len;
    if (hive_metrics(sc_node, &text, &len) == HIVE_OK)
      free(text);
    hive_child_info_t info[SC_CHILDREN];
    size_t n;
    hive_sup_which_children(sc_node, sc_sup, info, SC_CHILDREN, &n);
  }
  return NULL;
}

/* The same, over the HTTP endpoint: every route, and kills of children
 * by pid, from a client of libmicrohttpd's threads. */
static atomic_long sc_http_requests, sc_http_bad;
static void *sc_http_inspector(void *arg) {
  (void)arg;
  static const char *paths[] = {"/metrics",
                                "/api/tree",
                                "/api/node",
                                "/api/workers",
                                "/api/actors?sort=restarts&limit=5",
                                "/api/actors?filter=crashy"};
  char *resp = malloc(1 << 20);
  int port = hive_http_port(sc_node);
  uint64_t rng = 7;
  for (unsigned i = 0; atomic_load(&sc_inspecting); i++) {
    int want = 200, got;
    if (i % 4 == 3) { /* a kill: 404 if the child ended on its own meanwhile */
      hive_child_info_t info[SC_CHILDREN];
      size_t n;
      if (hive_sup_which_children(sc_node, sc_sup, info, SC_CHILDREN, &n) != HIVE_OK)
        continue;
      hive_pid_t pid = info[xorshift(&rng) % SC_CHILDREN].pid;
      char text[HIVE_PID_STRLEN], path[64];
      hive_pid_format(pid, text, sizeof(text));
      snprintf(path, sizeof(path), "/api/actors/%.*s/kill", (int)strlen(text) - 2, text + 1);
      got = http_fetch(port, "POST", path, "Content-Length: 0\r\n", resp, 1 << 20);
      if (got == 404 || pid == 0)
        want = got;
    } else {
      got = http_fetch(port, "GET", paths[i % (sizeof(paths) / sizeof(paths[0]))], NULL, resp,
                       1 << 20);
    }
    atomic_fetch_add(&sc_http_requests, 1);
    if (got != want)
      atomic_fetch_add(&sc_http_bad, 1);
  }
  free(resp);
  return NULL;
}

static scenario_result_t sc_run(unsigned workers, bool over_http);

scenario_result_t scenario_supervision_churn(unsigned workers) {
  return sc_run(workers, false);
}

scenario_result_t scenario_http_inspection(unsigned workers) {
  return sc_run(workers, true);
}

static scenario_result_t sc_run(unsigned workers, bool over_http) {
  atomic_store(&sc_started, 0);
  atomic_store(&sc_ended, 0);
  atomic_store(&sc_http_requests, 0);
  atomic_store(&sc_http_bad, 0);
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.workers = workers;
  cfg.log_level = HIVE_LOG_NONE; /* actors here fail on purpose */
  cfg.http_listen = over_http ? "127.0.0.1:0" : NULL;
  sc_node = NULL;
  CHECK(hive_start(&sc_node, &cfg) == HIVE_OK, "hive_start failed");
  static char ids[SC_CHILDREN][8];
  hive_child_spec_t specs[SC_CHILDREN];
  for (int i = 0; i < SC_CHILDREN; i++) {
    snprintf(ids[i], sizeof(ids[i]), "c%d", i);
    hive_child_spec_init(&specs[i]);
    specs[i].id = ids[i];
    specs[i].behaviour = &sc_b;
    specs[i].shutdown_ms = 1000;
  }
  hive_sup_spec_t spec;
  hive_sup_spec_init(&spec);
  spec.strategy = workers == 1 ? HIVE_SUP_ONE_FOR_ONE : HIVE_SUP_REST_FOR_ONE;
  spec.intensity = 1000000;
  spec.children = specs;
  spec.nchildren = SC_CHILDREN;
  CHECK(hive_sup_start(sc_node, &spec, &sc_sup) == HIVE_OK, "hive_sup_start");
  pthread_t threads[2], inspector;
  atomic_store(&sc_inspecting, true);
  pthread_create(&inspector, NULL, over_http ? sc_http_inspector : sc_inspector, NULL);
  for (uintptr_t i = 0; i < 2; i++)
    pthread_create(&threads[i], NULL, sc_crasher, (void *)i);
  for (int i = 0; i < 2; i++)
    pthread_join(threads[i], NULL);
  atomic_store(&sc_inspecting, false);
  pthread_join(inspector, NULL);
  hive_child_counts_t counts;
  int rc = hive_sup_count_children(sc_node, sc_sup, &counts);
  hive_stop(sc_node);
  CHECK(rc == HIVE_OK && counts.specs == SC_CHILDREN, "the supervisor lost specs: %zu",
        counts.specs);
  CHECK(atomic_load(&sc_started) == atomic_load(&sc_ended),
        "%ld children started, %ld terminate calls", atomic_load(&sc_started),
        atomic_load(&sc_ended));
  CHECK(atomic_load(&sc_started) > SC_CHILDREN, "nothing was restarted");
  CHECK(!over_http || atomic_load(&sc_http_requests) > 0, "no HTTP request was made");
  CHECK(atomic_load(&sc_http_bad) == 0, "%ld of %ld HTTP requests got an unexpected status",
        atomic_load(&sc_http_bad), atomic_load(&sc_http_requests));
  return NULL;
}

/* ---- named restarts: supervisors retry after a yield -------------------- */

static int nr_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  return HIVE_OK;
}
static const hive_behaviour_t nr_b = {.name = "named", .handle = nr_handle};

#define NR_WORKERS 3
#define NR_KILLS 50

/* True once the child "inner" of top runs, other than `old`, with all its
 * workers running under their names. Each look is a round trip. */
static bool nr_whole(hive_t *h, hive_pid_t top, hive_pid_t old, const char names[][8],
                     hive_pid_t *inner) {
  hive_child_info_t info[NR_WORKERS];
  size_t n;
  if (hive_sup_which_children(h, top, info, 1, &n) != HIVE_OK || n != 1 || info[0].pid == 0 ||
      info[0].pid == old)
    return false;
  *inner = info[0].pid;
  if (hive_sup_which_children(h, *inner, info, NR_WORKERS, &n) != HIVE_OK || n != NR_WORKERS)
    return false;
  for (int k = 0; k < NR_WORKERS; k++)
    if (info[k].pid == 0 || hive_whereis(h, names[k]) != info[k].pid)
      return false;
  return true;
}

scenario_result_t scenario_named_restarts(unsigned workers) {
  hive_t *h = start_node(workers);
  CHECK(h != NULL, "hive_start failed");
  static const char names[NR_WORKERS][8] = {"nr0", "nr1", "nr2"};
  hive_spawn_opts_t opts[NR_WORKERS];
  hive_child_spec_t specs[NR_WORKERS];
  for (int k = 0; k < NR_WORKERS; k++) {
    hive_spawn_opts_init(&opts[k]);
    opts[k].name = names[k];
    hive_child_spec_init(&specs[k]);
    specs[k].id = names[k];
    specs[k].behaviour = &nr_b;
    specs[k].opts = &opts[k];
  }
  hive_sup_spec_t inner;
  hive_sup_spec_init(&inner);
  inner.children = specs;
  inner.nchildren = NR_WORKERS;
  hive_child_spec_t inner_child;
  hive_child_spec_init(&inner_child);
  inner_child.id = "inner";
  inner_child.behaviour = hive_sup_behaviour();
  inner_child.arg = &inner;
  inner_child.arg_len = sizeof(inner);
  inner_child.type = HIVE_CHILD_SUPERVISOR;
  hive_sup_spec_t top;
  hive_sup_spec_init(&top);
  top.intensity = 1000; /* a kill costs a restart, and a retry or two */
  top.period_s = 60;
  top.children = &inner_child;
  top.nchildren = 1;
  hive_pid_t top_pid, current = 0;
  CHECK(hive_sup_start(h, &top, &top_pid) == HIVE_OK, "hive_sup_start");
  for (int round = 0; round < NR_KILLS; round++) {
    hive_pid_t old = current;
    long looks = 0;
    while (!nr_whole(h, top_pid, old, names, &current))
      CHECK(++looks < 10000000, "round %d: the tree did not come back", round);
    CHECK(hive_kill(h, current) == HIVE_OK, "round %d: kill", round);
    CHECK(hive_join(h, current, JOIN_TIMEOUT_MS) == HIVE_OK, "round %d: inner did not end", round);
  }
  hive_actor_stats_t stats;
  CHECK(hive_actor_stats(h, top_pid, &stats) == HIVE_OK, "the top supervisor gave up");
  hive_stop(h);
  return NULL;
}

/* ---- gateway clients ------------------------------------------------------ */

#define GW_CLIENTS 8
#define GW_CALLS 400
#define GW_WINDOW 32

typedef struct {
  hive_t *h;
  int port;
  int index;
  hive_pid_t self;     /* the connection's actor */
  _Atomic bool open;   /* connected and welcomed */
  const char *failure; /* NULL: fine */
  unsigned answered;   /* calls answered ok */
  bool closed_early;   /* the connection ended before the last answer */
  sem_t connected;
} gw_client_t;

/* Calls echo GW_CALLS times, GW_WINDOW in flight; client 0 and 1 hang up
 * halfway; pushed messages (from pusher) are skipped. */
static void *gw_client_main(void *arg) {
  gw_client_t *c = arg;
  int fd = gwc_open(c->port, "scenario", &c->self);
  sem_post(&c->connected);
  if (fd < 0) {
    c->failure = "a client could not connect";
    return NULL;
  }
  atomic_store(&c->open, true);
  uint64_t sent = 0, got = 0;
  while (got < GW_CALLS) {
    for (; sent < GW_CALLS && sent - got < GW_WINDOW; sent++)
      if (!gwc_send(fd, "msssusssu", 4, "op", "call", "id", sent, "to", "echo", "data", sent))
        goto closed;
    if (c->index < 2 && got == GW_CALLS / 2) {
      close(fd); /* hangs up with calls in flight */
      c->closed_early = true;
      return NULL;
    }
    gwc_frame_t f;
    if (!gwc_recv(fd, &f)) {
      gwc_frame_free(&f);
      goto closed;
    }
    if (gwc_is(&f, "op", "message")) { /* a push */
      gwc_frame_free(&f);
      continue;
    }
    bool ok = gwc_ok(&f);
    bool shutdown = gwc_is(&f, "error", "shutdown") || gwc_is(&f, "error", "internal");
    uint64_t id = gwc_u64(&f, "id");
    gwc_frame_free(&f);
    if (!ok && !shutdown) {
      c->failure = "a call failed with neither a reply nor shutdown";
      break;
    }
    if (id >= sent) {
      c->failure = "an answer to a call never made";
      break;
    }
    c->answered += ok;
    got++;
  }
  close(fd);
  return NULL;
closed:
  c->closed_early = true; /* its actor was killed: the node closed it */
  close(fd);
  return NULL;
}

scenario_result_t scenario_gateway_clients(unsigned workers) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.workers = workers;
  cfg.log_level = HIVE_LOG_NONE;
  cfg.gateway_tcp = "0";
  cfg.gateway_token = "scenario";
  hive_t *h;
  if (hive_start(&h, &cfg) != HIVE_OK)
    return "hive_start with a gateway failed";
  hive_pid_t sup;
  if (gwt_start(h, &sup) != HIVE_OK)
    return "the test actors did not start";
  static gw_client_t clients[GW_CLIENTS];
  pthread_t threads[GW_CLIENTS];
  for (int i = 0; i < GW_CLIENTS; i++) {
    clients[i] = (gw_client_t){.h = h, .port = hive_gateway_port(h), .index = i};
    sem_init(&clients[i].connected, 0, 0);
    pthread_create(&threads[i], NULL, gw_client_main, &clients[i]);
  }
  for (int i = 0; i < GW_CLIENTS; i++)
    sem_wait(&clients[i].connected);
  /* Pushes to every client while they call; two have their actor killed. */
  hive_pid_t pusher = hive_whereis(h, "pusher");
  for (int i = 0; i < GW_CLIENTS; i++) {
    if (clients[i].self == 0)
      continue;
    void *payload;
    size_t len;
    if (hive_pack(&payload, &len, "auuu", (uint32_t)3, clients[i].self, (uint64_t)50,
                  (uint64_t)100) == HIVE_OK &&
        hive_send_move(h, pusher, HIVE_TAG_USER, payload, len) != HIVE_OK)
      free(payload);
  }
  hive_kill(h, clients[2].self);
  hive_kill(h, clients[3].self);
  /* The others finish, or the node stops under them. */
  for (int i = 4; i < GW_CLIENTS - 2; i++)
    pthread_join(threads[i], NULL);
  hive_stop(h); /* clients 6 and 7 may still have calls in flight */
  for (int i = 0; i < 4; i++)
    pthread_join(threads[i], NULL);
  for (int i = GW_CLIENTS - 2; i < GW_CLIENTS; i++)
    pthread_join(threads[i], NULL);
  for (int i = 0; i < GW_CLIENTS; i++) {
    sem_destroy(&clients[i].connected);
    if (clients[i].failure != NULL)
      return clients[i].failure;
    if (i >= 4 && i < GW_CLIENTS - 2 && clients[i].answered != GW_CALLS)
      return "a client that kept its connection missed answers";
  }
  return NULL;
}

/* ---- two nodes of a cluster in one process ---------------------------------- */

/* A counter on node 2: counts TAG_USER messages, answers a request with the
 * count; a request with tag TAG_USER + 1 is echoed. */
static int cl_counter_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  uint64_t *count = state;
  if (msg->ref == 0) {
    (*count)++;
    return HIVE_OK;
  }
  if (msg->tag == HIVE_TAG_USER + 1)
    return hive_reply(ctx, msg, msg->data, msg->len);
  return hive_reply(ctx, msg, count, sizeof(*count));
}
static const hive_behaviour_t cl_counter_b = {
    .name = "counter", .state_size = sizeof(uint64_t), .handle = cl_counter_handle};

/* On node 1: sends n messages to the counter in turns of 64, with a link
 * and a monitor on it meanwhile. */
typedef struct {
  hive_pid_t to;
  long left;
} cl_sender_t;

static int cl_sender_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)len;
  cl_sender_t *s = state;
  memcpy(s, arg, sizeof(*s));
  uint64_t ref;
  hive_trap_exit(ctx, true);
  hive_link(ctx, s->to);
  hive_monitor(ctx, s->to, &ref);
  return hive_send(hive_node(ctx), hive_self(ctx), HIVE_TAG_USER + 2, NULL, 0);
}

static int cl_sender_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  cl_sender_t *s = state;
  if (msg->tag != HIVE_TAG_USER + 2)
    return HIVE_OK; /* EXIT or DOWN when the nodes stop */
  for (int i = 0; i < 64 && s->left > 0; i++, s->left--)
    hive_send(hive_node(ctx), s->to, HIVE_TAG_USER, "0123456789", 10);
  if (s->left > 0)
    return hive_send(hive_node(ctx), hive_self(ctx), HIVE_TAG_USER + 2, NULL, 0);
  hive_unlink(ctx, s->to);
  return HIVE_STOP;
}
static const hive_behaviour_t cl_sender_b = {.name = "sender",
                                             .state_size = sizeof(cl_sender_t),
                                             .init = cl_sender_init,
                                             .handle = cl_sender_handle};

typedef struct {
  hive_t *h;
  hive_pid_t to;
  const char *failure;
} cl_asker_t;

static void *cl_asker_main(void *arg) {
  cl_asker_t *a = arg;
  for (int i = 0; i < 200 && a->failure == NULL; i++) {
    void *reply;
    size_t len;
    if (hive_ask(a->h, a->to, HIVE_TAG_USER + 1, &i, sizeof(i), 30000, &reply, &len) != HIVE_OK)
      a->failure = "a remote ask failed";
    else if (len != sizeof(i) || memcmp(reply, &i, sizeof(i)) != 0)
      a->failure = "a remote ask got another answer";
    if (a->failure == NULL)
      free(reply);
  }
  return NULL;
}

/* A nats-server of the scenario's own on a free loopback port; its URL. */
static pid_t cl_nats_start(char *dir, size_t dir_size, char *url, size_t url_size) {
  snprintf(dir, dir_size, "/tmp/hive-scenario-nats-XXXXXX");
  if (mkdtemp(dir) == NULL)
    return -1;
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  /* a failed check leaves no server behind */
    freopen("/dev/null", "w", stdout); /* nor holds ctest's pipe open */
    freopen("/dev/null", "w", stderr);
    execlp("nats-server", "nats-server", "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir", dir,
           (char *)NULL);
    _exit(127);
  }
  char ports[128];
  snprintf(ports, sizeof(ports), "%s/nats-server_%d.ports", dir, (int)pid);
  for (int i = 0; i < 1000; i++) {
    FILE *f = fopen(ports, "r");
    char buf[256] = {0};
    if (f != NULL) {
      size_t n = fread(buf, 1, sizeof(buf) - 1, f);
      fclose(f);
      char *p = n > 0 ? strstr(buf, "nats://") : NULL;
      char *end = p != NULL ? strchr(p, '"') : NULL;
      if (end != NULL) {
        snprintf(url, url_size, "%.*s", (int)(end - p), p);
        return pid;
      }
    }
    struct timespec nap = {.tv_nsec = 10000000};
    nanosleep(&nap, NULL); /* another process getting ready */
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

scenario_result_t scenario_cluster_pair(unsigned workers) {
  char dir[64], url[64], cmd[96];
  pid_t nats = cl_nats_start(dir, sizeof(dir), url, sizeof(url));
  if (nats < 0)
    return "no nats-server (apt-get install nats-server)";
  const char *failure = NULL;
  hive_t *node[2] = {NULL, NULL};
  for (unsigned i = 0; i < 2 && failure == NULL; i++) {
    hive_config_t cfg;
    hive_config_init(&cfg);
    cfg.workers = workers;
    cfg.log_level = HIVE_LOG_NONE;
    cfg.cluster_url = url;
    cfg.node_id = i + 1;
    if (hive_start(&node[i], &cfg) != HIVE_OK)
      failure = "a node did not join";
  }
  hive_pid_t counter = 0;
  if (failure == NULL && hive_spawn(node[1], &cl_counter_b, NULL, 0, NULL, &counter) != HIVE_OK)
    failure = "no counter";
  if (failure == NULL) {
    /* One actor streams to node 2 while four plain threads ask there. */
    cl_sender_t arg = {.to = counter, .left = 20000};
    hive_pid_t sender;
    cl_asker_t askers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
      askers[i] = (cl_asker_t){.h = node[0], .to = counter};
      pthread_create(&threads[i], NULL, cl_asker_main, &askers[i]);
    }
    if (hive_spawn(node[0], &cl_sender_b, &arg, sizeof(arg), NULL, &sender) != HIVE_OK)
      failure = "no sender";
    else if (hive_join(node[0], sender, JOIN_TIMEOUT_MS) != HIVE_OK)
      failure = "the sender did not finish";
    for (int i = 0; i < 4; i++) {
      pthread_join(threads[i], NULL);
      if (askers[i].failure != NULL)
        failure = askers[i].failure;
    }
    /* The count request leaves after the stream (same node, a later batch);
     * messages of another sender may still be on their way: ask again. */
    uint64_t count = 0;
    for (int tries = 0; failure == NULL && tries < 3000 && count < 20000; tries++) {
      void *reply;
      size_t len;
      if (hive_ask(node[0], counter, HIVE_TAG_USER, NULL, 0, 30000, &reply, &len) != HIVE_OK) {
        failure = "the count request failed";
      } else {
        memcpy(&count, reply, sizeof(count));
        free(reply);
      }
    }
    if (failure == NULL && count != 20000)
      failure = "messages between nodes were lost";
  }
  /* Node 1 leaves while node 2 still runs: its links and monitors fire. */
  for (int i = 0; i < 2; i++)
    if (node[i] != NULL)
      hive_stop(node[i]);
  kill(nats, SIGTERM);
  waitpid(nats, NULL, 0);
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  if (system(cmd) != 0 && failure == NULL)
    failure = "could not remove the server's folder";
  return failure;
}
