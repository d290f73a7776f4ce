# What the bench scripts share (sourced, not run): reading a ringcast's URLs from its start-up line
# ("serving: clients ws://…, push API http://…, …"), in one place, so a change to that line is
# followed once.

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
