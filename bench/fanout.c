/*
 * fanout A M: Savina fork-join throughput. One sender actor sends M
 * messages to each of A receivers, round robin; each receiver reports to a
 * collector when it has all M; rate = A*M / s. The sender sends one round
 * per message it sends itself, so a turn of its (a batch of messages) is
 * as long as a receiver's and the receivers keep up.
 */
#include "bench.h"

enum { TAG_WORK = HIVE_TAG_USER, TAG_GO, TAG_DONE };

struct receiver {
  hive_pid_t collector;
  long left;
};

struct sender {
  hive_pid_t *receivers; /* owned by main */
  long count;
  long rounds_left;
};

static int receiver_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)ctx, (void)len;
  memcpy(state, arg, sizeof(struct receiver));
  return HIVE_OK;
}
static int receiver_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)msg;
  struct receiver *r = state;
  if (--r->left == 0)
    return hive_send(hive_node(ctx), r->collector, TAG_DONE, NULL, 0);
  return HIVE_OK;
}
static const hive_behaviour_t receiver_b = {.name = "receiver",
                                            .state_size = sizeof(struct receiver),
                                            .init = receiver_init,
                                            .handle = receiver_handle};

static int sender_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)len;
  memcpy(state, arg, sizeof(struct sender));
  return hive_send(hive_node(ctx), hive_self(ctx), TAG_GO, NULL, 0);
}
static int sender_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)msg;
  struct sender *s = state;
  hive_t *node = hive_node(ctx);
  for (long i = 0; i < s->count; i++) {
    int rc = hive_send(node, s->receivers[i], TAG_WORK, NULL, 0);
    if (rc != HIVE_OK)
      return rc;
  }
  if (--s->rounds_left == 0)
    return HIVE_STOP;
  return hive_send(node, hive_self(ctx), TAG_GO, NULL, 0);
}
static const hive_behaviour_t sender_b = {.name = "sender",
                                          .state_size = sizeof(struct sender),
                                          .init = sender_init,
                                          .handle = sender_handle};

int main(int argc, char **argv) {
  bench_args_t args = {.sizes = {60, 250000}, .nsizes = 2};
  if (bench_parse(argc, argv, &args, "[RECEIVERS] [MESSAGES_EACH]") != 0)
    return 2;
  long count = args.sizes[0], each = args.sizes[1];
  hive_t *node = bench_start(&args);
  hive_pid_t *receivers = calloc((size_t)count, sizeof(*receivers));
  if (receivers == NULL)
    return 1;
  hive_pid_t collector = bench_spawn_countdown(node, count);
  double t0 = bench_now();
  struct receiver r = {.collector = collector, .left = each};
  for (long i = 0; i < count; i++)
    bench_check(hive_spawn(node, &receiver_b, &r, sizeof(r), NULL, &receivers[i]), "spawn");
  struct sender s = {.receivers = receivers, .count = count, .rounds_left = each};
  bench_check(hive_spawn(node, &sender_b, &s, sizeof(s), NULL, NULL), "spawn sender");
  bench_check(hive_join(node, collector, -1), "join");
  double secs = bench_now() - t0;
  hive_stop(node);
  free(receivers);
  bench_result("fanout", count * each, secs, (double)(count * each) / secs);
  return 0;
}
