/*
 * fuzz_cluster_wire.c - libFuzzer target for what a node accepts from the
 * others over NATS (cluster/wire.c): a batch (its head, then envelope after
 * envelope), a heartbeat, a control notice, a hello's answer. Every value
 * decoded must lie within the input and its bounds, and an envelope read
 * back from its own encoding must be the same. Seeds:
 * tests/fuzz/corpus/cluster_wire.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "cluster/wire.h"

static void check_roundtrip(const wire_env_t *env) {
  msgpack_sbuffer buf;
  msgpack_sbuffer_init(&buf);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
  hive__wire_pack_head(&pk, &(wire_head_t){.src = 1, .src_inc = 1, .dst_inc = 1});
  hive__wire_pack_env(&pk, env);
  wire_reader_t r;
  wire_head_t head;
  wire_env_t again;
  assert(hive__wire_reader_open(&r, buf.data, buf.size, &head));
  assert(hive__wire_read_env(&r, &again) == 1);
  assert(again.kind == env->kind && again.to == env->to && again.from == env->from &&
         again.ref == env->ref);
  if (env->kind == WIRE_MESSAGE)
    assert(again.tag == env->tag && again.flags == env->flags && again.len == env->len &&
           (env->len == 0 || memcmp(again.data, env->data, env->len) == 0));
  else
    assert(again.signal == env->signal && again.reason.kind == env->reason.kind &&
           again.reason.code == env->reason.code && again.eflags == env->eflags &&
           again.text_len == env->text_len);
  assert(hive__wire_read_env(&r, &again) == 0);
  hive__wire_reader_close(&r);
  msgpack_sbuffer_destroy(&buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *end = data + size;
  wire_reader_t r;
  wire_head_t head;
  if (hive__wire_reader_open(&r, data, size, &head)) {
    assert(head.src >= 1 && head.src <= 255 && head.src_inc >= 1 && head.src_inc <= 255 &&
           head.dst_inc >= 1 && head.dst_inc <= 255);
    wire_env_t env;
    int got;
    while ((got = hive__wire_read_env(&r, &env)) == 1) {
      assert(env.kind == WIRE_MESSAGE || env.kind == WIRE_SIGNAL);
      if (env.len > 0)
        assert((const uint8_t *)env.data >= data && (const uint8_t *)env.data + env.len <= end);
      if (env.text != NULL)
        assert(env.text_len <= WIRE_TEXT_MAX && (const uint8_t *)env.text >= data &&
               (const uint8_t *)env.text + env.text_len <= end);
      if (env.kind == WIRE_SIGNAL)
        assert(env.reason.kind >= 0 && env.reason.kind < HIVE_REASON_KINDS);
      check_roundtrip(&env);
    }
    assert(got == 0 || got == -1);
  }
  hive__wire_reader_close(&r);

  wire_hb_t hb;
  if (hive__wire_read_hb(data, size, &hb))
    assert(hb.id >= 1 && hb.id <= 255 && hb.inc >= 1 && hb.inc <= 255 &&
           strlen(hb.name) <= HIVE_NODE_NAME_MAX);
  int kind;
  unsigned id, inc, seen;
  if (hive__wire_read_ctl(data, size, &kind, &id, &inc))
    assert(id >= 1 && id <= 255 && inc >= 1 && inc <= 255);
  if (hive__wire_read_answer(data, size, &id, &inc, &seen))
    assert(id >= 1 && id <= 255 && inc >= 1 && inc <= 255 && seen <= 255);
  return 0;
}
