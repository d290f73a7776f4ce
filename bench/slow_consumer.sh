#!/usr/bin/env bash
# Slow consumers do not slow the others: the same room, the same publish stream, twice per repetition:
#   healthy: every connection reads;
#   stalled: one connection in ten stops reading after 20 items.
# The server cuts a stalled connection (close 1008, counted in closeSlowConsumer) once its kernel
# socket buffers and out_queue_bytes_max more are full; what it could not send is counted in
# framesDropped. The figures are the reading connections' publish->receive latency (ringcast-load
# only times what arrives, so after the cut only the healthy connections contribute), side by side,
# medians over --reps, and the server's counters for the stalled runs.
#
#   bench/slow_consumer.sh [--connections N] [--rate R] [--count K] [--payload B] [--reps N] [--out DIR]
#                          [--build DIR]
#
# Everything it starts is stopped on exit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

connections=500
rate=100
count=1500
payload=4000
reps=3
out=""
build=build
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) connections=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --payload) payload=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || out="results/slow-consumer-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
[ -x "$build/tools/ringcast" ] && [ -x "$build/tools/load/ringcast-load" ] || tools/dev build >&2

source "$(dirname "$0")/lib.sh"
server_pid=""
trap stop_ringcast EXIT

# One server per run, so the counters are the run's. out_queue_bytes_max 64 KiB: a stalled reader is cut
# soon after its socket buffers fill.
run() {  # run NAME REP STALL_FLAGS...
  local name=$1 rep=$2
  shift 2
  start_ringcast "$out/$name-$rep.server.log" "$build/tools/ringcast" --listen 127.0.0.1:0 --api 127.0.0.1:0 \
    --threads 1 --out-queue-bytes-max 65536 --merge-frame-bytes-max 32768 --api-body-bytes-max 32768 \
    --close-timeout-ms 2000
  local ws=$serving_ws api=$serving_api
  "$build/tools/load/ringcast-load" --url "$ws" --publish-url "$api/push/room" --connections "$connections" \
    --rooms 1 --publish-rate "$rate" --publish-count "$count" --payload "$payload" --drain-timeout 5 \
    --json "$out/$name-$rep.json" "$@" >"$out/$name-$rep.load.txt" 2>&1 || true
  curl -s "$api/stats" >"$out/$name-$rep.stats.json"
  stop_ringcast
}

for rep in $(seq "$reps"); do
  echo "[slow-consumer] rep $rep/$reps" >&2
  run healthy "$rep"
  run stalled "$rep" --stall-after 20 --stall-every 10
done

/usr/bin/python3 - "$out" "$reps" <<'EOF' | tee "$out/report.md"
import json, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
def load(name, key):
    vals = []
    for r in range(1, reps + 1):
        s = json.load(open(f"{out}/{name}-{r}.json"))
        st = json.load(open(f"{out}/{name}-{r}.stats.json"))
        vals.append(key(s, st))
    return statistics.median(vals)
rows = [("p50 ms", lambda s, st: s["latency_ms"]["p50"]), ("p99 ms", lambda s, st: s["latency_ms"]["p99"]),
        ("p999 ms", lambda s, st: s["latency_ms"]["p999"]),
        ("stalled connections", lambda s, st: s["delivery"]["stalled_connections"]),
        ("received items", lambda s, st: s["delivery"]["received"]),
        ("missing items", lambda s, st: s["delivery"]["missing"]),
        ("closeSlowConsumer", lambda s, st: st["closeSlowConsumer"]),
        ("framesDropped", lambda s, st: st["framesDropped"])]
print("| median of %d runs | healthy | with stalled readers | ratio |" % reps)
print("| --- | --- | --- | --- |")
for label, key in rows:
    h, t = load("healthy", key), load("stalled", key)
    ratio = "%.2f" % (t / h) if h else "-"
    print(f"| {label} | {h:g} | {t:g} | {ratio} |")
EOF
