#!/usr/bin/env bash
# A test run beside two CPU hogs (issue 28): on the project's 2-core machine that leaves the suite
# about a third of the CPU, and every test must still pass (no assertion may depend on speed).
#
#   npm run test:busy                                   # npm test (everything) beside two hogs
#   npm run test:busy -- npx tap test/fuse/mount.test.ts  # any command beside them
#
# The hogs: `stress-ng --cpu 2` when installed, else two `sha256sum /dev/zero`. They are stopped
# when the command ends, however it ends; the command's status is this script's.
set -uo pipefail
cd "$(dirname "$0")/.."
hogs=()
if command -v stress-ng >/dev/null 2>&1; then
  stress-ng --cpu 2 --quiet &
  hogs+=("$!")
else
  for _ in 1 2; do
    sha256sum /dev/zero &
    hogs+=("$!")
  done
fi
trap 'kill "${hogs[@]}" 2>/dev/null; wait "${hogs[@]}" 2>/dev/null' EXIT
echo "test-busy: CPU hogs ${hogs[*]} running beside: ${*:-npm test}" >&2
if [ "$#" -gt 0 ]; then "$@"; else npm test; fi
