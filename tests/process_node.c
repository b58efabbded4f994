/*
 * process_node.c - a node with three process actors (one spinning in a
 * callback, one asleep in one, one idle), for test_process's check that a
 * node killed with SIGKILL leaves no child behind. Prints the children's
 * OS pids, one a line, then waits for its standard input to end.
 */
#include <hive/hive.h>
#include <stdio.h>
#include <unistd.h>

enum { SPIN = HIVE_TAG_USER, SLEEP };

static int handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state;
  if (msg->tag == SPIN)
    for (volatile unsigned long i = 0;; i++) {
    }
  if (msg->tag == SLEEP)
    sleep(600);
  return HIVE_OK;
}

static const hive_behaviour_t behaviour = {.name = "victim", .handle = handle};

int main(void) {
  hive_t *h;
  if (hive_start(&h, NULL) != HIVE_OK)
    return 1;
  hive_spawn_opts_t o;
  hive_spawn_opts_init(&o);
  o.flags = HIVE_SPAWN_PROCESS;
  for (int i = 0; i < 3; i++) {
    hive_pid_t pid;
    hive_actor_stats_t s;
    if (hive_spawn(h, &behaviour, NULL, 0, &o, &pid) != HIVE_OK ||
        hive_actor_stats(h, pid, &s) != HIVE_OK)
      return 1;
    if (i < 2)
      hive_send(h, pid, i == 0 ? SPIN : SLEEP, NULL, 0);
    printf("%d\n", s.os_pid);
  }
  fflush(stdout);
  char buf[16];
  while (read(STDIN_FILENO, buf, sizeof(buf)) > 0) {
  }
  hive_stop(h);
  return 0;
}
