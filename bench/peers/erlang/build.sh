#!/usr/bin/env bash
# build.sh - compiles peer_bench, the Erlang peer of hive's benchmarks.
#
#   bench/peers/erlang/build.sh OUTDIR       (writes OUTDIR/peer_bench.beam)
#
# Plain erlc: OTP 25 has no HiPE (removed in OTP 24); its BEAM JIT compiles
# the module when it is loaded.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
mkdir -p "$1"
erlc -Wall -o "$1" "$(dirname "$0")/peer_bench.erl"
