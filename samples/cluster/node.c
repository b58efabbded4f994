/*
 * node.c - one node of the cluster sample; run.sh starts three of them and
 * a nats-server (docs/cluster.md walks through it).
 *
 *   cluster_sample URL 1      a supervisor on node 1 with one child, the
 *                             watcher: it finds worker.2 and worker.3 by
 *                             their global names, monitors them, and prints
 *                             each DOWN and each comeback
 *   cluster_sample URL 2|3    a supervisor with one child, the worker, which
 *                             registers itself as worker.ID
 *
 * Each runs until SIGTERM or SIGINT.
 */
#include <hive/hive.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { TAG_LOOK = HIVE_TAG_USER };

static uint64_t unix_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- node 1: the watcher ------------------------------------------------------ */

struct watcher {
  hive_pid_t worker[4]; /* by node id: 2 and 3 */
  bool seen_down[4];    /* it went down once: its return is a comeback */
  hive_timer_t look;
};

static int watcher_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)arg, (void)len;
  struct watcher *w = state;
  /* Look for workers not watched yet every 100 ms. */
  return hive_send_interval(hive_node(ctx), hive_self(ctx), TAG_LOOK, NULL, 0, 100, &w->look);
}

static void watcher_look(hive_ctx_t *ctx, struct watcher *w) {
  for (unsigned id = 2; id <= 3; id++) {
    char name[16];
    hive_pid_t pid;
    snprintf(name, sizeof(name), "worker.%u", id);
    if (w->worker[id] != 0 || hive_whereis_global(hive_node(ctx), name, &pid) != HIVE_OK)
      continue;
    uint64_t ref;
    char text[HIVE_PID_STRLEN];
    hive_monitor(ctx, pid, &ref);
    w->worker[id] = pid;
    hive_pid_format(pid, text, sizeof(text));
    printf("node 1: %s %s %s (node %u, incarnation %u)\n", name,
           w->seen_down[id] ? "is back as" : "found at", text, HIVE_PID_NODE(pid),
           HIVE_PID_INCARNATION(pid));
    fflush(stdout);
  }
}

static int watcher_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  struct watcher *w = state;
  if (msg->tag == TAG_LOOK) {
    watcher_look(ctx, w);
    return HIVE_OK;
  }
  hive_pid_t who;
  hive_reason_t reason;
  if (msg->tag != HIVE_TAG_DOWN || hive_exit_info(msg, &who, &reason) != HIVE_OK)
    return HIVE_OK;
  unsigned id = HIVE_PID_NODE(who);
  char why[64];
  hive_reason_format(&reason, why, sizeof(why));
  printf("node 1: DOWN from worker.%u: %s, at %llu ms\n", id, why, (unsigned long long)unix_ms());
  fflush(stdout);
  if (id < 4) {
    w->worker[id] = 0;
    w->seen_down[id] = true;
  }
  return HIVE_OK;
}

static void watcher_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *reason) {
  (void)reason;
  struct watcher *w = state;
  hive_timer_cancel(hive_node(ctx), w->look);
}

static const hive_behaviour_t watcher_b = {.name = "watcher",
                                           .state_size = sizeof(struct watcher),
                                           .init = watcher_init,
                                           .handle = watcher_handle,
                                           .terminate = watcher_terminate};

/* ---- nodes 2 and 3: a worker under a global name ------------------------------ */

static int worker_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)state, (void)len;
  char name[16];
  snprintf(name, sizeof(name), "worker.%u", *(const unsigned *)arg);
  /* One owner per name across the cluster; released when this actor or
   * its node ends. */
  return hive_register_global(hive_node(ctx), name, hive_self(ctx));
}

static int worker_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  if (msg->ref != 0)
    hive_reply(ctx, msg, "pong", 4);
  return HIVE_OK;
}

static const hive_behaviour_t worker_b = {
    .name = "worker", .init = worker_init, .handle = worker_handle};

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: cluster_sample NATS_URL NODE_ID\n");
    return 2;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, NULL); /* before hive_start: its threads inherit it */

  unsigned id = (unsigned)atoi(argv[2]);
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.cluster_url = argv[1];
  cfg.node_id = id;
  cfg.log_level = HIVE_LOG_ERROR;
  hive_t *h;
  int rc = hive_start(&h, &cfg);
  if (rc != HIVE_OK) {
    fprintf(stderr, "node %u: hive_start: %s\n", id, hive_strerror(rc));
    return 1;
  }

  /* The tree: one supervisor, one child. Global names are network round
   * trips: the child runs on the blocking pool. */
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.flags = HIVE_SPAWN_BLOCKING;
  hive_child_spec_t child;
  hive_child_spec_init(&child);
  child.id = id == 1 ? "watcher" : "worker";
  child.behaviour = id == 1 ? &watcher_b : &worker_b;
  child.arg = &id;
  child.arg_len = sizeof(id);
  child.opts = &opts;
  hive_sup_spec_t spec;
  hive_sup_spec_init(&spec);
  spec.children = &child;
  spec.nchildren = 1;
  if ((rc = hive_sup_start(h, &spec, NULL)) != HIVE_OK) {
    fprintf(stderr, "node %u: %s\n", id, hive_strerror(rc));
    hive_stop(h);
    return 1;
  }
  hive_node_info_t self;
  hive_nodes(h, &self, 1);
  printf("node %u: up, incarnation %u\n", id, self.incarnation);
  fflush(stdout);

  int sig;
  sigwait(&stop, &sig);
  return hive_stop(h) == HIVE_OK ? 0 : 1;
}
