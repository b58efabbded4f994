/*
 * fuzz_gateway_stream.c - libFuzzer target for the gateway's framing
 * (hive__gw_split, gateway/frame.c): a client's stream, read in chunks of
 * any sizes, must be cut into exactly the frames a plain reading of the
 * whole stream finds, stop at the first length prefix over max_frame, and
 * never read past a chunk or lose a byte between reads.
 *
 * Input: one byte choosing max_frame (16 to 4096), two seeding the chunk
 * sizes, then the stream. Seeds: tests/fuzz/corpus/gateway_stream.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway.h"

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3)
    return 0;
  size_t max_frame = ((size_t)data[0] + 1) * 16;
  uint32_t seed = (uint32_t)data[1] << 8 | data[2];
  const uint8_t *stream = data + 3;
  size_t len = size - 3;

  /* The plain reading: whole frames up to `whole` bytes, then a part, or a
   * prefix over the limit. */
  size_t whole = 0, frames = 0;
  bool expect_large = false;
  uint32_t large = 0;
  while (whole + 4 <= len) {
    uint32_t n = be32(stream + whole);
    if (n > max_frame) {
      expect_large = true;
      large = n;
      break;
    }
    if (whole + 4 + n > len)
      break;
    whole += 4 + (size_t)n;
    frames++;
  }

  /* The same stream in chunks of 1 to 64 bytes, as reads bring it. */
  gw_framer_t f = {0};
  uint8_t *got = malloc(len > 0 ? len : 1);
  size_t got_len = 0, got_frames = 0;
  bool large_seen = false;
  for (size_t off = 0; off < len && !large_seen;) {
    seed = seed * 1103515245u + 12345u;
    size_t chunk = 1 + (seed >> 16) % 64;
    chunk = chunk < len - off ? chunk : len - off;
    uint8_t *read = malloc(chunk); /* exactly its size: ASan sees any overread */
    memcpy(read, stream + off, chunk);
    off += chunk;
    gw_batch_t batch = {0};
    uint32_t too_large = 0;
    int rc = hive__gw_split(&f, max_frame, read, chunk, &batch, &too_large);
    free(read);
    assert(rc == GW_SPLIT_OK || rc == GW_SPLIT_TOOLARGE);
    assert(got_len + batch.len <= len);
    if (batch.len > 0)
      memcpy(got + got_len, batch.data, batch.len);
    got_len += batch.len;
    got_frames += batch.frames;
    free(batch.data);
    if (rc == GW_SPLIT_TOOLARGE) {
      assert(expect_large && too_large == large);
      large_seen = true;
    }
  }
  assert(large_seen == expect_large);
  assert(got_len == whole && got_frames == frames);
  assert(memcmp(got, stream, whole) == 0);
  /* What is left is held in part, never more than one frame. */
  assert(f.partial == NULL || (f.partial_size <= 4 + max_frame && f.partial_len < f.partial_size));
  hive__gw_framer_free(&f);
  free(got);
  return 0;
}
