/*
 * isolate.c - process actors: failures no thread could survive, each
 * ending one actor while the node and the actor beside it go on.
 *
 *   build/isolate
 *
 * A supervisor runs "worker", an actor in an OS process of its own
 * (HIVE_SPAWN_PROCESS, with a memory limit), beside "counter", an ordinary
 * actor. The worker is made to fail four ways, and the supervisor restarts
 * it each time:
 *   (a) it loops forever without a checkpoint, and is killed from outside;
 *   (b) it segfaults;
 *   (c) it allocates past its memory limit;
 *   (d) it corrupts its own heap (a double free: glibc aborts it).
 * After each, "counter" still counts: nothing of the node was touched.
 */
#include <hive/hive.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SPIN = HIVE_TAG_USER, SEGV, HOG, CORRUPT, PING };

static int *volatile nowhere = (int *)(uintptr_t)16;

/* The worker: a static behaviour, as a process actor's must be. */
static int worker_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  switch (msg->tag) {
  case SPIN: /* no hive_checkpoint: only a process actor can be stopped here */
    for (volatile unsigned long i = 0;; i++) {
    }
  case SEGV:
    *nowhere = 1;
    break;
  case HOG:
    for (;;) { /* 1 MiB at a time until malloc says no, then careless code */
      char *p = malloc(1 << 20);
      memset(p, 1, 1 << 20);
    }
  case CORRUPT: {
    char *volatile p = malloc(64);
    free(p);
    free(p); /* the heap is broken: glibc aborts */
    break;
  }
  default:
    if (msg->ref != 0)
      hive_reply(ctx, msg, "pong", 4);
  }
  return HIVE_OK;
}
static const hive_behaviour_t worker = {.name = "worker", .handle = worker_handle};

/* The ordinary actor beside it: counts pings. */
static int counter_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  int *count = state;
  if (msg->ref != 0) {
    ++*count;
    hive_reply(ctx, msg, count, sizeof(*count));
  }
  return HIVE_OK;
}
static const hive_behaviour_t counter = {
    .name = "counter", .state_size = sizeof(int), .handle = counter_handle};

/* Waits for the worker's next incarnation and shows it answers. */
static hive_pid_t worker_up(hive_t *h, hive_pid_t old) {
  hive_pid_t pid;
  while ((pid = hive_whereis(h, "worker")) == 0 || pid == old) {
  }
  void *reply;
  size_t len;
  if (hive_ask(h, pid, PING, NULL, 0, 5000, &reply, &len) == HIVE_OK)
    free(reply);
  return pid;
}

static void show(hive_t *h, const char *what, hive_pid_t worker_pid) {
  hive_actor_stats_t s;
  hive_actor_stats(h, worker_pid, &s);
  void *reply;
  size_t len;
  int count = -1;
  if (hive_ask(h, hive_whereis(h, "counter"), PING, NULL, 0, 5000, &reply, &len) == HIVE_OK) {
    memcpy(&count, reply, sizeof(count));
    free(reply);
  }
  char pid[HIVE_PID_STRLEN];
  printf("%-42s worker %s (os pid %d, restarts %llu); counter still counting: %d\n", what,
         hive_pid_format(worker_pid, pid, sizeof(pid)), s.os_pid, (unsigned long long)s.restarts,
         count);
}

/* Logs each crash report, which says why the worker ended. */
static void log_line(void *user, int level, const char *line) {
  (void)user, (void)level;
  if (strstr(line, "worker") != NULL)
    printf("  log: %s\n", line);
}

int main(void) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.log_fn = log_line;
  hive_t *h;
  if (hive_start(&h, &cfg) != HIVE_OK)
    return 1;
  static hive_spawn_opts_t worker_opts, counter_opts;
  hive_spawn_opts_init(&worker_opts);
  worker_opts.flags = HIVE_SPAWN_PROCESS;
  worker_opts.limits.mem_bytes = 256u << 20; /* address space */
  worker_opts.name = "worker";
  hive_spawn_opts_init(&counter_opts);
  counter_opts.name = "counter";
  hive_child_spec_t children[2];
  hive_child_spec_init(&children[0]);
  children[0].id = "worker";
  children[0].behaviour = &worker;
  children[0].opts = &worker_opts;
  hive_child_spec_init(&children[1]);
  children[1].id = "counter";
  children[1].behaviour = &counter;
  children[1].opts = &counter_opts;
  hive_sup_spec_t spec;
  hive_sup_spec_init(&spec);
  spec.intensity = 10;
  spec.children = children;
  spec.nchildren = 2;
  hive_pid_t sup;
  if (hive_sup_start(h, &spec, &sup) != HIVE_OK)
    return 1;

  hive_pid_t w = worker_up(h, 0);
  show(h, "started:", w);
  hive_send(h, w, SPIN, NULL, 0);
  hive_kill(h, w); /* (a) it never checks: its process is killed */
  show(h, "(a) killed while looping without checks:", w = worker_up(h, w));
  hive_send(h, w, SEGV, NULL, 0); /* (b) */
  show(h, "(b) segfaulted:", w = worker_up(h, w));
  hive_send(h, w, HOG, NULL, 0); /* (c) */
  show(h, "(c) allocated past its memory limit:", w = worker_up(h, w));
  hive_send(h, w, CORRUPT, NULL, 0); /* (d) */
  show(h, "(d) corrupted its own heap:", w = worker_up(h, w));
  hive_stop(h);
  printf("node stopped cleanly\n");
  return 0;
}
