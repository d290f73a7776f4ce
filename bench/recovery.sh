#!/usr/bin/env bash
# Recovery under load: the same rooms and publish stream twice per repetition:
#   steady: every connection stays;
#   resume: every connection drops after about --every items (ringcast-load --reconnect-every),
#           connects again and resumes with JOIN since (docs/protocol.md), the server replaying what
#           it missed.
# The figures: items missing / duplicated (must be 0), drops, resumes recovered / not recovered, items
# replayed, the resume time (drop -> last JOINED on the new connection), delivery latency, and the
# server's CPU over the measured window, medians over --reps; the steady run is the baseline for the
# cost of the reconnects.
#
#   bench/recovery.sh [--connections N] [--rooms K] [--rate R] [--seconds S] [--every N] [--abrupt]
#                     [--pause MS] [--reps N] [--nice N] [--out DIR] [--build DIR]
#                     [-- ringcast-load flags for both runs, e.g. --per-proc 1250]
#
# Everything it starts is stopped on exit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

connections=5000
rooms=50
rate=2000
seconds=20
every=200
reps=3
nice_level=10  # the load tool's nice level: other sessions build on this machine
out=""
build=build
abrupt=()
pause=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) connections=$2; shift 2 ;;
    --rooms) rooms=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --every) every=$2; shift 2 ;;
    --abrupt) abrupt=(--reconnect-abrupt); shift ;;
    --pause) pause=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --nice) nice_level=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || out="results/recovery-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
[ -x "$build/tools/ringcast" ] && [ -x "$build/tools/load/ringcast-load" ] || tools/dev build >&2

source "$(dirname "$0")/lib.sh"
server_pid=""
trap stop_ringcast EXIT

# One server per run (two shards), so the counters are the run's.
run() {  # run NAME REP LOAD_FLAGS...
  local name=$1 rep=$2
  shift 2
  start_ringcast "$out/$name-$rep.server.log" "$build/tools/ringcast" --listen 127.0.0.1:0 --api 127.0.0.1:0 --threads 2
  local ws=$serving_ws api=$serving_api
  nice -n "$nice_level" "$build/tools/load/ringcast-load" --url "$ws" --publish-url "$api/push/room" \
    --connections "$connections" --rooms "$rooms" --publish-rate "$rate" --duration "$seconds" \
    --watch-pids "$server_pid" --json "$out/$name-$rep.json" "${extra[@]}" "$@" >"$out/$name-$rep.load.txt" 2>&1 ||
    true
  curl -s "$api/stats" >"$out/$name-$rep.stats.json"
  stop_ringcast
}

for rep in $(seq "$reps"); do
  echo "[recovery] rep $rep/$reps" >&2
  run steady "$rep"
  run resume "$rep" --reconnect-every "$every" --reconnect-pause "$pause" "${abrupt[@]}"
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
    return statistics.median(vals), vals
rec = lambda k: (lambda s, st: s.get("reconnect", {}).get(k, 0))
rows = [("items published", lambda s, st: s["publish"]["accepted"]),
        ("items received", lambda s, st: s["delivery"]["received"]),
        ("missing", lambda s, st: s["delivery"]["missing"]),
        ("duplicates", lambda s, st: s["delivery"]["duplicates"]),
        ("out of order", lambda s, st: s["delivery"]["out_of_order"]),
        ("drops (reconnects)", rec("reconnects")),
        ("drops per connection", rec("reconnects_per_connection")),
        ("resumes recovered", rec("recovered")),
        ("resumes not recovered", rec("not_recovered")),
        ("reconnect attempts retried", rec("retried")),
        ("reconnects failed", rec("failed")),
        ("items replayed", rec("items_replayed")),
        ("items replayed per drop", rec("replayed_per_reconnect")),
        ("resume p50 ms", lambda s, st: s.get("reconnect", {}).get("resume_ms", {}).get("p50", 0)),
        ("resume p90 ms", lambda s, st: s.get("reconnect", {}).get("resume_ms", {}).get("p90", 0)),
        ("resume p99 ms", lambda s, st: s.get("reconnect", {}).get("resume_ms", {}).get("p99", 0)),
        ("resume max ms", lambda s, st: s.get("reconnect", {}).get("resume_ms", {}).get("max", 0)),
        ("delivery p50 ms", lambda s, st: s["latency_ms"]["p50"]),
        ("delivery p99 ms", lambda s, st: s["latency_ms"]["p99"]),
        ("server CPU s (window)", lambda s, st: s["cpu"]["watched_s"]),
        ("window s", lambda s, st: s["cpu"]["window_s"]),
        ("server recoveries", lambda s, st: st.get("recoveries", 0)),
        ("server recoveriesFailed", lambda s, st: st.get("recoveriesFailed", 0)),
        ("server itemsReplayed", lambda s, st: st.get("itemsReplayed", 0))]
print("| median of %d runs | steady | resume | resume, each run |" % reps)
print("| --- | --- | --- | --- |")
for label, key in rows:
    (h, _), (t, each) = load("steady", key), load("resume", key)
    print(f"| {label} | {h:g} | {t:g} | {' / '.join('%g' % v for v in each)} |")
EOF
