/*
 * ask N: one plain thread asks an echo actor N times, one request in flight
 * at a time; rate = round trips / s.
 */
#include "bench.h"

static int echo_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  return hive_reply(ctx, msg, msg->data, msg->len);
}
static const hive_behaviour_t echo_b = {.name = "echo", .handle = echo_handle};

int main(int argc, char **argv) {
  bench_args_t args = {.sizes = {200000}, .nsizes = 1};
  if (bench_parse(argc, argv, &args, "[ASKS]") != 0)
    return 2;
  long n = args.sizes[0];
  hive_t *node = bench_start(&args);
  hive_pid_t echo;
  bench_check(hive_spawn(node, &echo_b, NULL, 0, NULL, &echo), "spawn");
  double t0 = bench_now();
  for (long i = 0; i < n; i++) {
    void *reply;
    size_t len;
    bench_check(hive_ask(node, echo, HIVE_TAG_USER, &i, sizeof(i), 10000, &reply, &len), "ask");
    free(reply);
  }
  double secs = bench_now() - t0;
  hive_stop(node);
  bench_result("ask", n, secs, (double)n / secs);
  return 0;
}
