/*
 * cluster_node.c - a node for the cluster tests (tests/test_cluster.c), run
 * as a process of its own so that a test can SIGKILL or SIGSTOP it.
 *
 *   cluster_node URL ID [HEARTBEAT_MS NODE_DOWN_MS]
 *
 * It joins the cluster at URL as node ID, spawns one "echo" actor
 * (cluster_actors.h), prints "ready ID INCARNATION ECHO_PID" on stdout and
 * runs until SIGTERM, then stops the node and exits 0. If hive_start fails
 * it prints "start-failed ERROR_NAME" and exits 3.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster_actors.h"

int main(int argc, char **argv) {
  if (argc != 3 && argc != 5) {
    fprintf(stderr, "usage: cluster_node URL ID [HEARTBEAT_MS NODE_DOWN_MS]\n");
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* every thread of the node inherits it */
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.workers = 2;
  cfg.cluster_url = argv[1];
  cfg.node_id = (unsigned)atoi(argv[2]);
  cfg.log_level = HIVE_LOG_WARNING;
  if (argc == 5) {
    cfg.heartbeat_ms = (unsigned)atoi(argv[3]);
    cfg.node_down_ms = (unsigned)atoi(argv[4]);
  }
  hive_t *h;
  int rc = hive_start(&h, &cfg);
  if (rc != HIVE_OK) {
    printf("start-failed %s\n", hive_err_name(rc));
    return 3;
  }
  hive_pid_t echo;
  if (hive_spawn(h, &echo_b, NULL, 0, NULL, &echo) != HIVE_OK)
    return 4;
  printf("ready %u %u %llu\n", cfg.node_id, HIVE_PID_INCARNATION(echo), (unsigned long long)echo);
  fflush(stdout);
  int sig;
  sigwait(&set, &sig);
  return hive_stop(h) == HIVE_OK ? 0 : 5;
}
