/*
 * msgpack_span.h - where one msgpack value ends, checked without parsing
 * (payload.c), for bytes from outside the process: the gateway's frames
 * and the replies it forwards.
 */
#ifndef HIVE_UTIL_MSGPACK_SPAN_H
#define HIVE_UTIL_MSGPACK_SPAN_H

#include <stddef.h>

/* The bytes of the first value at data, whole and well formed, with no
 * container declaring more elements than the bytes left could hold and
 * no nesting deeper than 31 (msgpack-c's own limit) (so msgpack-c may then parse it without a
 * huge allocation); 0 if there is no such value. span == len: data holds
 * exactly one value. */
size_t hive__msgpack_span(const void *data, size_t len);

#endif /* HIVE_UTIL_MSGPACK_SPAN_H */
