#!/usr/bin/env bash
# TLS, measured (issue 16): what terminating TLS on ringcast's own shards costs, side by side with the
# same server in plaintext and with uWebSockets' SSLApp (bench/peers/uws_broadcast_ssl.cpp) beside
# its plain peer. Installs what it needs (apt-get), makes a throw-away CA and a server certificate
# (ECDSA P-256, the openssl command line, in a temporary directory removed on exit), builds, runs
# the parts below (--reps times each, the servers interleaved within a repetition; scale once) and
# writes runs/*.json, summary.json and report.md (medians and ratios) into --out (default
# results/tls-<date>/).
#
#   bench/tls.sh [--parts LIST] [--reps N] [--connections N] [--sizes "B B"] [--rates "R R ..."]
#                [--seconds S] [--servers LIST] [--storm-servers LIST] [--storm-verify ca|insecure]
#                [--churn-connections N] [--churn-rate R] [--churn-every K] [--churn-seconds S]
#                [--memory-servers LIST]
#                [--scale-connections N] [--scale-workers W] [--scale-broadcasts K]
#                [--scale-handshake-timeout-ms MS] [--scale-plain]
#                [--build DIR] [--uws-src DIR] [--out DIR] [--note TEXT] [--port-base P]
#
# Parts (--parts, default "throughput handshakes memory scale"):
# throughput: --connections (19,000) in one room, items of each --sizes (64 512) published through the
#   push API at each of --rates in turn for --seconds; per server, the rising rates stop in a
#   repetition after two saturated points in a row (deliveries/s under 90% of the offered, publishes
#   answered for under 95% of the plan, or anything lost). Servers (--servers): ringcast-tls
#   (--tls-cert-file/--tls-key-file: wss:// and https://), ringcast-plain (the same binary and flags
#   without them), uws-ssl (the SSLApp peer, uWS's default SSL settings), uws-plain (the plain peer
#   of ../shared/peers/uws). Figures: deliveries/s, server CPU-seconds per 10^6 deliveries, client
#   CPU % of its core; ratios ringcast-tls / ringcast-plain, uws-ssl / uws-plain, ringcast-tls /
#   uws-ssl.
# handshakes: (1) a connect storm: --connections connections opened unpaced (ringcast-load keeps at
#   most 512 handshakes in flight per process), each upgraded (ringcast: JOIN and PONG), against each
#   of --storm-servers (default ringcast-tls ringcast-plain uws-ssl uws-plain): connections/s (the load
#   tool's first connect -> last join), server CPU-microseconds per connection (TLS: a full handshake
#   each; CPU sampled once the load tool holds, when nothing runs), client CPU % (the client verifies
#   with the CA, or not with --storm-verify insecure). (2) reconnect churn on ringcast TLS and plain:
#   --churn-connections connections each dropping and reconnecting after about --churn-every items
#   (ringcast-load --reconnect-every; over TLS a reconnect offers the session of its last handshake:
#   a resumed handshake) while --churn-rate items/s are published for --churn-seconds: reconnects/s,
#   server CPU-microseconds per reconnect, the share of resumed handshakes (/stats tlsResumed).
# memory: --connections idle connections (upgraded, joined, one PONG) held on a fresh server; the
#   server's anonymous memory (smaps_rollup: Anonymous, Private_Dirty) with them minus right after
#   start, per connection. Servers (--memory-servers): ringcast-tls ringcast-plain, and uws-ssl,
#   uws-ssl-lowmem (SSL_MODE_RELEASE_BUFFERS), uws-plain when asked. Beside it, bench_tls_memory:
#   what OpenSSL alone keeps per idle server SSL (ringcast's context settings, a full TLS 1.3 and a
#   TLS 1.2 handshake), by allocation site.
# scale: --scale-connections (100,000) TLS connections on `ringcast --workers W --threads 1` (W =
#   --scale-workers, default 6: a process may hold 20,000 files), ringcast-load in its multi-process
#   mode (19,000 per process, 25,000 per source address from 127.0.0.2), then --scale-broadcasts
#   timed pushes to everyone: connect rate, broadcast time to all, every item delivered exactly once
#   (missing and duplicates), server memory per connection. No core pinning: everything shares the
#   machine. --scale-handshake-timeout-ms: the server's --handshake-timeout-ms (default 5000, its own
#   default; it bounds accept -> upgrade request, TLS handshake included, which a storm of 100k
#   handshakes on 2 cores can exceed). --scale-plain: the same run without TLS (ws://, http://), for
#   the ratio.
# Core budget (throughput, handshakes, memory): the server on the last core (taskset), ringcast-load
# (workers and publisher) on core 0. CPU is utime+stime from /proc/PID/stat.
# --build DIR: a meson build directory with tools/ringcast, tools/load/ringcast-load (with wss://) and
# bench/bench_tls_memory (default: `tools/dev build` of this checkout, into build/). --uws-src DIR:
# the uWebSockets peer sources (default ../shared/peers/uws beside the checkout), built into OUT/uws
# and OUT/uws-ssl (WITH_OPENSSL=1 against the system's libssl). Ports: P, P+1 (ringcast), P+2 (uWS),
# default 38777.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

parts="throughput handshakes memory scale"
reps=3
connections=19000
sizes="64 512"
rates="10 50 200"
seconds=3
servers="ringcast-tls ringcast-plain uws-ssl uws-plain"
storm_verify=ca
storm_servers="ringcast-tls ringcast-plain uws-ssl uws-plain"
# Churn: ~1 item per reconnect and an offered reconnect rate (connections x rate / every) the client
# can keep, so that the server's CPU per reconnect is the reconnect's (with its one delivery).
churn_connections=2000
churn_rate=0.5
churn_every=1
churn_seconds=10
memory_servers="ringcast-tls ringcast-plain uws-ssl uws-ssl-lowmem uws-plain"
openssl_connections=10000  # bench_tls_memory's server SSL objects (handshakes in one thread: ~1 ms each)
scale_connections=100000
scale_workers=6
scale_broadcasts=5
scale_handshake_timeout_ms=5000  # the server's default
scale_plain=0
build=""
uws_src="$root/../shared/peers/uws"
out=""
note=""
port_base=38777
command_line="bench/tls.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --parts) parts=${2//,/ }; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --sizes) sizes=${2//,/ }; shift 2 ;;
    --rates) rates=${2//,/ }; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --servers) servers=${2//,/ }; shift 2 ;;
    --storm-verify) storm_verify=$2; shift 2 ;;
    --storm-servers) storm_servers=${2//,/ }; shift 2 ;;
    --churn-connections) churn_connections=$2; shift 2 ;;
    --churn-rate) churn_rate=$2; shift 2 ;;
    --churn-every) churn_every=$2; shift 2 ;;
    --churn-seconds) churn_seconds=$2; shift 2 ;;
    --memory-servers) memory_servers=${2//,/ }; shift 2 ;;
    --scale-connections) scale_connections=$2; shift 2 ;;
    --scale-workers) scale_workers=$2; shift 2 ;;
    --scale-broadcasts) scale_broadcasts=$2; shift 2 ;;
    --scale-handshake-timeout-ms) scale_handshake_timeout_ms=$2; shift 2 ;;
    --scale-plain) scale_plain=1; shift ;;
    --build) build=$2; shift 2 ;;
    --uws-src) uws_src=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --note) note=$2; shift 2 ;;
    --port-base) port_base=$2; shift 2 ;;
    *) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0" >&2; exit 2 ;;
  esac
done
case "$storm_verify" in ca|insecure) ;; *) echo "--storm-verify is ca or insecure" >&2; exit 2 ;; esac
[ -n "$out" ] || out="results/tls-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out/runs" "$out/logs"
log() { printf '[tls %s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$out/run.log" >&2; }
source "$root/bench/lib.sh"
die() { log "$*"; exit 1; }
has_part() { [[ " $parts " == *" $1 "* ]]; }
all_servers=" $servers $memory_servers $storm_servers "
wants() { [[ $all_servers == *" $1"* ]]; }  # wants PREFIX: some server of the run starts with PREFIX

# ---- what the run needs ----
ensure_packages curl iproute2 python3 g++ make zlib1g-dev libssl-dev openssl util-linux procps
if [ -z "$build" ]; then
  tools/dev build
  build=build
fi
server_bin=$build/tools/ringcast
load_bin=$build/tools/load/ringcast-load
memory_bin=$build/bench/bench_tls_memory
[ -x "$server_bin" ] && [ -x "$load_bin" ] || die "no $server_bin or $load_bin: --build must be a built meson directory"
# (Read whole: `grep -q` on a pipe would stop the writer and, under pipefail, fail the check.)
load_help=$("$load_bin" --help 2>&1 || true)
grep -q -- '--ca-file' <<<"$load_help" || die "$load_bin has no --ca-file (no wss://): build a tools/load with TLS (branch tls-load, merged into main)"
server_help=$("$server_bin" --help 2>&1 || true)
grep -q -- '--tls-cert-file' <<<"$server_help" || die "$server_bin has no --tls-cert-file: build a ringcast with TLS"
uws_bin=""; uws_ssl_bin=""
if has_part throughput || has_part memory || has_part handshakes; then
  if wants uws-plain; then build_uws_peer "$uws_src" "$out/uws" || die "no uWebSockets peer (see $out/uws/build.log)"; fi
  if wants uws-ssl; then build_uws_ssl_peer "$uws_src" "$out/uws-ssl" || die "no uWebSockets SSLApp peer (see $out/uws-ssl/build.log)"; fi
fi
# 19k connections need ~19k descriptors: up to the hard limit (20,000 here).
ulimit -n "$(ulimit -Hn)"

# A throw-away CA and a server certificate for 127.0.0.1 (never committed: a temporary directory).
certs=$(mktemp -d /tmp/tls-bench-certs.XXXXXX)
make_certs() {
  local d=$certs
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" \
    -days 2 -subj "/CN=ringcast bench CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' > "$d/server.ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/server.key" \
    -out "$d/server.csr" -subj "/CN=127.0.0.1" 2>/dev/null
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -out "$d/server.crt" -days 2 -extfile "$d/server.ext" 2>/dev/null
}
make_certs
ca=$certs/ca.crt; cert=$certs/server.crt; key=$certs/server.key

ncpu=$(nproc)
client_cpu=0
server_cpu=$(( ncpu > 1 ? ncpu - 1 : 0 ))
per_proc=$(( connections < 19000 ? connections : 19000 ))
ws_port=$port_base; api_port=$((port_base + 1)); uws_port=$((port_base + 2))
hz=$(getconf CLK_TCK)

{
  echo "{"
  echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "  \"host\": {\"cpus\": $ncpu, \"kernel\": \"$(uname -r)\", \"memory_kib\": $(awk '/MemTotal/ {print $2}' /proc/meminfo),"
  echo "           \"cpu\": \"$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)\", \"aes\": $(grep -qw aes /proc/cpuinfo && echo true || echo false)},"
  echo "  \"server_cpu\": $server_cpu, \"client_cpu\": $client_cpu, \"connections\": $connections, \"reps\": $reps,"
  echo "  \"parts\": \"$parts\", \"sizes\": \"$sizes\", \"rates\": \"$rates\", \"seconds\": $seconds, \"servers\": \"$servers\","
  echo "  \"storm_verify\": \"$storm_verify\", \"churn\": {\"connections\": $churn_connections, \"rate\": $churn_rate, \"every\": $churn_every, \"seconds\": $churn_seconds},"
  echo "  \"memory_servers\": \"$memory_servers\","
  echo "  \"scale\": {\"connections\": $scale_connections, \"workers\": $scale_workers, \"broadcasts\": $scale_broadcasts},"
  echo "  \"loadavg_at_start\": \"$(cut -d' ' -f1-3 /proc/loadavg)\","
  echo "  \"note\": $(/usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$note"),"
  echo "  \"git\": \"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo +changes)\","
  echo "  \"command\": $(/usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$command_line"),"
  echo "  \"versions\": {\"openssl\": \"$(openssl version | cut -d' ' -f2)\", \"libssl\": \"$(dpkg-query -W -f='${Version}' libssl3)\","
  echo "               \"uws\": \"$(grep -o 'uWebSockets at [0-9a-f]*' "$uws_src/../README.md" 2>/dev/null | head -1 | cut -c16-27)\"},"
  echo "  \"certificate\": \"ECDSA P-256, signed by a throw-away CA\""
  echo "}"
} > "$out/host.json"

# ---- servers ----
server_pid=""
load_pid=""
url_args=()
trust_args=()
cleanup() {
  [ -n "$load_pid" ] && kill -TERM "$load_pid" 2>/dev/null
  stop_server
  rm -rf "$certs"
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# api URL PATH: ringcast's push API (https:// trusting the CA when the server speaks TLS).
api_scheme=http
api() { curl -sf --cacert "$ca" "$api_scheme://127.0.0.1:$api_port$1"; }
stat_field() {  # stat_field NAME: one number of ringcast's /stats
  api /stats | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}

cpu_ticks() {  # cpu_ticks PID...: utime+stime (clock ticks) of the processes and their children threads
  local total=0 p v
  for p in "$@"; do
    v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    total=$(( total + ${v:-0} ))
  done
  echo "$total"
}
tree_pids() {  # tree_pids PID: the process and its children (ringcast-load's workers and publisher)
  echo "$1" $(pgrep -P "$1" 2>/dev/null || true)
}
anon_kib() {  # anon_kib FIELD PID...: sum of a smaps_rollup field (kB)
  local field=$1 total=0 p v; shift
  for p in "$@"; do
    v=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    total=$(( total + ${v:-0} ))
  done
  echo "$total"
}

start_server() {  # start_server NAME: sets server_pid, url_args and trust_args (empty for plaintext)
  local name=$1 slog="$out/logs/server-$1.log" tls=()
  trust_args=()
  port_free "$ws_port" "$api_port" "$uws_port" || return 1
  case "$name" in
    ringcast-tls|ringcast-plain)
      api_scheme=http
      if [ "$name" = ringcast-tls ]; then tls=(--tls-cert-file "$cert" --tls-key-file "$key"); api_scheme=https; fi
      taskset -c "$server_cpu" "$server_bin" --threads 1 --listen "127.0.0.1:$ws_port" --api "127.0.0.1:$api_port" \
        --heartbeat-timeout-ms 600000 --log-level warn "${tls[@]}" >> "$slog" 2>&1 &
      server_pid=$!
      wait_for api /health || { log "$name did not start:"; tail -5 "$slog" >&2; return 1; }
      if [ "$name" = ringcast-tls ]; then
        url_args=(--url "wss://127.0.0.1:$ws_port/connect" --publish-url "https://127.0.0.1:$api_port/push/room")
        trust_args=(--ca-file "$ca")
      else
        url_args=(--url "ws://127.0.0.1:$ws_port/connect" --publish-url "http://127.0.0.1:$api_port/push/room")
      fi
      url_args+=(--protocol gopush)
      ;;
    uws-ssl|uws-ssl-lowmem|uws-plain)
      local bin=$uws_bin args=("$uws_port" 127.0.0.1) scheme=ws
      if [ "$name" != uws-plain ]; then
        bin=$uws_ssl_bin; args+=("$cert" "$key"); scheme=wss
        [ "$name" = uws-ssl-lowmem ] && args+=(lowmem)
      fi
      : > "$slog.now"
      taskset -c "$server_cpu" "$bin" "${args[@]}" > "$slog.now" 2>&1 &
      server_pid=$!
      wait_for grep -q "^listening" "$slog.now" || { log "$name did not start:"; cat "$slog.now" >&2; return 1; }
      url_args=(--url "$scheme://127.0.0.1:$uws_port/ws" --protocol raw --publish-body '{item}'
                --publish-content-type application/json)
      if [ "$scheme" = wss ]; then
        url_args+=(--publish-url "https://127.0.0.1:$uws_port/push")
        trust_args=(--ca-file "$ca")
      else
        url_args+=(--publish-url "http://127.0.0.1:$uws_port/push")
      fi
      ;;
    *) log "unknown server $name"; return 1 ;;
  esac
  sleep 0.3
}

stop_server() {
  [ -n "$server_pid" ] || return 0
  stop_pid "$server_pid"
  server_pid=""
  local f
  for f in "$out"/logs/server-*.log.now; do
    [ -s "$f" ] && { cat "$f" >> "${f%.now}"; : > "$f"; }
  done
  sleep 0.5  # let the run's sockets go before the next server binds
}

# uws_dropped NAME: uWS's report of messages dropped over its backpressure limit (empty: none).
uws_dropped() { grep -o "dropped [0-9]* total" "$out/logs/server-$1.log.now" 2>/dev/null | tail -1 || true; }

# ---- throughput ----
# run_throughput SERVER SIZE RATE REP: prints "saturated" or "kept-up".
run_throughput() {
  local name=$1 size=$2 rate=$3 rep=$4
  local tag="throughput-$name-$size-$rate-r$rep"
  if ! start_server "$name" >&2; then stop_server; echo saturated; return 0; fi
  local rc=0
  taskset -c "$client_cpu" "$load_bin" "${url_args[@]}" "${trust_args[@]}" --connections "$connections" --per-proc "$per_proc" \
    --connect-rate 0 --heartbeat 0 --connect-timeout 120 --hold 1 --drain-timeout 60 --timeout 300 \
    --rooms 1 --payload "$size" --publish-rate "$rate" --duration "$seconds" \
    --watch-pids "$server_pid" --json "$out/runs/$tag.json" \
    > "$out/logs/$tag.txt" 2> "$out/logs/$tag.progress" || rc=$?
  local load1 dropped=""
  load1=$(cut -d' ' -f1 /proc/loadavg)
  if [[ $name == ringcast* ]]; then api /stats > "$out/logs/$tag.stats.json" || true; else dropped=$(uws_dropped "$name"); fi
  stop_server
  annotate "$out/runs/$tag.json" part=throughput server="$name" size="$size" rate="$rate" rep="$rep" \
    loadavg_1m="$load1" exit="$rc" dropped="\"$dropped\"" connections="$connections"
  log "$tag: $(grep -E 'items/s while|cpu|result' "$out/logs/$tag.txt" 2>/dev/null | tr -s ' ' | tr '\n' ' ' | cut -c1-260)${dropped:+ ($dropped)}" >&2
  /usr/bin/python3 - "$out/runs/$tag.json" "$rate" "$connections" <<'EOF' || echo saturated
import json, sys
d = json.load(open(sys.argv[1]))
rate, n = float(sys.argv[2]), int(sys.argv[3])
dl, pub = d.get("delivery", {}), d.get("publish", {})
ok = (d.get("clean") and (dl.get("items_per_second") or 0) >= 0.9 * rate * n
      and (pub.get("per_second") or 0) >= 0.95 * rate and not dl.get("missing"))
print("kept-up" if ok else "saturated")
EOF
}

# ---- handshakes ----
# run_storm SERVER REP: a connect storm. CPU is sampled once the load tool holds (every connection
# upgraded and joined; nothing runs during the hold, so sampling a moment late adds no CPU), the time
# is the load tool's (first connect -> last join).
run_storm() {
  local name=$1 rep=$2
  local tag="storm-$name-r$rep"
  start_server "$name" || { stop_server; return 0; }
  # The client verifies the certificate with the CA, or (--storm-verify insecure) not at all: the
  # server's work is the same, the client's lighter.
  local trust=("${trust_args[@]}")
  [ ${#trust[@]} -gt 0 ] && [ "$storm_verify" = insecure ] && trust=(--insecure)
  local s0 s1 c1 rc=0 load_tree
  s0=$(cpu_ticks "$server_pid")
  taskset -c "$client_cpu" "$load_bin" "${url_args[@]}" "${trust[@]}" --connections "$connections" \
    --per-proc "$per_proc" --connect-rate 0 --heartbeat 0 --connect-timeout 120 --hold 4 --timeout 300 \
    --rooms 1 --json "$out/runs/$tag.json" > "$out/logs/$tag.txt" 2> "$out/logs/$tag.progress" &
  load_pid=$!
  load_tree=$(tree_pids "$load_pid")
  while kill -0 "$load_pid" 2>/dev/null; do
    grep -q " holding " "$out/logs/$tag.progress" 2>/dev/null && break
    load_tree=$(tree_pids "$load_pid")
    sleep 0.1
  done
  s1=$(cpu_ticks "$server_pid")
  c1=$(cpu_ticks $load_tree)
  local handshakes="" resumed=""
  if [ "$name" = ringcast-tls ]; then handshakes=$(stat_field tlsHandshakes); resumed=$(stat_field tlsResumed); fi
  wait "$load_pid" || rc=$?
  load_pid=""
  [[ $name == ringcast* ]] && { api /stats > "$out/logs/$tag.stats.json" || true; }
  stop_server
  annotate "$out/runs/$tag.json" part=storm server="$name" rep="$rep" connections="$connections" \
    server_cpu_s="$(awk "BEGIN {print ($s1 - $s0) / $hz}")" client_cpu_s="$(awk "BEGIN {print $c1 / $hz}")" \
    server_tls_handshakes="${handshakes:-null}" server_tls_resumed="${resumed:-null}" verify="\"$storm_verify\"" \
    loadavg_1m="$(cut -d' ' -f1 /proc/loadavg)" exit="$rc"
  log "$tag: $(grep -E '^ *connect' "$out/logs/$tag.txt" | head -2 | tr -s ' ' | tr '\n' ' ' | cut -c1-200); server $(( s1 - s0 )) ticks, client $c1 ticks"
}

# run_churn MODE REP: reconnect churn (resumed handshakes over TLS).
run_churn() {
  local mode=$1 rep=$2 name=ringcast-$1
  local tag="churn-$mode-r$rep"
  start_server "$name" || { stop_server; return 0; }
  local h0=0 r0=0 rc=0
  if [ "$mode" = tls ]; then h0=$(stat_field tlsHandshakes); r0=$(stat_field tlsResumed); fi
  taskset -c "$client_cpu" "$load_bin" "${url_args[@]}" "${trust_args[@]}" --connections "$churn_connections" --per-proc "$churn_connections" \
    --connect-rate 0 --heartbeat 0 --connect-timeout 120 --hold 1 --drain-timeout 60 --timeout 300 \
    --rooms 1 --payload 64 --publish-rate "$churn_rate" --duration "$churn_seconds" --reconnect-every "$churn_every" \
    --watch-pids "$server_pid" --json "$out/runs/$tag.json" > "$out/logs/$tag.txt" 2> "$out/logs/$tag.progress" || rc=$?
  local h1=0 r1=0
  if [ "$mode" = tls ]; then h1=$(stat_field tlsHandshakes); r1=$(stat_field tlsResumed); fi
  api /stats > "$out/logs/$tag.stats.json" || true
  stop_server
  annotate "$out/runs/$tag.json" part=churn mode="$mode" rep="$rep" connections="$churn_connections" \
    server_tls_handshakes="$(( ${h1:-0} - ${h0:-0} ))" server_tls_resumed="$(( ${r1:-0} - ${r0:-0} ))" \
    loadavg_1m="$(cut -d' ' -f1 /proc/loadavg)" exit="$rc"
  log "$tag: $(grep -E 'reconnect|cpu|tls|result' "$out/logs/$tag.txt" 2>/dev/null | tr -s ' ' | tr '\n' ' ' | cut -c1-300)"
}

# ---- memory ----
run_memory() {  # run_memory SERVER REP
  local name=$1 rep=$2
  local tag="memory-$name-r$rep" port=$ws_port
  [[ $name == uws* ]] && port=$uws_port
  start_server "$name" || { stop_server; return 0; }
  local a0 d0 r0 a1 d1 r1 est=0 rc=0
  a0=$(anon_kib Anonymous "$server_pid"); d0=$(anon_kib Private_Dirty "$server_pid"); r0=$(anon_kib Rss "$server_pid")
  taskset -c "$client_cpu" "$load_bin" "${url_args[@]}" "${trust_args[@]}" --connections "$connections" --per-proc "$per_proc" \
    --connect-rate 0 --heartbeat 0 --connect-timeout 120 --hold 6 --timeout 300 --rooms 1 \
    --json "$out/runs/$tag.json" > "$out/logs/$tag.txt" 2> "$out/logs/$tag.progress" &
  load_pid=$!
  # Until the load tool holds (every connection upgraded and joined: its progress line, once a
  # second, says "holding"), then a moment for the last answers' buffers to be freed.
  while kill -0 "$load_pid" 2>/dev/null; do
    grep -q " holding " "$out/logs/$tag.progress" 2>/dev/null && break
    sleep 0.2
  done
  sleep 2
  est=$(ss -Htn state established "( sport = :$port )" 2>/dev/null | wc -l)
  a1=$(anon_kib Anonymous "$server_pid"); d1=$(anon_kib Private_Dirty "$server_pid"); r1=$(anon_kib Rss "$server_pid")
  local tls_open=""
  [ "$name" = ringcast-tls ] && tls_open=$(stat_field tlsOpen)
  wait "$load_pid" || rc=$?
  load_pid=""
  stop_server
  annotate "$out/runs/$tag.json" part=memory server="$name" rep="$rep" connections="$connections" established="$est" \
    anon_kib_before="$a0" anon_kib_after="$a1" private_dirty_kib_before="$d0" private_dirty_kib_after="$d1" \
    rss_kib_before="$r0" rss_kib_after="$r1" tls_open="${tls_open:-null}" exit="$rc"
  log "$tag: $est established; Anonymous $a0 -> $a1 KiB ($(( (a1 - a0) * 1024 / connections )) B per connection)"
}

# ---- scale ----
run_scale() {
  local tag=scale n=$scale_connections tls=() client=() what=TLS
  if [ "$scale_plain" = 1 ]; then
    tag=scale-plain; what=plaintext; api_scheme=http
    client=(--url "ws://127.0.0.1:$ws_port/connect" --publish-url "http://127.0.0.1:$api_port/push/room")
  else
    api_scheme=https
    tls=(--tls-cert-file "$cert" --tls-key-file "$key")
    client=(--url "wss://127.0.0.1:$ws_port/connect" --publish-url "https://127.0.0.1:$api_port/push/room" --ca-file "$ca")
  fi
  port_free "$ws_port" "$api_port" || return 0
  local kernel_before
  kernel_before=$(kernel_bytes)
  log "scale: $n $what connections on $scale_workers workers x 1 shard"
  "$server_bin" --workers "$scale_workers" --threads 1 --listen "127.0.0.1:$ws_port" --api "127.0.0.1:$api_port" \
    --heartbeat-timeout-ms 900000 --handshake-timeout-ms "$scale_handshake_timeout_ms" --log-level warn \
    "${tls[@]}" > "$out/logs/server-$tag.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do api /health >/dev/null 2>&1 && break; sleep 0.1; done
  api /health >/dev/null || { log "scale: the server did not start"; cat "$out/logs/server-$tag.log" >&2; stop_server; return 0; }
  sleep 1
  local pids a0 a1 rss1 shm1 online=0 gap_s=3 rc=0
  pids=$(tree_pids "$server_pid")
  a0=$(anon_kib Anonymous $pids)
  "$load_bin" "${client[@]}" \
    --protocol gopush --connections "$n" --per-proc 19000 --per-source 25000 --rooms 1 --connect-rate 0 \
    --connect-timeout 600 --heartbeat 0 --hold 10 --broadcasts "$scale_broadcasts" \
    --publish-rate "$(awk "BEGIN { print 1 / $gap_s }")" --drain-timeout 120 --timeout 1200 \
    --watch-pids "$(echo $pids | tr ' ' ',')" --json "$out/runs/$tag.json" \
    > "$out/logs/$tag.txt" 2> "$out/logs/$tag.progress" &
  load_pid=$!
  while kill -0 "$load_pid" 2>/dev/null; do
    online=$(stat_field onlineConnections)
    [ "${online:-0}" -ge "$n" ] && break
    sleep 0.5
  done
  sleep 4  # the hold: the last joins settle
  pids=$(tree_pids "$server_pid")
  a1=$(anon_kib Anonymous $pids); rss1=$(anon_kib Rss $pids); shm1=$(anon_kib Shared_Dirty $pids)
  local kernel_after handshakes tls_open
  kernel_after=$(kernel_bytes)
  handshakes=$(stat_field tlsHandshakes); tls_open=$(stat_field tlsOpen)
  wait "$load_pid" || rc=$?
  load_pid=""
  api /stats > "$out/logs/$tag.stats.json" || true
  stop_server
  annotate "$out/runs/$tag.json" part=scale mode="$what" connections="$n" workers="$scale_workers" online="${online:-0}" \
    handshake_timeout_ms="$scale_handshake_timeout_ms" \
    server_tls_handshake_timeouts="$(sed -n 's/.*"tlsHandshakeTimeouts":\([0-9]*\).*/\1/p' "$out/logs/$tag.stats.json")" \
    anon_kib_before="$a0" anon_kib_after="$a1" rss_kib_after="$rss1" shared_dirty_kib_after="$shm1" \
    kernel_bytes_before="$kernel_before" kernel_bytes_after="$kernel_after" \
    server_tls_handshakes="${handshakes:-0}" server_tls_open="${tls_open:-0}" exit="$rc"
  log "scale: $(grep -E 'connected|broadcast|missing|result' "$out/logs/$tag.txt" | tr -s ' ' | tr '\n' ' ' | cut -c1-400)"
}

# Kernel memory: slab objects in use plus TCP buffer pages (0 when /proc/slabinfo is not readable).
kernel_bytes() {
  local slab tcp_pages
  slab=$(awk 'NR > 2 {sum += $2 * $4} END {printf "%.0f\n", sum}' /proc/slabinfo 2>/dev/null || echo 0)
  tcp_pages=$(awk '/^TCP:/ {for (i = 1; i <= NF; i++) if ($i == "mem") print $(i + 1)}' /proc/net/sockstat)
  echo $(( ${slab:-0} + tcp_pages * 4096 ))
}

# ---- the runs ----
declare -A done_at=()
if has_part throughput; then
  for rep in $(seq 1 "$reps"); do
    for size in $sizes; do
      done_at=()
      for rate in $rates; do
        for s in $servers; do
          [ "${done_at[$s]:-}" = stop ] && continue
          verdict=$(run_throughput "$s" "$size" "$rate" "$rep")
          if [ "$verdict" != saturated ]; then done_at[$s]=""
          elif [ -z "${done_at[$s]:-}" ]; then done_at[$s]=once
          else done_at[$s]=stop; fi
        done
      done
    done
  done
fi
if has_part handshakes; then
  for rep in $(seq 1 "$reps"); do
    for s in $storm_servers; do run_storm "$s" "$rep"; done
    for mode in tls plain; do run_churn "$mode" "$rep"; done
  done
fi
if has_part memory; then
  for rep in $(seq 1 "$reps"); do
    for s in $memory_servers; do run_memory "$s" "$rep"; done
  done
  if [ -x "$memory_bin" ]; then
    for rep in $(seq 1 "$reps"); do
      "$memory_bin" "$cert" "$key" --connections "$openssl_connections" --json "$out/runs/openssl-tls13-r$rep.json" \
        > "$out/logs/openssl-tls13-r$rep.txt"
      "$memory_bin" "$cert" "$key" --connections "$openssl_connections" --tls12 --json "$out/runs/openssl-tls12-r$rep.json" \
        > "$out/logs/openssl-tls12-r$rep.txt"
    done
    log "OpenSSL alone: $(head -3 "$out/logs/openssl-tls13-r1.txt" | tr '\n' ' ')"
  else
    log "no $memory_bin: OpenSSL's own figure is left out"
  fi
fi
if has_part scale; then run_scale; fi

log "report"
/usr/bin/python3 bench/tls_report.py "$out"
log "done: $out/report.md"
