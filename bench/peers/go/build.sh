#!/usr/bin/env bash
# build.sh - builds go-bench, the Go peer of hive's benchmarks, offline and
# with the standard library only.
#
#   bench/peers/go/build.sh OUTDIR       (writes OUTDIR/go-bench)
#
# The Go build cache and GOPATH live under OUTDIR, so any user can build.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
mkdir -p "$1"
out="$(cd "$1" && pwd)"
cd "$(dirname "$0")"
export GOCACHE="$out/.go/cache" GOPATH="$out/.go/path" GOPROXY=off GOFLAGS= GO111MODULE=on
go build -trimpath -o "$out/go-bench" .
