#!/usr/bin/env bash
# run.sh - runs one workload of peer_bench, the Erlang peer of hive's
# benchmarks, with the same command line shape as the other peers:
#
#   bench/peers/erlang/run.sh OUTDIR WORKLOAD [-w W] [SIZES...]
#
# -w W with W > 0 runs W schedulers (+S W:W); 0 or absent keeps the default,
# one per CPU.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 OUTDIR WORKLOAD [-w W] [SIZES...]" >&2
  exit 2
fi
outdir="$1" workload="$2"
shift 2
schedulers=()
sizes=()
while [ $# -gt 0 ]; do
  if [ "$1" = "-w" ]; then
    if [ $# -lt 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]]; then
      echo "$0: -w needs a worker count" >&2
      exit 2
    fi
    if [ "$2" -gt 0 ]; then
      schedulers=(+S "$2:$2")
    fi
    shift 2
  else
    sizes+=("$1")
    shift
  fi
done
exec erl -noshell "${schedulers[@]}" -pa "$outdir" -run peer_bench main "$workload" "${sizes[@]}"
