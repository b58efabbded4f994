#!/usr/bin/env bash
# callgrind.sh - instructions the hot path costs: runs pingpong and fanout
# on one worker under callgrind and prints the total instruction count of
# each. Deterministic enough (±0.1%) to compare a change against its base,
# which wall-clock figures on a shared machine are not.
#
#   bench/callgrind.sh [BUILD_DIR]      (default: build-release, Release)
#
# Compare two commits: run it in a worktree of each (git worktree add).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build-release}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target bench_pingpong bench_fanout >/dev/null
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for run in "pingpong 200000" "fanout 60 20000"; do
  set -- $run
  bench="$1"
  shift
  valgrind --tool=callgrind --callgrind-out-file="$out/$bench.out" \
    "$build/bench_$bench" -w 1 "$@" >/dev/null 2>"$out/$bench.err"
  total="$(sed -nE 's/^summary: ([0-9]+)/\1/p' "$out/$bench.out")"
  printf '%-10s %s %14s instructions\n' "$bench" "$*" "$total"
done
