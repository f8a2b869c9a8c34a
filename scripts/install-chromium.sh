#!/bin/sh
# Debian's chromium for the picture tests (test/fuse/picture.test.ts): a headless browser that renders
# inspect's SVG/HTML. Idempotent: does nothing when chromium is already installed.
set -eu
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "install-chromium.sh: run as root (apt-get install chromium)" >&2; exit 2; fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends chromium >/dev/null || { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; }
command -v chromium >/dev/null
