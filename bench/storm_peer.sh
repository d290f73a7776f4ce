#!/usr/bin/env bash
# A connect storm on one core, beside the uWebSockets peer (issue 20): N clients (default 18,000: one
# process may hold 20,000 files here) of the neutral epoll client (ringcast-epoll-load) connecting with
# K handshakes in flight (default: all of them at once), each JOINing one room (the uWS peer subscribes
# on open), against one server process: ringcast `--threads 1`, the uWebSockets broadcast peer
# (../shared/peers/uws, built into OUT/uws) and any --extra NAME=BINARY ringcast build, interleaved,
# --reps times, the server on CPU 0 and the client on CPU 1. Records the server's CPU (utime+stime of its
# process) from before the first connect until the client says every connection is open (polled every
# 10 ms; the client's first warm-up publish follows at once, so up to 10 ms of it can fall inside),
# per connection: 10^6 / that is how many connections per second one core takes when the server alone
# is the limit. bench/storm_1m.sh is the same storm at 1M over many processes. --servers may name raw:
# the floor, ringcast-rawserve (tools/rawserve), which only accepts, answers the upgrade and drops what
# it reads.
#
#   bench/storm_peer.sh [--connections N] [--inflight K] [--reps R] [--servers LIST]
#                       [--extra NAME=BINARY] [--uws-src DIR] [--out DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source "$root/bench/lib.sh"
connections=18000
inflight=""
reps=3
servers="ringcast uws"
extra_names=() extra_bins=()
uws_src="$root/../shared/peers/uws"
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) connections=$2; shift 2 ;;
    --inflight) inflight=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --servers) servers=${2//,/ }; shift 2 ;;
    --extra) extra_names+=("${2%%=*}"); extra_bins+=("${2#*=}"); servers+=" ${2%%=*}"; shift 2 ;;
    --uws-src) uws_src=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--connections N] [--inflight K] [--reps R] [--servers LIST] [--extra NAME=BINARY] [--uws-src DIR] [--out DIR]" >&2; exit 2 ;;
  esac
done
[ -n "$inflight" ] || inflight=$connections
[ -n "$out" ] || out="results/storm-peer-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out/logs"
log() { printf '[storm-peer %s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$out/run.log" >&2; }
tools/dev build
client_bin=build/tools/epoll_load/ringcast-epoll-load
uws_bin=""
case " $servers " in *" uws "*) build_uws_peer "$uws_src" "$out/uws" || exit 1 ;; esac
ws_port=18777; api_port=18799; uws_port=18380
pids=()
guard_run 3600 "^$client_bin "

# CPU ticks (utime + stime) of process $1 and all its threads.
ticks() { awk '{s += $14 + $15} END {print s + 0}' /proc/"$1"/task/*/stat 2>/dev/null || echo 0; }

# run NAME REP: one storm against server NAME; appends a JSON line to $out/runs.jsonl.
run() {
  local name=$1 rep=$2 bin="build/tools/ringcast" spid url_args
  for i in "${!extra_names[@]}"; do [ "${extra_names[$i]}" = "$name" ] && bin=${extra_bins[$i]}; done
  if [ "$name" = uws ] || [ "$name" = raw ]; then
    bin=$uws_bin
    if [ "$name" = raw ]; then bin=build/tools/ringcast-rawserve; fi
    taskset -c 0 "$bin" "$uws_port" 127.0.0.1 > "$out/logs/server-$name-$rep.log" 2>&1 &
    spid=$!
    for _ in $(seq 1 100); do grep -q "^listening" "$out/logs/server-$name-$rep.log" && break; sleep 0.05; done
    url_args=(--url "ws://127.0.0.1:$uws_port/ws" --publish-url "http://127.0.0.1:$uws_port/push" --format raw --join r)
    # The floor broadcasts nothing: the client stops after its warm-up (and says so).
    if [ "$name" = raw ]; then url_args+=(--warmup-timeout 1); fi
  else
    taskset -c 0 "$bin" --threads 1 --listen "127.0.0.1:$ws_port" --api "127.0.0.1:$api_port" \
      --heartbeat-timeout-ms 900000 --log-level warn > "$out/logs/server-$name-$rep.log" 2>&1 &
    spid=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$api_port/health" >/dev/null 2>&1 && break; sleep 0.05; done
    url_args=(--url "ws://127.0.0.1:$ws_port/connect" --publish-url "http://127.0.0.1:$api_port/push/room" --format gopush --join r)
  fi
  pids+=("$spid")
  sleep 1
  local progress="$out/logs/client-$name-$rep.txt" t0 t1 c0 c1 cpid
  : > "$progress"
  c0=$(ticks "$spid"); t0=$(date +%s.%N)
  taskset -c 1 "$client_bin" "${url_args[@]}" --connections "$connections" --per-source 25000 \
    --connect-inflight "$inflight" --rate 1 --duration 1 --drain-timeout 30 \
    --json "$out/logs/client-$name-$rep.json" > "$progress" 2>&1 &
  cpid=$!
  while ! grep -q " failed in " "$progress" && kill -0 "$cpid" 2>/dev/null; do sleep 0.01; done
  c1=$(ticks "$spid"); t1=$(date +%s.%N)
  wait "$cpid" || log "$name: the client reported problems (see $progress)"
  local stats="{}"
  [ "$name" != uws ] && [ "$name" != raw ] && stats=$(curl -s "http://127.0.0.1:$api_port/stats" || echo "{}")
  kill "$spid"; wait "$spid" 2>/dev/null || true
  /usr/bin/python3 - "$name" "$rep" "$out/logs/client-$name-$rep.json" "$((c1 - c0))" "$(getconf CLK_TCK)" \
    "$t0" "$t1" "$stats" >> "$out/runs.jsonl" <<'PY'
import json, sys
name, rep, client_json, ticks, hz, t0, t1, stats = sys.argv[1:9]
c = json.load(open(client_json))
online = c["connect"]["connected"]
cpu_s = int(ticks) / int(hz)
print(json.dumps({
    "server": name, "rep": int(rep), "connected": online, "failed": c["connect"]["failed"],
    "connect_seconds": c["connect"]["seconds"], "window_seconds": round(float(t1) - float(t0), 3),
    "server_cpu_s": cpu_s, "cpu_us_per_connection": round(cpu_s * 1e6 / max(1, online), 1),
    "recv_buffers_exhausted": json.loads(stats).get("recvBuffersExhausted"),
    "delivered_missing": (c.get("delivery") or {}).get("missing")}))
PY
  log "$name rep $rep: $(tail -n 1 "$out/runs.jsonl")"
}

log "$connections connections, $inflight handshakes in flight, servers: $servers, $reps reps"
: > "$out/runs.jsonl"
for rep in $(seq 1 "$reps"); do
  for s in $servers; do run "$s" "$rep"; done
done
/usr/bin/python3 - "$out" "$servers" <<'PY' | tee "$out/report.md"
import json, statistics, sys
out, servers = sys.argv[1], sys.argv[2].split()
runs = [json.loads(l) for l in open(f"{out}/runs.jsonl")]
med = {s: statistics.median(r["cpu_us_per_connection"] for r in runs if r["server"] == s) for s in servers}
base = med.get("uws")
print("| server | server CPU per connection (median) | connections/s per core | ÷ uWS | every run |")
print("| --- | --- | --- | --- | --- |")
for s in servers:
    each = ", ".join(str(r["cpu_us_per_connection"]) for r in runs if r["server"] == s)
    ratio = f"{med[s] / base:.2f}×" if base else ""
    print(f"| {s} | {med[s]:.1f} µs | {1e6 / med[s]:,.0f} | {ratio} | {each} |")
bad = [r for r in runs if r["failed"] or (r["delivered_missing"] and r["server"] != "raw")]
print(f"\nFailed connects or missing deliveries: {len(bad)} runs of {len(runs)}.")
json.dump({"medians_us_per_connection": med, "runs": runs}, open(f"{out}/summary.json", "w"), indent=2)
PY
