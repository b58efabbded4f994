#!/usr/bin/env bash
# run.sh - runs hive's benchmarks interleaved, several times each, with the
# default worker count and with one worker, and prints the median of each.
#
#   bench/run.sh [RUNS] [BUILD_DIR]      (defaults: 5, build)
#
# The workloads run one after another in each round, so a noisy neighbour
# slows all of them alike; compare the figures of one run with each other.
set -euo pipefail
runs="${1:-5}"
build="${2:-$(dirname "$0")/../build}"
benches=(pingpong spawn memory)
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

for ((r = 1; r <= runs; r++)); do
  for workers in 0 1; do
    for b in "${benches[@]}"; do
      line="$("$build/bench_$b" -w "$workers" | grep '^RESULT')"
      echo "workers=$workers $line" >>"$out"
    done
  done
done

printf '%-10s %-8s %14s %14s\n' workload workers median unit
for b in "${benches[@]}"; do
  for workers in 0 1; do
    field=rate unit="per s"
    [ "$b" = memory ] && field=bytes_per_actor unit="bytes/actor"
    median="$(grep "^workers=$workers .* bench=$b " "$out" |
      sed -E "s/.* $field=([0-9.]+).*/\1/" | sort -g |
      awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}')"
    label=$([ "$workers" = 0 ] && echo default || echo 1)
    printf '%-10s %-8s %14.0f %14s\n' "$b" "$label" "$median" "$unit"
  done
done
