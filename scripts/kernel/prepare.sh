#!/usr/bin/env bash
# Prepare everything needed to boot Debian's real 6.1 kernel in QEMU on a ramoops region
# (test/kernel/harness.ts). Idempotent and cached; safe to run concurrently (flock).
#
#   scripts/kernel/prepare.sh          -> prints the cache dir (last line of stdout)
#
# Environment:
#   PSTORE_SIM_CACHE       cache root (default $HOME/.cache/pstore-sim); this script uses <root>/kernel
#   PSTORE_SIM_KERNEL_PKG  exact linux-image-6.1.*-amd64-unsigned package to use instead of the newest
#   PSTORE_SIM_NO_OOPS=1   do not build the pstoresim_oops helper module (no 'oops' action)
#
# What it does:
#   1. installs (apt) qemu-system-x86, busybox-static, cpio, kmod when missing
#   2. apt-get downloads the newest linux-image-6.1.*-amd64-unsigned and dpkg-deb -x's it into
#      the cache (never installed)
#   3. resolves ramoops.ko's module dependencies (depmod on the extracted tree)
#   4. (optional) downloads the matching linux-headers/linux-kbuild packages, extracts them and
#      builds scripts/kernel/oops/pstoresim_oops.ko, an LKDTM stand-in (the kernel has no LKDTM)
#   5. builds initramfs.cpio.gz: static busybox, the modules, scripts/kernel/init.sh as /init
#   6. writes kernel.json (read by the harness)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_ROOT=${PSTORE_SIM_CACHE:-${HOME:-/root}/.cache/pstore-sim}
CACHE=$CACHE_ROOT/kernel
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)

log() { echo "prepare-kernel: $*" >&2; }
die() { echo "prepare-kernel: ERROR: $*" >&2; exit 1; }

exec 9>"$CACHE/.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi

SUDO=
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; fi
fi

APT_UPDATED=0
apt_update() {
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    $SUDO apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
}

# ---------------------------------------------------------------- 1. host tools
pkg_installed() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed; }
need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
pkg_installed busybox-static || need+=(busybox-static)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
{ command -v depmod || [ -x /sbin/depmod ] || [ -x /usr/sbin/depmod ]; } >/dev/null 2>&1 || need+=(kmod)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2; then
    apt_update
    $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 || die "cannot install ${need[*]}"
  fi
fi
export PATH=$PATH:/sbin:/usr/sbin
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || BUSYBOX=$(command -v busybox)
[ -x "$BUSYBOX" ] || die "no busybox"
if ldd "$BUSYBOX" >/dev/null 2>&1; then die "$BUSYBOX is not static (install busybox-static)"; fi

# ---------------------------------------------------------------- 2. kernel package
# kernel.env, once written, pins the kernel: later runs never ask apt again.
KENV=$CACHE/kernel.env
if [ -f "$KENV" ]; then
  # shellcheck disable=SC1090
  . "$KENV"
  if [ -n "${PSTORE_SIM_KERNEL_PKG:-}" ] && [ "$PSTORE_SIM_KERNEL_PKG" != "$KPKG" ]; then rm -f "$KENV"; fi
  if [ ! -f "${KROOT:-/nonexistent}/boot/vmlinuz-${KREL:-x}" ]; then rm -f "$KENV"; fi
fi
if [ ! -f "$KENV" ]; then
  pick_pkg() {
    apt-cache search --names-only '^linux-image-6\.1\.[0-9]+-[0-9]+-amd64-unsigned$' 2>/dev/null |
      awk '{print $1}' | sort -V | tail -n1
  }
  KPKG=${PSTORE_SIM_KERNEL_PKG:-}
  if [ -z "$KPKG" ]; then
    KPKG=$(pick_pkg)
    if [ -z "$KPKG" ]; then apt_update; KPKG=$(pick_pkg); fi
    [ -n "$KPKG" ] || die "no linux-image-6.1.*-amd64-unsigned package in apt's lists"
  fi
  KVER=$(apt-cache show --no-all-versions "$KPKG" 2>/dev/null | awk '/^Version:/{print $2; exit}')
  if [ -z "$KVER" ]; then apt_update; KVER=$(apt-cache show --no-all-versions "$KPKG" | awk '/^Version:/{print $2; exit}'); fi
  [ -n "$KVER" ] || die "apt knows no version of $KPKG"
  log "kernel package: $KPKG $KVER"
  mkdir -p "$CACHE/debs"
  DEB=$CACHE/debs/${KPKG}_${KVER}_amd64.deb
  if [ ! -s "$DEB" ]; then
    dl=$(mktemp -d "$CACHE/debs/dl.XXXXXX"); chmod 755 "$dl"
    if ! (cd "$dl" && apt-get download "$KPKG=$KVER" >&2 2>/dev/null); then
      apt_update
      (cd "$dl" && apt-get download "$KPKG=$KVER" >&2) || die "apt-get download $KPKG=$KVER failed"
    fi
    mv "$dl"/*.deb "$DEB"; rm -rf "$dl"
  fi
  KROOT=$CACHE/$KPKG-$KVER
  if [ ! -d "$KROOT/boot" ]; then
    log "extracting $DEB"
    rm -rf "$KROOT.tmp"; dpkg-deb -x "$DEB" "$KROOT.tmp"; rm -rf "$KROOT"; mv "$KROOT.tmp" "$KROOT"
  fi
  KREL=$(basename "$(ls "$KROOT"/boot/vmlinuz-* | head -n1)"); KREL=${KREL#vmlinuz-}
  [ -n "$KREL" ] || die "no vmlinuz in $DEB"
  printf 'KPKG=%q\nKVER=%q\nKREL=%q\nKROOT=%q\n' "$KPKG" "$KVER" "$KREL" "$KROOT" > "$KENV.tmp"
  mv "$KENV.tmp" "$KENV"
fi
# shellcheck disable=SC1090
. "$KENV"
MODDIR=$KROOT/lib/modules/$KREL
[ -d "$MODDIR" ] || MODDIR=$KROOT/usr/lib/modules/$KREL
CONFIG=$KROOT/boot/config-$KREL

# ---------------------------------------------------------------- 3. ramoops + dependencies
if [ ! -s "$MODDIR/modules.dep" ]; then
  log "depmod"
  depmod -b "$KROOT" "$KREL" >&2 || die "depmod failed"
fi
ramoops_line=$(grep -E '(^|/)ramoops\.ko(\.[a-z]+)?:' "$MODDIR/modules.dep" || true)
[ -n "$ramoops_line" ] || die "ramoops.ko not in modules.dep (CONFIG_PSTORE_RAM=$(grep -E '^CONFIG_PSTORE_RAM=' "$CONFIG" || echo unset))"
# modules.dep: "mod: dep1 dep2" with the full closure, in the order modprobe unloads them;
# load order is the reverse, then the module itself.
MODS=()
for d in ${ramoops_line#*:}; do MODS=("$d" "${MODS[@]}"); done
MODS+=("${ramoops_line%%:*}")
for m in "${MODS[@]}"; do
  case "$m" in *.ko) ;; *) die "compressed module $m not supported";; esac
done

# ---------------------------------------------------------------- 4. oops helper module
OOPS_KO=
if [ "${PSTORE_SIM_NO_OOPS:-0}" != 1 ]; then
  OOPS_SRC_HASH=$(cat "$HERE/oops/pstoresim_oops.c" "$HERE/oops/Kbuild" | sha256sum | cut -c1-16)
  OOPS_DIR=$CACHE/oops-$KREL-$OOPS_SRC_HASH
  if [ ! -s "$OOPS_DIR/pstoresim_oops.ko" ] && [ ! -f "$OOPS_DIR.failed" ]; then
    (
      set -e
      HROOT=$CACHE/headers-$KVER
      HDR=$HROOT/usr/src/linux-headers-$KREL
      if [ ! -f "$HDR/.pstoresim-ok" ]; then
        log "downloading headers for the oops helper module"
        common=linux-headers-${KREL%-amd64}-common
        kbuild=linux-kbuild-$(echo "$KVER" | cut -d. -f1,2)
        dl=$(mktemp -d "$CACHE/debs/dl.XXXXXX"); chmod 755 "$dl"
        for p in "linux-headers-$KREL" "$common" "$kbuild"; do
          if ! ls "$CACHE/debs/${p}_${KVER}"_*.deb >/dev/null 2>&1; then
            (cd "$dl" && apt-get download "$p=$KVER" >&2 2>/dev/null) ||
              { apt_update; (cd "$dl" && apt-get download "$p=$KVER" >&2); }
          fi
        done
        mv "$dl"/*.deb "$CACHE/debs/" 2>/dev/null || true; rm -rf "$dl"
        rm -rf "$HROOT"; mkdir -p "$HROOT"
        for p in "linux-headers-$KREL" "$common" "$kbuild"; do
          dpkg-deb -x "$(ls "$CACHE/debs/${p}_${KVER}"_*.deb | head -n1)" "$HROOT"
        done
        # the per-flavour Makefile includes the common one by absolute path
        sed -i "s|^include /usr/src/|include $HROOT/usr/src/|" "$HDR/Makefile"
        touch "$HDR/.pstoresim-ok"
      fi
      command -v make >/dev/null && command -v gcc >/dev/null || { log "no make/gcc"; exit 1; }
      rm -rf "$OOPS_DIR.tmp"; mkdir -p "$OOPS_DIR.tmp"
      cp "$HERE/oops/pstoresim_oops.c" "$HERE/oops/Kbuild" "$OOPS_DIR.tmp/"
      make -s -C "$HDR" M="$OOPS_DIR.tmp" modules >&2
      strip --strip-debug "$OOPS_DIR.tmp/pstoresim_oops.ko" 2>/dev/null || true
      rm -rf "$OOPS_DIR"; mv "$OOPS_DIR.tmp" "$OOPS_DIR"
    ) || { log "WARNING: could not build the oops helper module: the 'oops' action will be unavailable"; touch "$OOPS_DIR.failed"; }
  fi
  [ -s "$OOPS_DIR/pstoresim_oops.ko" ] && OOPS_KO=$OOPS_DIR/pstoresim_oops.ko
fi

# ---------------------------------------------------------------- 5. initramfs
INITRD=$CACHE/initramfs.cpio.gz
stamp_input() {
  echo "kernel=$KPKG $KVER $KREL"
  for m in "${MODS[@]}"; do echo "mod=$m $(sha256sum < "$MODDIR/$m" | cut -c1-64)"; done
  echo "oops=$OOPS_KO"
  sha256sum < "$HERE/init.sh"
  sha256sum < "$BUSYBOX"
  [ -z "$OOPS_KO" ] || sha256sum < "$OOPS_KO"
}
STAMP=$(stamp_input | sha256sum | cut -c1-64)
if [ ! -s "$INITRD" ] || [ "$(cat "$INITRD.stamp" 2>/dev/null)" != "$STAMP" ]; then
  log "building initramfs"
  st=$(mktemp -d "$CACHE/initramfs.XXXXXX")
  mkdir -p "$st"/{bin,sbin,dev,proc,sys,tmp,lib/modules,etc}
  cp "$BUSYBOX" "$st/bin/busybox"
  ln -s busybox "$st/bin/sh"
  cp "$HERE/init.sh" "$st/init"; chmod 755 "$st/init"
  : > "$st/lib/modules/load-order"
  for m in "${MODS[@]}"; do
    cp "$MODDIR/$m" "$st/lib/modules/"
    basename "$m" >> "$st/lib/modules/load-order"
  done
  [ -z "$OOPS_KO" ] || cp "$OOPS_KO" "$st/lib/modules/pstoresim_oops.ko"
  echo "$KREL" > "$st/etc/pstoresim-kernel"
  (cd "$st" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) | gzip -6 > "$INITRD.tmp"
  rm -rf "$st"
  mv "$INITRD.tmp" "$INITRD"
  echo "$STAMP" > "$INITRD.stamp"
fi

# ---------------------------------------------------------------- 6. kernel.json
cfg() { grep -E "^(# )?CONFIG_$1[= ]" "$CONFIG" | sed -E 's/^# (CONFIG_[A-Z0-9_]+) is not set/\1=n/' | head -n1 | cut -d= -f2; }
builtin() { grep -qE "/$1\.ko$" "$MODDIR/modules.builtin" && echo true || echo false; }
js() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
mods_json=$(for m in "${MODS[@]}"; do printf '"%s",' "$(basename "$m")"; done); mods_json=${mods_json%,}
QEMU=$(command -v qemu-system-x86_64)
cat > "$CACHE/kernel.json.tmp" <<EOF
{
  "package": "$(js "$KPKG")",
  "version": "$(js "$KVER")",
  "release": "$(js "$KREL")",
  "vmlinuz": "$(js "$KROOT/boot/vmlinuz-$KREL")",
  "initrd": "$(js "$INITRD")",
  "initrdStamp": "$STAMP",
  "modules": [$mods_json],
  "oopsModule": $([ -n "$OOPS_KO" ] && echo true || echo false),
  "qemu": "$(js "$QEMU")",
  "qemuVersion": "$(js "$("$QEMU" --version | head -n1)")",
  "config": {
    "PSTORE": "$(cfg PSTORE)", "PSTORE_RAM": "$(cfg PSTORE_RAM)", "PSTORE_COMPRESS": "$(cfg PSTORE_COMPRESS)",
    "PSTORE_COMPRESS_DEFAULT": $(cfg PSTORE_COMPRESS_DEFAULT), "PSTORE_CONSOLE": "$(cfg PSTORE_CONSOLE)",
    "PSTORE_PMSG": "$(cfg PSTORE_PMSG)", "PSTORE_FTRACE": "$(cfg PSTORE_FTRACE)",
    "CRYPTO_DEFLATE": "$(cfg CRYPTO_DEFLATE)", "ZLIB_DEFLATE": "$(cfg ZLIB_DEFLATE)",
    "REED_SOLOMON": "$(cfg REED_SOLOMON)", "LKDTM": "$(cfg LKDTM)"
  },
  "builtin": { "pstore": $(builtin pstore), "deflate": $(builtin deflate), "zlib_deflate": $(builtin zlib_deflate) }
}
EOF
mv "$CACHE/kernel.json.tmp" "$CACHE/kernel.json"
log "ready: $KPKG $KVER ($KREL), modules: ${MODS[*]##*/}, oops helper: ${OOPS_KO:-none}"
echo "$CACHE"
