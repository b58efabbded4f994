/*
 * timers N: N one-shot timers with delays spread over 1..200 ms, aimed at
 * one actor that notes how late each arrived (never early: checked). Prints
 * the median and the 99th percentile of the lateness.
 */
#include <stdint.h>
#include <time.h>

#include "bench.h"

struct stamp {
  double due; /* bench_now() seconds */
};

static double *lateness; /* seconds; written by the one receiver */
static long received, early;

static int receiver_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state;
  struct stamp s;
  memcpy(&s, msg->data, sizeof(s));
  double late = bench_now() - s.due;
  if (late < 0)
    early++;
  lateness[received++] = late;
  return HIVE_OK;
}
static const hive_behaviour_t receiver_b = {.name = "receiver", .handle = receiver_handle};

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  bench_args_t args = {.sizes = {10000}, .nsizes = 1};
  if (bench_parse(argc, argv, &args, "[TIMERS]") != 0)
    return 2;
  long n = args.sizes[0];
  lateness = calloc((size_t)n, sizeof(*lateness));
  hive_t *node = bench_start(&args);
  hive_pid_t receiver;
  bench_check(hive_spawn(node, &receiver_b, NULL, 0, NULL, &receiver), "spawn");
  double t0 = bench_now();
  for (long i = 0; i < n; i++) {
    unsigned ms = 1 + (unsigned)(i * 7919 % 200);
    struct stamp s = {.due = bench_now() + ms / 1000.0};
    bench_check(
        hive_send_after(node, receiver, HIVE_TAG_USER, &s, sizeof(s), ms, &(hive_timer_t){0}),
        "send_after");
  }
  hive_actor_stats_t st;
  do { /* the last timer is due within 200 ms */
    nanosleep(&(struct timespec){0, 10000000}, NULL);
    bench_check(hive_actor_stats(node, receiver, &st), "stats");
  } while (st.processed < (uint64_t)n);
  double secs = bench_now() - t0;
  hive_stop(node);
  qsort(lateness, (size_t)n, sizeof(*lateness), by_value);
  printf("RESULT peer=hive bench=timers n=%ld secs=%.3f early=%ld median_us=%.0f p99_us=%.0f "
         "max_us=%.0f\n",
         n, secs, early, lateness[n / 2] * 1e6, lateness[n * 99 / 100] * 1e6,
         lateness[n - 1] * 1e6);
  free(lateness);
  return early == 0 ? 0 : 1;
}
