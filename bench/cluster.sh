#!/usr/bin/env bash
# Cross-node delivery against a single node, on this machine. The same clients (ringcast-load, every
# client in one of R rooms) and the same publish stream, twice:
#   single:  one ringcast node (one shard, then two); clients connect to it and pushes go to its API;
#   cluster: a nats-server and three nodes; A answers the API only (--listen none), B and C hold the
#            clients (ringcast-load's --url B,C, round robin), pushes go to A: every item crosses NATS.
# Each setup runs two phases: as fast as the pipeline allows (throughput), then a fixed rate (latency
# from the publish request to the client, p50/p99). The figures are a table on stdout and the
# ringcast-load summaries under --out.
#
#   bench/cluster.sh [--connections N] [--rooms R] [--count K] [--rate M] [--rate-seconds S]
#                    [--payload B] [--pipeline D] [--out DIR]
#
# Everything it starts is stopped on exit. On a 2-core machine the nodes, nats-server and the load
# generator share the cores, so the cluster figures carry three servers' and NATS's work on them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

connections=2000
rooms=20
count=50000       # items in the throughput phase
rate=500          # items/s in the latency phase (below what one shard saturates at)
rate_seconds=10
payload=64
pipeline=256      # publish requests in flight per API connection in the throughput phase (4 connections):
                  # ringcast-load's default 16 (64 in flight) caps a single node near 3k pushes/s, since
                  # its answers wait for the fan-out turn, and would measure the publisher, not the node
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) connections=$2; shift 2 ;;
    --rooms) rooms=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --rate-seconds) rate_seconds=$2; shift 2 ;;
    --payload) payload=$2; shift 2 ;;
    --pipeline) pipeline=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--connections N] [--rooms R] [--count K] [--rate M] [--rate-seconds S] [--payload B] [--pipeline D] [--out DIR]" >&2
       exit 2 ;;
  esac
done
[ -n "$out" ] || out="results/cluster-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
log() { printf '[cluster %s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$out/run.log" >&2; }

# RINGCAST_BUILD=DIR uses an existing build directory instead of building build/ with tools/dev.
build_dir=${RINGCAST_BUILD:-}
if [ -z "$build_dir" ]; then tools/dev build; build_dir=build; fi
command -v nats-server >/dev/null || { log "nats-server is missing: apt-get install nats-server"; exit 1; }
server_bin=$build_dir/tools/ringcast
load_bin=$build_dir/tools/load/ringcast-load

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
source "$(dirname "$0")/lib.sh"

# start_node NAME ARGS...: starts ringcast, waits for its "serving" line, sets NAME_ws and NAME_api.
start_node() {
  local name=$1; shift
  "$server_bin" --threads 1 --heartbeat-timeout-ms 600000 "$@" >"$out/$name.log" 2>&1 &  # later --threads wins
  pids+=($!)
  wait_serving "$out/$name.log" || true
  printf -v "${name}_ws" '%s' "$serving_ws"
  printf -v "${name}_api" '%s' "$serving_api"
}

wait_connected() {  # wait_connected API_URL
  for _ in $(seq 200); do
    curl -s "$1/stats" | grep -q '"clusterConnected":1' && return 0
    sleep 0.05
  done
  log "node $1 did not connect to NATS"; return 1
}

# run_load NAME URLS API_URL EXTRA...: one ringcast-load run, summary in $out/NAME.json.
run_load() {
  local name=$1 urls=$2 api=$3; shift 3
  log "$name: $connections clients over $urls, pushes to $api $*"
  "$load_bin" --url "$urls" --publish-url "$api/push/room" --connections "$connections" --rooms "$rooms" \
    --payload "$payload" --heartbeat 0 --connect-rate 0 --drain-timeout 60 --timeout 300 \
    --json "$out/$name.json" "$@" >"$out/$name.txt" 2>"$out/$name.err" || log "$name: ringcast-load exit $?"
}

phases() {  # phases SETUP URLS API_URL
  run_load "$1-throughput" "$2" "$3" --publish-rate 0 --publish-count "$count" --pipeline "$pipeline"
  run_load "$1-latency" "$2" "$3" --publish-rate "$rate" --duration "$rate_seconds"
}

# ---- single node: one shard (as each cluster node has), then two (both cores) ----
start_node single --listen 127.0.0.1:0 --api 127.0.0.1:0
phases single "$single_ws" "$single_api"
cleanup
pids=()
start_node single2 --listen 127.0.0.1:0 --api 127.0.0.1:0 --threads 2
phases single-2-shards "$single2_ws" "$single2_api"
cleanup
pids=()

# ---- cluster: nats-server + A (API only) + B, C (clients) ----
nats_port=$(free_port)
nats-server -a 127.0.0.1 -p "$nats_port" >"$out/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break; sleep 0.05; done
nats=(--nats "nats://127.0.0.1:$nats_port")
start_node a --listen none --api 127.0.0.1:0 "${nats[@]}"
start_node b --listen 127.0.0.1:0 --api 127.0.0.1:0 "${nats[@]}"
start_node c --listen 127.0.0.1:0 --api 127.0.0.1:0 "${nats[@]}"
for api in "$a_api" "$b_api" "$c_api"; do wait_connected "$api"; done
phases cluster "$b_ws,$c_ws" "$a_api"
for n in a b c; do
  api_var="${n}_api"
  curl -s "${!api_var}/stats" >"$out/stats-$n.json"
done

# ---- report ----
python3 - "$out" <<'EOF'
import json, os, sys
out = sys.argv[1]
def load(name):
    with open(os.path.join(out, name + ".json")) as f:
        return json.load(f)
rows = []
for setup in ("single", "single-2-shards", "cluster"):
    t, l = load(setup + "-throughput"), load(setup + "-latency")
    rows.append((setup, t["publish"]["per_second"], t["delivery"]["items_per_second"],
                 t["delivery"]["missing"] + t["delivery"]["duplicates"], l["publish"]["per_second"],
                 l["latency_ms"]["p50"], l["latency_ms"]["p99"], l["delivery"]["missing"] + l["delivery"]["duplicates"]))
head = ("setup", "pushes/s accepted", "deliveries/s", "lost+dup", "pushes/s (paced)", "p50 ms", "p99 ms", "lost+dup")
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for r in rows:
    print("| %s | %.0f | %.0f | %d | %.0f | %.2f | %.2f | %d |" % r)
single, cluster = rows[0], rows[2]
print()
print("cluster / single node (one shard): deliveries/s %.2fx, pushes/s accepted %.2fx, paced p50 %.2fx, p99 %.2fx" % (
    cluster[2] / single[2], cluster[1] / single[1], cluster[5] / single[5], cluster[6] / single[6]))
stats = {n: json.load(open(os.path.join(out, "stats-%s.json" % n))) for n in "abc"}
print()
print("cluster: A published %d to NATS, B received %d, C received %d; publish failed %d, receive failed %d" % (
    stats["a"]["clusterPublished"], stats["b"]["clusterReceived"], stats["c"]["clusterReceived"],
    sum(s["clusterPublishFailed"] for s in stats.values()), sum(s["clusterReceiveFailed"] for s in stats.values())))
EOF
log "summaries in $out"
