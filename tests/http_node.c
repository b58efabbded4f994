/*
 * http_node.c - a node with figures that hold still, for the tests that
 * look at the HTTP endpoint from outside (tests/inspector/): a real
 * Prometheus scraping it, a real browser paging through many actors.
 *
 *   http_node [--idle N] [--backlog M]
 *
 * N idle actors (behaviour "idle"), and one actor named "backlog" held
 * inside its handler with exactly M messages queued behind it. Prints
 * "inspector: http://127.0.0.1:PORT/" once serving, and stops the node in
 * order when its standard input closes.
 */
#include <hive/hive.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { TAG_HOLD = HIVE_TAG_USER, TAG_WORK };

static sem_t held, release;

static int noop_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  return HIVE_OK;
}

/* Blocks in its first message until the node is asked to stop. */
static int backlog_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state;
  if (msg->tag == TAG_HOLD) {
    sem_post(&held);
    sem_wait(&release);
  }
  return HIVE_OK;
}

static const hive_behaviour_t idle_b = {.name = "idle", .handle = noop_handle};
static const hive_behaviour_t backlog_b = {.name = "backlog", .handle = backlog_handle};

int main(int argc, char **argv) {
  long idle = 0, backlog = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--idle") == 0)
      idle = atol(argv[i + 1]);
    else if (strcmp(argv[i], "--backlog") == 0)
      backlog = atol(argv[i + 1]);
  }
  sem_init(&held, 0, 0);
  sem_init(&release, 0, 0);
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.http_listen = "127.0.0.1:0";
  cfg.log_level = HIVE_LOG_WARNING;
  cfg.blocking_workers = 1;
  hive_t *h;
  int rc = hive_start(&h, &cfg);
  if (rc != HIVE_OK) {
    fprintf(stderr, "hive_start: %s\n", hive_strerror(rc));
    return 1;
  }
  for (long i = 0; i < idle; i++)
    if ((rc = hive_spawn(h, &idle_b, NULL, 0, NULL, &(hive_pid_t){0})) != HIVE_OK) {
      fprintf(stderr, "hive_spawn: %s\n", hive_strerror(rc));
      return 1;
    }
  /* On the blocking pool: holding it there keeps the workers free. */
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.name = "backlog";
  opts.flags = HIVE_SPAWN_BLOCKING;
  hive_pid_t pid;
  if (hive_spawn(h, &backlog_b, NULL, 0, &opts, &pid) != HIVE_OK ||
      hive_send(h, pid, TAG_HOLD, NULL, 0) != HIVE_OK)
    return 1;
  sem_wait(&held);
  for (long i = 0; i < backlog; i++)
    hive_send(h, pid, TAG_WORK, NULL, 0);
  printf("inspector: http://127.0.0.1:%d/\n", hive_http_port(h));
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof(buf)) > 0) {
  }
  sem_post(&release);
  rc = hive_stop(h);
  printf("stopped: %s\n", hive_strerror(rc));
  return rc == HIVE_OK ? 0 : 1;
}
