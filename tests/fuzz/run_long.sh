#!/usr/bin/env bash
# Runs every libFuzzer target for a long time (default 30 minutes each) in a clang ASan/UBSan build,
# growing a scratch corpus from the committed seeds, and reports the executions reached. A crash
# leaves its input in build-fuzz-long/findings/<target>/: add it to tests/fuzz/corpus/<target>/ as a
# regression once fixed.
#   tests/fuzz/run_long.sh [seconds-per-target] [target ...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
seconds=${1:-1800}
shift || true
build=build-fuzz-long
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ meson setup "$build" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$build" >/dev/null
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(handshake client_stream command api token pomelo nano_pushes)
for t in "${targets[@]}"; do
  work="$build/corpus/$t"; findings="$build/findings/$t"
  mkdir -p "$work" "$findings"
  echo "== $t: $seconds s"
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$findings/" -dict="tests/fuzz/dict/$t.dict" "$work" "tests/fuzz/corpus/$t" 2>&1 |
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb|DONE|ERROR|SUMMARY" || true
done
