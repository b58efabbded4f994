/*
 * gateway_actors.h - the actors gateway tests call through a socket, under
 * one supervisor (a crashed one comes back): test_gateway.c starts them in
 * its own node, tests/gateway_node.c in the node the Python tests use.
 *
 *   name      a call's data          its reply
 *   echo      any value              the same bytes
 *   sum       [a, b] (integers)      a + b
 *   slow      ms (integer)           ms, after sleeping that long (blocking pool)
 *   never     anything               none: the caller times out
 *   crash     anything               none: the actor fails (noproc), is restarted
 *   pusher    [pid, n, tag]          n, after sending pid n messages (data 0..n-1)
 *   bytes     anything               a reply that is not msgpack (3 raw bytes)
 */
#ifndef HIVE_TESTS_GATEWAY_ACTORS_H
#define HIVE_TESTS_GATEWAY_ACTORS_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hive/hive.h"

static inline int gwt_echo(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  if (msg->ref != 0)
    hive_reply(ctx, msg, msg->data, msg->len);
  return HIVE_OK;
}

static inline int gwt_sum(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  int64_t a, b;
  uint32_t n;
  if (hive_unpack(msg->data, msg->len, NULL, "aii", &n, &a, &b) != HIVE_OK || n != 2)
    return msg->ref != 0 ? hive_reply(ctx, msg, "\xc0", 1), HIVE_OK : HIVE_OK;
  void *out;
  size_t len;
  if (hive_pack(&out, &len, "i", a + b) == HIVE_OK) {
    hive_reply(ctx, msg, out, len);
    free(out);
  }
  return HIVE_OK;
}

static inline int gwt_slow(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  uint64_t ms = 0;
  hive_unpack(msg->data, msg->len, NULL, "u", &ms);
  struct timespec t = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
  nanosleep(&t, NULL);
  if (msg->ref != 0)
    hive_reply(ctx, msg, msg->data, msg->len);
  return HIVE_OK;
}

static inline int gwt_never(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  return HIVE_OK;
}

static inline int gwt_crash(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  return HIVE_EINVAL; /* ends the actor: its caller gets noproc */
}

static inline int gwt_pusher(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  uint32_t n3;
  uint64_t pid, n, tag;
  if (hive_unpack(msg->data, msg->len, NULL, "auuu", &n3, &pid, &n, &tag) != HIVE_OK || n3 != 3)
    return HIVE_OK;
  for (uint64_t i = 0; i < n; i++) {
    void *out;
    size_t len;
    if (hive_pack(&out, &len, "u", i) == HIVE_OK &&
        hive_send_move(hive_node(ctx), pid, (uint32_t)tag, out, len) != HIVE_OK) {
      free(out); /* a failed move leaves the buffer to us */
      break;     /* the connection is gone */
    }
  }
  if (msg->ref != 0) {
    void *out;
    size_t len;
    if (hive_pack(&out, &len, "u", n) == HIVE_OK) {
      hive_reply(ctx, msg, out, len);
      free(out);
    }
  }
  return HIVE_OK;
}

static inline int gwt_bytes(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  if (msg->ref != 0)
    hive_reply(ctx, msg, "\xc1\x01\x02", 3); /* 0xc1 is never msgpack */
  return HIVE_OK;
}

#define GWT_BEHAVIOUR(fn)                                                                          \
  { .name = #fn, .handle = fn }
static const hive_behaviour_t gwt_behaviours[] = {
    GWT_BEHAVIOUR(gwt_echo),  GWT_BEHAVIOUR(gwt_sum),   GWT_BEHAVIOUR(gwt_slow),
    GWT_BEHAVIOUR(gwt_never), GWT_BEHAVIOUR(gwt_crash), GWT_BEHAVIOUR(gwt_pusher),
    GWT_BEHAVIOUR(gwt_bytes)};
static const char *const gwt_names[] = {"echo", "sum", "slow", "never", "crash", "pusher", "bytes"};
#define GWT_COUNT (sizeof(gwt_names) / sizeof(gwt_names[0]))

/* Starts the test actors under a one_for_one supervisor; its pid. */
static inline int gwt_start(hive_t *h, hive_pid_t *sup) {
  static hive_spawn_opts_t opts[GWT_COUNT];
  hive_child_spec_t children[GWT_COUNT];
  for (size_t i = 0; i < GWT_COUNT; i++) {
    hive_spawn_opts_init(&opts[i]);
    opts[i].name = gwt_names[i];
    if (strcmp(gwt_names[i], "slow") == 0)
      opts[i].flags |= HIVE_SPAWN_BLOCKING;
    hive_child_spec_init(&children[i]);
    children[i].id = gwt_names[i];
    children[i].behaviour = &gwt_behaviours[i];
    children[i].opts = &opts[i];
  }
  hive_sup_spec_t spec;
  hive_sup_spec_init(&spec);
  spec.intensity = 1000000;
  spec.period_s = 1;
  spec.children = children;
  spec.nchildren = GWT_COUNT;
  return hive_sup_start(h, &spec, sup);
}

#endif /* HIVE_TESTS_GATEWAY_ACTORS_H */
