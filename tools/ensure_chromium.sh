#!/usr/bin/env bash
# Headless Chromium for the browser test (tests/e2e/test_dashboard_browser.py): Debian's
# `chromium` package, installed when missing (as root, or through sudo when there is one).
# playwright-core drives it; no browser is ever downloaded by npm.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
  echo "chromium is missing and this user cannot install it: apt-get install chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends chromium || {
  $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends chromium
}
