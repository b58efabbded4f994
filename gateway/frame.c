/*
 * frame.c - a client's frames (docs/gateway.md): cutting its stream into
 * frames by their 4-byte big-endian length prefixes, and decoding one.
 *
 * A frame body's bytes are checked to hold exactly one msgpack value
 * before msgpack-c parses them (util/msgpack_span.h), then each field is
 * checked for its type. Unknown keys are ignored, so that newer clients
 * can add fields. The first thing read is the id, so that every later
 * problem can be answered with it. The libFuzzer targets
 * tests/fuzz/fuzz_gateway_stream.c and fuzz_gateway_frame.c call
 * hive__gw_split and hive__gw_decode directly.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "util/msgpack_span.h"

/* ---- the stream ---------------------------------------------------------- */

/* Appends n bytes to the batch. */
static bool batch_add(gw_batch_t *b, const void *p, size_t n) {
  if (b->len + n > b->size) {
    size_t want = b->size > 0 ? b->size : 4096;
    while (want < b->len + n)
      want *= 2;
    unsigned char *grown = realloc(b->data, want);
    if (grown == NULL)
      return false;
    b->data = grown;
    b->size = want;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return true;
}

int hive__gw_split(gw_framer_t *f, size_t max_frame, const unsigned char *p, size_t len,
                   gw_batch_t *batch, uint32_t *too_large) {
  while (len > 0) {
    if (f->partial != NULL) { /* the rest of a frame begun earlier */
      size_t take = f->partial_size - f->partial_len;
      take = take < len ? take : len;
      memcpy(f->partial + f->partial_len, p, take);
      f->partial_len += take;
      p += take;
      len -= take;
      if (f->partial_len < f->partial_size)
        break;
      bool added = batch_add(batch, f->partial, f->partial_size);
      free(f->partial);
      f->partial = NULL;
      if (!added)
        return GW_SPLIT_NOMEM;
      batch->frames++;
      continue;
    }
    while (f->prefix_len < 4 && len > 0) {
      f->prefix[f->prefix_len++] = *p++;
      len--;
    }
    if (f->prefix_len < 4)
      break;
    uint32_t n = (uint32_t)f->prefix[0] << 24 | (uint32_t)f->prefix[1] << 16 |
                 (uint32_t)f->prefix[2] << 8 | f->prefix[3];
    if (n > max_frame) {
      *too_large = n;
      return GW_SPLIT_TOOLARGE;
    }
    f->prefix_len = 0;
    if (len >= n) { /* whole: straight into the batch */
      if (!batch_add(batch, f->prefix, 4) || !batch_add(batch, p, n))
        return GW_SPLIT_NOMEM;
      p += n;
      len -= n;
      batch->frames++;
    } else { /* in part: a buffer of exactly its size */
      f->partial_size = 4 + (size_t)n;
      f->partial = malloc(f->partial_size);
      if (f->partial == NULL)
        return GW_SPLIT_NOMEM;
      memcpy(f->partial, f->prefix, 4);
      memcpy(f->partial + 4, p, len);
      f->partial_len = 4 + len;
      len = 0;
    }
  }
  return GW_SPLIT_OK;
}

void hive__gw_framer_free(gw_framer_t *f) {
  free(f->partial);
  f->partial = NULL;
}

/* ---- a request ----------------------------------------------------------- */

static bool problem(gw_problem_t *p, int kind, const char *detail) {
  p->kind = kind;
  snprintf(p->detail, sizeof(p->detail), "%s", detail);
  return false;
}

static bool key_is(const msgpack_object *key, const char *name) {
  size_t n = strlen(name);
  return key->via.str.size == n && memcmp(key->via.str.ptr, name, n) == 0;
}

static bool str_of(const msgpack_object *o, gw_str_t *out) {
  if (o->type != MSGPACK_OBJECT_STR)
    return false;
  *out = (gw_str_t){.p = o->via.str.ptr, .n = o->via.str.size};
  return true;
}

/* The fields a request may carry; NULL: absent. */
typedef struct {
  const msgpack_object *op, *id, *to, *tag, *data, *timeout_ms, *name, *token, *client;
} fields_t;

static bool fields_of(const msgpack_object *map, fields_t *f, gw_problem_t *p) {
  *f = (fields_t){0};
  for (uint32_t i = 0; i < map->via.map.size; i++) {
    const msgpack_object *key = &map->via.map.ptr[i].key;
    const msgpack_object *value = &map->via.map.ptr[i].val;
    if (key->type != MSGPACK_OBJECT_STR)
      return problem(p, HIVE_GW_BADARG, "every key is a string");
    const msgpack_object **slot = key_is(key, "op")           ? &f->op
                                  : key_is(key, "id")         ? &f->id
                                  : key_is(key, "to")         ? &f->to
                                  : key_is(key, "tag")        ? &f->tag
                                  : key_is(key, "data")       ? &f->data
                                  : key_is(key, "timeout_ms") ? &f->timeout_ms
                                  : key_is(key, "name")       ? &f->name
                                  : key_is(key, "token")      ? &f->token
                                  : key_is(key, "client")     ? &f->client
                                                              : NULL;
    if (slot != NULL)
      *slot = value; /* a repeated key: the last one counts */
  }
  return true;
}

static bool decode_to(const msgpack_object *o, gw_request_t *req, gw_problem_t *p) {
  req->has_to = true;
  if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 != 0) {
    req->to = o->via.u64;
    return true;
  }
  if (str_of(o, &req->to_name) && req->to_name.n > 0 && req->to_name.n <= HIVE_NAME_MAX)
    return true;
  return problem(p, HIVE_GW_BADARG,
                 "to: a pid (a non-zero unsigned integer) or a name (a string "
                 "of 1 to 63 bytes)");
}

static bool decode_op(const fields_t *f, gw_request_t *req, gw_problem_t *p) {
  gw_str_t op;
  if (f->op == NULL)
    return problem(p, HIVE_GW_BADARG, "op: missing");
  if (!str_of(f->op, &op))
    return problem(p, HIVE_GW_BADARG, "op: must be a string");
  static const struct {
    const char *name;
    int op;
  } ops[] = {{"hello", GW_OP_HELLO},
             {"send", GW_OP_SEND},
             {"call", GW_OP_CALL},
             {"whereis", GW_OP_WHEREIS},
             {"stats", GW_OP_STATS}};
  for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
    if (op.n == strlen(ops[i].name) && memcmp(op.p, ops[i].name, op.n) == 0) {
      req->op = ops[i].op;
      return true;
    }
  p->kind = HIVE_GW_UNKNOWNOP;
  snprintf(p->detail, sizeof(p->detail), "unknown op '%.*s'", (int)(op.n < 32 ? op.n : 32), op.p);
  return false;
}

bool hive__gw_decode(const void *body, size_t len, msgpack_unpacked *unpacked, gw_request_t *req,
                     gw_problem_t *p) {
  *req = (gw_request_t){.op = -1, .tag = HIVE_TAG_USER, .timeout_ms = -1};
  *p = (gw_problem_t){.kind = -1};
  if (hive__msgpack_span(body, len) != len)
    return problem(p, HIVE_GW_BADFRAME, "a frame holds one msgpack value");
  size_t off = 0;
  if (msgpack_unpack_next(unpacked, body, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len)
    return problem(p, HIVE_GW_BADFRAME, "a frame holds one msgpack value");
  const msgpack_object *map = &unpacked->data;
  if (map->type != MSGPACK_OBJECT_MAP)
    return problem(p, HIVE_GW_BADFRAME, "a frame holds a msgpack map");
  fields_t f;
  if (!fields_of(map, &f, p))
    return false;

  if (f.id != NULL) {
    if (f.id->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
      return problem(p, HIVE_GW_BADARG, "id: must be an unsigned integer");
    req->has_id = true;
    req->id = f.id->via.u64;
  }
  if (!decode_op(&f, req, p))
    return false;
  if (f.to != NULL && !decode_to(f.to, req, p))
    return false;
  if (f.tag != NULL) {
    if (f.tag->type != MSGPACK_OBJECT_POSITIVE_INTEGER || f.tag->via.u64 < HIVE_TAG_USER ||
        f.tag->via.u64 > UINT32_MAX)
      return problem(p, HIVE_GW_BADARG, "tag: an integer from 64 to 4294967295");
    req->tag = (uint32_t)f.tag->via.u64;
  }
  if (f.timeout_ms != NULL) {
    if (f.timeout_ms->type != MSGPACK_OBJECT_POSITIVE_INTEGER || f.timeout_ms->via.u64 > INT_MAX)
      return problem(p, HIVE_GW_BADARG, "timeout_ms: an integer from 0 to 2147483647");
    req->timeout_ms = (int64_t)f.timeout_ms->via.u64;
  }
  if (f.name != NULL && !str_of(f.name, &req->name))
    return problem(p, HIVE_GW_BADARG, "name: must be a string");
  if (f.token != NULL && !str_of(f.token, &req->token))
    return problem(p, HIVE_GW_BADARG, "token: must be a string");
  if (f.client != NULL && !str_of(f.client, &req->client))
    return problem(p, HIVE_GW_BADARG, "client: must be a string");
  req->data = f.data;

  /* What each op needs. */
  bool needs_id = req->op == GW_OP_CALL || req->op == GW_OP_WHEREIS || req->op == GW_OP_STATS;
  bool needs_to = req->op == GW_OP_SEND || req->op == GW_OP_CALL || req->op == GW_OP_STATS;
  if (needs_id && !req->has_id)
    return problem(p, HIVE_GW_BADARG, "id: missing");
  if (needs_to && !req->has_to)
    return problem(p, HIVE_GW_BADARG, "to: missing");
  if (req->op == GW_OP_WHEREIS && f.name == NULL)
    return problem(p, HIVE_GW_BADARG, "name: missing");
  return true;
}
