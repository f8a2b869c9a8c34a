#!/usr/bin/env bash
# Starts the custom kernel builds (build-custom.sh 6.1 and 6.12) in the background at the start
# of `npm test`, so that on a new machine they overlap the ~10 minutes of suites that come before
# the custom-kernel suites instead of starting with them (a cold run measured 20 min of build
# inside compat-6.1-custom, begun 5 min into tap). They run niced; a suite that needs a kernel
# still being built waits on build-custom.sh's lock and then finds it cached. With a warm cache
# each returns at once. Output: <cache>/kernel/custom/prebuild-<line>.log.
#
#   scripts/kernel/prebuild.sh        (PSTORE_SIM_PREBUILD=0: do nothing)
set -euo pipefail
[ "${PSTORE_SIM_PREBUILD:-1}" = 0 ] && exit 0
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_ROOT=${PSTORE_SIM_CACHE:-${HOME:-/root}/.cache/pstore-sim}
mkdir -p "$CACHE_ROOT/kernel/custom"
for line in 6.1 6.12; do
  log=$CACHE_ROOT/kernel/custom/prebuild-$line.log
  rm -f "$log"
  # its own session: not a child a test runner waits for, nor one a ^C of npm test stops halfway
  setsid nice -n 10 bash "$HERE/build-custom.sh" "$line" </dev/null >"$log" 2>&1 &
done
echo "prebuild: custom kernels 6.1 and 6.12 building in the background when not cached (logs: $CACHE_ROOT/kernel/custom/prebuild-*.log)" >&2
