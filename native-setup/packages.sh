#!/usr/bin/env bash
# native-setup/packages.sh - the system packages pstore-sim needs, installed without ever
# removing or downgrading one (step 1 of setup.sh; native-setup/README.md).
#
#   bash native-setup/packages.sh           install what is missing (root, or sudo -n), exit 0
#   bash native-setup/packages.sh --plan    print the packages it would install, one line; no change
#   bash native-setup/packages.sh --wanted  print every package it would ever install on this
#                                           machine (installed or not), one line; no change
#
# Why so careful: Debian's legacy `fuse` (FUSE 2's fusermount) and `fuse3` exclude each other,
# and fuse3 is what sshfs, rclone, flatpak, gvfs-fuse, xdg-desktop-portal and ntfs-3g depend on.
# Installing either one removes the other and everything that depends on it. So:
#   - the build needs only libfuse3-3, libfuse3-dev and pkg-config, which conflict with nothing;
#   - `fuse3` (fusermount3, for ordinary users' mounts) is installed only where neither `fuse` nor
#     `fuse3` is; a machine that keeps the legacy `fuse` mounts as root (libfuse 3 mounts itself
#     then) and an ordinary user's mount says what it needs;
#   - apt-get runs with --no-remove: a plan that would remove anything fails before a byte changes,
#     naming the packages it would have removed.
# On a machine without dpkg (Fedora, Arch, Alpine, openSUSE) nothing is installed: the build uses
# the libfuse 3 headers pkg-config finds, and where they are missing this names that
# distribution's packages.
#
# Exit codes: 0 ok, 2 environment problem (the message says what to run).
set -uo pipefail

MODE=install
case "${1:-}" in
  --plan) MODE=plan ;;
  --wanted) MODE=wanted ;;
  '') ;;
  *) printf 'setup: ERROR: unknown argument %s (use --plan, --wanted or nothing)\n' "$1" >&2; exit 2 ;;
esac

# Pure bash (no dirname): the tests run this script with a PATH of stand-ins.
here="${BASH_SOURCE[0]%/*}"
[ "$here" != "${BASH_SOURCE[0]}" ] || here=.
. "$here/say.sh"

is_root() { [ "$(id -u)" -eq 0 ]; }
has() { command -v "$1" >/dev/null 2>&1; }
has_toolchain() { has make && has g++ && has cc; }
has_fuse3_headers() { has pkg-config && pkg-config --exists fuse3 2>/dev/null; }
has_systemd_pstore() { [ -x /lib/systemd/systemd-pstore ] || [ -x /usr/lib/systemd/systemd-pstore ]; }

# ------------------------------------------------------------------ without dpkg
# Names the distribution's own packages; installs nothing (its package manager is the user's).
distro_advice() {
  local id="" like="" f="${PSTORE_SIM_OS_RELEASE:-/etc/os-release}"
  if [ -r "$f" ]; then
    id="$(. "$f" 2>/dev/null && printf '%s' "${ID:-}")"
    like="$(. "$f" 2>/dev/null && printf '%s' "${ID_LIKE:-}")"
  fi
  case " $id $like " in
    *" fedora "* | *" rhel "* | *" centos "*) echo "sudo dnf install fuse3 fuse3-devel pkgconf-pkg-config gcc-c++ make python3" ;;
    *" arch "*) echo "sudo pacman -S --needed fuse3 pkgconf base-devel python" ;;
    *" alpine "*) echo "sudo apk add fuse3 fuse3-dev pkgconf build-base python3" ;;
    *" suse "* | *" opensuse "*) echo "sudo zypper install fuse3 fuse3-devel pkg-config gcc-c++ make python3" ;;
    *) echo "install libfuse 3 with its headers (fuse3.pc), pkg-config, make, g++ and python3 with your package manager" ;;
  esac
}

if ! has dpkg-query; then
  [ "$MODE" = install ] || { echo; exit 0; }
  if has_fuse3_headers && has_toolchain && has python3; then exit 0; fi
  what=()
  has_fuse3_headers || what+=("the libfuse 3 headers (pkg-config fuse3)")
  has_toolchain || what+=("make, g++")
  has python3 || what+=("python3")
  die "missing: ${what[*]} (no dpkg here: pstore-sim installs nothing on this distribution)" "run: $(distro_advice)"
fi

# ------------------------------------------------------------------ Debian and derivatives
deb_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# wanted_packages: every package this machine should have, as Debian names them. fuse3 only where
# no FUSE package is installed yet: installing it beside the legacy `fuse` would remove that one.
wanted_packages() {
  local want=(libfuse3-3 libfuse3-dev pkg-config)
  if deb_installed fuse3 || ! deb_installed fuse; then want+=(fuse3); fi
  has_toolchain || want+=(build-essential)
  has python3 || want+=(python3)
  # The collector the exec tests and the walk-through run for real, and unshare for `exec`.
  has_systemd_pstore || want+=(systemd)
  has unshare || want+=(util-linux)
  printf '%s\n' "${want[@]}"
}

wanted=()
while IFS= read -r p; do wanted+=("$p"); done < <(wanted_packages)
missing=()
for p in "${wanted[@]}"; do deb_installed "$p" || missing+=("$p"); done

case "$MODE" in
  wanted) echo "${wanted[*]}"; exit 0 ;;
  plan) echo "${missing[*]}"; exit 0 ;;
esac

if [ "${#missing[@]}" -gt 0 ]; then
  APT_INSTALL="apt-get install -y --no-install-recommends --no-remove ${missing[*]}"
  APT_CMD="apt-get update && $APT_INSTALL"
  if is_root; then
    SUDO=()
  elif has sudo && sudo -n true >/dev/null 2>&1; then
    SUDO=(sudo -n)
  else
    die "missing Debian packages: ${missing[*]} (not root, and sudo -n does not work)" \
      "run: sudo sh -c '$APT_CMD'" "then: bash native-setup/setup.sh"
  fi
  LOGDIR="$(mktemp -d "${TMPDIR:-/tmp}/pstore-packages.XXXXXX")" || exit 2
  trap 'rm -rf "$LOGDIR"' EXIT
  APT_OPTS=(-o DPkg::Lock::Timeout=300)
  apt() { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" "$@"; }
  say "installing Debian packages: ${missing[*]} (none is removed)"
  # A new machine's package lists are empty: update first.
  if ! apt update >"$LOGDIR/update.log" 2>&1; then
    log_tail "$LOGDIR/update.log"
    die "apt-get update failed" "run: sudo sh -c '$APT_CMD'"
  fi
  # Ask apt first what it would do: if it would remove anything, say which and change nothing.
  apt -s install -y --no-install-recommends "${missing[@]}" >"$LOGDIR/simulate.log" 2>&1
  removed="$(sed -n 's/^Remv \([^ ]*\).*/\1/p' "$LOGDIR/simulate.log" | tr '\n' ' ')"
  if [ -n "$removed" ]; then
    die "installing ${missing[*]} would remove ${removed% } (pstore-sim never removes a package)" \
      "install the packages yourself once you have chosen: sudo $APT_INSTALL"
  fi
  if ! apt install -y --no-install-recommends --no-remove "${missing[@]}" >"$LOGDIR/install.log" 2>&1; then
    log_tail "$LOGDIR/install.log"
    die "apt-get install failed (it removes nothing: --no-remove)" "run: sudo sh -c '$APT_CMD'"
  fi
  for p in "${missing[@]}"; do
    deb_installed "$p" || die "package $p still not installed after apt-get install" "run: sudo sh -c '$APT_CMD'"
  done
fi

has_fuse3_headers || die "pkg-config finds no fuse3 (libfuse 3's headers)" \
  "run: sudo apt-get install -y --no-install-recommends --no-remove libfuse3-dev pkg-config"
if deb_installed fuse && ! deb_installed fuse3; then
  # Said once per setup, not an error: root mounts work without the helper.
  say "the legacy fuse package is installed: root mounts work; an ordinary user's mount needs fusermount3 (package fuse3, which replaces fuse: pstore-sim leaves that choice to you)"
fi
exit 0
