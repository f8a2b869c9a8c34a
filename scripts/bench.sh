#!/usr/bin/env bash
# scripts/bench.sh: pstore-sim against a C libfuse filesystem, a minimal one on pstore-sim's FUSE binding and tmpfs.
#
# Usage: bash scripts/bench.sh [--quick] [--out FILE] [--rounds N] [--profile] [--keep] [--no-build]
#                              [--baseline DIR]
#
#   --quick      3 rounds, regions 1M / 4M / 32M (1,000 records): ~1-2 min
#                (default: 5 rounds, regions 1M / 16M / 256M with 8,000 records: ~5-10 min)
#   --out FILE   JSON results (default: bench-results.json in the current directory)
#   --rounds N   rounds per measurement (interleaved: the order of the filesystems rotates)
#   --profile    also profile the daemon with node --cpu-prof (an ops workload on the middle
#                region, the mount of the largest, a pmsg feed); summary in the table and JSON,
#                the .cpuprofile files are copied to FILE.profiles/
#   --keep       keep the work directory (images, snapshots) instead of removing it
#   --no-build   do not run `npm run build` first (dist/ must exist)
#   --baseline DIR  another checkout, built (DIR/dist/src/cli/main.js, e.g. main's, or tag
#                libfuse2-baseline's, the last build on libfuse 2, with its node_modules and
#                patched addon), measured beside this one in the start-up rounds and in every
#                FUSE row (its own mounts of the same images): before/after ratios from one run
#
# Needs: libfuse 3's headers (libfuse3-dev), pkg-config and the native addons (npm run setup),
# gcc, and the right to mount FUSE filesystems (root here). Prints a table on stdout (progress
# on stderr) and writes the JSON. It is a benchmark, not a test: slow results never make it
# fail; it exits 1 only when a measurement could not be made (2: environment missing).
#
# What runs (all in separate processes; nothing touches a mount from the process serving it):
#   - pstore-sim: `pstore-sim mount` of images prepared with the CLI (1M: format, oopses,
#     console, pmsg, ftrace, panic) or with scripts/bench/fill.mjs (the larger regions);
#   - C ref: scripts/bench/reffs.c (libfuse 3 high-level API, fuse_loop_mt) serving a snapshot
#     of the pstore-sim mount's files; a second mount with attr/entry timeouts of 1 s;
#   - minimal: scripts/bench/minimal-fuse.cjs (native/index.cjs), same files, same options;
#   - baseline (--baseline): the other checkout's pstore-sim, mounted as ours is;
#   - tmpfs: a copy of the files in the work directory (under /dev/shm).
# Timed by scripts/bench/client.c (stat loops, open+read+close cycles, and fork/exec of ls -l,
# cat, rm). Also: pmsg FIFO ingest (`cat 64MiB > FIFO`, bytes lost checked after a reboot) vs
# `cat > file` on tmpfs and a bare Node FIFO reader (scripts/bench/fifo-sink.cjs); time from
# `pstore-sim mount` to a usable mount; daemon peak RSS; the engine alone without FUSE
# (scripts/bench/engine.mjs: boot, panic, ECC parity of 1 MiB). Driver: scripts/bench/run.mjs.
# Every mount is unmounted at the end, also on error or Ctrl-C (trap below).
set -uo pipefail

usage() { sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

QUICK=0 PROFILE=0 KEEP=0 BUILD=1 ROUNDS="" BASELINE="" OUT="bench-results.json"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --profile) PROFILE=1 ;;
    --keep) KEEP=1 ;;
    --no-build) BUILD=0 ;;
    --out) OUT="${2:?--out needs a file}"; shift ;;
    --out=*) OUT="${1#--out=}" ;;
    --rounds) ROUNDS="${2:?--rounds needs a number}"; shift ;;
    --rounds=*) ROUNDS="${1#--rounds=}" ;;
    --baseline) BASELINE="${2:?--baseline needs a directory}"; shift ;;
    --baseline=*) BASELINE="${1#--baseline=}" ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; usage >&2; exit 1 ;;
  esac
  shift
done
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2

need() { command -v "$1" >/dev/null 2>&1 || { echo "bench.sh: $1 not found ($2)" >&2; exit 2; }; }
need node "install Node.js 20+"
need gcc "apt-get install build-essential"
need pkg-config "npm run setup installs it"
need fusermount3 "install fuse3"
pkg-config --exists fuse3 || { echo "bench.sh: libfuse 3 headers missing (npm run setup installs libfuse3-dev)" >&2; exit 2; }
[ -f native/build/Release/fuse.node ] && [ -f native/build/Release/sys.node ] || { echo "bench.sh: the native addons are not built: run npm run setup" >&2; exit 2; }

if [ "$BUILD" = 1 ]; then
  echo "bench.sh: npm run build" >&2
  if ! npm run --silent build >&2; then
    if [ -f dist/src/cli/main.js ]; then
      echo "bench.sh: the build failed; benchmarking the existing dist/ (may be stale)" >&2
    else
      echo "bench.sh: the build failed and there is no dist/" >&2; exit 2
    fi
  fi
fi
[ -f dist/src/cli/main.js ] || { echo "bench.sh: dist/src/cli/main.js missing: build first (npm run build)" >&2; exit 2; }
if [ -n "$BASELINE" ]; then
  BASELINE="$(cd "$BASELINE" 2>/dev/null && pwd)" || { echo "bench.sh: --baseline: no such directory" >&2; exit 2; }
  [ -f "$BASELINE/dist/src/cli/main.js" ] || { echo "bench.sh: --baseline: $BASELINE/dist/src/cli/main.js missing (build it there)" >&2; exit 2; }
fi

# Work directory on tmpfs (images, snapshots, mountpoints, the tmpfs side of the comparison).
WORK="" OWN_TMPFS=0
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] && [ -w /dev/shm ]; then
  WORK="$(mktemp -d /dev/shm/pstore-sim-bench.XXXXXX)" || exit 2
else
  WORK="$(mktemp -d /tmp/pstore-sim-bench.XXXXXX)" || exit 2
  mount -t tmpfs -o size=4G tmpfs "$WORK" || { echo "bench.sh: no tmpfs: /dev/shm is not tmpfs and mount -t tmpfs failed" >&2; rmdir "$WORK"; exit 2; }
  OWN_TMPFS=1
fi

is_mounted() { awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts; }
ours() { [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF "$WORK"; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  # only processes this run started (their command lines name the work directory), plus the
  # pstore-sim daemons registered in this run's private run directory (PSTORE_SIM_RUN_DIR)
  local pids=() pid rec
  for rec in "$WORK"/run/*.json; do
    [ -f "$rec" ] || continue
    pid="$(sed -n 's/^ *"pid": *\([0-9]*\).*/\1/p' "$rec" | head -1)"
    [ -n "$pid" ] && echo "$pid" >>"$WORK/cleanup.pids"
  done
  if [ -f "$WORK/cleanup.pids" ]; then
    for pid in $(sort -un "$WORK/cleanup.pids"); do ours "$pid" && pids+=("$pid"); done
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for _ in $(seq 40); do
      local left=0
      for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
      [ "$left" = 0 ] && break
      sleep 0.1
    done
  fi
  if [ -f "$WORK/cleanup.mounts" ]; then
    local mp
    while read -r mp; do
      if [ -n "$mp" ] && is_mounted "$mp"; then
        echo "bench.sh: unmounting leftover $mp" >&2
        fusermount3 -uz "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null
      fi
    done < <(sort -u "$WORK/cleanup.mounts")
  fi
  if [ -f "$WORK/cleanup.pids" ]; then
    for pid in $(sort -un "$WORK/cleanup.pids"); do ours "$pid" && kill -KILL "$pid" 2>/dev/null; done
  fi
  if [ "$PROFILE" = 1 ] && [ -d "$WORK/prof" ]; then
    mkdir -p "$OUT.profiles" && cp -r "$WORK/prof/." "$OUT.profiles/" && echo "bench.sh: CPU profiles in $OUT.profiles/" >&2
  fi
  if awk -v w="$WORK/" 'index($2, w) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
    echo "bench.sh: something is still mounted under $WORK: not removing it" >&2
  elif [ "$KEEP" = 1 ]; then
    echo "bench.sh: work directory kept: $WORK" >&2
  else
    rm -rf "$WORK"
    if [ "$OWN_TMPFS" = 1 ]; then umount "$WORK" 2>/dev/null; rmdir "$WORK" 2>/dev/null; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

mkdir -p "$WORK/bin"
CFLAGS="-O2 -Wall"
gcc $CFLAGS -o "$WORK/bin/reffs" scripts/bench/reffs.c $(pkg-config fuse3 --cflags --libs) || exit 2
gcc $CFLAGS -o "$WORK/bin/client" scripts/bench/client.c || exit 2

ARGS=(--project "$ROOT" --work "$WORK" --bin "$WORK/bin" --out "$OUT")
[ "$QUICK" = 1 ] && ARGS+=(--quick)
[ "$PROFILE" = 1 ] && ARGS+=(--profile)
[ -n "$ROUNDS" ] && ARGS+=(--rounds "$ROUNDS")
[ -n "$BASELINE" ] && ARGS+=(--baseline "$BASELINE")
node scripts/bench/run.mjs "${ARGS[@]}"
