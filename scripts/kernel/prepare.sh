#!/usr/bin/env bash
# Prepare everything needed to boot one test kernel in QEMU on a ramoops region
# (test/kernel/harness.ts). Idempotent and cached; safe to run concurrently (flock).
#
#   scripts/kernel/prepare.sh [KERNEL]   -> prints the kernel's cache dir (last line of stdout)
#
# KERNEL (default 6.1-debian):
#   6.1-debian   Debian's linux-image-6.1.*-amd64-unsigned (ramoops as a module)
#   6.12-debian  Debian's linux-image-6.12.*+deb12-amd64-unsigned (ramoops as a module, .ko.xz)
#   6.1-custom   scripts/kernel/build-custom.sh 6.1: tinyconfig + custom.config from linux-source-6.1
#   6.12-custom  the same from linux-source-6.12 (ramoops built in, every frontend, LKDTM)
#   6.1-compress 6.1-custom + custom-6.1-compress.config: every PSTORE_*_COMPRESS built in, so one
#                kernel boots with each pstore.compress= value (build-custom.sh 6.1 compress)
#
# Environment:
#   PSTORE_SIM_CACHE       cache root (default $HOME/.cache/pstore-sim); this script uses <root>/kernel
#   PSTORE_SIM_KERNEL_PKG  exact linux-image-6.1.*-amd64-unsigned package to use instead of the newest
#                          (6.1-debian only; PSTORE_SIM_KERNEL_PKG_6_12 for 6.12-debian)
#   PSTORE_SIM_NO_OOPS=1   do not build the pstoresim_oops helper module (no 'oops' action)
#
# What it does:
#   1. installs (apt) qemu-system-x86, busybox-static, cpio, kmod, xz-utils when missing
#   2. Debian kernels: apt-get downloads the newest matching linux-image-*-unsigned and
#      dpkg-deb -x's it into the cache (never installed); custom kernels: build-custom.sh
#   3. resolves ramoops.ko's module dependencies (depmod on the extracted tree); .ko.xz are unpacked
#   4. (optional) downloads the matching linux-headers/linux-kbuild packages, extracts them and
#      builds scripts/kernel/oops/pstoresim_oops.ko, an LKDTM stand-in (the kernel has no LKDTM)
#   5. builds <kernel>/initramfs.cpio.gz: static busybox, the modules, scripts/kernel/init.sh as /init
#   6. unpacks the bzImage's payload into <kernel>/vmlinux-pvh when the kernel has a PVH entry
#      (scripts/kernel/pvh-vmlinux.mjs): QEMU boots that ELF directly, without the decompressor
#   7. writes <kernel>/kernel.json (read by the harness)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_ROOT=${PSTORE_SIM_CACHE:-${HOME:-/root}/.cache/pstore-sim}
CACHE=$CACHE_ROOT/kernel
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)

SEL=${1:-6.1-debian}
case "$SEL" in
  6.1-debian) LINE=6.1; KIND=debian; PKG_RE='^linux-image-6\.1\.[0-9]+-[0-9]+-amd64-unsigned$'; PIN=${PSTORE_SIM_KERNEL_PKG:-} ;;
  # 6.12: pinned to 6.12.107 (the issue's kernel) while apt has it, else the newest 6.12.*+deb12
  6.12-debian) LINE=6.12; KIND=debian; PKG_RE='^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$'
    PIN=${PSTORE_SIM_KERNEL_PKG_6_12:-linux-image-6.12.107+deb12-amd64-unsigned} ;;
  6.1-custom) LINE=6.1; KIND=custom ;;
  6.12-custom) LINE=6.12; KIND=custom ;;
  6.1-compress) LINE=6.1; KIND=custom; VARIANT=compress ;;
  *) echo "prepare-kernel: unknown kernel '$SEL' (6.1-debian, 6.12-debian, 6.1-custom, 6.12-custom, 6.1-compress)" >&2; exit 2 ;;
esac
OUT=$CACHE/$SEL
mkdir -p "$OUT"

log() { echo "prepare-kernel($SEL): $*" >&2; }
die() { echo "prepare-kernel($SEL): ERROR: $*" >&2; exit 1; }

exec 9>"$OUT/.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi

SUDO=
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; fi
fi

# shellcheck source=scripts/kernel/apt.sh
. "$HERE/apt.sh"

# ---------------------------------------------------------------- 1. host tools
need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
pkg_installed busybox-static || need+=(busybox-static)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
{ command -v depmod || [ -x /sbin/depmod ] || [ -x /usr/sbin/depmod ]; } >/dev/null 2>&1 || need+=(kmod)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
# efi-pstore runs boot through Debian's OVMF (OVMF_CODE_4M.fd + a copy of OVMF_VARS_4M.fd)
[ -s /usr/share/OVMF/OVMF_CODE_4M.fd ] || need+=(ovmf)
if [ ${#need[@]} -gt 0 ]; then apt_install "${need[@]}"; fi
export PATH=$PATH:/sbin:/usr/sbin
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || BUSYBOX=$(command -v busybox)
[ -x "$BUSYBOX" ] || die "no busybox"
if ldd "$BUSYBOX" >/dev/null 2>&1; then die "$BUSYBOX is not static (install busybox-static)"; fi

# ---------------------------------------------------------------- 2. the kernel
MODS=()
BLK_MODS=()
# efi-pstore.ko (no dependencies: the efivars core is built in), loaded by /init with pstoresim.efi=
EFI_MOD=
MODDIR=
SYSTEM_MAP=
if [ "$KIND" = debian ]; then
  # kernel.env, once written, pins the kernel: later runs never ask apt again.
  KENV=$OUT/kernel.env
  if [ -f "$KENV" ]; then
    # shellcheck disable=SC1090
    . "$KENV"
    if [ -n "$PIN" ] && [ "$PIN" != "$KPKG" ]; then rm -f "$KENV"; fi
    if [ ! -f "${KROOT:-/nonexistent}/boot/vmlinuz-${KREL:-x}" ]; then rm -f "$KENV"; fi
  fi
  if [ ! -f "$KENV" ]; then
    pick_pkg() {
      apt-cache search --names-only "$PKG_RE" 2>/dev/null | awk '{print $1}' | sort -V | tail -n1
    }
    KPKG=$PIN
    if [ -n "$KPKG" ] && [ -z "$(apt-cache show --no-all-versions "$KPKG" 2>/dev/null | head -n1)" ]; then
      apt_update
      if [ -z "$(apt-cache show --no-all-versions "$KPKG" 2>/dev/null | head -n1)" ]; then log "apt has no $KPKG: taking the newest"; KPKG=; fi
    fi
    if [ -z "$KPKG" ]; then
      KPKG=$(pick_pkg)
      if [ -z "$KPKG" ]; then apt_update; KPKG=$(pick_pkg); fi
      [ -n "$KPKG" ] || die "no package matching $PKG_RE in apt's lists"
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
  KERNEL_VERSION=${KVER%%-*}
  VMLINUZ=$KROOT/boot/vmlinuz-$KREL
  MODDIR=$KROOT/lib/modules/$KREL
  [ -d "$MODDIR" ] || MODDIR=$KROOT/usr/lib/modules/$KREL
  CONFIG=$KROOT/boot/config-$KREL
  SYSTEM_MAP=$KROOT/boot/System.map-$KREL

  # -------------------------------------------------------------- 3. ramoops + dependencies
  if [ ! -s "$MODDIR/modules.dep" ]; then
    log "depmod"
    depmod -b "$KROOT" "$KREL" >&2 || die "depmod failed"
  fi
  ramoops_line=$(grep -E '(^|/)ramoops\.ko(\.[a-z]+)?:' "$MODDIR/modules.dep" || true)
  [ -n "$ramoops_line" ] || die "ramoops.ko not in modules.dep (CONFIG_PSTORE_RAM=$(grep -E '^CONFIG_PSTORE_RAM=' "$CONFIG" || echo unset))"
  # modules.dep: "mod: dep1 dep2" with the full closure, in the order modprobe unloads them;
  # load order is the reverse, then the module itself.
  for d in ${ramoops_line#*:}; do MODS=("$d" "${MODS[@]}"); done
  MODS+=("${ramoops_line%%:*}")
  for m in "${MODS[@]}"; do
    case "$m" in *.ko|*.ko.xz) ;; *) die "module $m: only .ko and .ko.xz are supported";; esac
  done
  # pstore/blk on a virtio disk (loaded by /init instead of ramoops when pstoresim.blk= is
  # given): virtio_pci + virtio_blk + pstore_blk with their closures, each module once
  for top in virtio_pci virtio_blk pstore_blk; do
    line=$(grep -E "(^|/)$top\.ko(\.[a-z]+)?:" "$MODDIR/modules.dep" || true)
    if [ -z "$line" ]; then
      grep -qE "/$top\.ko$" "$MODDIR/modules.builtin" || { BLK_MODS=(); log "WARNING: no $top module: pstore/blk runs unavailable"; break; }
      continue
    fi
    deps=(); for d in ${line#*:}; do deps=("$d" "${deps[@]}"); done
    for m in "${deps[@]}" "${line%%:*}"; do
      case " ${BLK_MODS[*]} " in *" $m "*) ;; *) BLK_MODS+=("$m") ;; esac
    done
  done
  EFI_MOD=$(grep -oE '(^|/)[^ :]*efi-pstore\.ko(\.xz)?:' "$MODDIR/modules.dep" | head -n1 | tr -d ':' || true)
  [ -n "$EFI_MOD" ] || log "WARNING: no efi-pstore module: efi runs unavailable"
else
  # -------------------------------------------------------------- 2'. custom build
  BOUT=$(bash "$HERE/build-custom.sh" "$LINE" ${VARIANT:-} | tail -n1)
  [ -s "$BOUT/bzImage" ] || die "build-custom.sh $LINE ${VARIANT:-} produced no bzImage"
  bj() { sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" "$BOUT/build.json" | head -n1; }
  KPKG="custom (linux-source-$LINE)"
  KVER=$(bj sourceVersion)
  KREL=$(bj release)
  KERNEL_VERSION=$(bj kernelVersion)
  VMLINUZ=$BOUT/bzImage
  CONFIG=$BOUT/.config
  SYSTEM_MAP=$BOUT/System.map
fi

# ---------------------------------------------------------------- 4. oops helper module
OOPS_KO=
if [ "$KIND" = debian ] && [ "${PSTORE_SIM_NO_OOPS:-0}" != 1 ]; then
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
        # 6.1: linux-kbuild-6.1; 6.12 (bookworm): linux-kbuild-6.12.N+deb12
        if [ "$LINE" = 6.1 ]; then kbuild=linux-kbuild-6.1; else kbuild=linux-kbuild-${KREL%-amd64}; fi
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
      # Debian builds its kernels with a versioned gcc (gcc-12 for both lines on bookworm)
      KCC=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\(gcc[-0-9]*\) .*/\1/p' "$CONFIG")
      command -v "${KCC:-gcc}" >/dev/null 2>&1 || KCC=gcc
      rm -rf "$OOPS_DIR.tmp"; mkdir -p "$OOPS_DIR.tmp"
      cp "$HERE/oops/pstoresim_oops.c" "$HERE/oops/Kbuild" "$OOPS_DIR.tmp/"
      # no BTF for the helper (6.12 would want pahole; the module needs no type info)
      make -s -C "$HDR" M="$OOPS_DIR.tmp" CC="${KCC:-gcc}" CONFIG_DEBUG_INFO_BTF_MODULES= modules >&2
      strip --strip-debug "$OOPS_DIR.tmp/pstoresim_oops.ko" 2>/dev/null || true
      rm -rf "$OOPS_DIR"; mv "$OOPS_DIR.tmp" "$OOPS_DIR"
    ) || { log "WARNING: could not build the oops helper module: the 'oops' action will be unavailable"; touch "$OOPS_DIR.failed"; }
  fi
  if [ -s "$OOPS_DIR/pstoresim_oops.ko" ]; then OOPS_KO=$OOPS_DIR/pstoresim_oops.ko; fi
fi

# ---------------------------------------------------------------- 5. initramfs
INITRD=$OUT/initramfs.cpio.gz
stamp_input() {
  echo "kernel=$KPKG $KVER $KREL"
  for m in "${MODS[@]}"; do echo "mod=$m $(sha256sum < "$MODDIR/$m" | cut -c1-64)"; done
  for m in "${BLK_MODS[@]}"; do echo "blkmod=$m $(sha256sum < "$MODDIR/$m" | cut -c1-64)"; done
  echo "oops=$OOPS_KO"
  [ -z "$EFI_MOD" ] || echo "efimod=$EFI_MOD $(sha256sum < "$MODDIR/$EFI_MOD" | cut -c1-64)"
  sha256sum < "$HERE/init.sh"
  sha256sum < "$BUSYBOX"
  [ -z "$OOPS_KO" ] || sha256sum < "$OOPS_KO"
}
STAMP=$(stamp_input | sha256sum | cut -c1-64)
if [ ! -s "$INITRD" ] || [ "$(cat "$INITRD.stamp" 2>/dev/null)" != "$STAMP" ]; then
  log "building initramfs"
  st=$(mktemp -d "$OUT/initramfs.XXXXXX")
  mkdir -p "$st"/{bin,sbin,dev,proc,sys,tmp,lib/modules,etc}
  cp "$BUSYBOX" "$st/bin/busybox"
  ln -s busybox "$st/bin/sh"
  cp "$HERE/init.sh" "$st/init"; chmod 755 "$st/init"
  : > "$st/lib/modules/load-order"
  for m in "${MODS[@]}"; do
    b=$(basename "$m")
    case "$m" in
      # busybox insmod takes plain .ko only: unpack Debian 6.12's xz modules on the host
      *.xz) b=${b%.xz}; xz -dc "$MODDIR/$m" > "$st/lib/modules/$b" ;;
      *) cp "$MODDIR/$m" "$st/lib/modules/" ;;
    esac
    echo "$b" >> "$st/lib/modules/load-order"
  done
  : > "$st/lib/modules/blk-load-order"
  for m in "${BLK_MODS[@]}"; do
    b=$(basename "$m")
    case "$m" in
      *.xz) b=${b%.xz}; xz -dc "$MODDIR/$m" > "$st/lib/modules/$b" ;;
      *) cp "$MODDIR/$m" "$st/lib/modules/" ;;
    esac
    echo "$b" >> "$st/lib/modules/blk-load-order"
  done
  [ -z "$OOPS_KO" ] || cp "$OOPS_KO" "$st/lib/modules/pstoresim_oops.ko"
  case "$EFI_MOD" in
    '') ;;
    *.xz) xz -dc "$MODDIR/$EFI_MOD" > "$st/lib/modules/efi-pstore.ko" ;;
    *) cp "$MODDIR/$EFI_MOD" "$st/lib/modules/efi-pstore.ko" ;;
  esac
  echo "$KREL" > "$st/etc/pstoresim-kernel"
  (cd "$st" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) | gzip -6 > "$INITRD.tmp"
  rm -rf "$st"
  mv "$INITRD.tmp" "$INITRD"
  echo "$STAMP" > "$INITRD.stamp"
fi

# ---------------------------------------------------------------- 6. the PVH image
# keyed by the bzImage's hash; no file when the kernel cannot boot that way (custom builds: no PVH)
PVH=$OUT/vmlinux-pvh
PVH_KEY=$(sha256sum < "$VMLINUZ" | cut -c1-64)
if [ "$(cat "$PVH.key" 2>/dev/null)" != "$PVH_KEY" ]; then
  rm -f "$PVH" "$PVH.key"
  rc=0; node "$HERE/pvh-vmlinux.mjs" "$VMLINUZ" "$PVH" || rc=$?
  case $rc in 0 | 3) ;; *) die "cannot unpack $VMLINUZ for PVH boot" ;; esac
  echo "$PVH_KEY" > "$PVH.key"
fi
[ -s "$PVH" ] || PVH=

# ---------------------------------------------------------------- 7. kernel.json
cfg() { { grep -E "^(# )?CONFIG_$1[= ]" "$CONFIG" || true; } | sed -E 's/^# (CONFIG_[A-Z0-9_]+) is not set/\1=n/' | head -n1 | cut -d= -f2; }
builtin() {
  if [ "$KIND" = custom ]; then [ "$(cfg "$2")" = y ] && echo true || echo false
  else grep -qE "/$1\.ko$" "$MODDIR/modules.builtin" && echo true || echo false; fi
}
js() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
mods_json=$(for m in "${MODS[@]}"; do b=$(basename "$m"); printf '"%s",' "${b%.xz}"; done); mods_json=${mods_json%,}
blk_json=$(for m in "${BLK_MODS[@]}"; do b=$(basename "$m"); printf '"%s",' "${b%.xz}"; done); blk_json=${blk_json%,}
DEFAULT_COMP=$(cfg PSTORE_COMPRESS_DEFAULT); DEFAULT_COMP=${DEFAULT_COMP:-\"\"}
QEMU=$(command -v qemu-system-x86_64)
cat > "$OUT/kernel.json.tmp" <<JSON
{
  "selector": "$SEL",
  "kind": "$KIND",
  "package": "$(js "$KPKG")",
  "version": "$(js "$KVER")",
  "release": "$(js "$KREL")",
  "kernelVersion": "$(js "$KERNEL_VERSION")",
  "vmlinuz": "$(js "$VMLINUZ")",
  "pvh": "$(js "$PVH")",
  "systemMap": "$(js "$SYSTEM_MAP")",
  "initrd": "$(js "$INITRD")",
  "initrdStamp": "$STAMP",
  "modules": [$mods_json],
  "blkModules": [$blk_json],
  "builtinRamoops": $([ "$KIND" = custom ] && echo true || echo false),
  "oopsModule": $([ -n "$OOPS_KO" ] && echo true || echo false),
  "efiModule": $([ -n "$EFI_MOD" ] && echo true || echo false),
  "lkdtm": $([ "$(cfg LKDTM)" = y ] && echo true || echo false),
  "qemu": "$(js "$QEMU")",
  "qemuVersion": "$(js "$("$QEMU" --version | head -n1)")",
  "config": {
    "PSTORE": "$(cfg PSTORE)", "PSTORE_RAM": "$(cfg PSTORE_RAM)", "PSTORE_BLK": "$(cfg PSTORE_BLK)", "PSTORE_COMPRESS": "$(cfg PSTORE_COMPRESS)",
    "PSTORE_COMPRESS_DEFAULT": $DEFAULT_COMP, "PSTORE_CONSOLE": "$(cfg PSTORE_CONSOLE)",
    "PSTORE_PMSG": "$(cfg PSTORE_PMSG)", "PSTORE_FTRACE": "$(cfg PSTORE_FTRACE)",
    "CRYPTO_DEFLATE": "$(cfg CRYPTO_DEFLATE)", "ZLIB_DEFLATE": "$(cfg ZLIB_DEFLATE)",
    "REED_SOLOMON": "$(cfg REED_SOLOMON)", "LKDTM": "$(cfg LKDTM)", "SMP": "$(cfg SMP)"
  },
  "builtin": { "pstore": $(builtin pstore PSTORE), "deflate": $(builtin deflate CRYPTO_DEFLATE), "zlib_deflate": $(builtin zlib_deflate ZLIB_DEFLATE) }
}
JSON
mv "$OUT/kernel.json.tmp" "$OUT/kernel.json"
log "ready: $KPKG $KVER ($KREL, $KERNEL_VERSION), modules: ${MODS[*]##*/}, oops helper: ${OOPS_KO:-none}"
echo "$OUT"
