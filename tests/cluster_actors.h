/*
 * cluster_actors.h - the actor a cluster test's remote node runs, and the
 * messages it understands. Payloads are raw fixed-size values: both ends
 * are this test program, on one machine.
 *
 * echo:
 *   a request (any tag)       replies with the request's payload
 *   TAG_ECHO                  sends the payload back to the sender, TAG_ECHO
 *   TAG_SEQ (u64 n)           counts, and notes any n not one more than the
 *                             last from the same sender (order across nodes)
 *   TAG_REPORT (request)      replies {count, out_of_order}
 *   TAG_WATCH (pid)           monitors pid and answers TAG_ACK; its DOWN goes
 *                             back to the sender as TAG_GOT_DOWN {pid, kind}
 *   TAG_LINK (pid)            traps exits, links to pid and answers TAG_ACK;
 *                             an exit signal goes back to the sender as
 *                             TAG_GOT_EXIT {pid, kind}
 *   TAG_STREAM (pid)          sends TAG_SEQ 1, 2, 3 ... to pid, one a millisecond
 *   TAG_BURN (u64 ms)         a new actor spins on a worker that long (load),
 *                             then answers TAG_ACK
 *   TAG_CRASH                 ends with an error
 *   TAG_REGISTER (name, request) registers itself under the global name,
 *                             replies the int32 result
 *   HIVE_TAG_NAME_LOST        prints "name-lost NAME" on stdout
 *   TAG_HOLD (request)        never answered (the reply stays owed); prints
 *                             "held" on stdout
 */
#ifndef HIVE_TEST_CLUSTER_ACTORS_H
#define HIVE_TEST_CLUSTER_ACTORS_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hive/hive.h"

enum {
  TAG_ECHO = HIVE_TAG_USER + 1,
  TAG_SEQ,
  TAG_REPORT,
  TAG_WATCH,
  TAG_GOT_DOWN,
  TAG_LINK,
  TAG_GOT_EXIT,
  TAG_STREAM,
  TAG_TICK,
  TAG_BURN,
  TAG_CRASH,
  TAG_ACK,
  TAG_RELAY,
  TAG_REGISTER,
  TAG_HOLD,
  TAG_ROUND_TRIP, /* a request echo answers by default: only a round trip */
};

typedef struct {
  hive_pid_t pid;
  int32_t kind;
} cluster_event_t;

typedef struct {
  uint64_t count, out_of_order;
} cluster_report_t;

typedef struct {
  uint64_t count, out_of_order, last;
  hive_pid_t last_from;
  hive_pid_t watch_to, link_to; /* who asked */
  hive_pid_t stream_to;
  uint64_t stream_seq;
} echo_state_t;

/* Spins for arg.ms milliseconds, tells arg.notify (TAG_ACK), and ends. */
typedef struct {
  uint64_t ms;
  hive_pid_t notify;
} burn_t;

static inline int burner_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)state;
  return len == sizeof(burn_t)
             ? hive_send(hive_node(ctx), hive_self(ctx), TAG_BURN, arg, sizeof(burn_t))
             : HIVE_EINVAL;
}

static inline int burner_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  burn_t b;
  memcpy(&b, msg->data, sizeof(b));
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do
    clock_gettime(CLOCK_MONOTONIC, &t);
  while ((uint64_t)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000) < b.ms);
  hive_send(hive_node(ctx), b.notify, TAG_ACK, NULL, 0);
  return HIVE_STOP;
}

static const hive_behaviour_t burner_b = {
    .name = "burner", .init = burner_init, .handle = burner_handle};

static inline int echo_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  echo_state_t *s = state;
  hive_t *h = hive_node(ctx);
  hive_pid_t pid = 0;
  if (msg->len == sizeof(pid))
    memcpy(&pid, msg->data, sizeof(pid));
  switch (msg->tag) {
  case HIVE_TAG_DOWN:
  case HIVE_TAG_EXIT: {
    hive_reason_t r;
    cluster_event_t ev = {0};
    hive_exit_info(msg, &ev.pid, &r);
    ev.kind = r.kind;
    hive_pid_t to = msg->tag == HIVE_TAG_DOWN ? s->watch_to : s->link_to;
    hive_send(h, to, msg->tag == HIVE_TAG_DOWN ? TAG_GOT_DOWN : TAG_GOT_EXIT, &ev, sizeof(ev));
    return HIVE_OK;
  }
  case TAG_ECHO:
    hive_send(h, msg->from, TAG_ECHO, msg->data, msg->len);
    return HIVE_OK;
  case HIVE_TAG_NAME_LOST: /* its node rejoined: told on stdout, as its sends no longer go */
    printf("name-lost %.*s\n", (int)msg->len, (const char *)msg->data);
    fflush(stdout);
    return HIVE_OK;
  case TAG_SEQ: {
    uint64_t n;
    if (msg->len != sizeof(n))
      return HIVE_OK;
    memcpy(&n, msg->data, sizeof(n));
    if (msg->from != s->last_from)
      s->last = n - 1;
    if (n != s->last + 1)
      s->out_of_order++;
    s->last = n;
    s->last_from = msg->from;
    s->count++;
    return HIVE_OK;
  }
  case TAG_REPORT: {
    cluster_report_t rep = {s->count, s->out_of_order};
    hive_reply(ctx, msg, &rep, sizeof(rep));
    return HIVE_OK;
  }
  case TAG_WATCH: {
    uint64_t ref;
    s->watch_to = msg->from;
    hive_monitor(ctx, pid, &ref);
    hive_send(h, msg->from, TAG_ACK, NULL, 0);
    return HIVE_OK;
  }
  case TAG_LINK:
    s->link_to = msg->from;
    hive_trap_exit(ctx, true);
    hive_link(ctx, pid);
    hive_send(h, msg->from, TAG_ACK, NULL, 0);
    return HIVE_OK;
  case TAG_STREAM: {
    hive_timer_t timer;
    s->stream_to = pid;
    return hive_send_interval(h, hive_self(ctx), TAG_TICK, NULL, 0, 1, &timer);
  }
  case TAG_TICK:
    s->stream_seq++;
    hive_send(h, s->stream_to, TAG_SEQ, &s->stream_seq, sizeof(s->stream_seq));
    return HIVE_OK;
  case TAG_BURN: {
    burn_t b = {.ms = pid, .notify = msg->from};
    return hive_spawn(h, &burner_b, &b, sizeof(b), NULL, NULL);
  }
  case TAG_CRASH:
    return HIVE_EINVAL;
  case TAG_HOLD:
    printf("held\n"); /* the test waits for it on stdout */
    fflush(stdout);
    return HIVE_OK;
  case TAG_REGISTER: {
    char name[HIVE_NAME_MAX + 1] = {0};
    memcpy(name, msg->data, msg->len < HIVE_NAME_MAX ? msg->len : HIVE_NAME_MAX);
    int32_t rc = hive_register_global(h, name, hive_self(ctx));
    hive_reply(ctx, msg, &rc, sizeof(rc));
    return HIVE_OK;
  }
  default:
    if (msg->ref != 0)
      hive_reply(ctx, msg, msg->data, msg->len);
    return HIVE_OK;
  }
}

static const hive_behaviour_t echo_b = {
    .name = "echo", .state_size = sizeof(echo_state_t), .handle = echo_handle};

#endif /* HIVE_TEST_CLUSTER_ACTORS_H */
