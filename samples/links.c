/*
 * links.c - a worker crashes; a watcher learns of it twice: through a
 * monitor (a DOWN message) and through a link it traps (an EXIT message).
 * Without trapping, the link would have taken the watcher down with it.
 */
#include <hive/hive.h>
#include <stdio.h>
#include <string.h>

enum { TAG_WORK = HIVE_TAG_USER };

/* The worker fails on its third job: a handler returning an error code. */
struct worker {
  int jobs;
};
static int worker_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)msg;
  struct worker *w = state;
  printf("worker: job %d\n", ++w->jobs);
  return w->jobs == 3 ? HIVE_EINVAL : HIVE_OK; /* ends with reason error */
}
static const hive_behaviour_t worker_b = {
    .name = "worker", .state_size = sizeof(struct worker), .handle = worker_handle};

/* The watcher traps exits, links to the worker and monitors it too. */
static int watcher_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)state, (void)len;
  hive_pid_t worker;
  memcpy(&worker, arg, sizeof(worker));
  uint64_t ref;
  hive_trap_exit(ctx, true); /* exit signals become messages */
  hive_link(ctx, worker);
  return hive_monitor(ctx, worker, &ref);
}
static int watcher_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state;
  hive_pid_t who;
  hive_reason_t reason;
  char pid[HIVE_PID_STRLEN], why[128];
  if (hive_exit_info(msg, &who, &reason) != HIVE_OK)
    return HIVE_OK;
  hive_pid_format(who, pid, sizeof(pid));
  hive_reason_format(&reason, why, sizeof(why));
  printf("watcher: %s from %s: %s\n", msg->tag == HIVE_TAG_DOWN ? "DOWN" : "EXIT", pid, why);
  return msg->tag == HIVE_TAG_DOWN ? HIVE_STOP : HIVE_OK; /* done after both */
}
static const hive_behaviour_t watcher_b = {
    .name = "watcher", .init = watcher_init, .handle = watcher_handle};

int main(void) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.log_level = HIVE_LOG_NONE; /* the crash report would repeat what we print */
  hive_t *node;
  hive_pid_t worker, watcher;
  if (hive_start(&node, &cfg) != HIVE_OK ||
      hive_spawn(node, &worker_b, NULL, 0, NULL, &worker) != HIVE_OK ||
      hive_spawn(node, &watcher_b, &worker, sizeof(worker), NULL, &watcher) != HIVE_OK)
    return 1;
  for (int i = 0; i < 5; i++) /* jobs 4 and 5 become dead letters */
    hive_send(node, worker, TAG_WORK, NULL, 0);
  hive_join(node, watcher, -1);
  return hive_stop(node) == HIVE_OK ? 0 : 1;
}
