#!/usr/bin/env bash
# kTLS for real (issue 16), as `meson test ktls_vm` runs it: this project's machines have a kernel
# without the tls ULP, where the kTLS tests skip, so this boots Debian 12's own kernel in qemu
# (run.sh) and runs there the unit tests that hand every suite's keys to the kernel over loopback TCP
# and test_ktls.py (python3-websockets clients over wss:// against the server, with kTLS on and off).
# Inside the VM the ULP must be there: a skip would prove nothing, so it fails instead.
# Usage: tests/vm/ktls.sh UNIT_TLS RINGCAST_BIN
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
unit=$(realpath "$1")
bin=$(realpath "$2")
exec "$here/run.sh" --timeout 600 -- env RINGCAST_BIN="$bin" PYTHONDONTWRITEBYTECODE=1 bash -c '
  grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp || { echo "no tls ULP in the VM"; exit 1; }
  "$1" --gtest_filter="TlsKernel*:*TlsKernelSuites*" && /usr/bin/python3 "$2"
  rc=$?; [ "$rc" = 77 ] && { echo "test_ktls.py skipped inside the VM"; exit 1; }; exit "$rc"' \
  ktls "$unit" "$here/../integration/test_ktls.py"
