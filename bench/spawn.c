/*
 * spawn N: Savina fork-join creation. A spawner actor creates N actors;
 * each gets one message, reports to a collector and exits; rate = actors / s.
 * The spawner works in chunks, sending itself a message between them, so it
 * takes turns like any actor.
 */
#include "bench.h"

enum { TAG_GO = HIVE_TAG_USER, TAG_DONE };
#define SPAWN_CHUNK 50

struct spawner {
  hive_pid_t collector;
  long left;
};

/* A child: tells the collector (whose pid is the payload) and exits. */
static int child_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  hive_pid_t collector;
  memcpy(&collector, msg->data, sizeof(collector));
  hive_send(hive_node(ctx), collector, TAG_DONE, NULL, 0);
  return HIVE_STOP;
}
static const hive_behaviour_t child_b = {.name = "child", .handle = child_handle};

static int spawner_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)len;
  memcpy(state, arg, sizeof(struct spawner));
  return hive_send(hive_node(ctx), hive_self(ctx), TAG_GO, NULL, 0);
}
static int spawner_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)msg;
  struct spawner *s = state;
  hive_t *node = hive_node(ctx);
  for (int i = 0; i < SPAWN_CHUNK && s->left > 0; i++, s->left--) {
    hive_pid_t child;
    int rc = hive_spawn(node, &child_b, NULL, 0, NULL, &child);
    if (rc == HIVE_OK)
      rc = hive_send(node, child, TAG_GO, &s->collector, sizeof(s->collector));
    if (rc != HIVE_OK)
      return rc;
  }
  if (s->left == 0)
    return HIVE_STOP;
  return hive_send(node, hive_self(ctx), TAG_GO, NULL, 0);
}
static const hive_behaviour_t spawner_b = {.name = "spawner",
                                           .state_size = sizeof(struct spawner),
                                           .init = spawner_init,
                                           .handle = spawner_handle};

int main(int argc, char **argv) {
  bench_args_t args = {.sizes = {1000000}, .nsizes = 1};
  if (bench_parse(argc, argv, &args, "[ACTORS]") != 0)
    return 2;
  long n = args.sizes[0];
  hive_t *node = bench_start(&args);
  struct spawner s = {.collector = bench_spawn_countdown(node, n), .left = n};
  double t0 = bench_now();
  bench_check(hive_spawn(node, &spawner_b, &s, sizeof(s), NULL, NULL), "spawn");
  bench_check(hive_join(node, s.collector, -1), "join");
  double secs = bench_now() - t0;
  hive_stop(node);
  bench_result("spawn", n, secs, (double)n / secs);
  return 0;
}
