/*
 * threadring R N: R actors in a ring pass one token N hops; rate = hops / s.
 * The token carries the hops left; the actor that sees 0 tells the sink.
 */
#include "bench.h"

enum { TAG_NEXT = HIVE_TAG_USER, TAG_TOKEN, TAG_DONE };

struct member {
  hive_pid_t next;
  hive_pid_t sink;
};

static int member_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)ctx, (void)len;
  struct member *m = state;
  memcpy(&m->sink, arg, sizeof(m->sink));
  return HIVE_OK;
}

static int member_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  struct member *m = state;
  if (msg->tag == TAG_NEXT) {
    memcpy(&m->next, msg->data, sizeof(m->next));
    return HIVE_OK;
  }
  long hops;
  memcpy(&hops, msg->data, sizeof(hops));
  if (hops == 0)
    return hive_send(hive_node(ctx), m->sink, TAG_DONE, NULL, 0);
  hops--;
  return hive_send(hive_node(ctx), m->next, TAG_TOKEN, &hops, sizeof(hops));
}
static const hive_behaviour_t member_b = {.name = "member",
                                          .state_size = sizeof(struct member),
                                          .init = member_init,
                                          .handle = member_handle};

int main(int argc, char **argv) {
  bench_args_t args = {.sizes = {503, 10000000}, .nsizes = 2};
  if (bench_parse(argc, argv, &args, "[RING_SIZE] [HOPS]") != 0)
    return 2;
  long ring = args.sizes[0], hops = args.sizes[1];
  hive_t *node = bench_start(&args);
  hive_pid_t sink = bench_spawn_countdown(node, 1);
  hive_pid_t *members = calloc((size_t)ring, sizeof(*members));
  if (members == NULL)
    return 1;
  double t0 = bench_now();
  for (long i = 0; i < ring; i++)
    bench_check(hive_spawn(node, &member_b, &sink, sizeof(sink), NULL, &members[i]), "spawn");
  for (long i = 0; i < ring; i++)
    bench_check(hive_send(node, members[i], TAG_NEXT, &members[(i + 1) % ring], sizeof(hive_pid_t)),
                "send next");
  bench_check(hive_send(node, members[0], TAG_TOKEN, &hops, sizeof(hops)), "send token");
  bench_check(hive_join(node, sink, -1), "join");
  double secs = bench_now() - t0;
  hive_stop(node);
  free(members);
  bench_result("threadring", hops, secs, (double)hops / secs);
  return 0;
}
