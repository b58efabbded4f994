/*
 * bench.h - what the benchmark programs share: argument parsing, a clock,
 * and the RESULT line of shared/DESIGN.md.
 *
 * Every benchmark takes [-w WORKERS] and its sizes as positional numbers;
 * -w 0 (the default) means one worker per online CPU.
 */
#ifndef HIVE_BENCH_H
#define HIVE_BENCH_H

#include <hive/hive.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  unsigned workers;
  long sizes[4];
  int nsizes;
} bench_args_t;

/* Parses argv; sizes not given keep the defaults already in args. */
static inline int bench_parse(int argc, char **argv, bench_args_t *args, const char *usage) {
  int k = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-w") == 0 && i + 1 < argc) {
      args->workers = (unsigned)atoi(argv[++i]);
    } else if (k < args->nsizes && atol(argv[i]) > 0) {
      args->sizes[k++] = atol(argv[i]);
    } else {
      fprintf(stderr, "usage: %s [-w WORKERS] %s\n", argv[0], usage);
      return -1;
    }
  }
  return 0;
}

static inline hive_t *bench_start(const bench_args_t *args) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.workers = args->workers;
  hive_t *node;
  int rc = hive_start(&node, &cfg);
  if (rc != HIVE_OK) {
    fprintf(stderr, "hive_start: %s\n", hive_strerror(rc));
    exit(1);
  }
  return node;
}

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void bench_check(int rc, const char *what) {
  if (rc != HIVE_OK) {
    fprintf(stderr, "%s: %s\n", what, hive_strerror(rc));
    exit(1);
  }
}

/* An actor that stops after as many messages as its argument (a long)
 * says: the collector or sink that main joins. */
static inline int bench_countdown_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)ctx, (void)len;
  memcpy(state, arg, sizeof(long));
  return HIVE_OK;
}
static inline int bench_countdown_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)msg;
  long *left = state;
  return --*left == 0 ? HIVE_STOP : HIVE_OK;
}
/* Spawns a countdown actor that stops after n messages. */
static inline hive_pid_t bench_spawn_countdown(hive_t *node, long n) {
  static const hive_behaviour_t countdown_b = {.name = "countdown",
                                               .state_size = sizeof(long),
                                               .init = bench_countdown_init,
                                               .handle = bench_countdown_handle};
  hive_pid_t pid;
  bench_check(hive_spawn(node, &countdown_b, &n, sizeof(n), NULL, &pid), "spawn countdown");
  return pid;
}

static inline void bench_result(const char *name, long n, double secs, double rate) {
  printf("RESULT peer=hive bench=%s n=%ld secs=%.3f rate=%.0f\n", name, n, secs, rate);
}

#endif /* HIVE_BENCH_H */
