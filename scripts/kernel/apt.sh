# scripts/kernel/apt.sh: the apt-get calls that change the machine, sourced by prepare.sh and
# build-custom.sh. tap runs two kernel suites at once, and on a new machine both install packages
# at the same moment: the second apt-get failed on dpkg's lock and its suite failed (found in a
# cold run). So every install and update here runs under one lock of the cache root, re-checks
# what is still missing once it holds it, and asks apt to wait for dpkg's own lock too (an apt
# run that is not ours, e.g. the setup's or unattended-upgrades).
#
# Needs from the caller: CACHE (the cache's kernel dir), SUDO, log, die.
APT_WAIT=(-o DPkg::Lock::Timeout=600)
APT_UPDATED=0

# apt-get update, once per script run; the caller holds apt_lock or takes it here.
apt_update() {
  [ "$APT_UPDATED" = 0 ] || return 0
  log "apt-get update"
  (apt_lock && $SUDO apt-get "${APT_WAIT[@]}" update -qq >&2) || die "apt-get update failed"
  APT_UPDATED=1
}

apt_lock() {
  exec 7>"$CACHE/.apt.lock"
  if command -v flock >/dev/null 2>&1; then flock 7; fi
}

pkg_installed() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed; }

# apt_install PACKAGE...: installs those still missing once the lock is held (another suite may
# have installed them meanwhile); an install that fails is tried again after an update.
apt_install() {
  (
    apt_lock
    local missing=()
    for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
    [ ${#missing[@]} -gt 0 ] || exit 0
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    run_install() { $SUDO apt-get "${APT_WAIT[@]}" install -y -qq --no-install-recommends "${missing[@]}" >&2; }
    run_install && exit 0
    log "apt-get update"
    $SUDO apt-get "${APT_WAIT[@]}" update -qq >&2 && run_install
  ) || die "cannot install $*"
}
