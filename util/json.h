/*
 * json.h - a msgpack value written as JSON: hivectl --json and the HTTP
 * endpoint's /api answers, so the two print the same fields the same way.
 */
#ifndef HIVE_UTIL_JSON_H
#define HIVE_UTIL_JSON_H

#include <stdio.h>

#include <msgpack.h>

/* Writes o to out. Strings and bins become JSON strings (control
 * characters escaped, other bytes as they are); a map key that is not a
 * string is written "?"; an extension type is null. */
void hive__json_write(FILE *out, const msgpack_object *o);

#endif /* HIVE_UTIL_JSON_H */
