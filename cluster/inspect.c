/*
 * inspect.c - a cluster seen from outside: hivectl --cluster URL --node ID
 * asks a node over NATS (P.adm.ID, request and reply), and the cluster's
 * Prometheus families.
 *
 * A request is the admin socket's request body (docs/admin-protocol.md);
 * the reply is what the admin socket would answer (admin/ answers both).
 */
#include <stddef.h>
#include <string.h>

#include "internal.h"
#include "util/pack.h"

void hive__cluster_on_admin(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg) {
  (void)sub;
  cluster_t *c = arg;
  const char *reply = natsMsg_GetReply(m);
  const char *data = natsMsg_GetData(m);
  size_t len = (size_t)natsMsg_GetDataLength(m);
  if (reply != NULL) {
    hive__pack_buf_t out;
    msgpack_packer pk;
    hive__pack_buf_init(&out, &pk);
    const char *error = NULL;
    if (c->h->admin_answer == NULL) {
      error = "this node answers no admin requests";
    } else {
      c->h->admin_answer(c->h, data, len, &pk);
      if (out.failed)
        error = "out of memory";
      else if ((int64_t)out.sb.size > c->max_payload) /* ps of a very large node, say */
        error = "the answer is larger than NATS carries";
    }
    if (error != NULL) {
      out.sb.size = 0;
      out.failed = false;
      msgpack_pack_map(&pk, 2);
      hive__pack_key_bool(&pk, "ok", false);
      hive__pack_key_str(&pk, "error", error);
    }
    if (!out.failed) /* else no answer: hivectl's request times out */
      natsConnection_Publish(nc, reply, out.sb.data, (int)out.sb.size);
    msgpack_sbuffer_destroy(&out.sb);
  }
  natsMsg_Destroy(m);
}

/* ---- Prometheus --------------------------------------------------------------- */

static void inspect_family(FILE *out, const char *name, const char *type, const char *help) {
  fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void hive__cluster_metrics(hive_t *h, FILE *out) {
  cluster_t *c = h->cluster;
  if (c == NULL)
    return;
  hive_node_info_t nodes[CLUSTER_PEERS];
  int n = hive_nodes(h, nodes, CLUSTER_PEERS);
  inspect_family(out, "hive_cluster_nodes", "gauge",
                 "Live nodes of the cluster, this one included.");
  fprintf(out, "hive_cluster_nodes %d\n", n);
  static const struct {
    const char *name, *type, *help;
    size_t offset;
  } per_peer[] = {
      {"hive_cluster_messages_out_total", "counter", "Messages and signals sent to the node.",
       offsetof(hive_node_info_t, msgs_out)},
      {"hive_cluster_bytes_out_total", "counter", "Bytes published to the node.",
       offsetof(hive_node_info_t, bytes_out)},
      {"hive_cluster_messages_in_total", "counter", "Messages and signals received from the node.",
       offsetof(hive_node_info_t, msgs_in)},
      {"hive_cluster_bytes_in_total", "counter", "Bytes received from the node.",
       offsetof(hive_node_info_t, bytes_in)},
      {"hive_cluster_dead_letters_total", "counter",
       "Messages to the node dropped as it was not connected (noconnection).",
       offsetof(hive_node_info_t, dead_letters)},
      {"hive_cluster_node_downs_total", "counter", "Times this node declared the node down.",
       offsetof(hive_node_info_t, downs)},
      {"hive_cluster_heartbeat_age_seconds", "gauge", "Since the node was last heard from.",
       offsetof(hive_node_info_t, heartbeat_age_ms)},
  };
  for (size_t k = 0; k < sizeof(per_peer) / sizeof(per_peer[0]); k++) {
    inspect_family(out, per_peer[k].name, per_peer[k].type, per_peer[k].help);
    for (int i = 1; i < n && i < CLUSTER_PEERS; i++) { /* 0 is this node */
      uint64_t v;
      memcpy(&v, (const char *)&nodes[i] + per_peer[k].offset, sizeof(v));
      fprintf(out, "%s{node=\"%u\",node_name=\"%s\"} ", per_peer[k].name, nodes[i].id,
              nodes[i].name);
      if (strstr(per_peer[k].name, "seconds") != NULL)
        fprintf(out, "%.3f\n", (double)v / 1000.0);
      else
        fprintf(out, "%llu\n", (unsigned long long)v);
    }
  }
  inspect_family(out, "hive_cluster_slow_consumer_drops_total", "counter",
                 "Messages NATS dropped because this node read too slowly.");
  fprintf(out, "hive_cluster_slow_consumer_drops_total %llu\n",
          (unsigned long long)atomic_load(&c->slow_consumer_drops));
  inspect_family(out, "hive_cluster_bad_batches_total", "counter",
                 "Batches from other nodes that were not well formed.");
  fprintf(out, "hive_cluster_bad_batches_total %llu\n",
          (unsigned long long)atomic_load(&c->bad_batches));
}
