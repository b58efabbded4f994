/*
 * wire.h - what nodes of a cluster say to each other over NATS, as msgpack
 * (docs/cluster.md, "Wire"): the encoders, and decoders that take any
 * bytes (they are fuzzed: tests/fuzz/fuzz_cluster_wire.c).
 *
 * Subjects, under the cluster's prefix P:
 *   P.hb            heartbeats, every node to every node
 *   P.ctl           leave and "you were declared down" notices
 *   P.join          a starting node's hello; live nodes answer its inbox
 *   P.n.ID.INC      messages and signals for node ID, incarnation INC
 *   P.adm.ID        hivectl --node ID: admin requests (request/reply)
 *
 * A message on P.n.ID.INC is a batch: a head [1, src, src_inc, dst_inc],
 * then envelopes one after the other, each an array:
 *   [0, to, from, ref, tag, flags, data]                  a message
 *   [1, signal, to, from, ref, kind, code, eflags, text]  a signal
 * from 0 in a message is a plain thread of the sending node.
 */
#ifndef HIVE_CLUSTER_WIRE_H
#define HIVE_CLUSTER_WIRE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hive/hive.h"

#define WIRE_VERSION 1
#define WIRE_TEXT_MAX 255 /* a reason's text is cut to this on the wire */

#define WIRE_MESSAGE 0
#define WIRE_SIGNAL 1

/* What P.ctl carries: [kind, node, incarnation]. */
#define WIRE_CTL_LEAVE 1 /* the node stops */
#define WIRE_CTL_DOWN 2  /* the node was declared down: it must rejoin */

typedef struct {
  unsigned src, src_inc, dst_inc;
} wire_head_t;

typedef struct {
  int kind; /* WIRE_MESSAGE or WIRE_SIGNAL */
  int signal;
  hive_pid_t to, from;
  uint64_t ref;
  uint32_t tag, flags;
  const void *data; /* points into the batch */
  size_t len;
  hive_reason_t reason; /* signals: text NULL (see text) */
  uint32_t eflags;
  const char *text; /* points into the batch, text_len bytes, not NUL-terminated */
  size_t text_len;
} wire_env_t;

/* A heartbeat: [1, id, inc, name, started_ms, actors]; also a hello's answer. */
typedef struct {
  unsigned id, inc;
  char name[HIVE_NODE_NAME_MAX + 1];
  uint64_t started_ms, actors;
} wire_hb_t;

/* Walks one batch. */
typedef struct {
  const char *buf;
  size_t len, off;
  msgpack_unpacked un;
} wire_reader_t;

void hive__wire_pack_head(msgpack_packer *pk, const wire_head_t *head);
void hive__wire_pack_env(msgpack_packer *pk, const wire_env_t *env);
void hive__wire_pack_hb(msgpack_packer *pk, const wire_hb_t *hb);
void hive__wire_pack_ctl(msgpack_packer *pk, int kind, unsigned id, unsigned inc);
/* A live node's answer to a hello: [id, inc, seen], seen the incarnation
 * of the hello's node id it knows (up, or last declared down; 0: none). */
void hive__wire_pack_answer(msgpack_packer *pk, unsigned id, unsigned inc, unsigned seen);
/* Bytes an envelope takes at most beyond its data and text. */
#define WIRE_ENV_OVERHEAD 64
#define WIRE_HEAD_MAX 16

/* hive__wire_reader_open reads the head: false if the bytes are no batch. read_env:
 * 1 with *env filled, 0 at the end, -1 for bytes that are no envelope (the
 * rest of the batch is then dropped). Call reader_close once done. */
bool hive__wire_reader_open(wire_reader_t *r, const void *buf, size_t len, wire_head_t *head);
int hive__wire_read_env(wire_reader_t *r, wire_env_t *env);
void hive__wire_reader_close(wire_reader_t *r);

bool hive__wire_read_hb(const void *buf, size_t len, wire_hb_t *hb);
bool hive__wire_read_ctl(const void *buf, size_t len, int *kind, unsigned *id, unsigned *inc);
bool hive__wire_read_answer(const void *buf, size_t len, unsigned *id, unsigned *inc,
                            unsigned *seen);

#endif /* HIVE_CLUSTER_WIRE_H */
