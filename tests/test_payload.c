/*
 * test_payload.c - msgpack payloads: round trips of every type, type
 * mismatches, every truncation of a valid payload, hostile headers, and
 * 100 000 random inputs (under ASan in CI: no crash, no wild allocation).
 */
#include <criterion/criterion.h>
#include <hive/hive.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

TestSuite(payload, .timeout = 300);

static void *sample(size_t *len) {
  void *buf;
  cr_assert_eq(hive_pack(&buf, len, "iudtnsbam", (int64_t)-42, (uint64_t)UINT64_MAX, 3.25, 1,
                         "hello", "\x00\x01\x02", (size_t)3, (uint32_t)0, (uint32_t)0),
               HIVE_OK);
  return buf;
}

Test(payload, every_type_round_trips) {
  size_t len;
  void *buf = sample(&len);
  /* with an array of 2 elements and a map of 1 pair */
  void *full;
  size_t full_len;
  cr_assert_eq(hive_pack(&full, &full_len, "iudtnsbaiimsi", (int64_t)-42, (uint64_t)UINT64_MAX,
                         3.25, 1, "hello", "\x00\x01\x02", (size_t)3, (uint32_t)2, (int64_t)7,
                         (int64_t)8, (uint32_t)1, "key", (int64_t)9),
               HIVE_OK);
  int64_t i, e1, e2, v;
  uint64_t u;
  double d;
  bool t;
  const char *s, *k;
  const void *b;
  size_t slen, blen, klen;
  uint32_t n, m;
  size_t where = 99;
  cr_assert_eq(hive_unpack(full, full_len, &where, "iudtnsbaiimsi", &i, &u, &d, &t, &s, &slen, &b,
                           &blen, &n, &e1, &e2, &m, &k, &klen, &v),
               HIVE_OK);
  cr_assert_eq(i, -42);
  cr_assert_eq(u, UINT64_MAX);
  cr_assert_float_eq(d, 3.25, 1e-12);
  cr_assert(t);
  cr_assert_eq(slen, 5);
  cr_assert_arr_eq(s, "hello", 5);
  cr_assert_eq(blen, 3);
  cr_assert_arr_eq(b, "\x00\x01\x02", 3);
  cr_assert_eq(n, 2);
  cr_assert_eq(e1, 7);
  cr_assert_eq(e2, 8);
  cr_assert_eq(m, 1);
  cr_assert_eq(klen, 3);
  cr_assert_arr_eq(k, "key", 3);
  cr_assert_eq(v, 9);
  free(full);
  free(buf);
}

Test(payload, integers_at_their_limits) {
  void *buf;
  size_t len;
  cr_assert_eq(hive_pack(&buf, &len, "iiu", INT64_MIN, INT64_MAX, (uint64_t)0), HIVE_OK);
  int64_t lo, hi;
  uint64_t zero;
  cr_assert_eq(hive_unpack(buf, len, NULL, "iiu", &lo, &hi, &zero), HIVE_OK);
  cr_assert_eq(lo, INT64_MIN);
  cr_assert_eq(hi, INT64_MAX);
  cr_assert_eq(zero, 0);
  uint64_t as_u;
  size_t where;
  cr_assert_eq(hive_unpack(buf, len, &where, "uiu", &as_u, &hi, &zero), HIVE_EPAYLOAD,
               "a negative integer is not a uint64");
  cr_assert_eq(where, 0);
  free(buf);
  cr_assert_eq(hive_pack(&buf, &len, "u", UINT64_MAX), HIVE_OK);
  cr_assert_eq(hive_unpack(buf, len, &where, "i", &lo), HIVE_EPAYLOAD, "too big for int64");
  free(buf);
}

Test(payload, a_type_mismatch_is_an_error_with_its_position) {
  size_t len;
  void *buf = sample(&len);
  int64_t i;
  uint64_t u;
  double d;
  size_t where = 99;
  /* third value is a double, asked as an integer */
  cr_assert_eq(hive_unpack(buf, len, &where, "iui", &i, &u, &i), HIVE_EPAYLOAD);
  cr_assert_eq(where, 2);
  /* too few values asked for: the rest is left over */
  cr_assert_eq(hive_unpack(buf, len, &where, "iud", &i, &u, &d), HIVE_EPAYLOAD);
  cr_assert_eq(where, 3);
  /* more asked for than there is */
  void *one;
  size_t one_len;
  cr_assert_eq(hive_pack(&one, &one_len, "i", (int64_t)1), HIVE_OK);
  cr_assert_eq(hive_unpack(one, one_len, &where, "ii", &i, &i), HIVE_EPAYLOAD);
  cr_assert_eq(where, 1);
  free(one);
  free(buf);
}

Test(payload, every_truncation_is_rejected) {
  size_t len;
  void *buf = sample(&len);
  cr_assert_gt(len, 20);
  for (size_t cut = 0; cut < len; cut++) {
    hive_unpacker_t u;
    size_t where;
    int rc = hive_unpacker_init(&u, buf, cut, &where);
    if (cut == 0) { /* nothing at all is a valid, empty sequence */
      cr_assert_eq(rc, HIVE_OK);
      cr_assert_eq(u.count, 0);
      hive_unpacker_free(&u);
      continue;
    }
    /* A cut may fall between whole values: then the shorter payload is
     * valid but must not match the full format. */
    int64_t i;
    uint64_t uu;
    double d;
    bool t;
    const char *s;
    const void *b;
    size_t sl, bl;
    uint32_t n, m;
    int full =
        hive_unpack(buf, cut, &where, "iudtnsbam", &i, &uu, &d, &t, &s, &sl, &b, &bl, &n, &m);
    cr_assert_eq(full, HIVE_EPAYLOAD, "a payload cut at %zu of %zu bytes was accepted", cut, len);
    if (rc == HIVE_OK)
      hive_unpacker_free(&u);
  }
  free(buf);
}

Test(payload, headers_that_declare_more_than_the_payload_holds) {
  static const unsigned char hostile[][17] = {
      {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01},       /* array32 of 4 billion */
      {0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01}, /* map32 of 4 billion pairs */
      {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},        /* str32 of 4 GiB */
      {0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00},       /* bin32 of 2 GiB */
      {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01},       /* ext32 */
      {0xdc, 0x00, 0x10, 0x01},                   /* array16 of 16, one byte left */
      {0xc1},                                     /* never used */
  };
  static const size_t lens[] = {6, 7, 6, 6, 6, 4, 1};
  for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
    size_t where = 99;
    hive_unpacker_t u;
    cr_assert_eq(hive_unpacker_init(&u, hostile[k], lens[k], &where), HIVE_EPAYLOAD, "case %zu", k);
    cr_assert_eq(where, 0);
  }
  /* 40 nested arrays: deeper than a parser stack should go */
  unsigned char deep[41];
  memset(deep, 0x91, 40);
  deep[40] = 0x01;
  hive_unpacker_t u;
  cr_assert_eq(hive_unpacker_init(&u, deep, sizeof(deep), NULL), HIVE_EPAYLOAD);
}

Test(payload, the_cursor_reads_arrays_of_any_length) {
  void *buf;
  size_t len;
  cr_assert_eq(
      hive_pack(&buf, &len, "aiiis", (uint32_t)3, (int64_t)1, (int64_t)2, (int64_t)3, "end"),
      HIVE_OK);
  hive_unpacker_t u;
  cr_assert_eq(hive_unpacker_init(&u, buf, len, NULL), HIVE_OK);
  cr_assert_eq(u.count, 5);
  uint32_t n;
  cr_assert_eq(hive_unpack_next(&u, "a", &n), HIVE_OK);
  int64_t sum = 0, x;
  for (uint32_t k = 0; k < n; k++) {
    cr_assert_eq(hive_unpack_next(&u, "i", &x), HIVE_OK);
    sum += x;
  }
  cr_assert_eq(sum, 6);
  const char *s;
  size_t sl;
  cr_assert_eq(hive_unpack_next(&u, "s", &s, &sl), HIVE_OK);
  cr_assert_eq(hive_unpack_next(&u, "i", &x), HIVE_EPAYLOAD, "nothing left");
  hive_unpacker_free(&u);
  hive_unpacker_free(&u); /* harmless twice */
  free(buf);
}

Test(payload, random_bytes_never_crash) {
  uint64_t rng = 0x243f6a8885a308d3ull;
  unsigned char bytes[64];
  size_t accepted = 0;
  for (int round = 0; round < 100000; round++) {
    size_t len = 1 + (size_t)(rng % sizeof(bytes));
    for (size_t k = 0; k < len; k++) {
      rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
      bytes[k] = (unsigned char)rng;
      /* Favour the interesting headers: containers and long lengths. */
      if (k == 0 && (rng & 0x300) == 0)
        bytes[0] = (unsigned char)(0xdc + (rng >> 12) % 4);
    }
    hive_unpacker_t u;
    if (hive_unpacker_init(&u, bytes, len, NULL) == HIVE_OK) {
      accepted++;
      int64_t i;
      while (u.pos < u.count && hive_unpack_next(&u, "i", &i) == HIVE_OK) {
      }
      hive_unpacker_free(&u);
    }
  }
  cr_log_info("%zu of 100000 random inputs were valid msgpack", accepted);
  cr_assert_gt(accepted, 0, "the generator should hit some valid inputs too");
}

Test(payload, bad_arguments) {
  void *buf;
  size_t len;
  cr_assert_eq(hive_pack(NULL, &len, "i", (int64_t)1), HIVE_EINVAL);
  cr_assert_eq(hive_pack(&buf, NULL, "i", (int64_t)1), HIVE_EINVAL);
  cr_assert_eq(hive_pack(&buf, &len, NULL), HIVE_EINVAL);
  cr_assert_eq(hive_pack(&buf, &len, "q"), HIVE_EINVAL);
  cr_assert_eq(hive_pack(&buf, &len, "s", (const char *)NULL), HIVE_EINVAL);
  cr_assert_eq(hive_unpack(NULL, 3, NULL, "i"), HIVE_EINVAL);
  cr_assert_eq(hive_unpack_next(NULL, "i"), HIVE_EINVAL);
  cr_assert_eq(hive_pack(&buf, &len, "i", (int64_t)1), HIVE_OK);
  int64_t i;
  cr_assert_eq(hive_unpack(buf, len, NULL, "q", &i), HIVE_EINVAL);
  free(buf);
}

Test(payload, nesting_past_msgpack_cs_limit_is_malformed_not_out_of_memory) {
  unsigned char deep[40];
  for (int depth = 30; depth <= 34; depth++) {
    memset(deep, 0x91, (size_t)depth); /* arrays of one element, nested depth deep */
    deep[depth] = 0x01;
    hive_unpacker_t u;
    int rc = hive_unpacker_init(&u, deep, (size_t)depth + 1, NULL);
    if (depth <= 31) {
      cr_assert_eq(rc, HIVE_OK, "depth %d", depth);
      hive_unpacker_free(&u);
    } else {
      cr_assert_eq(rc, HIVE_EPAYLOAD, "depth %d: %s", depth, hive_err_name(rc));
    }
  }
}
