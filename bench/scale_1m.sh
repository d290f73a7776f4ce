#!/usr/bin/env bash
# The scale run: N WebSocket clients (default 1,000,000) on one `ringcast --workers` instance on this
# machine, every client in one of 1,000 rooms plus a room of everyone. Records connect time and rate,
# server memory per connection, kernel memory per connection, the time one broadcast takes to reach
# everyone (and the same bytes written by a plain loop to as many raw TCP connections: the physical
# baseline, so the result is a ratio), then a room-publishing phase: deliveries/s, latency, losses.
#
#   bench/scale_1m.sh [--connections N] [--room-rate R] [--out DIR]
#
# Everything it starts is stopped on exit; the run is bounded by --deadline (seconds, default 1800).
# Needs root for the sysctl profile (tuning/apply.sh); without it, it runs with what the machine has.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source "$root/bench/lib.sh"

connections=1000000
rooms=1000
room_rate=200        # items/s to the rooms in the publishing phase (each reaches N/rooms clients)
room_seconds=20
broadcasts=5
deadline=1800
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) connections=$2; shift 2 ;;
    --room-rate) room_rate=$2; shift 2 ;;
    --room-seconds) room_seconds=$2; shift 2 ;;
    --broadcasts) broadcasts=$2; shift 2 ;;
    --deadline) deadline=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--connections N] [--room-rate R] [--room-seconds S] [--broadcasts K] [--out DIR]" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || out="results/scale-${connections}-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
log() { printf '[scale %s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$out/run.log" >&2; }

tools/dev build
server_bin=build/tools/ringcast
load_bin=build/tools/load/ringcast-load
raw_bin=build/tools/ringcast-rawcast

# One process may hold 20,000 files here: workers of one shard each, ~18k connections apiece so that
# SO_REUSEPORT's uneven spread still fits.
per_worker=18000
workers=$(( (connections + per_worker - 1) / per_worker + 1 ))
per_proc=19000
ws_port=17777
api_port=17799

pids=()
guard_run "$deadline" "ringcast-load .*--url ws://127.0.0.1:$ws_port"

if [ "$(id -u)" -eq 0 ]; then tuning/apply.sh; fi
tuning/check.sh --connections "$connections" > "$out/tuning-check.txt" 2>&1 || true

# Kernel memory: the objects in use in every slab cache (sockets, TCP control blocks, files, epoll and
# io_uring items; free objects cached by the allocator are not counted) plus TCP buffer pages.
kernel_bytes() {
  local slab tcp_pages
  slab=$(awk 'NR > 2 {sum += $2 * $4} END {printf "%.0f\n", sum}' /proc/slabinfo 2>/dev/null || echo 0)
  tcp_pages=$(awk '/^TCP:/ {for (i = 1; i <= NF; i++) if ($i == "mem") print $(i + 1)}' /proc/net/sockstat)
  echo $(( slab + tcp_pages * 4096 ))
}
# Sums a /proc/PID/status or smaps_rollup field (kB) over the server's processes.
server_pids() { pgrep -f "^$server_bin .*--listen 127.0.0.1:$ws_port" || true; }
sum_field() {  # sum_field FILE FIELD
  local total=0 v
  for p in $(server_pids); do
    v=$(awk -v f="$2:" '$1 == f {print $2}' "/proc/$p/$1" 2>/dev/null || echo 0)
    total=$(( total + ${v:-0} ))
  done
  echo $(( total * 1024 ))
}

kernel_before=$(kernel_bytes)
log "starting ringcast: $workers workers x 1 shard for $connections connections"
"$server_bin" --workers "$workers" --threads 1 --listen 127.0.0.1:$ws_port --api 127.0.0.1:$api_port \
  --heartbeat-timeout-ms 900000 --recv-buffer-count 64 --recv-buffer-bytes 2048 --log-level warn \
  > "$out/server.log" 2>&1 &
server_pid=$!
pids+=("$server_pid")
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$api_port/health" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$api_port/health" >/dev/null || { log "server did not start"; cat "$out/server.log"; exit 1; }

load_common=(--url "ws://127.0.0.1:$ws_port/connect" --publish-url "http://127.0.0.1:$api_port/push/room"
             --connections "$connections" --rooms "$rooms" --also-room all --per-proc "$per_proc"
             --connect-rate 0 --connect-timeout 600 --heartbeat 0 --timeout "$deadline")

# Phase 1: connect everyone, hold (memory is sampled meanwhile), then timed broadcasts to everyone.
log "phase 1: $connections connections, then $broadcasts broadcasts to all"
# Broadcasts are spaced so that one has reached everyone before the next starts.
gap_s=$(( connections / 100000 + 2 ))
"$load_bin" "${load_common[@]}" --hold 25 --broadcasts "$broadcasts" --publish-rate "$(awk "BEGIN { print 1 / $gap_s }")" \
  --drain-timeout 120 \
  --json "$out/broadcast.json" > "$out/broadcast.txt" 2> "$out/broadcast.progress" &
load_pid=$!
pids+=("$load_pid")
connected=0
for _ in $(seq 1 6000); do
  connected=$(curl -s "http://127.0.0.1:$api_port/stats" | sed -n 's/.*"onlineConnections":\([0-9]*\).*/\1/p')
  [ "${connected:-0}" -ge "$connections" ] && break
  kill -0 "$load_pid" 2>/dev/null || break
  sleep 0.1
done
sleep 5  # let the last joins settle before measuring
kernel_after=$(kernel_bytes)
rss=$(sum_field status VmRSS); anon=$(sum_field status RssAnon); shmem=$(sum_field status RssShmem)
pss=$(sum_field smaps_rollup Pss); pss_shmem=$(sum_field smaps_rollup Pss_Shmem)
online=$(curl -s "http://127.0.0.1:$api_port/stats" | sed -n 's/.*"onlineConnections":\([0-9]*\).*/\1/p')
log "held: $online connections online; server RSS $((rss >> 20)) MiB (anon $((anon >> 20)) MiB, ring/shm $((shmem >> 20)) MiB), PSS $((pss >> 20)) MiB"
wait "$load_pid" || log "phase 1 load run reported problems (see broadcast.txt)"
cat "$out/broadcast.txt" | tee -a "$out/run.log" >&2

# Phase 2: publish to the rooms for a while: deliveries/s, latency, loss.
log "phase 2: $room_rate items/s to $rooms rooms for $room_seconds s"
"$load_bin" "${load_common[@]}" --publish-target rooms --publish-rate "$room_rate" --duration "$room_seconds" \
  --payload 64 --drain-timeout 120 --json "$out/rooms.json" > "$out/rooms.txt" 2> "$out/rooms.progress" ||
  log "phase 2 load run reported problems (see rooms.txt)"
cat "$out/rooms.txt" | tee -a "$out/run.log" >&2
server_stats=$(curl -s "http://127.0.0.1:$api_port/stats")
echo "$server_stats" > "$out/server-stats.json"

# Stop the server (drain) before the baseline, so both get the machine to themselves.
kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true
sleep 3

# The physical baseline: the broadcast's frame bytes, written by a plain loop to as many connections.
frame_bytes=$(/usr/bin/python3 -c "import json;d=json.load(open('$out/broadcast.json'));print(max(1,round(d['delivery']['bytes']/max(1,d['delivery']['frames']))))")
log "baseline: $frame_bytes bytes to $connections raw TCP connections, $broadcasts rounds"
"$raw_bin" --connections "$connections" --bytes "$frame_bytes" --rounds "$broadcasts" --per-proc 9500 \
  --json "$out/rawcast.json" | tee -a "$out/run.log" >&2

/usr/bin/python3 - "$out" "$connections" "$rss" "$anon" "$shmem" "$pss" "$pss_shmem" "$kernel_before" "$kernel_after" "$workers" <<'EOF'
import json, sys
out, n, rss, anon, shmem, pss, pss_shmem, kb, ka, workers = sys.argv[1], *map(int, sys.argv[2:])
b = json.load(open(f"{out}/broadcast.json"))
r = json.load(open(f"{out}/rooms.json"))
raw = json.load(open(f"{out}/rawcast.json"))
bc = b["single_broadcast"]
summary = {
    "connections": n,
    "server_workers": workers,
    "connect": b["connect"],
    "server_memory": {
        "rss_bytes_total": rss, "rss_anon_bytes": anon, "rss_shmem_bytes": shmem, "pss_bytes": pss,
        "user_bytes_per_connection": round(anon / n, 1),
        "pss_minus_ring_bytes_per_connection": round((pss - pss_shmem) / n, 1),
        "rss_minus_ring_bytes_per_connection": round((rss - shmem) / n, 1),
    },
    "kernel_bytes_per_connection_pair": round((ka - kb) / n, 1),
    "broadcast": {"each_ms": bc["each_ms"], "median_ms": bc["ms_to_last_median"], "reached": bc["each_reached"]},
    "baseline_raw_tcp": {"each_ms": raw["broadcast_ms"], "median_ms": raw["broadcast_ms_median"], "bytes": raw["bytes"]},
    "broadcast_vs_baseline": round(bc["ms_to_last_median"] / raw["broadcast_ms_median"], 3),
    "rooms_phase": {"publish": r["publish"], "delivery": r["delivery"], "latency_ms": r["latency_ms"], "closes": r["closes"]},
    "losses": {"broadcast_missing": b["delivery"]["missing"], "rooms_missing": r["delivery"]["missing"],
               "duplicates": b["delivery"]["duplicates"] + r["delivery"]["duplicates"]},
}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
print(json.dumps(summary, indent=2))
EOF
log "summary: $out/summary.json"
