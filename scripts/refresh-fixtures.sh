#!/usr/bin/env bash
# Re-import the kernel fixtures into test/fixtures/ from a shared fixtures directory
# (default: ../shared/fixtures beside the repository; or PSTORE_SIM_SHARED=/path/to/shared).
# Images and the System.map are stored gzipped (gzip -n: no name or time in the header, so an
# unchanged image gives an unchanged .gz); JSON and the small analysis texts are copied as they are.
# Serial logs and byte-diffs.txt stay out: they are large and only needed to debug the capture.
# test/fixtures/README.md is ours and is not overwritten.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
shared="${PSTORE_SIM_SHARED:-$repo/../shared}"
src="$shared/fixtures"
dst="$repo/test/fixtures"
if [ ! -d "$src/kernel-6.1" ]; then
  echo "refresh-fixtures: no fixtures at $src (set PSTORE_SIM_SHARED=/path/to/shared)" >&2
  exit 2
fi
for kernel in kernel-6.1 kernel-6.1-custom; do
  [ -d "$src/$kernel" ] || continue
  rm -rf "${dst:?}/$kernel"
  (cd "$src/$kernel" && find . -type f | sort) | while read -r rel; do
    rel="${rel#./}"
    out="$dst/$kernel/$rel"
    mkdir -p "$(dirname "$out")"
    case "$rel" in
      *.bin | System.map) gzip -9 -n -c "$src/$kernel/$rel" >"$out.gz" ;;
      *.json | *analysis-*.txt | kernel-config-fragment.txt) cp "$src/$kernel/$rel" "$out" ;;
      *) ;; # serial*.log, byte-diffs.txt
    esac
  done
done
echo "refresh-fixtures: imported $(find "$dst" -type f ! -name README.md | wc -l) files from $src into $dst"
