/*
 * admin.c - the admin layer's start and stop: the admin socket, the HTTP
 * endpoint, and the answers the cluster gives hivectl --node.
 */
#include "admin.h"

/* h->admin_answer: one request answered through a msgpack_packer. */
static bool admin_answer_into(hive_t *h, const void *request, size_t len, void *pk) {
  return hive__admin_answer(h, request, len, pk);
}

int hive__admin_start(hive_t *h, const hive_config_t *cfg) {
  h->admin_answer = admin_answer_into; /* for hivectl --node, over the cluster */
  int rc = hive__admin_socket_start(h, cfg != NULL ? cfg->admin_socket : NULL);
  if (rc == HIVE_OK && (rc = hive__http_start(h, cfg)) != HIVE_OK)
    hive__admin_socket_stop(h);
  return rc;
}

void hive__admin_stop(hive_t *h) {
  hive__http_stop(h); /* first: the page shows the node stopped while the rest goes down */
  hive__admin_socket_stop(h);
}
