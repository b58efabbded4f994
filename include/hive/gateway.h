/*
 * gateway.h - the gateway: programs in any language hand work to actors
 * over a TCP or Unix socket (docs/gateway.md has the wire protocol).
 *
 * A node starts it when hive_config_t.gateway_tcp or gateway_unix is set,
 * and hive_stop ends it first: every call still in flight is answered with
 * error "shutdown", then every connection is closed. Each connection is
 * served by an actor of its own (its pid is the "self" the client is told
 * in the welcome frame), a child of the supervisor registered as
 * "hive.gateway", so a connection that fails ends alone.
 */
#ifndef HIVE_GATEWAY_H
#define HIVE_GATEWAY_H

#include "hive/export.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hive hive_t;

/* The error kinds of the protocol, in error frames and in the counters
 * below (hive_gateway_error_name gives the wire name). */
#define HIVE_GW_UNAUTHORIZED 0 /* no good hello yet, or a wrong token */
#define HIVE_GW_BADFRAME 1     /* not msgpack, or not a map: closes */
#define HIVE_GW_TOOLARGE 2     /* a length prefix over max_frame: closes */
#define HIVE_GW_BADARG 3       /* a field missing or of the wrong type */
#define HIVE_GW_UNKNOWNOP 4
#define HIVE_GW_NOPROC 5   /* no such actor, or it ended before replying */
#define HIVE_GW_TIMEOUT 6  /* no reply within timeout_ms */
#define HIVE_GW_FULL 7     /* the actor's bounded mailbox is full */
#define HIVE_GW_BUSY 8     /* gateway_max_inflight calls already in flight */
#define HIVE_GW_SHUTDOWN 9 /* the node is stopping */
#define HIVE_GW_INTERNAL 10
#define HIVE_GW_ERROR_KINDS 11

/* "unauthorized", "badframe", ...; "unknown" for a kind out of range. */
HIVE_API const char *hive_gateway_error_name(int kind);

/* The gateway's counters since hive_start. */
typedef struct hive_gateway_stats {
  bool running;                         /* the node has a gateway */
  uint64_t connections;                 /* open now */
  uint64_t accepted;                    /* connections accepted */
  uint64_t refused;                     /* turned away: gateway_max_conns were open */
  uint64_t frames_in;                   /* frames read from clients */
  uint64_t frames_out;                  /* frames queued for clients */
  uint64_t bytes_in;                    /* bytes read, length prefixes included */
  uint64_t bytes_out;                   /* bytes written */
  uint64_t slow_reader_closes;          /* closed: 8 x max_frame of answers unread */
  uint64_t errors[HIVE_GW_ERROR_KINDS]; /* error frames sent, by kind */
} hive_gateway_stats_t;

/* Fills out; running is false (and every count 0) on a node without a
 * gateway. HIVE_EINVAL for NULL arguments. Any thread. */
HIVE_API int hive_gateway_stats(hive_t *h, hive_gateway_stats_t *out);

/* The TCP port the gateway listens on (the one chosen for port 0), or
 * HIVE_ENOTFOUND when the node has no TCP gateway. */
HIVE_API int hive_gateway_port(hive_t *h);

#ifdef __cplusplus
}
#endif

#endif /* HIVE_GATEWAY_H */
