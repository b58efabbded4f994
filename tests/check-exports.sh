#!/usr/bin/env bash
# check-exports.sh LIB HEADER... - a shared library exports its public API
# and nothing else: every hive_ function the headers declare is in its
# dynamic symbol table, and no hive__ (internal) symbol is. libhive.so is
# checked against include/hive/ but service.h, libhive-service.so against
# service.h.
set -euo pipefail
lib="$1"
shift
exported="$(nm -D --defined-only "$lib" | awk '{print $3}' | sort -u)"
declared="$(grep -hE '^HIVE_API' "$@" | grep -oE '\bhive_[a-z0-9_]+\(' | tr -d '(' | sort -u)"
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
