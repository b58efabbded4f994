/*
 * fuzz_payload.c - libFuzzer target for the payload decoder
 * (util/payload.c): any bytes given to hive_unpack with any format must
 * give HIVE_OK or HIVE_EPAYLOAD, never a crash, a huge allocation or a read
 * past the input. The first byte picks the format. Seeds:
 * tests/fuzz/corpus/payload.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hive/hive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const formats[] = {"i",   "u",   "s",  "b",  "aii",
                                        "mss", "msu", "ad", "tn", "auuu"};
  if (size == 0)
    return 0;
  const char *fmt = formats[data[0] % (sizeof(formats) / sizeof(formats[0]))];
  uint8_t *body = malloc(size - 1 > 0 ? size - 1 : 1);
  memcpy(body, data + 1, size - 1);
  /* Walk whatever is there, value by value, as a reader of unknown input would. */
  hive_unpacker_t u;
  size_t where;
  if (hive_unpacker_init(&u, body, size - 1, &where) == HIVE_OK) {
    assert(u.count > 0 || size == 1);
    uint64_t n;
    int64_t i;
    const char *s;
    size_t len;
    double d;
    bool t;
    uint32_t count;
    while (u.pos < u.count) {
      size_t before = u.pos;
      if (hive_unpack_next(&u, "u", &n) != HIVE_OK && hive_unpack_next(&u, "i", &i) != HIVE_OK &&
          hive_unpack_next(&u, "s", &s, &len) != HIVE_OK &&
          hive_unpack_next(&u, "b", &s, &len) != HIVE_OK &&
          hive_unpack_next(&u, "d", &d) != HIVE_OK && hive_unpack_next(&u, "t", &t) != HIVE_OK &&
          hive_unpack_next(&u, "a", &count) != HIVE_OK &&
          hive_unpack_next(&u, "m", &count) != HIVE_OK && hive_unpack_next(&u, "n") != HIVE_OK)
        break; /* a type none of these reads (ext): fine */
      assert(u.pos == before + 1);
    }
    hive_unpacker_free(&u);
  }
  /* And one whole-payload read with a fixed format. */
  int64_t a, b;
  uint64_t x, y, z;
  const char *s1, *s2;
  size_t l1, l2;
  uint32_t c;
  double d;
  bool t;
  int rc;
  switch (data[0] % 10) {
  case 0:
    rc = hive_unpack(body, size - 1, NULL, "i", &a);
    break;
  case 1:
    rc = hive_unpack(body, size - 1, NULL, "u", &x);
    break;
  case 2:
    rc = hive_unpack(body, size - 1, NULL, "s", &s1, &l1);
    break;
  case 3:
    rc = hive_unpack(body, size - 1, NULL, "b", &s1, &l1);
    break;
  case 4:
    rc = hive_unpack(body, size - 1, NULL, "aii", &c, &a, &b);
    break;
  case 5:
    rc = hive_unpack(body, size - 1, NULL, "mss", &c, &s1, &l1, &s2, &l2);
    break;
  case 6:
    rc = hive_unpack(body, size - 1, NULL, "msu", &c, &s1, &l1, &x);
    break;
  case 7:
    rc = hive_unpack(body, size - 1, NULL, "ad", &c, &d);
    break;
  case 8:
    rc = hive_unpack(body, size - 1, NULL, "tn", &t);
    break;
  default:
    rc = hive_unpack(body, size - 1, NULL, "auuu", &c, &x, &y, &z);
    break;
  }
  assert(rc == HIVE_OK || rc == HIVE_EPAYLOAD);
  (void)fmt;
  free(body);
  return 0;
}
