#!/usr/bin/env bash
# scripts/check-packages-kept.sh [COMMAND...]: runs COMMAND (default: npm test) and fails when a
# Debian package that was installed before it is gone or older afterwards. pstore-sim's setup
# promises never to remove or downgrade a package (native-setup/packages.sh); this checks the
# promise on a real machine, e.g. one with fuse3, sshfs and rclone installed first:
#
#   apt-get install fuse3 sshfs rclone && bash scripts/check-packages-kept.sh npm test
#
# Exit: COMMAND's own status when every package is kept, 1 when one is not, 2 without dpkg.
set -uo pipefail
command -v dpkg-query >/dev/null 2>&1 || { echo "check-packages-kept: no dpkg-query here (Debian and derivatives only)" >&2; exit 2; }
[ $# -gt 0 ] || set -- npm test
list() { dpkg-query -W -f='${db:Status-Status} ${Package}:${Architecture} ${Version}\n' | awk '$1 == "installed" { print $2, $3 }' | sort; }
before="$(mktemp)" after="$(mktemp)"
trap 'rm -f "$before" "$after"' EXIT
list >"$before"
"$@"
status=$?
list >"$after"
lost=0
while read -r pkg version; do
  now="$(awk -v p="$pkg" '$1 == p { print $2 }' "$after")"
  if [ -z "$now" ]; then
    echo "check-packages-kept: $pkg $version was removed" >&2; lost=1
  elif dpkg --compare-versions "$now" lt "$version"; then
    echo "check-packages-kept: $pkg was downgraded from $version to $now" >&2; lost=1
  fi
done <"$before"
added="$(comm -13 <(cut -d' ' -f1 "$before") <(cut -d' ' -f1 "$after") | tr '\n' ' ')"
echo "check-packages-kept: $(wc -l <"$before") packages before, $(wc -l <"$after") after; added: ${added:-none}; removed or downgraded: $([ "$lost" = 0 ] && echo none || echo 'see above')" >&2
[ "$lost" = 0 ] || exit 1
exit "$status"
