#!/usr/bin/env bash
# Applies tuning/sysctl-1m.conf to the running kernel (not persistent; see the file's header for
# that). Used by bench/scale_1m.sh. Needs root.
set -eu
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
while IFS='=' read -r key value; do
  [[ "$key" =~ ^[[:space:]]*(#|$) ]] && continue
  key=$(echo "$key" | xargs); value=$(echo "$value" | xargs)
  [ -e "/proc/sys/${key//.//}" ] || continue
  sysctl -q -w "$key=$value" || echo "tuning: could not set $key" >&2
done < "$here/sysctl-1m.conf"
