/*
 * counter_ask.c - a counter actor that main queries with hive_ask.
 *
 * Shows: requests and replies from a plain thread, msgpack payloads, a
 * deferred reply (the counter answers a "slow" read later, from a timer),
 * and what a timeout looks like to the asker.
 */
#include <hive/hive.h>
#include <stdio.h>
#include <stdlib.h>

enum { TAG_ADD = HIVE_TAG_USER, TAG_GET, TAG_GET_SLOWLY, TAG_WAKE };

struct counter {
  int64_t value;
  hive_msg_t waiting; /* a slow read's request, answered later */
};

static int counter_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  struct counter *c = state;
  int64_t amount;
  void *reply;
  size_t len;
  switch (msg->tag) {
  case TAG_ADD: /* payload: one msgpack integer */
    if (hive_unpack(msg->data, msg->len, NULL, "i", &amount) != HIVE_OK)
      return HIVE_OK; /* ignore malformed input: the sender is not our problem */
    c->value += amount;
    return HIVE_OK;
  case TAG_GET:
    if (hive_pack(&reply, &len, "i", c->value) != HIVE_OK)
      return HIVE_ENOMEM;
    hive_reply(ctx, msg, reply, len);
    free(reply);
    return HIVE_OK;
  case TAG_GET_SLOWLY: /* keep the request; answer in 500 ms */
    c->waiting = *msg;
    return hive_send_after(hive_node(ctx), hive_self(ctx), TAG_WAKE, NULL, 0, 500,
                           &(hive_timer_t){0});
  case TAG_WAKE:
    if (hive_pack(&reply, &len, "i", c->value) != HIVE_OK)
      return HIVE_ENOMEM;
    hive_reply(ctx, &c->waiting, reply, len); /* late: the asker gave up */
    free(reply);
    return HIVE_OK;
  }
  return HIVE_OK;
}

static const hive_behaviour_t counter_b = {
    .name = "counter", .state_size = sizeof(struct counter), .handle = counter_handle};

/* Asks for the value and prints what happened. */
static void ask_value(hive_t *node, hive_pid_t counter, uint32_t tag, int timeout_ms) {
  void *reply;
  size_t len;
  int64_t value;
  int rc = hive_ask(node, counter, tag, NULL, 0, timeout_ms, &reply, &len);
  if (rc == HIVE_OK && hive_unpack(reply, len, NULL, "i", &value) == HIVE_OK)
    printf("counter = %lld\n", (long long)value);
  else
    printf("no answer within %d ms: %s\n", timeout_ms, hive_strerror(rc));
  if (rc == HIVE_OK)
    free(reply);
}

int main(void) {
  hive_t *node;
  hive_pid_t counter;
  if (hive_start(&node, NULL) != HIVE_OK ||
      hive_spawn(node, &counter_b, NULL, 0, NULL, &counter) != HIVE_OK)
    return 1;
  for (int64_t i = 1; i <= 10; i++) {
    void *buf;
    size_t len;
    if (hive_pack(&buf, &len, "i", i) == HIVE_OK)
      hive_send_move(node, counter, TAG_ADD, buf, len); /* hive frees buf */
  }
  ask_value(node, counter, TAG_GET, 1000);       /* counter = 55 */
  ask_value(node, counter, TAG_GET_SLOWLY, 100); /* times out */
  return hive_stop(node) == HIVE_OK ? 0 : 1;
}
