#!/bin/sh
# build.sh OUTDIR - builds OUTDIR/caf-bench, the CAF 0.17 peer of hive's
# benchmark workloads, against the system libcaf-dev (headers in
# /usr/include/caf, libcaf_core in the default library path).
set -eu
if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
${CXX:-g++} -O2 -std=c++17 -pthread -o "$1/caf-bench" "$here/caf_bench.cpp" -lcaf_core
