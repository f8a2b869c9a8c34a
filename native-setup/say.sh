# native-setup/say.sh: how setup.sh and packages.sh speak, sourced by both.
say() { printf 'setup: %s\n' "$*"; }
# die MESSAGE [FIX LINES...]: environment problem -> exit 2
die() {
  printf 'setup: ERROR: %s\n' "$1" >&2
  shift
  local l
  for l in "$@"; do printf '  %s\n' "$l" >&2; done
  exit 2
}
# log_tail FILE [N]: the last N lines of a tool's log, indented under the error.
log_tail() { tail -n "${2:-25}" "$1" 2>/dev/null | sed 's/^/    | /' >&2; }
