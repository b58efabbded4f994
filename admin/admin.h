/*
 * admin.h - the admin layer's private interface: what the admin socket
 * (socket.c), the HTTP endpoint (http.c), the answers they share
 * (query.c) and the Prometheus text (metrics.c) use of each other.
 *
 * admin/ sits on top of the other layers: it reads statistics through the
 * public API and asks supervisors for their children, so it depends on
 * supervisors/, actors/ and runtime/, and nothing depends on it but the
 * node's start and stop (node/).
 */
#ifndef HIVE_ADMIN_H
#define HIVE_ADMIN_H

#include <msgpack.h>

#include "runtime/runtime.h"

/* For node/: starts what cfg asks for, the admin socket and the HTTP
 * endpoint, and sets h->admin_answer; stops both. */
int hive__admin_start(hive_t *h, const hive_config_t *cfg);
void hive__admin_stop(hive_t *h);

int hive__admin_socket_start(hive_t *h, const char *path); /* path NULL: none */
void hive__admin_socket_stop(hive_t *h);
int hive__http_start(hive_t *h, const hive_config_t *cfg); /* no http_listen: none */
void hive__http_stop(hive_t *h);

/* The longest request frame the admin socket reads (replies may be longer). */
#define HIVE__ADMIN_REQUEST_MAX 65536u

/* Every actor's pid, in a new array (*n of them; free it); NULL on no
 * memory. */
hive_pid_t *hive__admin_all_pids(hive_t *h, size_t *n);

/* One admin request (docs/admin-protocol.md), as the socket's msgpack map
 * or the HTTP endpoint's path and query string give it. Strings are
 * borrowed. */
typedef struct hive__admin_query {
  const char *op;     /* ps, stats, kill, tree, node, nodes, metrics */
  const char *target; /* stats, kill: a pid or a registered name */
  const char *sort;   /* ps: an actor field (hive__admin_sort_keys), NULL: by pid */
  bool ascending;     /* ps: the smallest first (by pid: always) */
  size_t offset;      /* ps: actors skipped after sorting and filtering */
  size_t limit;       /* ps: at most this many; 0: all */
  const char *filter; /* ps: only actors whose pid, name or behaviour holds it */
  size_t children;    /* tree: at most this many children a supervisor; 0: all */
} hive__admin_query_t;

/*
 * Answers q into pk: a map with "ok" and, when it is false, "error". The
 * return says why it failed, for the HTTP status: HIVE_OK,
 * HIVE_ENOPROC (no such actor), HIVE_ENOTSUP (nodes on a node in no
 * cluster), HIVE_EINVAL (an unknown op, a bad argument), HIVE_ENOMEM.
 */
int hive__admin_query(hive_t *h, const hive__admin_query_t *q, msgpack_packer *pk);

/* Answers an admin socket request body (a msgpack map) into pk; false if
 * the body is not a request, and the connection must close. */
bool hive__admin_answer(hive_t *h, const void *body, size_t len, msgpack_packer *pk);

#endif /* HIVE_ADMIN_H */
