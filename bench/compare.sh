#!/usr/bin/env bash
# Side by side: ringcast, a node `ws` broadcast server, nchan (Debian's nginx + libnginx-mod-nchan) and
# the raw TCP write loop (ringcast-rawcast), one after another on this machine under the same
# ringcast-load workload. Installs what it needs (apt-get, npm), builds, runs every scenario --reps
# times with the servers interleaved, and writes runs/*.json, summary.json, report.md (ratios) and
# PNG plots (gnuplot) into --out (default results/compare-<date>/).
#
#   bench/compare.sh [--quick] [--reps N] [--connections N] [--scenarios LIST] [--servers LIST]
#                    [--build DIR] [--extra NAME=BINARY] [--out DIR]
#                    [--latency-rates "R R ..."] [--size-rate R] [--rooms-rates "R R ..."] [--note TEXT]
#                    [--fifo]
#
# Core budget: every server gets one core (taskset -c <server cpu>: ringcast --threads 1, nginx
# worker_processes 1, node is one thread anyway) and the clients (ringcast-load's workers and its
# publisher) get another; rawcast's writers run on the server core and its readers on the client core.
# --fifo runs the servers and ringcast-load under SCHED_FIFO (chrt -f 1), so that other work on the
# machine (even at nice 19) cannot delay their wake-ups by a scheduler tick: for latency points on a
# shared box; keep it to light scenarios (rooms, latency), as a saturated FIFO task starves the rest.
# CPU seconds are read from /proc/PID/stat (utime + stime) of the server's processes and of
# ringcast-load's processes over the measured window (end of hold -> everything delivered).
#
# Scenarios (names for --scenarios): latency (19k connections in one room, 64 B items, rising publish
# rates: items published per second into the room, each delivered to all 19k), size (the same room at
# an offered load above every server's capacity, 64 B / 512 B / 4 KiB), rooms (1,000 rooms x 19
# members at 1,000 and 5,000 items/s published in all: the "19k connections, 1k msg/s" point), burst
# (one burst into the big room; ringcast with and without a merge window), idle (memory with 19k idle connections), raw (the write-loop baseline).
# Servers (for --servers): ringcast (merge window 0: what one loop turn drains for a room leaves as one
# frame), ringcast-single (--merge-batch-items-max 1: one frame per item, no coalescing), node, nchan;
# the burst scenario adds ringcast-window (--merge-window-ms 10). --extra NAME=BINARY adds another
# ringcast binary (e.g. an older build, for a before/after run) under NAME.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

reps=3
connections=19000
scenarios="idle latency size rooms burst raw"
servers="ringcast ringcast-single node nchan"
build=""
out=""
quick=0
extras=()
prio=(env)   # --fifo: (chrt -f 1)
opt_latency_rates=""; opt_size_rate=""; opt_rooms_rates=""; note=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --reps) reps=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --scenarios) scenarios=${2//,/ }; shift 2 ;;
    --servers) servers=${2//,/ }; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --extra) extras+=("$2"); shift 2 ;;
    --out) out=$2; shift 2 ;;
    --latency-rates) opt_latency_rates=${2//,/ }; shift 2 ;;
    --size-rate) opt_size_rate=$2; shift 2 ;;
    --rooms-rates) opt_rooms_rates=${2//,/ }; shift 2 ;;
    --note) note=$2; shift 2 ;;
    --fifo) prio=(chrt -f 1); shift ;;
    *) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || out="results/compare-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out/runs" "$out/logs"
log() { printf '[compare %s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$out/run.log" >&2; }

# Scenario parameters (the quick mode is a smoke test of the whole pipeline, not a measurement).
latency_rates="1 5 10 20 40"
sizes="64 512 4096"
# ringcast coalesces more as the offered rate rises, so "saturation" needs an offered rate well above
# what it delivers at 50/s (~0.9M deliveries/s on a 2-core VM); the peers answer publishes only
# as fast as they fan out, so for them the publish rate reached is what they can take.
size_rate=150; size_seconds=2
rooms=1000; rooms_rates="1000 5000"
burst_count=100
run_seconds=2
if [ "$quick" -eq 1 ]; then
  reps=1; connections=2000; latency_rates="10 40"; sizes="64 4096"; rooms=100; rooms_rates="1000"
  burst_count=50; run_seconds=1; size_seconds=1
fi
[ -n "$opt_latency_rates" ] && latency_rates=$opt_latency_rates
[ -n "$opt_size_rate" ] && size_rate=$opt_size_rate
[ -n "$opt_rooms_rates" ] && rooms_rates=$opt_rooms_rates

# ---- what the run needs ----
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing: ${missing[*]}"
  # Installing nginx would start the system service; this run uses its own nginx on its own port.
  # A policy-rc.d that refuses service starts is put in place for the install if there is none.
  local policy_made=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod 755 /usr/sbin/policy-rc.d
    policy_made=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$policy_made" -eq 1 ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
}
ensure_packages curl iproute2 nginx libnginx-mod-nchan gnuplot-nox python3
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then ensure_packages nodejs npm; fi
if [ ! -d bench/peers/node_modules/ws ]; then
  log "installing the npm package ws for the node peer"
  npm install --prefix bench/peers --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null
fi
if [ -z "$build" ]; then
  tools/dev build
  build=build
fi
server_bin=$build/tools/ringcast
load_bin=$build/tools/load/ringcast-load
raw_bin=$build/tools/ringcast-rawcast
nchan_module=$(ls /usr/lib/nginx/modules/ngx_nchan_module.so)
declare -A extra_bin=()
for e in "${extras[@]}"; do extra_bin[${e%%=*}]=${e#*=}; servers="$servers ${e%%=*}"; done

ncpu=$(nproc)
client_cpu=0
server_cpu=$(( ncpu > 1 ? ncpu - 1 : 0 ))
per_proc=$(( connections < 19000 ? connections : 19000 ))
ws_port=18777; api_port=18799; node_port=18080; nchan_port=18180

{
  echo "{"
  echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "  \"host\": {\"cpus\": $ncpu, \"kernel\": \"$(uname -r)\", \"memory_kib\": $(awk '/MemTotal/ {print $2}' /proc/meminfo)},"
  echo "  \"server_cpu\": $server_cpu, \"client_cpu\": $client_cpu, \"connections\": $connections, \"reps\": $reps,"
  echo "  \"latency_rates\": \"$latency_rates\", \"size_rate\": $size_rate, \"rooms\": $rooms, \"rooms_rates\": \"$rooms_rates\","
  echo "  \"scheduling\": \"${prio[*]}\","
  echo "  \"burst_count\": $burst_count, \"loadavg_at_start\": \"$(cut -d' ' -f1-3 /proc/loadavg)\","
  echo "  \"note\": $(/usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$note"),"
  echo "  \"git\": \"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo +changes)\","
  echo "  \"versions\": {\"node\": \"$(node --version)\", \"ws\": \"$(node -p "require('$root/bench/peers/node_modules/ws/package.json').version")\","
  echo "               \"nginx\": \"$(nginx -v 2>&1 | sed 's/.*\///')\", \"nchan\": \"$(dpkg-query -W -f='${Version}' libnginx-mod-nchan)\"}"
  echo "}"
} > "$out/host.json"

# ---- servers ----
server_pid=""
server_pids=""      # comma-separated: every process of the server (nginx: master and workers)
server_rss0=0       # anonymous RSS of those processes right after start (bytes)
url_args=()
nchan_dir=""
started=()
cleanup() {
  stop_server
  for p in "${started[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  if [ -n "$nchan_dir" ]; then rm -rf "$nchan_dir"; fi
  return 0  # the script's exit status is its own, not the last test's here
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rss_anon_bytes() {  # rss_anon_bytes PID,PID...
  local total=0 v
  for p in ${1//,/ }; do
    v=$(awk '$1 == "RssAnon:" {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    total=$(( total + ${v:-0} ))
  done
  echo $(( total * 1024 ))
}

wait_health() {  # wait_health URL
  for _ in $(seq 1 100); do
    curl -sf "$1" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  return 1
}

port_free() {  # port_free PORT...: nothing listens there (nginx's reuseport would share it silently)
  local p
  for p in "$@"; do
    if [ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]; then log "port $p is in use by another process"; return 1; fi
  done
}

start_server() {  # start_server NAME
  local name=$1 bin=$server_bin extra=() kind=$1
  port_free "$ws_port" "$api_port" "$node_port" "$nchan_port" || return 1
  [ -n "${extra_bin[$name]:-}" ] && kind=extra  # --extra NAME=BINARY: another ringcast binary
  case "$kind" in
    ringcast|ringcast-single|ringcast-window|extra)
      case "$kind" in
        ringcast-single) extra=(--merge-batch-items-max 1) ;;
        ringcast-window) extra=(--merge-window-ms 10) ;;
        extra) bin=${extra_bin[$name]} ;;
      esac
      "${prio[@]}" taskset -c "$server_cpu" "$bin" --threads 1 --listen "127.0.0.1:$ws_port" --api "127.0.0.1:$api_port" \
        --heartbeat-timeout-ms 600000 --log-level warn "${extra[@]}" > "$out/logs/server-$name.log" 2>&1 &
      server_pid=$!
      server_pids=$server_pid
      wait_health "http://127.0.0.1:$api_port/health" || { log "$name did not start"; return 1; }
      url_args=(--url "ws://127.0.0.1:$ws_port/connect" --publish-url "http://127.0.0.1:$api_port/push/room"
                --protocol gopush)
      ;;
    node)
      "${prio[@]}" taskset -c "$server_cpu" node bench/peers/node_ws_server.mjs --port "$node_port" \
        > "$out/logs/server-node.log" 2>&1 &
      server_pid=$!
      server_pids=$server_pid
      wait_health "http://127.0.0.1:$node_port/health" || { log "node did not start"; return 1; }
      url_args=(--url "ws://127.0.0.1:$node_port/sub/{room}" --publish-url "http://127.0.0.1:$node_port/pub/{room}"
                --protocol raw --publish-body '{item}' --publish-content-type application/json)
      ;;
    nchan)
      nchan_dir=$(mktemp -d /tmp/compare-nchan.XXXXXX)
      sed -e "s|@PORT@|$nchan_port|; s|@PREFIX@|$nchan_dir|g; s|@WORKERS@|1|; s|@MODULE@|$nchan_module|" \
        bench/peers/nchan.conf.in > "$nchan_dir/nginx.conf"
      "${prio[@]}" taskset -c "$server_cpu" nginx -p "$nchan_dir" -c "$nchan_dir/nginx.conf" > "$out/logs/server-nchan.log" 2>&1 &
      server_pid=$!
      wait_health "http://127.0.0.1:$nchan_port/health" || { log "nchan did not start"; cat "$nchan_dir/error.log" >&2; return 1; }
      server_pids=$(echo "$server_pid" $(pgrep -P "$server_pid") | tr ' ' ',')
      url_args=(--url "ws://127.0.0.1:$nchan_port/sub/{room}" --publish-url "http://127.0.0.1:$nchan_port/pub/{room}"
                --protocol raw --publish-body '{item}' --publish-content-type application/json)
      ;;
    *) log "unknown server $name"; return 1 ;;
  esac
  started+=("$server_pid")
  sleep 0.3
  server_rss0=$(rss_anon_bytes "$server_pids")
}

stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  if [ -n "$nchan_dir" ]; then
    grep -v "shared memory for nchan" "$nchan_dir/error.log" >> "$out/logs/nchan-error.log" 2>/dev/null || true
    rm -rf "$nchan_dir"; nchan_dir=""
  fi
  sleep 0.5  # let the sockets of the run go before the next server binds
}

# run_point SCENARIO SERVER PARAM REP [ringcast-load options...]: one measured run, server started fresh.
run_point() {
  local scenario=$1 name=$2 param=$3 rep=$4; shift 4
  local tag="$scenario-$name-$param-r$rep"
  if ! start_server "$name"; then stop_server; return 0; fi
  local rc=0
  "${prio[@]}" taskset -c "$client_cpu" "$load_bin" "${url_args[@]}" --connections "$connections" --per-proc "$per_proc" \
    --connect-rate 0 --heartbeat 0 --connect-timeout 120 --hold 1 --drain-timeout 120 --timeout 400 \
    --watch-pids "$server_pids" --json "$out/runs/$tag.json" "$@" \
    > "$out/logs/$tag.txt" 2> "$out/logs/$tag.progress" || rc=$?
  local uptime_load
  uptime_load=$(cut -d' ' -f1 /proc/loadavg)
  # ringcast's own counters (sends, frames, items): how many items each send carried.
  if [[ $name == ringcast* || -n "${extra_bin[$name]:-}" ]]; then
    curl -s "http://127.0.0.1:$api_port/stats" > "$out/logs/$tag.stats.json" || true
  fi
  stop_server
  # What only this script knows: the server's RSS before any connection, the load average.
  /usr/bin/python3 - "$out/runs/$tag.json" "$scenario" "$name" "$param" "$rep" "$server_rss0" "$uptime_load" "$rc" <<'EOF' || true
import json, sys
path, scenario, server, param, rep, rss0, load, rc = sys.argv[1:]
try:
    d = json.load(open(path))
except Exception:
    d = {"clean": False, "problems": "no summary (exit %s)" % rc}
d["compare"] = {"scenario": scenario, "server": server, "param": param, "rep": int(rep),
                "server_rss_anon_start_bytes": int(rss0), "loadavg_1m": float(load), "exit": int(rc)}
json.dump(d, open(path, "w"))
EOF
  log "$tag: $(grep -E 'items/s while|latency|result' "$out/logs/$tag.txt" 2>/dev/null | tr -s ' ' | tr '\n' ' ' | cut -c1-220)"
}

# ---- scenarios ----
for rep in $(seq 1 "$reps"); do
  for scenario in $scenarios; do
    case "$scenario" in
      idle)
        for s in $servers; do run_point idle "$s" 0 "$rep" --rooms 1 --hold 3; done ;;
      latency)
        for rate in $latency_rates; do
          for s in $servers; do
            run_point latency "$s" "$rate" "$rep" --rooms 1 --payload 64 --publish-rate "$rate" --duration "$run_seconds"
          done
        done ;;
      size)
        for size in $sizes; do
          for s in $servers; do
            run_point size "$s" "$size" "$rep" --rooms 1 --payload "$size" --publish-rate "$size_rate" \
              --duration "$size_seconds"
          done
        done ;;
      rooms)
        for rate in $rooms_rates; do
          for s in $servers; do
            run_point rooms "$s" "$rate" "$rep" --rooms "$rooms" --payload 64 --publish-rate "$rate" --duration "$run_seconds"
          done
        done ;;
      burst)
        for s in $servers ringcast-window; do
          run_point burst "$s" "$burst_count" "$rep" --rooms 1 --payload 64 --publish-rate 0 --publish-count "$burst_count"
        done ;;
      raw)
        # The same bytes ringcast sends for one item of each size (its frame: header + envelope + item).
        for size in $sizes; do
          frame=$(( size + 35 + (size + 35 > 125 ? (size + 35 > 65535 ? 10 : 4) : 2) ))
          "$raw_bin" --connections "$connections" --bytes "$frame" --rounds 20 --per-proc "$per_proc" \
            --writer-cpus "$server_cpu" --reader-cpus "$client_cpu" --json "$out/runs/raw-rawcast-$size-r$rep.json" \
            > "$out/logs/raw-$size-r$rep.txt" 2>&1 || log "rawcast failed (see logs/raw-$size-r$rep.txt)"
          log "raw-$size-r$rep: $(head -1 "$out/logs/raw-$size-r$rep.txt" | cut -c1-160)"
        done ;;
      *) log "unknown scenario $scenario" ;;
    esac
  done
done

log "report"
/usr/bin/python3 bench/compare_report.py "$out"
log "done: $out/report.md"
