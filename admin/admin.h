/*
 * admin.h - the admin layer's private interface: what the admin socket
 * (admin.c) and the Prometheus text (metrics.c) share.
 *
 * admin/ sits on top of the other layers: it reads statistics through the
 * public API and asks supervisors for their children, so it depends on
 * supervisors/, actors/ and runtime/, and nothing depends on it but the
 * node's start and stop (node/).
 */
#ifndef HIVE_ADMIN_H
#define HIVE_ADMIN_H

#include "runtime/runtime.h"

/* For node/: opens the admin socket at path (NULL: none) and starts its
 * thread; closes it and removes the file. */
int hive__admin_start(hive_t *h, const char *path);
void hive__admin_stop(hive_t *h);

/* The longest request frame the admin socket reads (replies may be longer). */
#define HIVE__ADMIN_REQUEST_MAX 65536u

/* Every actor's pid, in a new array (*n of them; free it); NULL on no
 * memory. */
hive_pid_t *hive__admin_all_pids(hive_t *h, size_t *n);

#endif /* HIVE_ADMIN_H */
