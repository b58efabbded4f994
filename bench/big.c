/*
 * big A N: Savina Big. A actors, each knowing all A; each sends N pings to
 * peers picked at random, one in flight at a time, and answers every ping
 * it gets with a pong; rate = 2*A*N / s (pings and pongs).
 */
#include "bench.h"

enum { TAG_START = HIVE_TAG_USER, TAG_PING, TAG_PONG, TAG_DONE };

struct big_arg {
  const hive_pid_t *peers; /* owned by main, filled before TAG_START */
  long count;
  long index;
  long pings;
  hive_pid_t sink;
};

struct big_actor {
  struct big_arg arg;
  uint64_t rng; /* xorshift64 */
};

static int big_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)ctx, (void)len;
  struct big_actor *a = state;
  memcpy(&a->arg, arg, sizeof(a->arg));
  a->rng = 0x9e3779b97f4a7c15ull * (uint64_t)(a->arg.index + 1);
  return HIVE_OK;
}

/* A peer other than this actor, uniformly. */
static hive_pid_t big_pick(struct big_actor *a) {
  a->rng ^= a->rng << 13;
  a->rng ^= a->rng >> 7;
  a->rng ^= a->rng << 17;
  long i = (long)(a->rng % (uint64_t)(a->arg.count - 1));
  return a->arg.peers[i >= a->arg.index ? i + 1 : i];
}

static int big_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  struct big_actor *a = state;
  hive_t *node = hive_node(ctx);
  switch (msg->tag) {
  case TAG_PING:
    return hive_send(node, msg->from, TAG_PONG, NULL, 0);
  case TAG_PONG:
    if (--a->arg.pings == 0)
      return hive_send(node, a->arg.sink, TAG_DONE, NULL, 0);
    return hive_send(node, big_pick(a), TAG_PING, NULL, 0);
  default: /* TAG_START */
    return hive_send(node, big_pick(a), TAG_PING, NULL, 0);
  }
}
static const hive_behaviour_t big_b = {
    .name = "big", .state_size = sizeof(struct big_actor), .init = big_init, .handle = big_handle};

int main(int argc, char **argv) {
  bench_args_t args = {.sizes = {120, 40000}, .nsizes = 2};
  if (bench_parse(argc, argv, &args, "[ACTORS] [PINGS_EACH]") != 0)
    return 2;
  long count = args.sizes[0], pings = args.sizes[1];
  if (count < 2) {
    fprintf(stderr, "big needs at least 2 actors\n");
    return 2;
  }
  hive_t *node = bench_start(&args);
  hive_pid_t *peers = calloc((size_t)count, sizeof(*peers));
  if (peers == NULL)
    return 1;
  hive_pid_t sink = bench_spawn_countdown(node, count);
  double t0 = bench_now();
  for (long i = 0; i < count; i++) {
    struct big_arg arg = {.peers = peers, .count = count, .index = i, .pings = pings, .sink = sink};
    bench_check(hive_spawn(node, &big_b, &arg, sizeof(arg), NULL, &peers[i]), "spawn");
  }
  for (long i = 0; i < count; i++)
    bench_check(hive_send(node, peers[i], TAG_START, NULL, 0), "send start");
  bench_check(hive_join(node, sink, -1), "join");
  double secs = bench_now() - t0;
  hive_stop(node);
  free(peers);
  long msgs = 2 * count * pings;
  bench_result("big", msgs, secs, (double)msgs / secs);
  return 0;
}
