/*
 * fuzz_gateway_frame.c - libFuzzer target for the gateway's frame decoder
 * (gateway/frame.c): any bytes as a frame body must decode to a request or
 * to a problem with an error kind, without a crash, a leak, or a read past
 * the input. Seeds: tests/fuzz/corpus/gateway_frame (one file a frame body).
 *
 *   build-fuzz/fuzz_gateway_frame -max_total_time=60 NEW_DIR tests/fuzz/corpus/gateway_frame
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A copy of exactly size bytes, so that ASan catches any read past it. */
  uint8_t *body = malloc(size > 0 ? size : 1);
  memcpy(body, data, size);
  msgpack_unpacked unpacked;
  msgpack_unpacked_init(&unpacked);
  gw_request_t req;
  gw_problem_t problem;
  if (hive__gw_decode(body, size, &unpacked, &req, &problem)) {
    assert(req.op >= GW_OP_HELLO && req.op <= GW_OP_STATS);
    assert(req.to_name.n <= HIVE_NAME_MAX);
    if (req.op == GW_OP_CALL)
      assert(req.has_id && req.has_to);
  } else {
    assert(problem.kind >= 0 && problem.kind < HIVE_GW_ERROR_KINDS);
    assert(memchr(problem.detail, '\0', sizeof(problem.detail)) != NULL);
  }
  msgpack_unpacked_destroy(&unpacked);
  free(body);
  return 0;
}
