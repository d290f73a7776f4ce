# What the bench scripts share (sourced, not run): reading a ringcast's URLs from its start-up line
# ("serving: clients ws://…, push API http://…, …"), in one place, so a change to that line is
# followed once; checking ports, waiting for a server and stopping it; adding what only the script
# knows to a run's JSON; installing Debian packages; building the uWebSockets peer.

# wait_serving LOG: waits up to 10 s for the line in LOG; sets serving_ws and serving_api (empty ws
# for an API-only node). Returns 1 when the server did not start.
wait_serving() {
  local log=$1 line
  for _ in $(seq 200); do grep -qs "serving:" "$log" && break; sleep 0.05; done
  line=$(grep -o "serving: clients [^,]*, push API http://[^ ,]*" "$log") || return 1
  serving_ws=$(grep -o 'ws://[^,]*' <<<"$line" || true)
  serving_api=$(grep -o 'http://[^ ,]*' <<<"$line")
}

# start_ringcast LOG BIN ARGS...: starts a server; sets server_pid, serving_ws and serving_api, or
# prints its log and exits when it does not start.
start_ringcast() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  server_pid=$!
  wait_serving "$log" || { echo "ringcast did not start:" >&2; cat "$log" >&2; exit 1; }
}

# stop_ringcast: stops the server start_ringcast started (also fine when none runs).
stop_ringcast() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  server_pid=""
  true
}

# port_free PORT...: nothing listens on any of the ports (another run, or nginx's reuseport, which
# would share a port silently); says which one is taken.
port_free() {
  local p
  for p in "$@"; do
    if [ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]; then lib_say "port $p is in use by another process"; return 1; fi
  done
}

# wait_for COMMAND...: runs COMMAND (output discarded) until it succeeds, up to 10 s.
wait_for() {
  for _ in $(seq 1 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
  return 1
}

# stop_pid PID: stops a server the script started: TERM, up to 5 s for it to exit, then KILL; reaps it.
stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# annotate FILE KEY=VALUE...: adds a "bench" section (what only the calling script knows) to a run's JSON
# summary (each VALUE as JSON when it parses, else as a string); a run whose uWS peer reported messages
# dropped over its backpressure limit (dropped=...) is marked not clean: it is not comparable.
annotate() {
  /usr/bin/python3 - "$@" <<'EOF' || true
import json, sys
path, pairs = sys.argv[1], sys.argv[2:]
try:
    d = json.load(open(path))
except Exception:
    d = {"clean": False, "problems": "no summary"}
bench = d.setdefault("bench", {})
for p in pairs:
    k, v = p.split("=", 1)
    try:
        bench[k] = json.loads(v)
    except ValueError:
        bench[k] = v
if bench.get("dropped"):
    d["clean"] = False
json.dump(d, open(path, "w"))
EOF
}

# as_root CMD...: runs CMD as root (directly when we are root, else through sudo).
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# lib_say TEXT: the calling script's log function when it has one, else stderr.
lib_say() { if declare -F log >/dev/null; then log "$*"; else echo "$*" >&2; fi; }

# ensure_packages PKG...: installs the Debian packages that are missing (apt-get). Installing nginx
# would start the system service, and the benchmarks run their own nginx on their own port: a
# policy-rc.d that refuses service starts is put in place for the install when there is none.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  lib_say "installing: ${missing[*]}"
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

# build_uws_peer SRC OUT: builds the uWebSockets broadcast peer (../shared/peers/uws beside the
# checkout, see its README; its sources are never copied into the project) into OUT/uws_broadcast, and
# bench/peers/uws_rooms.cpp against the same build into OUT/uws_rooms. Sets uws_bin and uws_rooms_bin;
# returns 1 (with the log in OUT/build.log) when a build fails.
build_uws_peer() {
  local src=$1 dir=$2 here
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  [ -x "$src/build.sh" ] || { lib_say "no uWebSockets peer at $src (see ../shared/peers/README.md)"; return 1; }
  ensure_packages g++ make zlib1g-dev
  mkdir -p "$dir"
  # The build copies the peer's sources into DIR/src: never to be committed, even when --out is inside
  # the checkout (docs/results/...).
  echo '*' > "$dir/.gitignore"
  lib_say "building the uWebSockets peer into $dir"
  "$src/build.sh" "$dir" > "$dir/build.log" 2>&1 || { lib_say "uWebSockets build failed (see $dir/build.log)"; return 1; }
  # The same flags as the peer's own build.sh, against the copy of the sources it built in.
  g++ -O2 -std=c++20 -DLIBUS_NO_SSL -I"$dir/src/uWebSockets/src" -I"$dir/src/uWebSockets/uSockets/src" \
    "$here/peers/uws_rooms.cpp" "$dir/src/uWebSockets/uSockets/uSockets.a" -lz -o "$dir/uws_rooms" \
    >> "$dir/build.log" 2>&1 || { lib_say "uws_rooms build failed (see $dir/build.log)"; return 1; }
  uws_bin=$dir/uws_broadcast
  uws_rooms_bin=$dir/uws_rooms
}

# build_uws_ssl_peer SRC OUT: builds bench/peers/uws_broadcast_ssl.cpp (the broadcast peer as an
# SSLApp) into OUT/uws_broadcast_ssl, with uSockets built WITH_OPENSSL=1 against the system's OpenSSL
# (libssl-dev) in a copy of the peer's sources (OUT/src, never committed). Sets uws_ssl_bin; returns 1
# (with the log in OUT/build.log) when the build fails.
build_uws_ssl_peer() {
  local src=$1 dir=$2 here
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  [ -d "$src/uWebSockets" ] || { lib_say "no uWebSockets peer at $src (see ../shared/peers/README.md)"; return 1; }
  ensure_packages g++ make zlib1g-dev libssl-dev
  mkdir -p "$dir"
  echo '*' > "$dir/.gitignore"
  lib_say "building the uWebSockets SSLApp peer into $dir"
  {
    rm -rf "$dir/src" && mkdir -p "$dir/src" && cp -r "$src/uWebSockets" "$dir/src/" && chmod -R u+w "$dir/src" &&
      # The flags of the plain peer's build.sh, with OpenSSL instead of LIBUS_NO_SSL (WITH_LTO=0
      # covers the C part; the Makefile builds the C++ SNI tree with -flto whatever it is told).
      make -C "$dir/src/uWebSockets/uSockets" -j1 WITH_OPENSSL=1 WITH_LTO=0 CFLAGS="-O2" &&
      g++ -O2 -std=c++20 -DLIBUS_USE_OPENSSL -I"$dir/src/uWebSockets/src" -I"$dir/src/uWebSockets/uSockets/src" \
        "$here/peers/uws_broadcast_ssl.cpp" "$dir/src/uWebSockets/uSockets/uSockets.a" -lssl -lcrypto -lz \
        -o "$dir/uws_broadcast_ssl"
  } > "$dir/build.log" 2>&1 || { lib_say "uWebSockets SSLApp build failed (see $dir/build.log)"; return 1; }
  uws_ssl_bin=$dir/uws_broadcast_ssl
}

# guard_run DEADLINE CLIENT_PATTERN: for a long run (bench/scale_1m.sh, storm_1m.sh). On exit, stops
# every process in the caller's `pids` array (TERM, then KILL) and whatever is left of its load client
# (processes matching CLIENT_PATTERN); after DEADLINE seconds, stops the script itself.
guard_run() {
  guard_client_pattern=$2
  trap guard_cleanup EXIT
  ( sleep "$1"; lib_say "deadline of $1 s reached: stopping"; kill -TERM $$ ) &
  pids+=($!)
}
guard_cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 2
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  pkill -KILL -f "$guard_client_pattern" 2>/dev/null || true
  wait 2>/dev/null || true
}
