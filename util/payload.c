/*
 * payload.c - msgpack payloads with type checks (see include/hive/payload.h).
 *
 * Unpacking is two passes. The first walks the bytes and checks that each
 * header fits in what is left, and that each array or map declares no more
 * children than there are bytes left to hold them (every value takes at
 * least one byte). Only then does msgpack-c parse, into one zone sized from
 * the payload, so a 17-byte input declaring four billion elements is an
 * error here instead of a huge allocation there. The parsed values are then
 * listed depth first, and the format string is checked against that list.
 */
#include <msgpack.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "hive/hive.h"
#include "hive/payload.h"
#include "msgpack_span.h"

/* msgpack-c keeps nesting on a fixed stack; deeper input is refused. */
/* (Its stack of 32 holds the outermost container too: 31 levels of nesting
 * inside it; the fuzzer found the 32nd refused as "no memory".) */
#define PAYLOAD_MAX_DEPTH 31

/* ---- packing ------------------------------------------------------------- */

static int pack_one(msgpack_packer *pk, char c, va_list *ap) {
  switch (c) {
  case 'i':
    return msgpack_pack_int64(pk, va_arg(*ap, int64_t));
  case 'u':
    return msgpack_pack_uint64(pk, va_arg(*ap, uint64_t));
  case 'd':
    return msgpack_pack_double(pk, va_arg(*ap, double));
  case 't':
    return va_arg(*ap, int) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
  case 'n':
    return msgpack_pack_nil(pk);
  case 's': {
    const char *s = va_arg(*ap, const char *);
    if (s == NULL)
      return -2;
    size_t n = strlen(s);
    return msgpack_pack_str(pk, n) != 0 ? -1 : msgpack_pack_str_body(pk, s, n);
  }
  case 'b': {
    const void *p = va_arg(*ap, const void *);
    size_t n = va_arg(*ap, size_t);
    if (p == NULL && n > 0)
      return -2;
    return msgpack_pack_bin(pk, n) != 0 ? -1 : msgpack_pack_bin_body(pk, p, n);
  }
  case 'a':
    return msgpack_pack_array(pk, va_arg(*ap, uint32_t));
  case 'm':
    return msgpack_pack_map(pk, va_arg(*ap, uint32_t));
  default:
    return -2;
  }
}

int hive_vpack(void **out, size_t *len, const char *fmt, va_list ap) {
  if (out == NULL || len == NULL || fmt == NULL)
    return HIVE_EINVAL;
  msgpack_sbuffer sbuf;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sbuf);
  msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
  va_list args;
  va_copy(args, ap);
  int rc = 0;
  for (const char *c = fmt; *c != '\0' && rc == 0; c++)
    rc = pack_one(&pk, *c, &args);
  va_end(args);
  if (rc != 0) {
    msgpack_sbuffer_destroy(&sbuf);
    return rc == -2 ? HIVE_EINVAL : HIVE_ENOMEM;
  }
  /* msgpack-c's buffer starts at 8 KiB: a payload kept in a mailbox
   * should cost what it holds. */
  void *fitted = realloc(sbuf.data, sbuf.size > 0 ? sbuf.size : 1);
  *out = fitted != NULL ? fitted : sbuf.data; /* ours now */
  *len = sbuf.size;
  return HIVE_OK;
}

int hive_pack(void **out, size_t *len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = hive_vpack(out, len, fmt, ap);
  va_end(ap);
  return rc;
}

/* ---- the bounds pass ------------------------------------------------------ */

static uint64_t read_be(const unsigned char *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

/*
 * Measures the value at p: its header size, the payload bytes after the
 * header, and how many child values follow. false if the type byte is
 * invalid or the header does not fit in `left`.
 */
static bool value_shape(const unsigned char *p, size_t left, size_t *header, uint64_t *body,
                        uint64_t *children) {
  unsigned char c = p[0];
  size_t extra = 0; /* bytes of length field after the type byte */
  *body = 0;
  *children = 0;
  if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
    *header = 1;
  } else if (c <= 0x8f) {
    *header = 1, *children = 2u * (c & 0x0f);
  } else if (c <= 0x9f) {
    *header = 1, *children = c & 0x0f;
  } else if (c <= 0xbf) {
    *header = 1, *body = c & 0x1f;
  } else {
    static const signed char length_bytes[32] = {
        /* c0 */ 0, -1, 0, 0, 1, 2, 4, 1, 2, 4, 0, 0, 0, 0, 0, 0,
        /* d0 */ 0, 0,  0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 2, 4, 2, 4};
    static const unsigned char fixed_body[32] = {
        /* c0 */ 0, 0, 0, 0, 0, 0, 0, 1, 1,  1, 4, 8, 1, 2, 4, 8,
        /* d0 */ 1, 2, 4, 8, 2, 3, 5, 9, 17, 0, 0, 0, 0, 0, 0, 0};
    int i = c - 0xc0;
    if (length_bytes[i] < 0)
      return false; /* 0xc1 is never used */
    extra = (size_t)length_bytes[i];
    *header = 1 + extra;
    if (*header > left)
      return false;
    uint64_t n = read_be(p + 1, extra);
    *body = fixed_body[i];
    if (c == 0xdc || c == 0xdd)
      *children = n;
    else if (c == 0xde || c == 0xdf)
      *children = 2 * n;
    else if (extra > 0)
      *body += n; /* str, bin, ext: n bytes (ext: after its type byte) */
  }
  return *header <= left;
}

/* Walks values from p: every one in len bytes, or (first_only) the first
 * whole one. Counts them into *count and sets *end past the last; or
 * returns false with the index of the one that does not fit in *where. */
static bool payload_walk(const unsigned char *p, size_t len, bool first_only, size_t *count,
                         size_t *end, size_t *where) {
  uint64_t owed[PAYLOAD_MAX_DEPTH]; /* children still to read, per level */
  int depth = 0;
  size_t off = 0, n = 0;
  while (off < len || depth > 0) {
    if (off >= len)
      goto broken; /* a container ended early */
    size_t header;
    uint64_t body, children;
    if (!value_shape(p + off, len - off, &header, &body, &children))
      goto broken;
    off += header;
    if (body > len - off)
      goto broken;
    off += (size_t)body;
    /* Each child needs a byte at least: no more than remain. */
    if (children > 0 && (children > len - off || depth == PAYLOAD_MAX_DEPTH))
      goto broken;
    n++;
    if (depth > 0)
      owed[depth - 1]--;
    if (children > 0)
      owed[depth++] = children;
    while (depth > 0 && owed[depth - 1] == 0)
      depth--;
    if (first_only && depth == 0)
      break;
  }
  *count = n;
  *end = off;
  return true;
broken:
  if (where != NULL)
    *where = n;
  return false;
}

static bool payload_check(const unsigned char *p, size_t len, size_t *count, size_t *where) {
  size_t end;
  return payload_walk(p, len, false, count, &end, where);
}

size_t hive__msgpack_span(const void *data, size_t len) {
  size_t count, end;
  if (len == 0 || !payload_walk(data, len, true, &count, &end, NULL))
    return 0;
  return end;
}

/* ---- parsing and the cursor ---------------------------------------------- */

typedef struct {
  msgpack_zone zone;
  const msgpack_object **values; /* depth first; count entries */
} parsed_t;

static void list_values(const msgpack_object *o, const msgpack_object **out, size_t *n) {
  out[(*n)++] = o;
  if (o->type == MSGPACK_OBJECT_ARRAY) {
    for (uint32_t i = 0; i < o->via.array.size; i++)
      list_values(&o->via.array.ptr[i], out, n);
  } else if (o->type == MSGPACK_OBJECT_MAP) {
    for (uint32_t i = 0; i < o->via.map.size; i++) {
      list_values(&o->via.map.ptr[i].key, out, n);
      list_values(&o->via.map.ptr[i].val, out, n);
    }
  }
}

int hive_unpacker_init(hive_unpacker_t *u, const void *data, size_t len, size_t *where) {
  if (u == NULL || (data == NULL && len > 0))
    return HIVE_EINVAL;
  size_t count;
  if (!payload_check(data, len, &count, where))
    return HIVE_EPAYLOAD;
  parsed_t *parsed = malloc(sizeof(*parsed));
  if (parsed == NULL)
    return HIVE_ENOMEM;
  parsed->values = malloc((count > 0 ? count : 1) * sizeof(*parsed->values));
  /* Strings and binaries stay in the payload; what the zone holds is at
   * most a map pair (32 bytes) per value, plus each top-level value. */
  if (parsed->values == NULL || !msgpack_zone_init(&parsed->zone, 256 + 48 * count)) {
    free(parsed->values);
    free(parsed);
    return HIVE_ENOMEM;
  }
  size_t off = 0, n = 0;
  while (off < len) {
    msgpack_object o;
    msgpack_unpack_return r = msgpack_unpack(data, len, &off, &parsed->zone, &o);
    if ((r != MSGPACK_UNPACK_SUCCESS && r != MSGPACK_UNPACK_EXTRA_BYTES) || n >= count) {
      msgpack_zone_destroy(&parsed->zone);
      free(parsed->values);
      free(parsed);
      if (where != NULL)
        *where = n;
      return r == MSGPACK_UNPACK_NOMEM_ERROR ? HIVE_ENOMEM : HIVE_EPAYLOAD;
    }
    msgpack_object *kept = msgpack_zone_malloc(&parsed->zone, sizeof(*kept));
    if (kept == NULL) {
      msgpack_zone_destroy(&parsed->zone);
      free(parsed->values);
      free(parsed);
      return HIVE_ENOMEM;
    }
    *kept = o;
    list_values(kept, parsed->values, &n);
  }
  *u = (hive_unpacker_t){.pos = 0, .count = n, .parsed = parsed};
  return HIVE_OK;
}

void hive_unpacker_free(hive_unpacker_t *u) {
  if (u == NULL || u->parsed == NULL)
    return;
  parsed_t *parsed = u->parsed;
  msgpack_zone_destroy(&parsed->zone);
  free(parsed->values);
  free(parsed);
  u->parsed = NULL;
}

static int unpack_one(const msgpack_object *o, char c, va_list *ap) {
  switch (c) {
  case 'i':
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
      *va_arg(*ap, int64_t *) = o->via.i64;
    else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
      *va_arg(*ap, int64_t *) = (int64_t)o->via.u64;
    else
      return HIVE_EPAYLOAD;
    return HIVE_OK;
  case 'u':
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
      return HIVE_EPAYLOAD;
    *va_arg(*ap, uint64_t *) = o->via.u64;
    return HIVE_OK;
  case 'd':
    if (o->type != MSGPACK_OBJECT_FLOAT64 && o->type != MSGPACK_OBJECT_FLOAT32)
      return HIVE_EPAYLOAD;
    *va_arg(*ap, double *) = o->via.f64;
    return HIVE_OK;
  case 't':
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
      return HIVE_EPAYLOAD;
    *va_arg(*ap, bool *) = o->via.boolean;
    return HIVE_OK;
  case 'n':
    return o->type == MSGPACK_OBJECT_NIL ? HIVE_OK : HIVE_EPAYLOAD;
  case 's':
  case 'b': {
    bool str = c == 's';
    if (o->type != (str ? MSGPACK_OBJECT_STR : MSGPACK_OBJECT_BIN))
      return HIVE_EPAYLOAD;
    const void **ptr = va_arg(*ap, const void **);
    *ptr = str ? (const void *)o->via.str.ptr : (const void *)o->via.bin.ptr;
    *va_arg(*ap, size_t *) = str ? o->via.str.size : o->via.bin.size;
    return HIVE_OK;
  }
  case 'a':
    if (o->type != MSGPACK_OBJECT_ARRAY)
      return HIVE_EPAYLOAD;
    *va_arg(*ap, uint32_t *) = o->via.array.size;
    return HIVE_OK;
  case 'm':
    if (o->type != MSGPACK_OBJECT_MAP)
      return HIVE_EPAYLOAD;
    *va_arg(*ap, uint32_t *) = o->via.map.size;
    return HIVE_OK;
  default:
    return HIVE_EINVAL;
  }
}

static int unpack_fmt(hive_unpacker_t *u, const char *fmt, va_list *ap) {
  const parsed_t *parsed = u->parsed;
  for (const char *c = fmt; *c != '\0'; c++) {
    if (u->pos >= u->count)
      return strchr("iudtnsbam", *c) != NULL ? HIVE_EPAYLOAD : HIVE_EINVAL;
    int rc = unpack_one(parsed->values[u->pos], *c, ap);
    if (rc != HIVE_OK)
      return rc;
    u->pos++;
  }
  return HIVE_OK;
}

int hive_unpack_next(hive_unpacker_t *u, const char *fmt, ...) {
  if (u == NULL || u->parsed == NULL || fmt == NULL)
    return HIVE_EINVAL;
  va_list ap;
  va_start(ap, fmt);
  int rc = unpack_fmt(u, fmt, &ap);
  va_end(ap);
  return rc;
}

int hive_unpack(const void *data, size_t len, size_t *where, const char *fmt, ...) {
  if (fmt == NULL)
    return HIVE_EINVAL;
  hive_unpacker_t u;
  int rc = hive_unpacker_init(&u, data, len, where);
  if (rc != HIVE_OK)
    return rc;
  va_list ap;
  va_start(ap, fmt);
  rc = unpack_fmt(&u, fmt, &ap);
  va_end(ap);
  if (rc == HIVE_OK && u.pos != u.count)
    rc = HIVE_EPAYLOAD; /* values left over */
  if (rc != HIVE_OK && where != NULL)
    *where = u.pos;
  hive_unpacker_free(&u);
  return rc;
}
