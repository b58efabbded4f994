/*
 * gateway_node.c - a node with the gateway and the test actors of
 * gateway_actors.h, for the Python client's tests (clients/python/tests).
 *
 *   gateway_node TOKEN UNIX_PATH [WORKERS]
 *
 * Listens on 127.0.0.1 on a free port and on UNIX_PATH, prints
 * "port=PORT" on a line of its own once it serves, and stops the node
 * (hive_stop: calls in flight answered "shutdown") when its standard
 * input ends or a line "stop" comes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_actors.h"

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s TOKEN UNIX_PATH [WORKERS]\n", argv[0]);
    return 2;
  }
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.gateway_tcp = "127.0.0.1:0";
  cfg.gateway_token = argv[1];
  cfg.gateway_unix = argv[2];
  cfg.workers = argc > 3 ? (unsigned)atoi(argv[3]) : 0;
  cfg.log_level = HIVE_LOG_ERROR;
  hive_t *h;
  int rc = hive_start(&h, &cfg);
  if (rc != HIVE_OK) {
    fprintf(stderr, "hive_start: %s\n", hive_strerror(rc));
    return 1;
  }
  hive_pid_t sup;
  if ((rc = gwt_start(h, &sup)) != HIVE_OK) {
    fprintf(stderr, "test actors: %s\n", hive_strerror(rc));
    hive_stop(h);
    return 1;
  }
  printf("port=%d\n", hive_gateway_port(h));
  fflush(stdout);
  char line[64];
  while (fgets(line, sizeof(line), stdin) != NULL && strcmp(line, "stop\n") != 0) {
  }
  hive_stop(h);
  return 0;
}
