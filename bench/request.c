/*
 * request N: inside actors, a client makes N requests to a server, one in
 * flight at a time (hive_request, hive_reply); rate = round trips / s.
 */
#include "bench.h"

static int server_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  return hive_reply(ctx, msg, msg->data, msg->len);
}
static const hive_behaviour_t server_b = {.name = "server", .handle = server_handle};

struct client {
  hive_pid_t server;
  long left;
  uint64_t ref;
};

static int client_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)len;
  struct client *c = state;
  memcpy(c, arg, sizeof(*c));
  return hive_request(ctx, c->server, HIVE_TAG_USER, NULL, 0, -1, &c->ref);
}

static int client_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  struct client *c = state;
  if (msg->tag != HIVE_TAG_REPLY || msg->ref != c->ref)
    return HIVE_EINVAL;
  if (--c->left == 0)
    return HIVE_STOP;
  return hive_request(ctx, c->server, HIVE_TAG_USER, NULL, 0, -1, &c->ref);
}
static const hive_behaviour_t client_b = {.name = "client",
                                          .state_size = sizeof(struct client),
                                          .init = client_init,
                                          .handle = client_handle};

int main(int argc, char **argv) {
  bench_args_t args = {.sizes = {1000000}, .nsizes = 1};
  if (bench_parse(argc, argv, &args, "[REQUESTS]") != 0)
    return 2;
  long n = args.sizes[0];
  hive_t *node = bench_start(&args);
  struct client c = {.left = n};
  hive_pid_t client;
  bench_check(hive_spawn(node, &server_b, NULL, 0, NULL, &c.server), "spawn");
  double t0 = bench_now();
  bench_check(hive_spawn(node, &client_b, &c, sizeof(c), NULL, &client), "spawn");
  bench_check(hive_join(node, client, -1), "join");
  double secs = bench_now() - t0;
  hive_stop(node);
  bench_result("request", n, secs, (double)n / secs);
  return 0;
}
