/*
 * pingpong N: two actors, N round trips; rate = 2N / s (messages).
 */
#include "bench.h"

enum { TAG_BALL = HIVE_TAG_USER };

struct ping {
  hive_pid_t pong;
  long left;
};

static int pong_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  return hive_send(hive_node(ctx), msg->from, TAG_BALL, NULL, 0);
}

static int ping_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)len;
  struct ping *ping = state;
  memcpy(ping, arg, sizeof(*ping));
  return hive_send(hive_node(ctx), ping->pong, TAG_BALL, NULL, 0);
}

static int ping_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  struct ping *ping = state;
  if (--ping->left == 0)
    return HIVE_STOP;
  return hive_send(hive_node(ctx), msg->from, TAG_BALL, NULL, 0);
}

static const hive_behaviour_t pong_b = {.name = "pong", .handle = pong_handle};
static const hive_behaviour_t ping_b = {
    .name = "ping", .state_size = sizeof(struct ping), .init = ping_init, .handle = ping_handle};

int main(int argc, char **argv) {
  bench_args_t args = {.sizes = {2000000}, .nsizes = 1};
  if (bench_parse(argc, argv, &args, "[ROUND_TRIPS]") != 0)
    return 2;
  long n = args.sizes[0];
  hive_t *node = bench_start(&args);
  struct ping arg = {.left = n};
  hive_pid_t ping;
  bench_check(hive_spawn(node, &pong_b, NULL, 0, NULL, &arg.pong), "spawn pong");
  double t0 = bench_now();
  bench_check(hive_spawn(node, &ping_b, &arg, sizeof(arg), NULL, &ping), "spawn ping");
  bench_check(hive_join(node, ping, -1), "join");
  double secs = bench_now() - t0;
  hive_stop(node);
  bench_result("pingpong", n, secs, 2.0 * (double)n / secs);
  return 0;
}
