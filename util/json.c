/*
 * json.c - see json.h.
 */
#include "json.h"

static void json_string(FILE *out, const char *s, size_t n) {
  putc('"', out);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      fprintf(out, "\\%c", c);
    else if (c == '\n')
      fputs("\\n", out);
    else if (c < 0x20 || c == 0x7f)
      fprintf(out, "\\u%04x", c);
    else
      putc(c, out);
  }
  putc('"', out);
}

void hive__json_write(FILE *out, const msgpack_object *o) {
  switch (o->type) {
  case MSGPACK_OBJECT_BOOLEAN:
    fputs(o->via.boolean ? "true" : "false", out);
    break;
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    fprintf(out, "%llu", (unsigned long long)o->via.u64);
    break;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    fprintf(out, "%lld", (long long)o->via.i64);
    break;
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    fprintf(out, "%.17g", o->via.f64);
    break;
  case MSGPACK_OBJECT_STR:
    json_string(out, o->via.str.ptr, o->via.str.size);
    break;
  case MSGPACK_OBJECT_BIN:
    json_string(out, o->via.bin.ptr, o->via.bin.size);
    break;
  case MSGPACK_OBJECT_ARRAY:
    putc('[', out);
    for (uint32_t i = 0; i < o->via.array.size; i++) {
      if (i > 0)
        putc(',', out);
      hive__json_write(out, &o->via.array.ptr[i]);
    }
    putc(']', out);
    break;
  case MSGPACK_OBJECT_MAP:
    putc('{', out);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
      if (i > 0)
        putc(',', out);
      const msgpack_object *k = &o->via.map.ptr[i].key;
      if (k->type == MSGPACK_OBJECT_STR)
        json_string(out, k->via.str.ptr, k->via.str.size);
      else
        fputs("\"?\"", out);
      putc(':', out);
      hive__json_write(out, &o->via.map.ptr[i].val);
    }
    putc('}', out);
    break;
  default: /* nil, extension types */
    fputs("null", out);
  }
}
