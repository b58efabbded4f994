#!/usr/bin/env bash
# check-exports.sh LIBHIVE_SO INCLUDE_DIR - libhive.so exports the public
# API and nothing else: every hive_ function declared in include/hive/ is
# in its dynamic symbol table, and no hive__ (internal) symbol is.
set -euo pipefail
lib="$1"
include="$2"
exported="$(nm -D --defined-only "$lib" | awk '{print $3}' | sort -u)"
declared="$(grep -ohE '\bhive_[a-z0-9_]+\(' "$include"/hive/*.h | tr -d '(' | sort -u)"
status=0
internal="$(grep '^hive__' <<<"$exported" || true)"
if [ -n "$internal" ]; then
  echo "internal symbols exported by $lib:" >&2
  echo "$internal" >&2
  status=1
fi
missing="$(comm -23 <(echo "$declared") <(echo "$exported"))"
if [ -n "$missing" ]; then
  echo "public calls missing from $lib:" >&2
  echo "$missing" >&2
  status=1
fi
count="$(grep -c '^hive_' <<<"$exported" || true)"
echo "$lib exports $count hive_ symbols, no hive__ one: $([ $status = 0 ] && echo ok || echo FAILED)"
exit $status
