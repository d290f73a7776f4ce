#!/usr/bin/env bash
# Side by side: ringcast, the uWebSockets broadcast peer (../shared/peers/uws), a node `ws` broadcast
# server, nchan (Debian's nginx + libnginx-mod-nchan) and the raw TCP write loop (ringcast-rawcast), one
# after another on this machine under the same workload. Installs what it needs (apt-get, npm), builds,
# runs every scenario --reps times with the servers interleaved, and writes runs/*.json, summary.json,
# report.md (ratios) and PNG plots (gnuplot) into --out (default results/compare-<date>/); the scenarios
# driven by the neutral client (perframe, rooms5) are reported by bench/per_frame_report.py in
# per-frame.md / per-frame.json (report.md / summary.json when only they ran).
#
#   bench/compare.sh [--quick] [--reps N] [--connections N] [--scenarios LIST] [--servers LIST]
#                    [--build DIR] [--extra NAME=BINARY] [--out DIR] [--uws-src DIR]
#                    [--latency-rates "R R ..."] [--size-rate R] [--rooms-rates "R R ..."] [--note TEXT]
#                    [--perframe-rates "R R ..."] [--perframe-sizes "B B ..."] [--perframe-seconds S]
#                    [--perframe-servers LIST] [--rooms5-rates "R R ..."] [--raw-frames K] [--fifo]
#                    [--client-wait-ms MS]
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
# These use ringcast-load; uws takes part in all but rooms (the peer has one topic).
#
# Scenarios with the neutral client (ringcast-epoll-load, tools/epoll_load: plain epoll, no code shared
# with the engine, items counted one by one in merged frames, its own CPU reported):
# perframe: one room of --connections, items of each --perframe-sizes, published at each of
# --perframe-rates in turn for --perframe-seconds; a server's rising rates stop in a repetition after two
# saturated points in a row (deliveries/s under 90% of the offered, or publishes answered for under 95%
# of the offered rate, or anything lost; two, as on a shared machine one may be a moment of starvation). Servers: --perframe-servers (default ringcast, ringcast-single,
# uws). The raw write loop runs beside them, --raw-frames frames per connection per round, one write per
# frame and merged into one write per connection (the physical limit of batching).
# rooms5: every connection JOINs 5 rooms and every item is published to all 5 (5 publishes; each
# connection receives it 5 times), where coalescing helps less; ringcast, ringcast-single and uws (here
# bench/peers/uws_rooms.cpp: the same peer with 5 topics), at --rooms5-rates.
# --client-wait-ms MS: the neutral client's epoll_wait timeout (its --wait-ms, default 5). 0: it polls
# without sleeping, so no send of the server has to wake it; on a VM that wake-up is an
# inter-processor interrupt charged to the sending core, i.e. to the server (a diagnostic: the
# client's CPU is then 100% by construction and the report marks no point client-bound).
#
# Servers (for --servers): ringcast (merge window 0: what one loop turn drains for a room leaves as one
# frame), ringcast-single (--merge-batch-items-max 1: one frame per item, no coalescing), uws, node, nchan;
# the burst scenario adds ringcast-window (--merge-window-ms 10). --extra NAME=BINARY adds another
# ringcast binary (e.g. an older build, for a before/after run) under NAME, run with
# --merge-batch-items-max 1 when NAME ends in -single (e.g. --extra new-single=../main/build/tools/ringcast
# --perframe-servers ringcast-single,new-single,uws for the per-frame path before and after). --uws-src DIR: the
# uWebSockets peer (default ../shared/peers/uws beside the checkout), built into OUT/uws.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

reps=3
connections=19000
scenarios="idle latency size rooms burst raw"
servers="ringcast ringcast-single uws node nchan"
build=""
out=""
quick=0
extras=()
prio=(env)   # --fifo: (chrt -f 1)
opt_latency_rates=""; opt_size_rate=""; opt_rooms_rates=""; note=""
uws_src="$root/../shared/peers/uws"
perframe_rates="25 50 75 100 125 150 200 300 400"
perframe_sizes="64 512"
perframe_seconds=4
perframe_servers="ringcast ringcast-single uws"
rooms5_rates="5 10 15 20 30 40 60"
raw_frames=16
client_wait_ms=5
command_line="bench/compare.sh $*"
opt_perframe_rates=""; opt_perframe_sizes=""; opt_perframe_seconds=""; opt_rooms5_rates=""
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
    --uws-src) uws_src=$2; shift 2 ;;
    --perframe-rates) opt_perframe_rates=${2//,/ }; shift 2 ;;
    --perframe-sizes) opt_perframe_sizes=${2//,/ }; shift 2 ;;
    --perframe-seconds) opt_perframe_seconds=$2; shift 2 ;;
    --perframe-servers) perframe_servers=${2//,/ }; shift 2 ;;
    --rooms5-rates) opt_rooms5_rates=${2//,/ }; shift 2 ;;
    --raw-frames) raw_frames=$2; shift 2 ;;
    --client-wait-ms) client_wait_ms=$2; shift 2 ;;
    *) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || out="results/compare-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out/runs" "$out/logs"
log() { printf '[compare %s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$out/run.log" >&2; }
source "$root/bench/lib.sh"

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
  perframe_rates="20 80"; perframe_sizes="64"; perframe_seconds=1; rooms5_rates="10"
fi
[ -n "$opt_latency_rates" ] && latency_rates=$opt_latency_rates
[ -n "$opt_size_rate" ] && size_rate=$opt_size_rate
[ -n "$opt_rooms_rates" ] && rooms_rates=$opt_rooms_rates
[ -n "$opt_perframe_rates" ] && perframe_rates=$opt_perframe_rates
[ -n "$opt_perframe_sizes" ] && perframe_sizes=$opt_perframe_sizes
[ -n "$opt_perframe_seconds" ] && perframe_seconds=$opt_perframe_seconds
[ -n "$opt_rooms5_rates" ] && rooms5_rates=$opt_rooms5_rates

# ---- what the run needs ----
wants_server() {  # wants_server NAME: NAME is among the servers some chosen scenario runs
  local all=" $servers "
  [[ " $scenarios " == *" perframe "* || " $scenarios " == *" rooms5 "* ]] && all+=" $perframe_servers "
  [[ $all == *" $1 "* ]]
}
ensure_packages curl iproute2 nginx libnginx-mod-nchan gnuplot-nox python3 util-linux
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
epoll_bin=$build/tools/epoll_load/ringcast-epoll-load
uws_bin=""; uws_rooms_bin=""
if wants_server uws; then
  build_uws_peer "$uws_src" "$out/uws" || exit 1
fi
# The servers hold ~19k sockets each: up to the hard limit of open files (20,000 here).
ulimit -n "$(ulimit -Hn)"
nchan_module=$(ls /usr/lib/nginx/modules/ngx_nchan_module.so)
declare -A extra_bin=()
for e in "${extras[@]}"; do extra_bin[${e%%=*}]=${e#*=}; servers="$servers ${e%%=*}"; done

ncpu=$(nproc)
client_cpu=0
server_cpu=$(( ncpu > 1 ? ncpu - 1 : 0 ))
per_proc=$(( connections < 19000 ? connections : 19000 ))
ws_port=18777; api_port=18799; node_port=18080; nchan_port=18180; uws_port=18380
uws_topics=""  # rooms5: the uws server is uws_rooms with these topics
declare -A done_at=()  # perframe, rooms5: "", once or stop (saturation_step)

# The sockets' default receive buffer decides how a client that falls behind fares: at
# tuning/sysctl-1m.conf's 8 KiB (bench/scale_1m.sh and storm_1m.sh apply it, and it stays until reset),
# frames of several KiB to 19,000 readers end in zero windows, pruned queues and retransmissions, and
# every server measures a few hundred thousand deliveries/s with the client at 95%.
rmem=$(sysctl -n net.ipv4.tcp_rmem | tr -s '\t ' ' ')
if [ "$(echo "$rmem" | cut -d' ' -f2)" -lt 131072 ]; then
  log "net.ipv4.tcp_rmem is '$rmem' (a default receive buffer under the kernel's 128 KiB, as"
  log "tuning/sysctl-1m.conf sets it): large frames will stall the client. To measure as the reports here"
  log "did: sysctl -w net.ipv4.tcp_rmem='4096 131072 6291456'"
fi
{
  echo "{"
  echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "  \"host\": {\"cpus\": $ncpu, \"kernel\": \"$(uname -r)\", \"memory_kib\": $(awk '/MemTotal/ {print $2}' /proc/meminfo), \"tcp_rmem\": \"$rmem\"},"
  echo "  \"server_cpu\": $server_cpu, \"client_cpu\": $client_cpu, \"connections\": $connections, \"reps\": $reps,"
  echo "  \"latency_rates\": \"$latency_rates\", \"size_rate\": $size_rate, \"rooms\": $rooms, \"rooms_rates\": \"$rooms_rates\","
  echo "  \"scheduling\": \"${prio[*]}\","
  echo "  \"burst_count\": $burst_count, \"loadavg_at_start\": \"$(cut -d' ' -f1-3 /proc/loadavg)\","
  echo "  \"note\": $(/usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$note"),"
  echo "  \"git\": \"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo +changes)\","
  echo "  \"git_commit\": \"$(git rev-parse HEAD 2>/dev/null || echo unknown)\", \"server_bin\": \"$server_bin\","
  echo "  \"command\": $(/usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$command_line"),"
  echo "  \"perframe_rates\": \"$perframe_rates\", \"perframe_sizes\": \"$perframe_sizes\", \"perframe_seconds\": $perframe_seconds,"
  echo "  \"rooms5_rates\": \"$rooms5_rates\", \"raw_frames\": $raw_frames, \"client_wait_ms\": $client_wait_ms,"
  echo "  \"uws\": \"$(grep -o 'uWebSockets at [0-9a-f]*' "$uws_src/../README.md" 2>/dev/null | head -1 | cut -c16-27)\","
  echo "  \"versions\": {\"node\": \"$(node --version)\", \"ws\": \"$(node -p "require('$root/bench/peers/node_modules/ws/package.json').version")\","
  echo "               \"nginx\": \"$(nginx -v 2>&1 | sed 's/.*\///')\", \"nchan\": \"$(dpkg-query -W -f='${Version}' libnginx-mod-nchan)\"}"
  echo "}"
} > "$out/host.json"

# ---- servers ----
server_pid=""
server_pids=""      # comma-separated: every process of the server (nginx: master and workers)
server_rss0=0       # anonymous RSS of those processes right after start (bytes)
url_args=()
neutral_args=()
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

start_server() {  # start_server NAME
  local name=$1 bin=$server_bin extra=() kind=$1
  port_free "$ws_port" "$api_port" "$node_port" "$nchan_port" "$uws_port" || return 1
  [ -n "${extra_bin[$name]:-}" ] && kind=extra  # --extra NAME=BINARY: another ringcast binary
  case "$kind" in
    ringcast|ringcast-single|ringcast-window|extra)
      case "$kind" in
        ringcast-single) extra=(--merge-batch-items-max 1) ;;
        ringcast-window) extra=(--merge-window-ms 10) ;;
        extra) bin=${extra_bin[$name]}; [[ $name == *-single ]] && extra=(--merge-batch-items-max 1) ;;
      esac
      "${prio[@]}" taskset -c "$server_cpu" "$bin" --threads 1 --listen "127.0.0.1:$ws_port" --api "127.0.0.1:$api_port" \
        --heartbeat-timeout-ms 600000 --log-level warn "${extra[@]}" > "$out/logs/server-$name.log" 2>&1 &
      server_pid=$!
      server_pids=$server_pid
      wait_for curl -sf "http://127.0.0.1:$api_port/health" || { log "$name did not start"; return 1; }
      url_args=(--url "ws://127.0.0.1:$ws_port/connect" --publish-url "http://127.0.0.1:$api_port/push/room"
                --protocol gopush)
      neutral_args=(--url "ws://127.0.0.1:$ws_port/connect" --publish-url "http://127.0.0.1:$api_port/push/room"
                    --format gopush --join "${uws_topics:-r}")
      ;;
    uws)
      local args=("$uws_port" 127.0.0.1)
      bin=$uws_bin
      [ -n "$uws_topics" ] && { bin=$uws_rooms_bin; args+=("$uws_topics"); }
      : > "$out/logs/server-uws.log.now"
      "${prio[@]}" taskset -c "$server_cpu" "$bin" "${args[@]}" > "$out/logs/server-uws.log.now" 2>&1 &
      server_pid=$!
      server_pids=$server_pid
      for _ in $(seq 1 100); do grep -q "^listening" "$out/logs/server-uws.log.now" && break; sleep 0.05; done
      grep -q "^listening" "$out/logs/server-uws.log.now" || { log "uws did not start"; cat "$out/logs/server-uws.log.now" >&2; return 1; }
      url_args=(--url "ws://127.0.0.1:$uws_port/ws" --publish-url "http://127.0.0.1:$uws_port/push"
                --protocol raw --publish-body '{item}' --publish-content-type application/json)
      neutral_args=(--url "ws://127.0.0.1:$uws_port/ws" --publish-url "http://127.0.0.1:$uws_port/push" --format raw)
      [ -n "$uws_topics" ] && neutral_args=(--url "ws://127.0.0.1:$uws_port/ws" --format raw
        --publish-url "http://127.0.0.1:$uws_port/push/{room}" --publish-rooms "$uws_topics")
      ;;
    node)
      "${prio[@]}" taskset -c "$server_cpu" node bench/peers/node_ws_server.mjs --port "$node_port" \
        > "$out/logs/server-node.log" 2>&1 &
      server_pid=$!
      server_pids=$server_pid
      wait_for curl -sf "http://127.0.0.1:$node_port/health" || { log "node did not start"; return 1; }
      url_args=(--url "ws://127.0.0.1:$node_port/sub/{room}" --publish-url "http://127.0.0.1:$node_port/pub/{room}"
                --protocol raw --publish-body '{item}' --publish-content-type application/json)
      neutral_args=(--url "ws://127.0.0.1:$node_port/sub/r" --publish-url "http://127.0.0.1:$node_port/pub/r" --format raw)
      ;;
    nchan)
      nchan_dir=$(mktemp -d /tmp/compare-nchan.XXXXXX)
      sed -e "s|@PORT@|$nchan_port|; s|@PREFIX@|$nchan_dir|g; s|@WORKERS@|1|; s|@MODULE@|$nchan_module|" \
        bench/peers/nchan.conf.in > "$nchan_dir/nginx.conf"
      "${prio[@]}" taskset -c "$server_cpu" nginx -p "$nchan_dir" -c "$nchan_dir/nginx.conf" > "$out/logs/server-nchan.log" 2>&1 &
      server_pid=$!
      wait_for curl -sf "http://127.0.0.1:$nchan_port/health" || { log "nchan did not start"; cat "$nchan_dir/error.log" >&2; return 1; }
      server_pids=$(echo "$server_pid" $(pgrep -P "$server_pid") | tr ' ' ',')
      url_args=(--url "ws://127.0.0.1:$nchan_port/sub/{room}" --publish-url "http://127.0.0.1:$nchan_port/pub/{room}"
                --protocol raw --publish-body '{item}' --publish-content-type application/json)
      neutral_args=(--url "ws://127.0.0.1:$nchan_port/sub/r" --publish-url "http://127.0.0.1:$nchan_port/pub/r" --format raw)
      ;;
    *) log "unknown server $name"; return 1 ;;
  esac
  started+=("$server_pid")
  sleep 0.3
  server_rss0=$(rss_anon_bytes "$server_pids")
}

stop_server() {
  [ -n "$server_pid" ] || return 0
  stop_pid "$server_pid"
  server_pid=""
  if [ -s "$out/logs/server-uws.log.now" ]; then
    cat "$out/logs/server-uws.log.now" >> "$out/logs/server-uws.log"; : > "$out/logs/server-uws.log.now"
  fi
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
  local dropped
  dropped=$(uws_dropped)
  stop_server
  # What only this script knows: the server's RSS before any connection, the load average.
  /usr/bin/python3 - "$out/runs/$tag.json" "$scenario" "$name" "$param" "$rep" "$server_rss0" "$uptime_load" "$rc" "$dropped" <<'EOF' || true
import json, sys
path, scenario, server, param, rep, rss0, load, rc, dropped = sys.argv[1:]
try:
    d = json.load(open(path))
except Exception:
    d = {"clean": False, "problems": "no summary (exit %s)" % rc}
d["compare"] = {"scenario": scenario, "server": server, "param": param, "rep": int(rep),
                "server_rss_anon_start_bytes": int(rss0), "loadavg_1m": float(load), "exit": int(rc)}
if dropped:
    d["compare"]["dropped"] = dropped
    d["clean"] = False
json.dump(d, open(path, "w"))
EOF
  log "$tag: $(grep -E 'items/s while|latency|result' "$out/logs/$tag.txt" 2>/dev/null | tr -s ' ' | tr '\n' ' ' | cut -c1-220)"
}

# uws_dropped: uWS's report of messages dropped over its backpressure limit in this run (empty: none).
uws_dropped() { grep -o "dropped [0-9]* total" "$out/logs/server-uws.log.now" 2>/dev/null | tail -1 || true; }

# run_neutral SCENARIO SERVER SIZE RATE REP [ringcast-epoll-load options...]: one measured run of the
# neutral client, server started fresh; prints "saturated" or "kept-up" (the rule in the header).
run_neutral() {
  local scenario=$1 name=$2 size=$3 rate=$4 rep=$5; shift 5
  local tag="$scenario-$name-$size-$rate-r$rep"
  if ! start_server "$name" >&2; then stop_server; echo saturated; return 0; fi
  local rc=0
  "${prio[@]}" taskset -c "$client_cpu" "$epoll_bin" "${neutral_args[@]}" --connections "$connections" \
    --per-proc "$per_proc" --payload "$size" --rate "$rate" --duration "$perframe_seconds" --wait-ms "$client_wait_ms" \
    --watch-pid "$server_pids" --json "$out/runs/$tag.json" "$@" > "$out/logs/$tag.txt" 2>&1 || rc=$?
  local load1 dropped
  load1=$(cut -d' ' -f1 /proc/loadavg)
  dropped=$(uws_dropped)
  if [[ $name == ringcast* ]]; then curl -s "http://127.0.0.1:$api_port/stats" > "$out/logs/$tag.stats.json" || true; fi
  stop_server
  log "$tag: $(grep '^epoll-load: [0-9]* connections' "$out/logs/$tag.txt" | cut -c13-330)${dropped:+ ($dropped)}"
  /usr/bin/python3 - "$out/runs/$tag.json" "$scenario" "$name" "$size" "$rate" "$rep" "$load1" "$rc" "$dropped" <<'EOF' || echo saturated
import json, sys
path, scenario, server, size, rate, rep, load, rc, dropped = sys.argv[1:]
try:
    d = json.load(open(path))
except Exception:
    d = {"tool": "ringcast-epoll-load", "clean": False, "problem": "no summary (exit %s)" % rc}
d["compare"] = {"scenario": scenario, "server": server, "size": int(size), "rate": float(rate), "rep": int(rep),
                "loadavg_1m": float(load), "exit": int(rc)}
if dropped:
    d["compare"]["dropped"] = dropped
    d["clean"] = False
json.dump(d, open(path, "w"))
# The saturation rule of bench/per_frame_report.py, so that rising rates stop where it draws the line.
sys.path.insert(0, "bench")
from per_frame_report import saturated
print("saturated" if saturated(d) else "kept-up")
EOF
}

# saturation_step SERVER VERDICT: done_at[SERVER] goes "" -> once (saturated) -> stop (saturated again
# at the next rate); a point that kept up resets it.
saturation_step() {
  if [ "$2" != saturated ]; then done_at[$1]=""
  elif [ -z "${done_at[$1]}" ]; then done_at[$1]=once
  else done_at[$1]=stop; fi
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
            [ "$s" = uws ] && continue  # the peer subscribes every connection to one topic
            run_point rooms "$s" "$rate" "$rep" --rooms "$rooms" --payload 64 --publish-rate "$rate" --duration "$run_seconds"
          done
        done ;;
      perframe)
        for size in $perframe_sizes; do
          for s in $perframe_servers; do done_at[$s]=""; done
          for rate in $perframe_rates; do
            for s in $perframe_servers; do
              [ "${done_at[$s]}" = stop ] && continue  # saturated twice in a row in this repetition
              verdict=$(run_neutral perframe "$s" "$size" "$rate" "$rep")
              saturation_step "$s" "$verdict"
            done
          done
          # The raw write loop: the bytes of ringcast's frame for one item of this size, --raw-frames of
          # them per connection per round, one write per frame and then one write per connection.
          frame=$(( size + 35 + (size + 35 > 125 ? (size + 35 > 65535 ? 10 : 4) : 2) ))
          for mode in perframe merged; do
            merged_flag=(); [ "$mode" = merged ] && merged_flag=(--merged)
            "$raw_bin" --connections "$connections" --bytes "$frame" --frames "$raw_frames" "${merged_flag[@]}" \
              --rounds 3 --per-proc "$per_proc" --writer-cpus "$server_cpu" --reader-cpus "$client_cpu" \
              --json "$out/runs/rawframes-$mode-$size-r$rep.json" > "$out/logs/rawframes-$mode-$size-r$rep.txt" 2>&1 ||
              log "rawcast failed (see logs/rawframes-$mode-$size-r$rep.txt)"
            log "rawframes-$mode-$size-r$rep: $(head -1 "$out/logs/rawframes-$mode-$size-r$rep.txt" | cut -c1-200)"
          done
        done ;;
      rooms5)
        uws_topics="r0,r1,r2,r3,r4"
        for s in $perframe_servers; do done_at[$s]=""; done
        for rate in $rooms5_rates; do
          for s in $perframe_servers; do
            if [[ $s != ringcast* && $s != uws ]]; then
              [ -z "${done_at[$s]}" ] && log "rooms5: $s has no rooms over one connection; skipped"
              done_at[$s]=stop
            fi
            [ "${done_at[$s]}" = stop ] && continue
            verdict=$(run_neutral rooms5 "$s" 64 "$rate" "$rep")
            saturation_step "$s" "$verdict"
          done
        done
        uws_topics="" ;;
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
# The ringcast-load scenarios go to report.md; the neutral client's to per-frame.md, or to report.md
# when only they ran.
pf_name=report
for f in "$out"/runs/*.json; do
  case "$(basename "$f")" in perframe-*|rooms5-*|rawframes-*) ;; *) pf_name=per-frame; break ;; esac
done
if [ "$pf_name" = per-frame ]; then /usr/bin/python3 bench/compare_report.py "$out"; fi
if [[ " $scenarios " == *" perframe "* || " $scenarios " == *" rooms5 "* ]]; then
  /usr/bin/python3 bench/per_frame_report.py "$out" "$pf_name"
fi
log "done: $out/report.md"
