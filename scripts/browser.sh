#!/usr/bin/env bash
# Debian's Chromium for the Playwright browser tests (driven through executablePath).
set -euo pipefail
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "installing Debian chromium"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
  else
    echo "chromium missing: install Debian's chromium package (or set CHROMIUM_PATH)" >&2
    exit 1
  fi
fi
"$CHROMIUM" --version 2>/dev/null
