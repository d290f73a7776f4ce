#!/usr/bin/env bash
# The connect storm (issue 20): N clients (default 1,000,000) of the neutral epoll client
# (ringcast-epoll-load) all coming at once to one `ringcast --workers` instance, about K handshakes in
# flight (default 100,000 in all: every client of a restarted node coming back), each JOINing one room;
# then a few items to that room, which every client must get once. Records what the storm costs the
# server: connections/s, upgrades refused or timed out, the server's CPU per accepted connection (all
# workers, from the first connect until everyone is online; 10^6 / that is the connections/s one core
# would take if the server alone were the limit), the client's CPU over the same window, and the
# workers' user memory: anonymous RSS in all and its growth from before the storm, per connection.
# --server uws runs the same storm against the uWebSockets broadcast peer (../shared/peers/uws, built
# into OUT/uws) instead: as many processes as ringcast has workers, sharing the port (uSockets sets
# SO_REUSEPORT), each subscribing its clients on open. Only the connect phase is compared then: a
# publish reaches one of those processes, so the client stops after its warm-up (by design, with
# "connections never got a warm-up item" in client.txt) and no delivery is checked.
# --server raw does the same with ringcast-rawserve (tools/rawserve): the floor, a server that only
# accepts, answers the upgrade and drops what it reads, with ringcast's listener options. What a server
# pays per connection above it is its own; what the floor pays is the kernel's and the handshake's.
#
# --server-args "ARGS" adds ringcast options (e.g. "--recv-buffer-count 256"), or the floor's.
#
#   bench/storm_1m.sh [--connections N] [--inflight K] [--server ringcast|uws|raw] [--server-args ARGS]
#                     [--uws-src DIR] [--out DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source "$root/bench/lib.sh"
connections=1000000
inflight=100000
deadline=1200
server=ringcast
server_args=""
uws_src="$root/../shared/peers/uws"
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) connections=$2; shift 2 ;;
    --inflight) inflight=$2; shift 2 ;;
    --server) server=$2; shift 2 ;;
    --server-args) server_args=$2; shift 2 ;;
    --uws-src) uws_src=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--connections N] [--inflight K] [--server ringcast|uws|raw] [--server-args ARGS] [--uws-src DIR] [--out DIR]" >&2; exit 2 ;;
  esac
done
case "$server" in ringcast | uws | raw) ;; *) echo "--server: ringcast, uws or raw" >&2; exit 2 ;; esac
[ -n "$out" ] || out="results/storm-${connections}-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
log() { printf '[storm %s] %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$out/run.log" >&2; }
tools/dev build
server_bin=build/tools/ringcast
if [ "$server" = uws ]; then build_uws_peer "$uws_src" "$out/uws" || exit 1; server_bin=$uws_bin; fi
if [ "$server" = raw ]; then server_bin=build/tools/ringcast-rawserve; fi
client_bin=build/tools/epoll_load/ringcast-epoll-load
# As bench/scale_1m.sh: one process may hold 20,000 files here, so workers of one shard each.
per_worker=18000
workers=$(( (connections + per_worker - 1) / per_worker + 1 ))
per_proc=19000
procs=$(( (connections + per_proc - 1) / per_proc ))
inflight_per_proc=$(( (inflight + procs - 1) / procs ))
ws_port=17777
api_port=17799
pids=()
guard_run "$deadline" "^$client_bin .*127.0.0.1:$ws_port"
if [ "$(id -u)" -eq 0 ]; then tuning/apply.sh; fi

# CPU seconds (utime + stime) of every process whose command line starts with $1.
cpu_s() {
  local total=0 ticks
  for p in $(pgrep -f "^$1" || true); do
    ticks=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    total=$(( total + ${ticks:-0} ))
  done
  awk -v t="$total" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f\n", t / hz }'
}
anon_bytes() {
  local total=0 v
  for p in $(pgrep -f "^$server_bin " || true); do
    v=$(awk '$1 == "RssAnon:" {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    total=$(( total + ${v:-0} ))
  done
  echo $(( total * 1024 ))
}
# What the kernel dropped or sent again meanwhile: packets dropped from the per-CPU backlog (loopback
# delivers through it; net.core.netdev_max_backlog), listen-queue overflows, retransmitted segments; and
# what deferred accepts cost it: the bare ACKs it dropped (TCP_DEFER_ACCEPT), the timer firings of
# connections still in the handshake (TCPTimeouts also counts retransmission timeouts), the SYN-ACKs
# it sent again. Read by name: until 2026-12-07 the script took two of them in nstat's order
# (TcpRetransSegs first), so its "listen_overflows" were retransmitted segments and the other way round.
kernel_counters() {
  local dropped=0 a b rest
  while read -r a b rest; do dropped=$(( dropped + 16#$b )); done < /proc/net/softnet_stat
  echo "$dropped $(nstat -az 2>/dev/null | awk '{v[$1] = $2} END {printf "%d %d %d %d %d", v["TcpExtListenOverflows"],
    v["TcpRetransSegs"], v["TcpExtTCPDeferAcceptDrop"], v["TcpExtTCPTimeouts"], v["TcpExtTCPSynRetrans"]}')"
}
now() { date +%s.%N; }  # (seconds since the epoch, as the sampler's)

if [ "$server" != ringcast ]; then
  log "starting $server: $workers processes on one port; $connections clients in $procs processes, $inflight_per_proc handshakes in flight each"
  for i in $(seq 1 "$workers"); do
    # (--server-args reach the floor too, e.g. "--defer-accept-s 0"; not the uWS peer)
    "$server_bin" "$ws_port" 127.0.0.1 $([ "$server" = raw ] && echo "$server_args") > "$out/server-$i.log" 2>&1 &
    pids+=($!)
  done
  for _ in $(seq 1 600); do
    [ "$(cat "$out"/server-*.log | grep -c '^listening')" -eq "$workers" ] && break
    sleep 0.1
  done
  [ "$(cat "$out"/server-*.log | grep -c '^listening')" -eq "$workers" ] || { log "$server did not start"; cat "$out"/server-*.log | head; exit 1; }
  client_args=(--url "ws://127.0.0.1:$ws_port/ws" --publish-url "http://127.0.0.1:$ws_port/push" --format raw
               --join r --warmup-timeout 1)
else
  log "starting ringcast: $workers workers x 1 shard; $connections clients in $procs processes, $inflight_per_proc handshakes in flight each"
  "$server_bin" --workers "$workers" --threads 1 --listen 127.0.0.1:$ws_port --api 127.0.0.1:$api_port \
    --heartbeat-timeout-ms 900000 --recv-buffer-count 64 --recv-buffer-bytes 2048 --log-level warn \
    $server_args > "$out/server.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$api_port/health" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$api_port/health" >/dev/null || { log "server did not start"; cat "$out/server.log"; exit 1; }
  client_args=(--url "ws://127.0.0.1:$ws_port/connect" --publish-url "http://127.0.0.1:$api_port/push/room"
               --join storm --warmup-timeout 900)
fi
sleep 2
anon_before=$(anon_bytes)
server_cpu_before=$(cpu_s "$server_bin ")
kernel_before=$(kernel_counters)
t0=$(now)
"$client_bin" "${client_args[@]}" \
  --connections "$connections" --per-proc "$per_proc" --per-source 25000 \
  --connect-inflight "$inflight_per_proc" --connect-timeout 900 --rate 2 --duration 3 \
  --drain-timeout 120 --json "$out/client.json" > "$out/client.txt" 2>&1 &
client_pid=$!
pids+=("$client_pid")
# Until the client says its connect phase is over, one process (no forks: a storm starves a shell loop's
# children) samples every 0.2 s the server's and the client's CPU and the server's anonymous memory;
# the window ends at the first sample after that line.
/usr/bin/python3 - "$server_bin" "$client_bin" "$out/client.txt" "$client_pid" > "$out/samples.txt" <<'PY'
import os, sys, time
server, client, progress, client_pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
hz = os.sysconf("SC_CLK_TCK")
def sample():
    cpu = {server: 0, client: 0}
    anon = switches = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0].decode()
            if cmd not in cpu:
                continue
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            cpu[cmd] += int(fields[11]) + int(fields[12])
            if cmd == server:
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("RssAnon:"):
                        anon += int(line.split()[1]) * 1024
                # (a process's status counts its first thread's switches only; a shard is a thread)
                for tid in os.listdir(f"/proc/{pid}/task"):
                    for line in open(f"/proc/{pid}/task/{tid}/status"):
                        if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                            switches += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return f"{time.time():.3f} {cpu[server] / hz:.3f} {cpu[client] / hz:.3f} {anon} {switches}"
while True:
    done = " failed in " in open(progress).read() if os.path.exists(progress) else False
    print(sample(), flush=True)
    try:
        os.kill(client_pid, 0)
    except OSError:
        break
    if done:
        break
    time.sleep(0.2)
PY
kernel_after=$(kernel_counters)
read -r t1 server_cpu_after client_cpu anon_after switches_after <<<"$(tail -n 1 "$out/samples.txt")"
client_cpu_before=$(head -n 1 "$out/samples.txt" | cut -d' ' -f3)
switches_before=$(head -n 1 "$out/samples.txt" | cut -d' ' -f5)
log "connect phase over after $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}') s"
wait "$client_pid" || log "the client reported problems (see client.txt)"
if [ "$server" != ringcast ]; then echo '{}' > "$out/server-stats.json"
else curl -s "http://127.0.0.1:$api_port/stats" > "$out/server-stats.json"; fi
cat "$out/client.txt" | tail -n 5 | tee -a "$out/run.log" >&2

/usr/bin/python3 - "$out" "$connections" "$inflight" "$workers" "$server" "$t0" "$t1" "$server_cpu_before" \
  "$server_cpu_after" "$(awk -v a="$client_cpu_before" -v b="$client_cpu" 'BEGIN{print b - a}')" "$anon_before" "$anon_after" \
  "$((switches_after - switches_before))" "$kernel_before" "$kernel_after" <<'PY'
import json, sys
out = sys.argv[1]
n, inflight, workers = map(int, sys.argv[2:5])
server = sys.argv[5]
t0, t1, cpu0, cpu1, client_cpu = map(float, sys.argv[6:11])
anon0, anon1, switches = map(int, sys.argv[11:14])
drops, overflows, retrans, deferred_acks, handshake_timers, synack_resent = (
    b - a for a, b in zip(map(int, sys.argv[14].split()), map(int, sys.argv[15].split())))
c = json.load(open(f"{out}/client.json"))
s = json.load(open(f"{out}/server-stats.json"))
online = c["connect"]["connected"]
window = t1 - t0
server_us = (cpu1 - cpu0) * 1e6 / max(1, online)
summary = {
    "server_kind": server, "connections": n, "handshakes_in_flight": inflight, "server_workers": workers,
    "connected": online, "connect_seconds": c["connect"]["seconds"],
    "connections_per_second": round(online / c["connect"]["seconds"]) if c["connect"]["seconds"] else None,
    "measured_window_seconds": round(window, 2),
    "client": {"connected": c["connect"]["connected"], "failed": c["connect"]["failed"],
               "cpu_percent_of_one_core": round(client_cpu / window * 100)},
    "server": {"cpu_us_per_connection": round(server_us, 1),
               "capacity_per_core_connections_per_second": round(1e6 / server_us) if server_us else None,
               "cpu_percent_of_one_core": round((cpu1 - cpu0) / window * 100),
               "context_switches_per_connection": round(switches / max(1, online), 2),
               "handshake_timeouts": s.get("handshakeTimeouts"),
               "handshake_deadlines_deferred": s.get("handshakeDeadlinesDeferred")},
    "user_memory": {"rss_anon_bytes_before": anon0, "rss_anon_bytes_after": anon1,
                    "bytes_per_connection": round(anon1 / max(1, online), 1),
                    "growth_bytes_per_connection": round((anon1 - anon0) / max(1, online), 1)},
    "kernel": {"backlog_drops": drops, "listen_overflows": overflows, "retransmitted_segments": retrans,
               "deferred_accept_acks_dropped": deferred_acks, "tcp_timeouts": handshake_timers,
               "syn_acks_resent": synack_resent},
    "delivery": c.get("delivery"),
}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
print(json.dumps(summary, indent=2))
PY
log "summary: $out/summary.json"
