/*
 * memory K: K idle actors; bytes_per_actor = (RSS after - RSS before) / K.
 * The actors have no state block, like an Erlang process that only waits.
 */
#include <unistd.h>

#include "bench.h"

static int idle_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  return HIVE_OK;
}
static const hive_behaviour_t idle_b = {.name = "idle", .handle = idle_handle};

static long rss_bytes(void) {
  long pages_total, pages_resident;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f == NULL || fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) {
    fprintf(stderr, "cannot read /proc/self/statm\n");
    exit(1);
  }
  fclose(f);
  return pages_resident * sysconf(_SC_PAGESIZE);
}

int main(int argc, char **argv) {
  bench_args_t args = {.sizes = {100000}, .nsizes = 1};
  if (bench_parse(argc, argv, &args, "[ACTORS]") != 0)
    return 2;
  long k = args.sizes[0];
  hive_t *node = bench_start(&args);
  long before = rss_bytes();
  double t0 = bench_now();
  for (long i = 0; i < k; i++)
    bench_check(hive_spawn(node, &idle_b, NULL, 0, NULL, NULL), "spawn");
  double secs = bench_now() - t0;
  long after = rss_bytes();
  hive_stop(node);
  printf("RESULT peer=hive bench=memory n=%ld secs=%.3f bytes_per_actor=%.0f\n", k, secs,
         (double)(after - before) / (double)k);
  return 0;
}
