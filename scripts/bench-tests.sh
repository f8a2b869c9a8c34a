#!/usr/bin/env bash
# What a test file costs under each way tap can run it (issue 28): wall time and the CPU of the
# whole process tree, side by side, with the ratio to the first mode.
#
#   bash scripts/bench-tests.sh test/fuse/mount.test.ts test/fuse/bin.test.ts
#   MODES="coverage nocov fast" bash scripts/bench-tests.sh test/fuse/api.test.ts
#
# Modes (MODES, default "coverage fast"):
#   coverage  `tap FILE`: ts-node in the test process, coverage collected in every hooked process,
#             the products hooked unless the file calls runProductsUninstrumented()
#             (`npm run test:coverage`; what `npm test` ran before 2026-12-07 evening)
#   nocov     `tap --disable-coverage FILE`: ts-node, no coverage
#   fast      `tap --disable-coverage --node-arg=--require=./test/helpers/esbuildLoader.cjs FILE`
#             (`npm test` and the tiers' scripts): esbuild instead of ts-node, no coverage
#   (without coverage, test/helpers/mount.ts starts the products without tap's hook)
#
# CPU is user + system time of everything the run started, the daemons included (they detach
# from the test process, so its rusage misses them): the run goes into a cpuacct cgroup of its own
# when cgroup v1's cpuacct is writable (root), else the figure is tap's rusage and says so.
# Needs `npm run build` first. Runs one file at a time: on a shared machine CPU is the figure
# to compare (wall moves with the load; the load average is printed with every line).
set -uo pipefail
cd "$(dirname "$0")/.."
[ "$#" -gt 0 ] || { echo "usage: bash scripts/bench-tests.sh TEST_FILE..." >&2; exit 2; }
read -r -a modes <<<"${MODES:-coverage fast}"
tap=node_modules/.bin/tap
cg=/sys/fs/cgroup/cpuacct
node test/helpers/esbuildLoader.cjs

# runs "$@" and prints "WALL CPU STATUS" (seconds; CPU marked * when it misses the daemons)
measure() {
  local start end cpu status
  if [ -w "$cg" ]; then
    local group="$cg/pstore-sim-bench-$$"
    mkdir -p "$group"
    start=$(date +%s.%N)
    (echo "$BASHPID" >"$group/tasks" && exec "$@") >/dev/null 2>&1
    status=$?
    end=$(date +%s.%N)
    # what the cgroup's processes used, in ns (a daemon left running would keep counting: none is)
    cpu=$(awk '{ printf "%.1f", $1 / 1e9 }' "$group/cpuacct.usage")
    rmdir "$group" 2>/dev/null || echo "bench-tests: $group still has processes" >&2
    awk -v s="$start" -v e="$end" -v c="$cpu" -v st="$status" 'BEGIN { printf "%.1f %s %s\n", e - s, c, st }'
  else
    local times
    times=$(mktemp)
    /usr/bin/time -f '%e %U %S' -o "$times" "$@" >/dev/null 2>&1
    status=$?
    awk -v st="$status" '{ printf "%.1f %.1f* %s\n", $1, $2 + $3, st }' "$times"
    rm -f "$times"
  fi
}

printf '%-44s' file
for m in "${modes[@]}"; do printf '%22s' "$m wall/CPU"; done
printf '   CPU ratio to %s, load\n' "${modes[0]}"
ratios=()
for file in "$@"; do
  printf '%-44s' "$file"
  first=
  for m in "${modes[@]}"; do
    case $m in
      coverage) cmd=("$tap" "$file") ;;
      nocov) cmd=("$tap" --disable-coverage "$file") ;;
      fast) cmd=("$tap" --disable-coverage --node-arg=--require=./test/helpers/esbuildLoader.cjs "$file") ;;
      *) echo "bench-tests: unknown mode $m" >&2; exit 2 ;;
    esac
    read -r wall cpu status < <(measure "${cmd[@]}")
    [ "$status" = 0 ] || failed=1
    printf '%22s' "${wall} s / ${cpu} s$([ "$status" = 0 ] || echo ' FAIL')"
    first=${first:-$cpu}
    ratios+=("$(awk -v a="${cpu%\*}" -v b="${first%\*}" 'BEGIN { printf "%.2f", a / b }')")
  done
  printf '   %s, load %s\n' "${ratios[*]}" "$(cut -d' ' -f1 /proc/loadavg)"
  ratios=()
done
# a failed run's figures mean nothing: say so in the status (run the file alone to see why)
exit "${failed:-0}"
