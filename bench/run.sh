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
benches=(pingpong threadring fanout spawn big memory ask request timers)
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

median_of() { # workers bench field
  grep "^workers=$1 .* bench=$2 " "$out" | sed -E "s/.* $3=([0-9.]+).*/\1/" | sort -g |
    awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'
}

printf '%-10s %-8s %14s %s\n' workload workers median unit
for b in "${benches[@]}"; do
  for workers in 0 1; do
    label=$([ "$workers" = 0 ] && echo default || echo 1)
    case "$b" in
    memory) printf '%-10s %-8s %14.0f %s\n' "$b" "$label" "$(median_of $workers $b bytes_per_actor)" "bytes/actor" ;;
    timers)
      printf '%-10s %-8s %14.0f %s\n' "$b" "$label" "$(median_of $workers $b median_us)" "us late (median)"
      printf '%-10s %-8s %14.0f %s\n' "$b" "$label" "$(median_of $workers $b p99_us)" "us late (99th pct)" ;;
    *) printf '%-10s %-8s %14.0f %s\n' "$b" "$label" "$(median_of $workers $b rate)" "per s" ;;
    esac
  done
done
