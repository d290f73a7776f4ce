#!/usr/bin/env bash
# Server-Sent Events, measured (issue 18): N subscribers in one room over ringcast's WebSocket
# (go-push JOIN), over ringcast's SSE (GET /sse?room=r) and over nchan's EventSource (Debian's nginx +
# libnginx-mod-nchan, /es/<room>), one after another under the same ringcast-load workload: 64-byte
# items published through each server's push endpoint at fixed rates. Installs what it needs
# (apt-get), builds, runs every point --reps times with the servers interleaved, and writes
# runs/*.json, summary.json and report.md (medians and ratios) into --out (default
# results/sse-<date>/).
#
#   bench/sse.sh [--connections N] [--rates "R R ..."] [--seconds S] [--reps N] [--servers LIST]
#                [--build DIR] [--out DIR] [--note TEXT] [--port-base P]
#
# Servers (for --servers): ringcast-ws (WebSocket, ringcast-load --protocol gopush), ringcast-sse
# (ringcast-load --protocol sse: the chunked event stream, each frame's SSE event built once per shard
# and shared), nchan-es (nchan's EventSource subscriber; it answers publishes only as fast as it fans
# out). ringcast runs with --threads 1 (merge window 0), nginx with worker_processes 1.
# Rates: items published per second into the room (each delivered to all N). The default pair is one
# rate every server keeps up with (CPU per delivery is compared there) and one far above what any of
# them can deliver (deliveries/s is then each server's capacity).
# Figures per server and rate (medians of the reps): deliveries/s, server CPU-seconds per 10^6
# deliveries, client CPU in % of its core (near 100%: the point measured the client), publishes/s
# reached, wire bytes per item, p50/p99 latency; ratios ringcast-sse / ringcast-ws (server CPU per
# delivery, deliveries/s) and ringcast-sse / nchan-es (deliveries/s).
# Core budget: the server on the last core (taskset), ringcast-load (workers and publisher) on core 0.
# Ports: P (client port, nchan's) and P+1 (push API), default 28777, apart from bench/compare.sh's, so
# the two can run on one machine (not at once, if the figures are to mean anything).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

connections=19000
rates="20 200"
seconds=3
reps=3
servers="ringcast-ws ringcast-sse nchan-es"
build=""
out=""
note=""
port_base=28777
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) connections=$2; shift 2 ;;
    --rates) rates=${2//,/ }; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --servers) servers=${2//,/ }; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --note) note=$2; shift 2 ;;
    --port-base) port_base=$2; shift 2 ;;
    *) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || out="results/sse-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out/runs" "$out/logs"
log() { printf '[sse %s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$out/run.log" >&2; }
die() { log "$*"; exit 1; }

# ---- what the run needs ----
source "$root/bench/lib.sh"
ensure_packages curl iproute2 python3 util-linux nginx libnginx-mod-nchan
if [ -z "$build" ]; then
  tools/dev build
  build=build
fi
server_bin=$build/tools/ringcast
load_bin=$build/tools/load/ringcast-load
[ -x "$server_bin" ] && [ -x "$load_bin" ] || die "no $server_bin or $load_bin: --build must be a built meson directory"
# (Read whole: `grep -q` on a pipe would stop the writer and, under pipefail, fail the check.)
load_help=$("$load_bin" --help 2>&1 || true)
grep -q -- 'gopush|raw|sse' <<<"$load_help" || die "$load_bin has no --protocol sse: build this branch's tools/load"
server_help=$("$server_bin" --help 2>&1 || true)
grep -q -- '--sse-path' <<<"$server_help" || die "$server_bin has no SSE endpoint (--sse-path): build this branch"
nchan_module=$(ls /usr/lib/nginx/modules/ngx_nchan_module.so)
# A server of 19k connections needs ~19k descriptors: up to the hard limit (20,000 here).
ulimit -n "$(ulimit -Hn)"

ncpu=$(nproc)
client_cpu=0
server_cpu=$(( ncpu > 1 ? ncpu - 1 : 0 ))
per_proc=$(( connections < 19000 ? connections : 19000 ))
ws_port=$port_base; api_port=$((port_base + 1)); nchan_port=$((port_base + 2))

{
  echo "{"
  echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "  \"host\": {\"cpus\": $ncpu, \"kernel\": \"$(uname -r)\", \"memory_kib\": $(awk '/MemTotal/ {print $2}' /proc/meminfo)},"
  echo "  \"server_cpu\": $server_cpu, \"client_cpu\": $client_cpu, \"connections\": $connections, \"reps\": $reps,"
  echo "  \"rates\": \"$rates\", \"seconds\": $seconds, \"servers\": \"$servers\","
  echo "  \"loadavg_at_start\": \"$(cut -d' ' -f1-3 /proc/loadavg)\","
  echo "  \"note\": $(/usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$note"),"
  echo "  \"git\": \"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo +changes)\","
  echo "  \"versions\": {\"nginx\": \"$(nginx -v 2>&1 | sed 's/.*\///')\", \"nchan\": \"$(dpkg-query -W -f='${Version}' libnginx-mod-nchan)\"}"
  echo "}"
} > "$out/host.json"

# ---- servers ----
server_pid=""
server_pids=""  # comma-separated: every process of the server (nginx: master and worker)
url_args=()
nchan_dir=""
cleanup() {
  stop_server
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_server() {  # start_server NAME
  local name=$1 slog="$out/logs/server-$1.log"
  port_free "$ws_port" "$api_port" "$nchan_port" || return 1
  case "$name" in
    ringcast-ws|ringcast-sse)
      taskset -c "$server_cpu" "$server_bin" --threads 1 --listen "127.0.0.1:$ws_port" --api "127.0.0.1:$api_port" \
        --heartbeat-timeout-ms 600000 --log-level warn >> "$slog" 2>&1 &
      server_pid=$!
      server_pids=$server_pid
      wait_for curl -sf "http://127.0.0.1:$api_port/health" || { log "$name did not start:"; tail -5 "$slog" >&2; return 1; }
      if [ "$name" = ringcast-ws ]; then
        url_args=(--url "ws://127.0.0.1:$ws_port/connect" --protocol gopush)
      else
        url_args=(--url "http://127.0.0.1:$ws_port/sse" --protocol sse)
      fi
      url_args+=(--publish-url "http://127.0.0.1:$api_port/push/room")
      ;;
    nchan-es)
      nchan_dir=$(mktemp -d /tmp/sse-nchan.XXXXXX)
      sed -e "s|@PORT@|$nchan_port|; s|@PREFIX@|$nchan_dir|g; s|@WORKERS@|1|; s|@MODULE@|$nchan_module|" \
        bench/peers/nchan.conf.in > "$nchan_dir/nginx.conf"
      taskset -c "$server_cpu" nginx -p "$nchan_dir" -c "$nchan_dir/nginx.conf" >> "$slog" 2>&1 &
      server_pid=$!
      wait_for curl -sf "http://127.0.0.1:$nchan_port/health" || { log "nchan did not start"; cat "$nchan_dir/error.log" >&2; return 1; }
      server_pids=$(echo "$server_pid" $(pgrep -P "$server_pid") | tr ' ' ',')
      url_args=(--url "http://127.0.0.1:$nchan_port/es/{room}" --publish-url "http://127.0.0.1:$nchan_port/pub/{room}"
                --protocol sse --publish-body '{item}' --publish-content-type application/json)
      ;;
    *) log "unknown server $name"; return 1 ;;
  esac
}

stop_server() {
  [ -n "$server_pid" ] || return 0
  stop_pid "$server_pid"
  server_pid=""
  if [ -n "$nchan_dir" ]; then
    grep -v "shared memory for nchan" "$nchan_dir/error.log" >> "$out/logs/nchan-error.log" 2>/dev/null || true
    rm -rf "$nchan_dir"; nchan_dir=""
  fi
  sleep 0.5  # let the run's sockets go before the next server binds
}

# run_point SERVER RATE REP: one measured run, server started fresh.
run_point() {
  local name=$1 rate=$2 rep=$3
  local tag="$name-$rate-r$rep"
  if ! start_server "$name"; then stop_server; return 0; fi
  local rc=0
  taskset -c "$client_cpu" "$load_bin" "${url_args[@]}" --connections "$connections" --per-proc "$per_proc" \
    --connect-rate 0 --heartbeat 0 --connect-timeout 120 --hold 1 --drain-timeout 120 --timeout 400 \
    --rooms 1 --payload 64 --publish-rate "$rate" --duration "$seconds" \
    --watch-pids "$server_pids" --json "$out/runs/$tag.json" \
    > "$out/logs/$tag.txt" 2> "$out/logs/$tag.progress" || rc=$?
  local load1
  load1=$(cut -d' ' -f1 /proc/loadavg)
  if [[ $name == ringcast* ]]; then
    curl -s "http://127.0.0.1:$api_port/stats" > "$out/logs/$tag.stats.json" || true
  fi
  stop_server
  annotate "$out/runs/$tag.json" server="$name" rate="$rate" rep="$rep" loadavg_1m="$load1" exit="$rc"
  log "$tag: $(grep -E 'items/s while|cpu|result' "$out/logs/$tag.txt" 2>/dev/null | tr -s ' ' | tr '\n' ' ' | cut -c1-300)"
}

for rep in $(seq 1 "$reps"); do
  for rate in $rates; do
    for s in $servers; do run_point "$s" "$rate" "$rep"; done
  done
done

log "report"
/usr/bin/python3 bench/sse_report.py "$out"
log "done: $out/report.md"
