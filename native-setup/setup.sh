#!/usr/bin/env bash
# native-setup/setup.sh - make this checkout able to run the FUSE daemon.
#
# Runs at the start of every `npm test` / `npm start`; idempotent and quiet when
# there is nothing to do (one line per step that does something, plus the
# final check line). See native-setup/README.md.
#
#   1. system packages (native-setup/packages.sh): libfuse3-3, libfuse3-dev, pkg-config, fuse3 only
#      where no FUSE package is installed, systemd (systemd-pstore for the exec tests), util-linux
#      (unshare), make/g++/python3 for node-gyp if missing; apt-get --no-remove, never a removal.
#   2. /dev/fuse exists (created with mknod when root).
#   3. node_modules installed and not older than package.json/package-lock.json
#      (npm ci, or npm install without a lockfile).
#   4. (none: the native layer is source in native/, no patch)
#   5. native/build/Release/{fuse,sys}.node built from native/ with node-gyp when missing or
#      built from other sources (native/build/.sources.sha1).
#   6. node native-setup/check-addon.cjs: mount, ns mtime seen by stat, unmount, ...
#
# Exit codes: 0 ok, 2 environment problem (the message says what to run).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || exit 2
cd "$ROOT" || exit 2

NATIVE="native"
ADDONS=("$NATIVE/build/Release/fuse.node" "$NATIVE/build/Release/sys.node")
SOURCES_STAMP="$NATIVE/build/.sources.sha1"

LOGDIR="$(mktemp -d "${TMPDIR:-/tmp}/pstore-setup.XXXXXX")" || exit 2
trap 'rm -rf "$LOGDIR"' EXIT

. "$ROOT/native-setup/say.sh"

# Two setups in the same checkout at once (parallel npm test) must not race.
if command -v flock >/dev/null 2>&1; then
  LOCK="${TMPDIR:-/tmp}/pstore-sim-setup.$(id -u).$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1).lock"
  exec 9>"$LOCK" || die "cannot open lock file $LOCK"
  flock -w 900 9 || die "another native-setup/setup.sh holds $LOCK for 15 min"
fi

is_root() { [ "$(id -u)" -eq 0 ]; }

# ---------------------------------------------------------------- 1. packages
# Never removes or downgrades a package: native-setup/packages.sh says why and how.
bash "$ROOT/native-setup/packages.sh" || exit 2

# ---------------------------------------------------------------- 2. /dev/fuse
if [ ! -c /dev/fuse ]; then
  if is_root; then
    mknod -m 666 /dev/fuse c 10 229 2>"$LOGDIR/mknod.log" || {
      log_tail "$LOGDIR/mknod.log"
      die "/dev/fuse is missing and mknod failed" "on the host run: modprobe fuse" \
        "in a container start it with: --device /dev/fuse --cap-add SYS_ADMIN"
    }
    say "created /dev/fuse"
  else
    die "/dev/fuse is missing" "run: sudo mknod -m 666 /dev/fuse c 10 229   (or: sudo modprobe fuse)"
  fi
fi

# ---------------------------------------------------------------- 3. npm deps
MARKER="node_modules/.package-lock.json"   # npm rewrites it on every install

# Installed tree == lockfile? (so a package.json edit that touches only
# scripts does not wipe node_modules under everybody's feet)
tree_matches_lock() {
  [ -f package-lock.json ] && [ -f "$MARKER" ] || return 1
  node -e '
    const fs = require("fs")
    const want = JSON.parse(fs.readFileSync("package-lock.json", "utf8")).packages || {}
    const have = JSON.parse(fs.readFileSync(process.argv[1], "utf8")).packages || {}
    const same = (a, b) => a.version === b.version && a.integrity === b.integrity && !!a.link === !!b.link
    for (const [k, v] of Object.entries(want)) {
      if (k === "" || !k.includes("node_modules/")) continue
      if (!have[k]) { if (v.optional || v.devOptional) continue; process.exit(1) }
      if (!same(v, have[k])) process.exit(1)
    }
    for (const k of Object.keys(have)) if (!want[k]) process.exit(1)
    const root = JSON.parse(fs.readFileSync("package.json", "utf8"))
    for (const d of Object.keys({ ...root.dependencies, ...root.devDependencies, ...root.optionalDependencies }))
      if (!want["node_modules/" + d]) process.exit(1)
  ' "$MARKER" >/dev/null 2>&1
}

npm_install() {
  local cmd=(npm ci)
  [ -f package-lock.json ] || cmd=(npm install)
  say "installing node modules (${cmd[*]})"
  if ! "${cmd[@]}" --no-audit --no-fund --foreground-scripts=false >"$LOGDIR/npm.log" 2>&1; then
    log_tail "$LOGDIR/npm.log" 40
    die "${cmd[*]} failed" "fix the error above, then run: bash native-setup/setup.sh" \
      "(package.json and package-lock.json out of sync? run: npm install)"
  fi
  # npm may print install-script warnings and still exit 0: check the result.
  [ -f node_modules/napi-macros/napi-macros.h ] || die "${cmd[*]} did not install napi-macros (the addons' header)" "run: rm -rf node_modules && bash native-setup/setup.sh"
  INSTALLED=1
}

INSTALLED=0
need_install=0
if [ ! -d node_modules ] || [ ! -f "$MARKER" ] || [ ! -f node_modules/napi-macros/napi-macros.h ]; then
  need_install=1
elif [ package.json -nt "$MARKER" ] || { [ -f package-lock.json ] && [ package-lock.json -nt "$MARKER" ]; }; then
  if tree_matches_lock; then
    touch "$MARKER"   # same packages: only the timestamps moved
  else
    need_install=1
  fi
fi
[ "$need_install" -eq 1 ] && npm_install

# ---------------------------------------------------------------- 5. build
# The addons are stale when the sources they were built from (stamp: one sha1 over them and
# the node they were built for) differ from native/'s.
sources_sum() {
  { cat "$NATIVE/fuse.c" "$NATIVE/sys.c" "$NATIVE/version.h" "$NATIVE/threads.h" "$NATIVE/binding.gyp" && node -p process.version; } | sha1sum | cut -c1-40
}
for f in fuse.c sys.c version.h threads.h binding.gyp index.cjs sys.cjs; do
  [ -f "$NATIVE/$f" ] || die "$NATIVE/$f is missing from the checkout" "run: git checkout -- $NATIVE"
done
want_sum="$(sources_sum)"
stale=0
for a in "${ADDONS[@]}"; do [ -f "$a" ] || stale=1; done
[ "$(cat "$SOURCES_STAMP" 2>/dev/null)" = "$want_sum" ] || stale=1

if [ "$stale" -eq 1 ]; then
  gyp=""
  npm_home="$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." 2>/dev/null && pwd)"
  for c in "$npm_home/node_modules/node-gyp/bin/node-gyp.js" "$ROOT/node_modules/node-gyp/bin/node-gyp.js"; do
    if [ -f "$c" ]; then gyp="$c"; break; fi
  done
  [ -n "$gyp" ] || die "node-gyp not found (neither npm's bundled one nor node_modules/node-gyp)" "run: npm install -g node-gyp   then: bash native-setup/setup.sh"
  # Node's headers: npm's nodedir setting, else the prefix node runs from.
  nodedir="${npm_config_nodedir:-}"
  if [ -z "$nodedir" ]; then
    nodedir="$(npm config get nodedir 2>/dev/null || true)"
    [ "$nodedir" = undefined ] || [ "$nodedir" = null ] && nodedir=""
  fi
  if [ -z "$nodedir" ]; then
    prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
    [ -f "$prefix/include/node/node_api.h" ] && nodedir="$prefix"
  fi
  say "building the native addons from $NATIVE/ against libfuse 3 (node-gyp${nodedir:+, nodedir=$nodedir})"
  if ! (cd "$NATIVE" && node "$gyp" rebuild ${nodedir:+"--nodedir=$nodedir"}) >"$LOGDIR/gyp.log" 2>&1; then
    log_tail "$LOGDIR/gyp.log" 30
    die "node-gyp rebuild of $NATIVE/ failed" \
      "needs make, gcc, python3, libfuse 3's headers (pkg-config fuse3) and Node's headers (npm config set nodedir=/usr, if they are in /usr/include/node)" \
      "then run: bash native-setup/setup.sh"
  fi
  for a in "${ADDONS[@]}"; do [ -f "$a" ] || die "node-gyp did not build $a" "run: rm -rf $NATIVE/build && bash native-setup/setup.sh"; done
  printf '%s\n' "$want_sum" >"$SOURCES_STAMP"
fi

# ---------------------------------------------------------------- 6. check
node native-setup/check-addon.cjs || exit 2
exit 0
