/*
 * wire.c - the cluster's messages as msgpack (wire.h has the shapes).
 *
 * The decoders take bytes from the network: every value is checked with
 * hive__msgpack_span before msgpack-c parses it (no container may claim
 * more elements than the bytes hold), and every field's type and range
 * before it is used. A bad batch ends at the first bad envelope.
 */
#include <string.h>

#include "util/msgpack_span.h"
#include "wire.h"

void hive__wire_pack_head(msgpack_packer *pk, const wire_head_t *head) {
  msgpack_pack_array(pk, 4);
  msgpack_pack_unsigned_int(pk, WIRE_VERSION);
  msgpack_pack_unsigned_int(pk, head->src);
  msgpack_pack_unsigned_int(pk, head->src_inc);
  msgpack_pack_unsigned_int(pk, head->dst_inc);
}

void hive__wire_pack_env(msgpack_packer *pk, const wire_env_t *env) {
  if (env->kind == WIRE_MESSAGE) {
    msgpack_pack_array(pk, 7);
    msgpack_pack_unsigned_int(pk, WIRE_MESSAGE);
    msgpack_pack_uint64(pk, env->to);
    msgpack_pack_uint64(pk, env->from);
    msgpack_pack_uint64(pk, env->ref);
    msgpack_pack_uint32(pk, env->tag);
    msgpack_pack_uint32(pk, env->flags);
    msgpack_pack_bin_with_body(pk, env->data, env->len);
    return;
  }
  msgpack_pack_array(pk, 9);
  msgpack_pack_unsigned_int(pk, WIRE_SIGNAL);
  msgpack_pack_int(pk, env->signal);
  msgpack_pack_uint64(pk, env->to);
  msgpack_pack_uint64(pk, env->from);
  msgpack_pack_uint64(pk, env->ref);
  msgpack_pack_int(pk, env->reason.kind);
  msgpack_pack_int(pk, env->reason.code);
  msgpack_pack_uint32(pk, env->eflags);
  if (env->text != NULL)
    msgpack_pack_str_with_body(pk, env->text, env->text_len);
  else
    msgpack_pack_nil(pk);
}

void hive__wire_pack_hb(msgpack_packer *pk, const wire_hb_t *hb) {
  msgpack_pack_array(pk, 6);
  msgpack_pack_unsigned_int(pk, WIRE_VERSION);
  msgpack_pack_unsigned_int(pk, hb->id);
  msgpack_pack_unsigned_int(pk, hb->inc);
  msgpack_pack_str_with_body(pk, hb->name, strlen(hb->name));
  msgpack_pack_uint64(pk, hb->started_ms);
  msgpack_pack_uint64(pk, hb->actors);
}

void hive__wire_pack_ctl(msgpack_packer *pk, int kind, unsigned id, unsigned inc) {
  msgpack_pack_array(pk, 3);
  msgpack_pack_int(pk, kind);
  msgpack_pack_unsigned_int(pk, id);
  msgpack_pack_unsigned_int(pk, inc);
}

void hive__wire_pack_answer(msgpack_packer *pk, unsigned id, unsigned inc, unsigned seen) {
  msgpack_pack_array(pk, 3);
  msgpack_pack_unsigned_int(pk, id);
  msgpack_pack_unsigned_int(pk, inc);
  msgpack_pack_unsigned_int(pk, seen);
}

/* ---- decoding ----------------------------------------------------------- */

static bool wire_u64(const msgpack_object *o, uint64_t *out) {
  if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
    return false;
  *out = o->via.u64;
  return true;
}

static bool wire_uint(const msgpack_object *o, uint64_t max, unsigned *out) {
  uint64_t v;
  if (!wire_u64(o, &v) || v > max)
    return false;
  *out = (unsigned)v;
  return true;
}

static bool wire_int(const msgpack_object *o, int *out) {
  if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT32_MAX)
    *out = (int)o->via.u64;
  else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 >= INT32_MIN)
    *out = (int)o->via.i64;
  else
    return false;
  return true;
}

/* The next value of r as an array (its size in *n), or NULL. */
static const msgpack_object *wire_next_array(wire_reader_t *r, uint32_t *n) {
  if (r->off >= r->len)
    return NULL;
  size_t span = hive__msgpack_span(r->buf + r->off, r->len - r->off);
  if (span == 0)
    return NULL;
  size_t off = 0;
  if (msgpack_unpack_next(&r->un, r->buf + r->off, span, &off) != MSGPACK_UNPACK_SUCCESS ||
      off != span)
    return NULL;
  r->off += span;
  const msgpack_object *o = &r->un.data;
  if (o->type != MSGPACK_OBJECT_ARRAY)
    return NULL;
  *n = o->via.array.size;
  return o->via.array.ptr;
}

bool hive__wire_reader_open(wire_reader_t *r, const void *buf, size_t len, wire_head_t *head) {
  r->buf = buf;
  r->len = len;
  r->off = 0;
  msgpack_unpacked_init(&r->un);
  uint32_t n;
  const msgpack_object *a = wire_next_array(r, &n);
  unsigned version;
  return a != NULL && n == 4 && wire_uint(&a[0], UINT32_MAX, &version) && version == WIRE_VERSION &&
         wire_uint(&a[1], 255, &head->src) && head->src > 0 &&
         wire_uint(&a[2], 255, &head->src_inc) && head->src_inc > 0 &&
         wire_uint(&a[3], 255, &head->dst_inc) && head->dst_inc > 0;
}

void hive__wire_reader_close(wire_reader_t *r) {
  msgpack_unpacked_destroy(&r->un);
}

static bool wire_read_message(const msgpack_object *a, wire_env_t *env) {
  uint64_t tag, flags;
  if (!wire_u64(&a[1], &env->to) || !wire_u64(&a[2], &env->from) || !wire_u64(&a[3], &env->ref) ||
      !wire_u64(&a[4], &tag) || tag > UINT32_MAX || !wire_u64(&a[5], &flags) ||
      flags > UINT32_MAX || a[6].type != MSGPACK_OBJECT_BIN)
    return false;
  env->tag = (uint32_t)tag;
  env->flags = (uint32_t)flags;
  env->data = a[6].via.bin.ptr;
  env->len = a[6].via.bin.size;
  return true;
}

static bool wire_read_signal(const msgpack_object *a, wire_env_t *env) {
  uint64_t eflags;
  if (!wire_int(&a[1], &env->signal) || !wire_u64(&a[2], &env->to) ||
      !wire_u64(&a[3], &env->from) || !wire_u64(&a[4], &env->ref) ||
      !wire_int(&a[5], &env->reason.kind) || env->reason.kind < 0 ||
      env->reason.kind >= HIVE_REASON_KINDS || !wire_int(&a[6], &env->reason.code) ||
      !wire_u64(&a[7], &eflags) || eflags > UINT32_MAX)
    return false;
  env->eflags = (uint32_t)eflags;
  if (a[8].type == MSGPACK_OBJECT_STR) {
    env->text = a[8].via.str.ptr;
    env->text_len = a[8].via.str.size > WIRE_TEXT_MAX ? WIRE_TEXT_MAX : a[8].via.str.size;
  } else if (a[8].type != MSGPACK_OBJECT_NIL) {
    return false;
  }
  return true;
}

int hive__wire_read_env(wire_reader_t *r, wire_env_t *env) {
  if (r->off >= r->len)
    return 0;
  memset(env, 0, sizeof(*env));
  uint32_t n;
  unsigned kind;
  const msgpack_object *a = wire_next_array(r, &n);
  if (a == NULL || n < 1 || !wire_uint(&a[0], WIRE_SIGNAL, &kind))
    return -1;
  env->kind = (int)kind;
  if (kind == WIRE_MESSAGE)
    return n == 7 && wire_read_message(a, env) ? 1 : -1;
  return n == 9 && wire_read_signal(a, env) ? 1 : -1;
}

/* Parses exactly one value from buf into un; false for anything else. */
static bool wire_read_one(const void *buf, size_t len, msgpack_unpacked *un) {
  size_t off = 0;
  return len > 0 && hive__msgpack_span(buf, len) == len &&
         msgpack_unpack_next(un, buf, len, &off) == MSGPACK_UNPACK_SUCCESS && off == len;
}

bool hive__wire_read_hb(const void *buf, size_t len, wire_hb_t *hb) {
  msgpack_unpacked un;
  msgpack_unpacked_init(&un);
  bool ok = false;
  unsigned version;
  if (wire_read_one(buf, len, &un) && un.data.type == MSGPACK_OBJECT_ARRAY &&
      un.data.via.array.size == 6) {
    const msgpack_object *a = un.data.via.array.ptr;
    ok = wire_uint(&a[0], UINT32_MAX, &version) && version == WIRE_VERSION &&
         wire_uint(&a[1], 255, &hb->id) && hb->id > 0 && wire_uint(&a[2], 255, &hb->inc) &&
         hb->inc > 0 && a[3].type == MSGPACK_OBJECT_STR &&
         a[3].via.str.size <= HIVE_NODE_NAME_MAX && wire_u64(&a[4], &hb->started_ms) &&
         wire_u64(&a[5], &hb->actors);
    if (ok && a[3].via.str.size > 0) /* an empty string's ptr may be NULL */
      memcpy(hb->name, a[3].via.str.ptr, a[3].via.str.size);
    if (ok) {
      hb->name[a[3].via.str.size] = '\0';
    }
  }
  msgpack_unpacked_destroy(&un);
  return ok;
}

bool hive__wire_read_ctl(const void *buf, size_t len, int *kind, unsigned *id, unsigned *inc) {
  msgpack_unpacked un;
  msgpack_unpacked_init(&un);
  bool ok = wire_read_one(buf, len, &un) && un.data.type == MSGPACK_OBJECT_ARRAY &&
            un.data.via.array.size == 3 && wire_int(&un.data.via.array.ptr[0], kind) &&
            wire_uint(&un.data.via.array.ptr[1], 255, id) && *id > 0 &&
            wire_uint(&un.data.via.array.ptr[2], 255, inc) && *inc > 0;
  msgpack_unpacked_destroy(&un);
  return ok;
}

bool hive__wire_read_answer(const void *buf, size_t len, unsigned *id, unsigned *inc,
                            unsigned *seen) {
  msgpack_unpacked un;
  msgpack_unpacked_init(&un);
  bool ok = wire_read_one(buf, len, &un) && un.data.type == MSGPACK_OBJECT_ARRAY &&
            un.data.via.array.size == 3 && wire_uint(&un.data.via.array.ptr[0], 255, id) &&
            *id > 0 && wire_uint(&un.data.via.array.ptr[1], 255, inc) && *inc > 0 &&
            wire_uint(&un.data.via.array.ptr[2], 255, seen);
  msgpack_unpacked_destroy(&un);
  return ok;
}
