/*
 * pack.h - msgpack packing helpers that admin/ and gateway/ share: string
 * keys and values, and an actor's statistics as the map hivectl --json
 * prints (docs/admin-protocol.md, "actor").
 */
#ifndef HIVE_UTIL_PACK_H
#define HIVE_UTIL_PACK_H

#include <msgpack.h>

#include "hive/hive.h"

/* A msgpack buffer that remembers a write it could not make (no memory).
 * Packing into it goes on regardless; its owner checks `failed` before
 * using the bytes, rather than send a body with a hole in it. Initialise
 * with hive__pack_buf_init, free with msgpack_sbuffer_destroy(&b->sb). */
typedef struct hive__pack_buf {
  msgpack_sbuffer sb;
  bool failed;
} hive__pack_buf_t;

void hive__pack_buf_init(hive__pack_buf_t *b, msgpack_packer *pk);

void hive__pack_str(msgpack_packer *pk, const char *s);
void hive__pack_key_str(msgpack_packer *pk, const char *key, const char *value);
void hive__pack_key_u64(msgpack_packer *pk, const char *key, uint64_t value);
void hive__pack_key_bool(msgpack_packer *pk, const char *key, bool value);
/* The pid as text ("<0.4.1>"), "" for 0. */
void hive__pack_key_pid(msgpack_packer *pk, const char *key, hive_pid_t pid);

/* The name of a HIVE_ACTOR_* state: "idle", "queued", "running", "exiting". */
const char *hive__actor_state_name(int state);

/* One actor's statistics as a map of 20 pairs; 23 for a process actor
 * (os_pid, rss_bytes, cpu_ns). */
void hive__pack_actor_stats(msgpack_packer *pk, const hive_actor_stats_t *s);

#endif /* HIVE_UTIL_PACK_H */
