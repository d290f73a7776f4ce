#!/usr/bin/env bash
# The cluster with and without its JetStream history (docs/cluster.md, issue 17), side by side in one
# run, on this machine:
#   off: a nats-server (-js, unused) and three nodes: A answers the API only, B and C hold the clients
#        (ringcast-load --url B,C), pushes go to A: every item crosses NATS, numbered by each node;
#   on:  the same with --jetstream true: every room push goes to the stream, which numbers it and
#        republishes it to the nodes (the publishing one too).
# Each setup runs a throughput phase (pushes as fast as the pipeline allows: pushes/s accepted) and a
# latency phase (a fixed rate, publish request -> client receive, p50/p99), --reps times, the setups
# interleaved; medians are reported. Then, JetStream on only, a reconnect storm: --storm-connections
# clients over B and C, each dropping after about --storm-every items and resuming on the *other*
# node (ringcast-load --reconnect-every --reconnect-move) with since/epoch: every item must arrive
# once (lost + duplicated = 0), and the resume time (drop -> JOINED on the new node) is the time until
# a client is live again.
#
#   bench/cluster_jetstream.sh [--connections N] [--rooms R] [--count K] [--rate M] [--rate-seconds S]
#                              [--pipeline D] [--reps N] [--storm-connections N] [--storm-rate M]
#                              [--storm-seconds S] [--storm-every N] [--out DIR]
#
# Everything it starts is stopped on exit. The nodes, nats-server and the load generator share the
# machine's cores (and other sessions' builds): the figures are ratios taken in one run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

connections=2000
rooms=20
count=50000
rate=500
rate_seconds=10
payload=64
pipeline=256
reps=3
storm_connections=5000
storm_rate=500
storm_seconds=6
storm_every=60
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) connections=$2; shift 2 ;;
    --rooms) rooms=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --rate-seconds) rate_seconds=$2; shift 2 ;;
    --pipeline) pipeline=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --storm-connections) storm_connections=$2; shift 2 ;;
    --storm-rate) storm_rate=$2; shift 2 ;;
    --storm-seconds) storm_seconds=$2; shift 2 ;;
    --storm-every) storm_every=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) sed -n '2,20p' "$0" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || out="results/cluster-jetstream-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
log() { printf '[cluster-js %s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$out/run.log" >&2; }

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
  pids=()
}
trap cleanup EXIT
source "$(dirname "$0")/lib.sh"

start_node() {  # start_node NAME ARGS...: sets NAME_ws and NAME_api
  local name=$1; shift
  "$server_bin" --threads 1 --heartbeat-timeout-ms 600000 "$@" >"$out/$name.log" 2>&1 &
  pids+=($!)
  wait_serving "$out/$name.log" || { log "$name did not start"; cat "$out/$name.log" >&2; exit 1; }
  printf -v "${name}_ws" '%s' "$serving_ws"
  printf -v "${name}_api" '%s' "$serving_api"
}

wait_ready() {  # wait_ready API_URL JETSTREAM(0/1)
  for _ in $(seq 400); do
    local s; s=$(curl -s "$1/stats")
    if grep -q '"clusterConnected":1' <<<"$s" && { [ "$2" = 0 ] || grep -q '"jsHistoryOk":1' <<<"$s"; }; then
      return 0
    fi
    sleep 0.05
  done
  log "node $1 not ready"; return 1
}

# cluster JS NAME: a fresh nats-server (JetStream, file store in $out) and nodes A, B, C.
cluster() {
  local js=$1 name=$2
  local port; port=$(free_port)
  rm -rf "$out/store-$name"
  nats-server -a 127.0.0.1 -p "$port" -js -sd "$out/store-$name" >"$out/nats-$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
  local flags=(--nats "nats://127.0.0.1:$port" --nats-subject-prefix "bench")
  [ "$js" = 1 ] && flags+=(--jetstream true)
  start_node a --listen none --api 127.0.0.1:0 "${flags[@]}"
  start_node b --listen 127.0.0.1:0 --api 127.0.0.1:0 "${flags[@]}"
  start_node c --listen 127.0.0.1:0 --api 127.0.0.1:0 "${flags[@]}"
  for api in "$a_api" "$b_api" "$c_api"; do wait_ready "$api" "$js"; done
}

run_load() {  # run_load NAME URLS API_URL CONNECTIONS EXTRA...
  local name=$1 urls=$2 api=$3 conns=$4; shift 4
  log "$name: $conns clients over $urls, pushes to $api $*"
  nice -n 10 "$load_bin" --url "$urls" --publish-url "$api/push/room" --connections "$conns" --rooms "$rooms" \
    --payload "$payload" --heartbeat 0 --connect-rate 0 --drain-timeout 60 --timeout 300 \
    --json "$out/$name.json" "$@" >"$out/$name.txt" 2>"$out/$name.err" || log "$name: ringcast-load exit $?"
}

for rep in $(seq "$reps"); do
  for js in 0 1; do
    setup=$([ "$js" = 1 ] && echo on || echo off)
    cluster "$js" "$setup-$rep"
    run_load "$setup-$rep-throughput" "$b_ws,$c_ws" "$a_api" "$connections" \
      --publish-rate 0 --publish-count "$count" --pipeline "$pipeline"
    run_load "$setup-$rep-latency" "$b_ws,$c_ws" "$a_api" "$connections" \
      --publish-rate "$rate" --duration "$rate_seconds"
    for n in a b c; do api_var="${n}_api"; curl -s "${!api_var}/stats" >"$out/stats-$setup-$rep-$n.json"; done
    cleanup
  done
done

# The storm: JetStream on, pushes to A, clients over B and C moving to the other node at each drop.
cluster 1 storm
run_load storm "$b_ws,$c_ws" "$a_api" "$storm_connections" --publish-rate "$storm_rate" \
  --duration "$storm_seconds" --reconnect-every "$storm_every" --reconnect-move --per-proc 2500
for n in a b c; do api_var="${n}_api"; curl -s "${!api_var}/stats" >"$out/stats-storm-$n.json"; done
cleanup

python3 - "$out" "$reps" <<'EOF'
import json, os, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
def load(name):
    with open(os.path.join(out, name + ".json")) as f:
        return json.load(f)
def row(setup, rep):
    t, l = load(f"{setup}-{rep}-throughput"), load(f"{setup}-{rep}-latency")
    return dict(accepted=t["publish"]["per_second"], deliveries=t["delivery"]["items_per_second"],
                bad=t["delivery"]["missing"] + t["delivery"]["duplicates"] + l["delivery"]["missing"] + l["delivery"]["duplicates"],
                p50=l["latency_ms"]["p50"], p99=l["latency_ms"]["p99"])
rows = {s: [row(s, r) for r in range(1, reps + 1)] for s in ("off", "on")}
med = {s: {k: statistics.median(r[k] for r in rows[s]) for k in rows[s][0]} for s in rows}
print("| setup | pushes/s accepted | deliveries/s | p50 ms | p99 ms | lost+dup (all runs) |")
print("|---|---|---|---|---|---|")
for s in ("off", "on"):
    m = med[s]
    print("| JetStream %s | %.0f | %.0f | %.2f | %.2f | %d |" % (s, m["accepted"], m["deliveries"], m["p50"], m["p99"],
                                                            sum(r["bad"] for r in rows[s])))
print()
print("on / off (medians of %d): pushes/s accepted %.2fx, deliveries/s %.2fx, p50 %+.2f ms (%.2fx), p99 %+.2f ms" % (
    reps, med["on"]["accepted"] / med["off"]["accepted"], med["on"]["deliveries"] / med["off"]["deliveries"],
    med["on"]["p50"] - med["off"]["p50"], med["on"]["p50"] / med["off"]["p50"], med["on"]["p99"] - med["off"]["p99"]))
for s in ("off", "on"):
    print("%s, each run: " % s + "; ".join("%.0f/s p50 %.2f p99 %.2f" % (r["accepted"], r["p50"], r["p99"]) for r in rows[s]))
st = load("storm")
r = st.get("reconnect", {})
print()
print("storm: %s" % json.dumps({k: st["delivery"][k] for k in ("missing", "duplicates")}))
print("storm reconnect: %s" % json.dumps(r))
stats = {n: json.load(open(os.path.join(out, "stats-storm-%s.json" % n))) for n in "abc"}
for n in "bc":
    s = stats[n]
    print("node %s: replays from window %d, from stream %d (items %d), failed %d; gaps %d" % (
        n, s["jsReplaysWindow"], s["jsReplaysStream"], s["jsReplayItemsStream"], s["jsReplaysFailed"], s["jsGaps"]))
print("A: acked %d, ack avg %d us, max %d us, retries %d, failed %d" % (
    stats["a"]["jsAcked"], stats["a"]["jsPublishAckUsAvg"], stats["a"]["jsPublishAckUsMax"],
    stats["a"]["jsPublishRetries"], stats["a"]["jsPublishFailed"]))
EOF
log "summaries in $out"
