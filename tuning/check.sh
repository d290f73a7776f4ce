#!/usr/bin/env bash
# Compares this machine with the 1M-connection profile (tuning/sysctl-1m.conf) and the open-files
# limit, and prints what is missing with the command that fixes it. Changes nothing.
# Exit status: 0 when everything is in place, 1 otherwise.
#   tuning/check.sh [--connections N]   (default 1000000)
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
connections=1000000
[ "${1:-}" = "--connections" ] && connections=${2:-1000000}
missing=0

note() { printf '  %-34s %s\n' "$1" "$2"; }
bad() {
  missing=$((missing + 1))
  if [ -t 1 ]; then printf '  \033[1m%-34s %s\033[0m\n' "$1" "$2"; else printf '! %-34s %s\n' "$1" "$2"; fi
}

# "at least" comparison for one or more numbers (each field compared in order).
at_least() {  # at_least "have" "want" -> 0 when every field of have >= want
  local -a h=($1) w=($2)
  for i in "${!w[@]}"; do [ "${h[$i]:-0}" -ge "${w[$i]}" ] || return 1; done
}

echo "sysctl (want as in tuning/sysctl-1m.conf):"
while IFS='=' read -r key value; do
  [[ "$key" =~ ^[[:space:]]*(#|$) ]] && continue
  key=$(echo "$key" | xargs); value=$(echo "$value" | xargs)
  have=$(sysctl -n "$key" 2>/dev/null | xargs) || have=""
  if [ -z "$have" ]; then note "$key" "not present here (module not loaded): fine"; continue; fi
  case "$key" in
    net.ipv4.ip_local_port_range)
      read -r lo hi <<<"$have"; read -r wlo whi <<<"$value"
      if [ "$lo" -le "$wlo" ] && [ "$hi" -ge "$whi" ]; then note "$key" "$have"; else bad "$key" "$have (want $value): sysctl -w $key=\"$value\""; fi ;;
    net.ipv4.tcp_tw_reuse)
      if [ "$have" -ge 1 ]; then note "$key" "$have"; else bad "$key" "$have (want $value)"; fi ;;
    net.ipv4.tcp_fin_timeout)
      if [ "$have" -le "$value" ]; then note "$key" "$have"; else bad "$key" "$have (want <= $value): sysctl -w $key=$value"; fi ;;
    net.ipv4.tcp_rmem|net.ipv4.tcp_wmem)
      note "$key" "$have (profile: $value; smaller defaults save memory)" ;;
    *)
      if at_least "$have" "$value"; then note "$key" "$have"; else bad "$key" "$have (want >= $value): sysctl -w $key=\"$value\""; fi ;;
  esac
done < "$here/sysctl-1m.conf"

echo "open-files limit of this shell (what a ringcast started from it gets):"
soft=$(ulimit -Sn); hard=$(ulimit -Hn)
need=$((connections + 1000))
if [ "$hard" = unlimited ] || [ "$hard" -ge "$need" ]; then
  note "RLIMIT_NOFILE" "soft $soft, hard $hard: one process can hold $connections connections (ringcast raises soft to hard)"
else
  workers=$(( (connections + hard - 1001) / (hard - 1000) ))
  bad "RLIMIT_NOFILE" "soft $soft, hard $hard: one process holds at most ~$((hard - 100)) connections"
  echo "      raise it (limits.conf / systemd LimitNOFILE=1048576, needs CAP_SYS_RESOURCE to go past the hard"
  echo "      limit), or run ringcast --workers $workers --threads 1 (each worker stays under the limit)"
fi

mem_kb=$(awk '/MemTotal/ {print $2}' /proc/meminfo)
want_kb=$((connections * 10))
if [ "$mem_kb" -ge "$want_kb" ]; then note "memory" "$((mem_kb / 1048576)) GiB (about 10 KiB per loopback pair: $((want_kb / 1048576)) GiB)"
else bad "memory" "$((mem_kb / 1048576)) GiB, want ~$((want_kb / 1048576)) GiB for $connections loopback pairs"; fi

# The kernel's table of established connections: every received segment looks its socket up there.
# Sized at boot (thash_entries=); a network namespace made after net.ipv4.tcp_child_ehash_entries was set
# gets a table of that size (containers).
buckets=$(sysctl -n net.ipv4.tcp_ehash_entries 2>/dev/null || echo "")
if [ -n "$buckets" ]; then
  buckets=${buckets#-}  # (negative: the initial namespace's table, shared)
  if [ "$buckets" -ge "$connections" ]; then note "net.ipv4.tcp_ehash_entries" "$buckets buckets"
  else bad "net.ipv4.tcp_ehash_entries" "$buckets buckets for $connections connections: lookups walk chains; boot with thash_entries=$(( 1 << $(awk -v n="$connections" 'BEGIN { b = 0; while ((2 ^ b) < n) b++; print b }') )) (see docs/operations.md)"; fi
fi

if [ "$missing" -gt 0 ]; then
  echo "$missing setting(s) below the profile (each line says how). The sysctl ones, all at once: sudo cp $here/sysctl-1m.conf /etc/sysctl.d/60-ringcast.conf && sudo sysctl --system"
  exit 1
fi
echo "everything in place for $connections connections"
