/*
 * cluster.h - what node/ calls to join a node to its cluster and leave.
 */
#ifndef HIVE_CLUSTER_PRIVATE_H
#define HIVE_CLUSTER_PRIVATE_H

#include "hive/hive.h"

/* Joins the cluster cfg->cluster_url names (HIVE_OK at once if none):
 * connects, checks that no live node has this node_id (HIVE_EEXIST),
 * announces the node and starts its heartbeat thread. HIVE_ENOCONN if no
 * server answers, HIVE_EINVAL for a bad configuration. */
int hive__cluster_start(hive_t *h, const hive_config_t *cfg);
/* Tells the others this node leaves, sends what is queued, closes the
 * connection and frees everything; after the node's actors have ended. */
void hive__cluster_stop(hive_t *h);

#endif /* HIVE_CLUSTER_PRIVATE_H */
