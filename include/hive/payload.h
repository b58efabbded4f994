/*
 * payload.h - msgpack payloads: pack values with a format string, unpack
 * them with type checks. msgpack-c does the encoding and decoding; these
 * calls add the checks that make bytes from anywhere safe to read.
 *
 * Format characters, in order, one per msgpack value:
 *
 *   char  value          hive_pack argument          hive_unpack argument
 *   i     integer        int64_t                     int64_t *
 *   u     integer >= 0   uint64_t                    uint64_t *
 *   d     float          double                      double *
 *   t     boolean        int (0 or not)              bool *
 *   n     nil            (none)                      (none)
 *   s     string         const char * (NUL-ended)    const char **, size_t *
 *   b     binary         const void *, size_t        const void **, size_t *
 *   a     array header   uint32_t (element count)    uint32_t *
 *   m     map header     uint32_t (pair count)       uint32_t *
 *
 * After 'a' come the array's elements, after 'm' its keys and values in
 * turn: an unpacker walks the values in that order (depth first). Strings
 * and binaries unpacked point into the payload: they are not NUL-terminated
 * and live as long as it does.
 *
 * Unpacking never crashes and never allocates more than the payload's
 * size justifies: a header that declares more elements or bytes than the
 * payload holds is an error, found before msgpack-c allocates anything.
 */
#ifndef HIVE_PAYLOAD_H
#define HIVE_PAYLOAD_H

#include "hive/export.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Packs the values fmt describes into a new buffer: on HIVE_OK *out (from
 * malloc; free it, or give it away with hive_send_move) holds *len bytes.
 * HIVE_EINVAL for an unknown format character.
 */
HIVE_API int hive_pack(void **out, size_t *len, const char *fmt, ...);
/* hive_pack with the values in a va_list, for wrappers of its own. */
HIVE_API int hive_vpack(void **out, size_t *len, const char *fmt, va_list ap);

/* A cursor over a checked payload. Fields are read-only for the user. */
typedef struct hive_unpacker {
  size_t pos;   /* index of the next value, depth first */
  size_t count; /* values in the payload */
  void *parsed; /* owned: what msgpack-c made of the payload */
} hive_unpacker_t;

/*
 * Checks and parses data. HIVE_EPAYLOAD if it is not a sequence of whole
 * msgpack values (truncated, malformed, or declaring more than it holds);
 * *where (if not NULL) then tells the index of the value that broke.
 * On HIVE_OK, free the unpacker with hive_unpacker_free.
 */
HIVE_API int hive_unpacker_init(hive_unpacker_t *u, const void *data, size_t len, size_t *where);

/*
 * Reads the next values as fmt says. HIVE_EPAYLOAD when a value is not of
 * the type asked for or the payload has no more values: u->pos is then the
 * index of that value, and the outputs before it have been written.
 */
HIVE_API int hive_unpack_next(hive_unpacker_t *u, const char *fmt, ...);

HIVE_API void hive_unpacker_free(hive_unpacker_t *u);

/*
 * All in one: the payload must be exactly the values fmt describes.
 * HIVE_EPAYLOAD otherwise, with the index of the offending value in *where
 * (if not NULL); a payload with values left over is an error too.
 */
HIVE_API int hive_unpack(const void *data, size_t len, size_t *where, const char *fmt, ...);

#ifdef __cplusplus
}
#endif

#endif /* HIVE_PAYLOAD_H */
