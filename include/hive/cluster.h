/*
 * cluster.h - nodes joined over NATS (docs/cluster.md).
 *
 * A node started with hive_config_t.cluster_url joins the cluster named
 * cluster_name through the NATS servers listed there. From then on every
 * call that takes a pid takes another node's pid too: hive_send, hive_ask,
 * hive_request, hive_reply, hive_link, hive_monitor, hive_exit, hive_kill.
 * The pid's node part routes the message. Per sender and receiver, order
 * holds across nodes; delivery stays at most once.
 *
 * Failure, as Erlang defines it: a node whose heartbeats stop for
 * node_down_ms (or that leaves, or restarts) is down for every node; links
 * to its actors deliver exit signals and monitors DOWN, with reason
 * HIVE_REASON_NOCONNECTION, and nothing it sent is delivered after that.
 * A pid carries its node's incarnation (the top 8 bits of its generation),
 * so a pid of an earlier run of a node is a dead letter, never a new actor.
 * A node that finds it was declared down (it was stopped, or cut off)
 * declares every other node down and rejoins as a new incarnation: the
 * pids of its actors from before are then dead to the rest of the cluster.
 *
 * Errors of note: HIVE_ENOCONN (the pid's node is not connected: counted
 * as a dead letter with reason noconnection), HIVE_ETOOBIG (a message
 * larger than the NATS servers carry, refused whole), HIVE_ENOMEM (no
 * memory to batch it, or to record the link, monitor or request it sets
 * up; nothing was sent), HIVE_EEXIST from hive_start (a live node has
 * this node_id).
 */
#ifndef HIVE_CLUSTER_H
#define HIVE_CLUSTER_H

#include "hive/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hive hive_t;
typedef struct hive_ctx hive_ctx_t;
typedef struct hive_msg hive_msg_t;

/* A node monitored with hive_monitor_node went down: a message with this
 * tag, the monitor's ref, from 0; hive_nodedown_info reads it. */
#define HIVE_TAG_NODEDOWN 7

/* This node rejoined the cluster (it had been declared down), and the
 * actor lost the global name it held, its pid being of the old
 * incarnation: a message with this tag, from 0, the name as payload (no
 * NUL). Whoever registered the name meanwhile keeps it. */
#define HIVE_TAG_NAME_LOST 8

/* The incarnation of the node a pid belongs to (1..255; 0 for a node in
 * no cluster). */
#define HIVE_PID_INCARNATION(pid) ((unsigned)(((pid) >> 24) & 0xffu))

#define HIVE_NODE_NAME_MAX 63

/* One node of the cluster, as this node sees it. */
typedef struct hive_node_info {
  unsigned id;                       /* 1..255 */
  unsigned incarnation;              /* 1..255: changes when it restarts or rejoins */
  char name[HIVE_NODE_NAME_MAX + 1]; /* node_name */
  bool self;                         /* this node */
  uint64_t started_ms;               /* when it started (Unix time, ms) */
  uint64_t heartbeat_age_ms;         /* since this node last heard from it (0: self) */
  uint64_t actors;                   /* live actors, as its last heartbeat said */
  uint64_t msgs_out, bytes_out;      /* sent to it by this node */
  uint64_t msgs_in, bytes_in;        /* received from it */
  uint64_t dead_letters;             /* to it while it was not connected (noconnection) */
  uint64_t downs;                    /* times this node declared it down */
} hive_node_info_t;

/* Fills out with up to max live nodes, this node first, and returns how
 * many there are (which may be more than max); HIVE_ENOTSUP on a node in no
 * cluster, HIVE_EINVAL for bad arguments. Any thread. */
HIVE_API int hive_nodes(hive_t *h, hive_node_info_t *out, size_t max);

/* Actor only. Delivers HIVE_TAG_NODEDOWN (with *ref) when node_id goes
 * down, at once if it is not connected now. One message per monitor.
 * HIVE_ENOTSUP in no cluster, HIVE_EINVAL for a bad id. */
HIVE_API int hive_monitor_node(hive_ctx_t *ctx, unsigned node_id, uint64_t *ref);
/* Actor only. Removes a node monitor; HIVE_ENOTFOUND if it fired already. */
HIVE_API int hive_demonitor_node(hive_ctx_t *ctx, uint64_t ref);
/* Reads a HIVE_TAG_NODEDOWN message: which node and incarnation went down. */
HIVE_API int hive_nodedown_info(const hive_msg_t *msg, unsigned *node_id, unsigned *incarnation);

/*
 * Global names: one owner per name across the cluster, kept in a JetStream
 * key-value bucket (the NATS servers must run JetStream: nats-server -js;
 * else these return HIVE_ENOTSUP). Names are 1..HIVE_NAME_MAX characters
 * of [A-Za-z0-9_-/=.], not starting or ending with '.'. Each call is a
 * round trip to a NATS server (call them from plain threads or blocking
 * actors when latency matters). A name is released when its actor ends,
 * and at once when its node goes down.
 */
/* HIVE_EEXIST if a live actor holds it (another than pid); HIVE_ENOPROC if
 * pid is not alive (here) or its node is not connected. */
HIVE_API int hive_register_global(hive_t *h, const char *name, hive_pid_t pid);
/* HIVE_ENOTFOUND if no one holds it. */
HIVE_API int hive_unregister_global(hive_t *h, const char *name);
/* The holder's pid in *pid; HIVE_ENOTFOUND if none (or its node is down). */
HIVE_API int hive_whereis_global(hive_t *h, const char *name, hive_pid_t *pid);

#ifdef __cplusplus
}
#endif

#endif /* HIVE_CLUSTER_H */
