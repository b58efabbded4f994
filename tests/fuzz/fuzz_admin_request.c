/*
 * fuzz_admin_request.c - libFuzzer target for the admin request decoder
 * (admin/query.c), which reads what the admin socket and hivectl --node
 * over a cluster receive: any bytes get one well-formed reply (a map whose
 * first key is "ok"), never a crash or a read past the input; a body that
 * is not a request is answered ok=false. Seeds: tests/fuzz/corpus/admin_request.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"

static int idle_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  return HIVE_OK;
}
static const hive_behaviour_t idle_b = {.name = "idle", .handle = idle_handle};

/* One node for the whole run, with an actor to name; a request that kills
 * it gets another. */
static hive_t *node(void) {
  static hive_t *h;
  if (h == NULL) {
    hive_config_t cfg;
    hive_config_init(&cfg);
    cfg.workers = 1;
    cfg.log_level = HIVE_LOG_NONE;
    if (hive_start(&h, &cfg) != HIVE_OK)
      abort();
  }
  if (hive_whereis(h, "idle") == 0) {
    hive_spawn_opts_t opts;
    hive_spawn_opts_init(&opts);
    opts.name = "idle";
    hive_spawn(h, &idle_b, NULL, 0, &opts, &(hive_pid_t){0});
  }
  return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hive_t *h = node();
  msgpack_sbuffer out;
  msgpack_sbuffer_init(&out);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
  uint8_t *body = malloc(size ? size : 1); /* exactly size bytes: ASan sees any overread */
  memcpy(body, data, size);
  bool request = hive__admin_answer(h, body, size, &pk);
  free(body);
  msgpack_unpacked reply;
  msgpack_unpacked_init(&reply);
  size_t off = 0;
  assert(msgpack_unpack_next(&reply, out.data, out.size, &off) == MSGPACK_UNPACK_SUCCESS);
  assert(off == out.size);
  const msgpack_object *o = &reply.data;
  assert(o->type == MSGPACK_OBJECT_MAP && o->via.map.size >= 1);
  const msgpack_object_kv *ok = &o->via.map.ptr[0];
  assert(ok->key.type == MSGPACK_OBJECT_STR && ok->key.via.str.size == 2 &&
         memcmp(ok->key.via.str.ptr, "ok", 2) == 0 && ok->val.type == MSGPACK_OBJECT_BOOLEAN);
  assert(request || !ok->val.via.boolean);
  msgpack_unpacked_destroy(&reply);
  msgpack_sbuffer_destroy(&out);
  return 0;
}
