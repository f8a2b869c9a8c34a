#!/usr/bin/env bash
# Builds pstore-sim's small custom kernel for one line (6.1 or 6.12) from Debian's
# linux-source-<line> package: `make tinyconfig` + scripts/kernel/custom.config (+ custom-<line>.config),
# `nice make -j2 bzImage`. Cached in <cache>/custom/<line>-<source version>-<fragment hash>/ (bzImage,
# System.map, .config, build.json); a warm run only checks that bzImage is there. The hash covers
# the fragment files only: edit this script without rebuilding, edit a fragment to rebuild.
#
#   scripts/kernel/build-custom.sh 6.12     -> prints the output dir (last line of stdout)
#   scripts/kernel/build-custom.sh 6.1 compress
#       a variant: adds custom-<line>-<variant>.config, with its own lock, work dir and cache dir
#       (<line>-<variant>-<version>-<hash>), so it builds beside the plain one
#
# Environment: PSTORE_SIM_CACHE (cache root, default $HOME/.cache/pstore-sim),
#              PSTORE_SIM_JOBS (make -j, default 2)
set -euo pipefail
LINE=${1:?usage: build-custom.sh 6.1|6.12 [VARIANT]}
VARIANT=${2:-}
NAME=$LINE${VARIANT:+-$VARIANT}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_ROOT=${PSTORE_SIM_CACHE:-${HOME:-/root}/.cache/pstore-sim}
CACHE=$CACHE_ROOT/kernel
case $CACHE in
  # Kbuild cannot build in a path with a space (its Makefiles split them): say so before any work
  *" "*) echo "build-custom: ERROR: the kernel cache $CACHE has a space in its path, which the kernel's build cannot take; set PSTORE_SIM_CACHE to a folder without one" >&2; exit 1 ;;
esac
mkdir -p "$CACHE/debs" "$CACHE/custom"
log() { echo "build-custom($NAME): $*" >&2; }
die() { echo "build-custom($NAME): ERROR: $*" >&2; exit 1; }
SUDO=
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck source=scripts/kernel/apt.sh
. "$HERE/apt.sh"

exec 8>"$CACHE/custom/.lock-$NAME"
if command -v flock >/dev/null 2>&1; then flock 8; fi

FRAGS=("$HERE/custom.config")
[ -f "$HERE/custom-$LINE.config" ] && FRAGS+=("$HERE/custom-$LINE.config")
if [ -n "$VARIANT" ]; then
  [ -f "$HERE/custom-$NAME.config" ] || die "no fragment custom-$NAME.config"
  FRAGS+=("$HERE/custom-$NAME.config")
fi
FRAG_HASH=$(cat "${FRAGS[@]}" | sha256sum | cut -c1-12)

# the source package: the version of Debian's kernel image on the same line (so a custom build
# and the stock kernel it is compared with are the same release, sublevel included: the ftrace
# signature holds it), else the newest apt has. Chosen once per pin in custom/source-<line>.env
# (later runs never ask apt). PSTORE_SIM_SOURCE_PIN_6_1 / _6_12 override the pin.
case $LINE in
  6.1) DEFAULT_PIN=6.1.192-3 ;;
  6.12) DEFAULT_PIN=6.12.107-1~deb12u1 ;;
  *) die "unknown line $LINE (6.1 or 6.12)" ;;
esac
PIN_VAR=PSTORE_SIM_SOURCE_PIN_${LINE//./_}
PIN=${!PIN_VAR:-$DEFAULT_PIN}
SENV=$CACHE/custom/source-$LINE.env
SVER= SPIN=
if [ -f "$SENV" ]; then . "$SENV"; fi
if [ "${SPIN:-}" != "$PIN" ] || [ -z "${SVER:-}" ] || [ ! -s "$CACHE/debs/linux-source-${LINE}_${SVER}_all.deb" ]; then
  has_pin() { apt-cache show "linux-source-$LINE=$PIN" >/dev/null 2>&1; }
  newest() { apt-cache show --no-all-versions "linux-source-$LINE" 2>/dev/null | awk '/^Version:/{print $2; exit}'; }
  if ! has_pin && [ -z "$(newest)" ]; then apt_update; fi
  if has_pin; then SVER=$PIN; else SVER=$(newest); log "apt has no linux-source-$LINE $PIN: building the newest, $SVER"; fi
  [ -n "$SVER" ] || die "apt knows no linux-source-$LINE"
  DEB=$CACHE/debs/linux-source-${LINE}_${SVER}_all.deb
  if [ ! -s "$DEB" ]; then
    log "downloading linux-source-$LINE $SVER"
    dl=$(mktemp -d "$CACHE/debs/dl.XXXXXX"); chmod 755 "$dl"
    (cd "$dl" && apt-get download "linux-source-$LINE=$SVER" >&2 2>/dev/null) ||
      { apt_update; (cd "$dl" && apt-get download "linux-source-$LINE=$SVER" >&2); } || die "apt-get download failed"
    mv "$dl"/*.deb "$DEB"; rm -rf "$dl"
  fi
  printf 'SVER=%q\nSPIN=%q\n' "$SVER" "$PIN" > "$SENV"
fi
OUT=$CACHE/custom/$NAME-$SVER-$FRAG_HASH
if [ -s "$OUT/bzImage" ] && [ -s "$OUT/build.json" ]; then echo "$OUT"; exit 0; fi

# build dependencies
apt_install flex bison bc libelf-dev libssl-dev make gcc xz-utils

t0=$(date +%s)
WORK=$CACHE/custom/work-$NAME
rm -rf "$WORK" "$OUT.tmp"; mkdir -p "$WORK" "$OUT.tmp"
log "extracting linux-source-$LINE $SVER"
dpkg-deb --fsys-tarfile "$CACHE/debs/linux-source-${LINE}_${SVER}_all.deb" | tar -x -C "$WORK" --wildcards './usr/src/linux-source-*.tar.xz'
tar -xJf "$WORK"/usr/src/linux-source-*.tar.xz -C "$WORK"
rm -rf "$WORK/usr"
SRC=$(ls -d "$WORK"/linux-source-*/ | head -n1)
t1=$(date +%s)
cd "$SRC"
make -s tinyconfig >&2
# merge_config.sh splits its arguments on spaces: the fragments go in under names of their own
# (a checkout under "My Projects/" was read as two files that do not exist)
MERGE=()
for i in "${!FRAGS[@]}"; do cp "${FRAGS[$i]}" "pstore-sim-fragment-$i.config"; MERGE+=("pstore-sim-fragment-$i.config"); done
scripts/kconfig/merge_config.sh -m .config "${MERGE[@]}" >&2
make -s olddefconfig >&2
# every fragment line must have survived (a dependency missing makes Kconfig drop it silently)
missing=0
for f in "${FRAGS[@]}"; do
  while IFS= read -r l; do
    case "$l" in
      CONFIG_*=*) grep -qxF "$l" .config || { log "config lost: $l ($(grep -E "^(# )?${l%%=*}[= ]" .config || echo unset))"; missing=1; } ;;
      "# CONFIG_"*" is not set") n=${l#\# }; n=${n%% *}; ! grep -qE "^$n=" .config || { log "config not unset: $n"; missing=1; } ;;
    esac
  done < "$f"
done
[ "$missing" = 0 ] || die "config fragment not applied"
log "building bzImage (nice make -j${PSTORE_SIM_JOBS:-2})"
# CPU seconds of the build (this script's reaped children): on a busy shared machine the wall
# time says little, user+sys / jobs is what an idle machine of as many cores would take
child_ticks() { awk '{print $16 + $17}' "/proc/$$/stat"; }
c1=$(child_ticks)
nice make -s -j"${PSTORE_SIM_JOBS:-2}" bzImage >&2
t2=$(date +%s)
CPU_S=$(( ($(child_ticks) - c1) / $(getconf CLK_TCK) ))
REL=$(make -s kernelrelease)
KV=$(make -s kernelversion)
cp arch/x86/boot/bzImage System.map .config "$OUT.tmp/"
cat > "$OUT.tmp/build.json" <<JSON
{ "line": "$LINE", "variant": "$VARIANT", "sourcePackage": "linux-source-$LINE", "sourceVersion": "$SVER", "kernelVersion": "$KV",
  "release": "$REL", "fragmentHash": "$FRAG_HASH", "extractSeconds": $((t1 - t0)), "buildSeconds": $((t2 - t1)), "buildCpuSeconds": $CPU_S,
  "jobs": ${PSTORE_SIM_JOBS:-2} }
JSON
cd /; rm -rf "$WORK"
rm -rf "$OUT"; mv "$OUT.tmp" "$OUT"
log "built $REL in $((t2 - t1)) s, $CPU_S CPU s (+$((t1 - t0)) s extracting)"
echo "$OUT"
