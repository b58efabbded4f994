#!/usr/bin/env bash
# stats-cost.sh - what the statistics counters cost the hot path: builds hive
# a second time with them compiled out (-DHIVE_STATS=OFF) and runs pingpong
# from both builds, interleaved, RUNS times each, with the default worker
# count and with one worker; prints the medians and their ratio.
#
#   bench/stats-cost.sh [RUNS] [BUILD_DIR]      (defaults: 9, build)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-9}"
build="${2:-$root/build}"
nostats="$build-nostats"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target bench_pingpong >/dev/null
cmake -S "$root" -B "$nostats" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHIVE_STATS=OFF >/dev/null
cmake --build "$nostats" -j "$(nproc)" --target bench_pingpong >/dev/null

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
for ((r = 1; r <= runs; r++)); do
  for workers in 0 1; do
    for variant in stats nostats; do
      dir=$([ "$variant" = stats ] && echo "$build" || echo "$nostats")
      rate="$("$dir/bench_pingpong" -w "$workers" | sed -nE 's/^RESULT .* rate=([0-9.]+).*/\1/p')"
      echo "$variant $workers $rate" >>"$out"
    done
  done
done

median() { # variant workers
  awk -v v="$1" -v w="$2" '$1 == v && $2 == w {print $3}' "$out" | sort -g |
    awk '{x[NR]=$1} END {print (NR%2) ? x[(NR+1)/2] : (x[NR/2]+x[NR/2+1])/2}'
}
printf '%-8s %14s %14s %8s\n' workers "with stats" "without" ratio
for workers in 0 1; do
  on="$(median stats "$workers")"
  off="$(median nostats "$workers")"
  label=$([ "$workers" = 0 ] && echo default || echo 1)
  awk -v l="$label" -v a="$on" -v b="$off" 'BEGIN {printf "%-8s %14.0f %14.0f %8.3f\n", l, a, b, a / b}'
done
