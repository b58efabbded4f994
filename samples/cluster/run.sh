#!/usr/bin/env bash
# run.sh - the cluster sample (docs/cluster.md): one nats-server with
# JetStream (global names live in its key-value store) and three nodes on
# this machine. Node 1 watches the workers of nodes 2 and 3 through their
# global names. The script SIGKILLs node 3, node 1 prints the DOWN with
# reason noconnection and the script how long detection took; then node 3
# starts again, rejoins as a new incarnation, and node 1 finds its worker
# again. Everything it started is stopped by its pid at the end.
#
#   samples/cluster/run.sh [PATH_TO_cluster_sample]   (default: build/cluster_sample)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
node="${1:-$here/../../build/cluster_sample}"
command -v nats-server >/dev/null || { echo "run.sh: needs nats-server (apt-get install nats-server)"; exit 2; }
dir="$(mktemp -d)"
pids=()
cleanup() { # the nodes first (last started, first stopped), then nats-server
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT

# waits_for FILE TEXT: until the node's output holds TEXT (20 s at most).
waits_for() {
  for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "run.sh: no '$2' in $1:"; cat "$1"; exit 1
}
now_ms() { date +%s%3N; }

nats-server -a 127.0.0.1 -p -1 --ports_file_dir "$dir" -js -sd "$dir/js" >"$dir/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do ls "$dir"/nats-server_*.ports >/dev/null 2>&1 && break; sleep 0.1; done
url="$(grep -o 'nats://[0-9.:]*' "$dir"/nats-server_*.ports)"
echo "run.sh: nats-server at $url (JetStream on)"

start_node() { # start_node ID: its output goes to $dir/nodeID.out, shown as it comes
  "$node" "$url" "$1" >"$dir/node$1.out" 2>&1 &
  pids+=($!)
  eval "node$1=$!"
  waits_for "$dir/node$1.out" "node $1: up"
  [ "$1" = 1 ] || grep "node $1: up" "$dir/node$1.out" | tail -1 | sed 's/^/  /'
}

start_node 1
tail -f "$dir/node1.out" --pid=$$ 2>/dev/null | sed -u 's/^/  /' &
tailer=$!
start_node 2
start_node 3
waits_for "$dir/node1.out" "worker.3 found"
waits_for "$dir/node1.out" "worker.2 found"

echo "run.sh: SIGKILL node 3"
killed_at="$(now_ms)"
kill -KILL "$node3"
wait "$node3" 2>/dev/null || true
waits_for "$dir/node1.out" "DOWN from worker.3"
down_at="$(sed -n 's/.*DOWN from worker.3.* at \([0-9]*\) ms/\1/p' "$dir/node1.out")"
echo "run.sh: node 1 saw worker.3 DOWN $((down_at - killed_at)) ms after the kill" \
  "(node_down_ms is 2000: the node was silent that long)"

echo "run.sh: node 3 starts again"
start_node 3
waits_for "$dir/node1.out" "worker.3 is back"
sleep 0.2
kill "$tailer" 2>/dev/null || true
echo "run.sh: done; stopping the nodes and nats-server"
