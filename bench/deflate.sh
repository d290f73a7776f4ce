#!/usr/bin/env bash
# permessage-deflate, measured (issue 15): ringcast with --compression false and true, and the
# uWebSockets broadcast peer with its shared compressor and without, one after another under the same
# load: N connections in one room, every one offering permessage-deflate (ringcast-load --deflate),
# danmaku items (JSON chat messages of 50-300 bytes, the same texts in every run) published through
# the push API at a fixed rate. Installs what it needs (apt-get), builds, runs every point --reps
# times with the servers interleaved, and writes runs/*.json, summary.json and report.md (medians and
# ratios) into --out (default results/deflate-<date>/).
#
#   bench/deflate.sh [--connections N] [--rates "R R ..."] [--seconds S] [--reps N] [--servers LIST]
#                    [--merge-window-ms MS] [--build DIR] [--uws-src DIR] [--out DIR] [--note TEXT]
#
# Servers (for --servers): ringcast-off (--compression false: it declines the offer, plain frames),
# ringcast-on (--compression true: each PUSH frame compressed once per shard, shared by every member),
# uws-shared (uWS SHARED_COMPRESSOR: it still deflates once per subscriber), uws-off (no compression).
# Default: all four. ringcast runs with --threads 1 and --merge-window-ms MS (default 0: only what one
# loop iteration drains together is merged; go-push's maxMergerDelay is the same setting). uWS has no
# merging: every publish is its own message, whatever the window.
# Figures per server and rate (medians of the reps): deliveries/s, wire bytes per delivered item
# (frames of the messages that carried items, headers included), server CPU-seconds per 10^6
# deliveries, client CPU in % of its core (near 100%: the point measured the client), publishes/s
# reached; ratios ringcast-on / ringcast-off (bytes per item, deliveries/s) and ringcast-on /
# uws-shared (deliveries/s).
# --build DIR: a meson build directory with tools/ringcast and tools/load/ringcast-load (default:
# `tools/dev build` of this checkout, into build/). Its ringcast must have --compression (the engine's
# permessage-deflate); the script stops at once if it has not.
# --uws-src DIR: the uWebSockets peer (default ../shared/peers/uws beside the checkout; see its
# README), built into OUT/uws with its build.sh.
# Core budget: the server on the last core (taskset), ringcast-load (workers and publisher) on core 0.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

connections=19000
rates="200"
seconds=5
reps=3
servers="ringcast-off ringcast-on uws-shared uws-off"
merge_window_ms=0
build=""
uws_src="$root/../shared/peers/uws"
out=""
note=""
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) connections=$2; shift 2 ;;
    --rates) rates=${2//,/ }; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --servers) servers=${2//,/ }; shift 2 ;;
    --merge-window-ms) merge_window_ms=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --uws-src) uws_src=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --note) note=$2; shift 2 ;;
    *) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || out="results/deflate-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out/runs" "$out/logs"
log() { printf '[deflate %s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$out/run.log" >&2; }
source "$root/bench/lib.sh"
die() { log "$*"; exit 1; }

wants() {  # wants PREFIX: some server of --servers starts with PREFIX
  local s
  for s in $servers; do [[ $s == "$1"* ]] && return 0; done
  return 1
}

# ---- what the run needs ----
ensure_packages curl iproute2 python3 g++ make zlib1g-dev util-linux
if [ -z "$build" ]; then
  tools/dev build
  build=build
fi
server_bin=$build/tools/ringcast
load_bin=$build/tools/load/ringcast-load
[ -x "$server_bin" ] && [ -x "$load_bin" ] || die "no $server_bin or $load_bin: --build must be a built meson directory"
# The help texts are read whole first: `grep -q` on a pipe would stop the writer (SIGPIPE) and,
# under pipefail, fail the check it just passed.
load_help=$("$load_bin" --help 2>&1 || true)
grep -q -- '--deflate' <<<"$load_help" || die "$load_bin has no --deflate: build this branch's tools/load"
if wants ringcast; then
  # The comparison is meaningless without the flag, and an unknown flag would only show as a server
  # that does not start: say so before anything runs.
  server_help=$("$server_bin" --help 2>&1 || true)
  grep -q -- '--compression ' <<<"$server_help" ||
    die "$server_bin has no --compression flag (no permessage-deflate in this engine): give --build DIR of a build of the engine branch with it, or --servers uws-shared,uws-off"
fi
uws_bin=""
if wants uws; then
  build_uws_peer "$uws_src" "$out/uws" || die "no uWebSockets peer (give --uws-src DIR, see ../shared/peers/README.md, or --servers without uws-*)"
fi
# A server of 19k connections needs ~19k descriptors: up to the hard limit (20,000 here).
ulimit -n "$(ulimit -Hn)"

ncpu=$(nproc)
client_cpu=0
server_cpu=$(( ncpu > 1 ? ncpu - 1 : 0 ))
per_proc=$(( connections < 19000 ? connections : 19000 ))
ws_port=18777; api_port=18799; uws_port=18380

{
  echo "{"
  echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "  \"host\": {\"cpus\": $ncpu, \"kernel\": \"$(uname -r)\", \"memory_kib\": $(awk '/MemTotal/ {print $2}' /proc/meminfo)},"
  echo "  \"server_cpu\": $server_cpu, \"client_cpu\": $client_cpu, \"connections\": $connections, \"reps\": $reps,"
  echo "  \"rates\": \"$rates\", \"seconds\": $seconds, \"servers\": \"$servers\", \"merge_window_ms\": $merge_window_ms,"
  echo "  \"loadavg_at_start\": \"$(cut -d' ' -f1-3 /proc/loadavg)\","
  echo "  \"note\": $(/usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$note"),"
  echo "  \"git\": \"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo +changes)\","
  echo "  \"server_bin\": \"$server_bin\""
  echo "}"
} > "$out/host.json"

# ---- servers ----
server_pid=""
url_args=()
cleanup() {
  stop_server
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_server() {  # start_server NAME
  local name=$1 slog="$out/logs/server-$1.log"
  port_free "$ws_port" "$api_port" "$uws_port" || return 1
  case "$name" in
    ringcast-off|ringcast-on)
      local compression=false
      [ "$name" = ringcast-on ] && compression=true
      taskset -c "$server_cpu" "$server_bin" --threads 1 --listen "127.0.0.1:$ws_port" --api "127.0.0.1:$api_port" \
        --heartbeat-timeout-ms 600000 --log-level warn --compression "$compression" --merge-window-ms "$merge_window_ms" >> "$slog" 2>&1 &
      server_pid=$!
      wait_for curl -sf "http://127.0.0.1:$api_port/health" || { log "$name did not start:"; tail -5 "$slog" >&2; return 1; }
      url_args=(--url "ws://127.0.0.1:$ws_port/connect" --publish-url "http://127.0.0.1:$api_port/push/room"
                --protocol gopush --publish-body '{"room":"{room}","items":[{item}]}'
                --publish-content-type application/json)
      ;;
    uws-shared|uws-off)
      : > "$slog.now"
      taskset -c "$server_cpu" "$uws_bin" "$uws_port" 127.0.0.1 "${name#uws-}" > "$slog.now" 2>&1 &
      server_pid=$!
      wait_for grep -q "^listening" "$slog.now" || { log "$name did not start:"; cat "$slog.now" >&2; return 1; }
      url_args=(--url "ws://127.0.0.1:$uws_port/ws" --publish-url "http://127.0.0.1:$uws_port/push"
                --protocol raw --publish-body '{item}' --publish-content-type application/json)
      ;;
    *) log "unknown server $name"; return 1 ;;
  esac
}

stop_server() {
  [ -n "$server_pid" ] || return 0
  stop_pid "$server_pid"
  server_pid=""
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
    --rooms 1 --deflate --payload-kind danmaku --publish-rate "$rate" --duration "$seconds" \
    --watch-pids "$server_pid" --json "$out/runs/$tag.json" \
    > "$out/logs/$tag.txt" 2> "$out/logs/$tag.progress" || rc=$?
  local load1 dropped=""
  load1=$(cut -d' ' -f1 /proc/loadavg)
  if [[ $name == ringcast* ]]; then
    curl -s "http://127.0.0.1:$api_port/stats" > "$out/logs/$tag.stats.json" || true
  else
    # uWS reports messages it dropped over its backpressure limit: such a run is not comparable.
    dropped=$(grep -o "dropped [0-9]* total" "$out/logs/server-$name.log.now" | tail -1 || true)
    cat "$out/logs/server-$name.log.now" >> "$out/logs/server-$name.log"
  fi
  stop_server
  annotate "$out/runs/$tag.json" server="$name" rate="$rate" rep="$rep" loadavg_1m="$load1" exit="$rc" \
    dropped="$dropped"
  log "$tag: $(grep -E 'items/s while|wire|deflate |cpu|result' "$out/logs/$tag.txt" 2>/dev/null | tr -s ' ' | tr '\n' ' ' | cut -c1-300)"
}

for rep in $(seq 1 "$reps"); do
  for rate in $rates; do
    for s in $servers; do run_point "$s" "$rate" "$rep"; done
  done
done

log "report"
/usr/bin/python3 bench/deflate_report.py "$out"
log "done: $out/report.md"
