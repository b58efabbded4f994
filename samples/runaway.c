/*
 * runaway.c - two handlers that run too long.
 *
 * The first loops, but calls hive_checkpoint: hive_kill stops it the moment
 * it looks. The second never looks: the watchdog reports it (budget 100 ms
 * here) in the log and to the system monitor, and it ends when it returns.
 * A C handler cannot be cut off from outside safely: checkpoints are how a
 * long loop stays stoppable.
 */
#include <hive/hive.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Loops for ever, but checks in. */
static int polite_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state, (void)msg;
  unsigned long rounds = 0;
  while (!hive_checkpoint(ctx))
    rounds++;
  printf("polite: stopped by the kill after %lu rounds\n", rounds);
  return HIVE_OK; /* returns at once: the actor ends with reason kill */
}

/* Busy for 300 ms without checking in. */
static int stubborn_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  double until = now() + 0.3;
  while (now() < until) {
  }
  printf("stubborn: done after 300 ms\n");
  return HIVE_STOP;
}

/* Receives the watchdog's reports. */
static int monitor_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state;
  uint64_t pid, us;
  const char *name;
  size_t len;
  if (msg->tag == HIVE_TAG_LONG_HANDLER &&
      hive_unpack(msg->data, msg->len, NULL, "uus", &pid, &us, &name, &len) == HIVE_OK)
    printf("system monitor: %.*s has run for %llu ms\n", (int)len, name,
           (unsigned long long)(us / 1000));
  return HIVE_OK;
}

static const hive_behaviour_t polite_b = {.name = "polite", .handle = polite_handle};
static const hive_behaviour_t stubborn_b = {.name = "stubborn", .handle = stubborn_handle};
static const hive_behaviour_t monitor_b = {.name = "monitor", .handle = monitor_handle};

int main(void) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.handler_budget_ms = 100; /* the watchdog: report calls past 100 ms */
  hive_t *node;
  hive_pid_t polite, stubborn, monitor;
  if (hive_start(&node, &cfg) != HIVE_OK ||
      hive_spawn(node, &monitor_b, NULL, 0, NULL, &monitor) != HIVE_OK ||
      hive_system_monitor(node, monitor) != HIVE_OK ||
      hive_spawn(node, &polite_b, NULL, 0, NULL, &polite) != HIVE_OK ||
      hive_spawn(node, &stubborn_b, NULL, 0, NULL, &stubborn) != HIVE_OK)
    return 1;
  hive_send(node, polite, HIVE_TAG_USER, NULL, 0);
  struct timespec pause = {0, 50000000};
  nanosleep(&pause, NULL); /* let it loop a while */
  double t0 = now();
  hive_kill(node, polite);
  hive_join(node, polite, -1);
  printf("main: the kill took %.0f us\n", (now() - t0) * 1e6);
  hive_send(node, stubborn, HIVE_TAG_USER, NULL, 0);
  hive_join(node, stubborn, -1);
  return hive_stop(node) == HIVE_OK ? 0 : 1;
}
