#!/usr/bin/env bash
# Runs the deterministic simulation over many seeds (default 100,000 from seed 1), in chunks, in the
# release build (build/) and, with --asan, in the ASan/UBSan build (build-asan/) as tools/dev sets them
# up (SIM_BUILD and SIM_BUILD_ASAN name other directories). Stops at the first failing seed, which it
# prints with the command that replays it (add --verbose, or --trace <client>, to see more).
#   tests/sim/run_long.sh [seeds] [first-seed] [--asan]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
seeds=${1:-100000}
first=${2:-1}
release=${SIM_BUILD:-build}
asan=${SIM_BUILD_ASAN:-build-asan}
builds=("$release")
[ "${3:-}" = "--asan" ] && builds+=("$asan")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
for build in "${builds[@]}"; do
  if [ ! -f "$build/build.ninja" ]; then
    if [ "$build" = "$asan" ]; then
      meson setup "$build" --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
    else
      meson setup "$build" --buildtype=release >/dev/null
    fi
  fi
  ninja -C "$build" tests/sim/ringcast-sim >/dev/null
  chunk=10000
  for ((s = first; s < first + seeds; s += chunk)); do
    n=$((first + seeds - s < chunk ? first + seeds - s : chunk))
    echo "== $build: seeds $s..$((s + n - 1))"
    "$build/tests/sim/ringcast-sim" --first-seed "$s" --seeds "$n"
  done
done
