#!/usr/bin/env bash
# Make sure headless Chromium is at /usr/bin/chromium for the browser tests (tests/front).
# Idempotent: does nothing when it is there. Never runs `playwright install` (that downloads
# browsers from the network); the tests drive the Debian package with playwright.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    echo "-- chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo unknown version)"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "chromium is missing and installing it needs root: apt-get install -y chromium chromium-driver" >&2
    exit 1
fi
echo "-- installing chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || {
    apt-get update -qq || true
    apt-get install -y -qq chromium chromium-driver >/dev/null
}
[ -x /usr/bin/chromium ] || { echo "chromium did not install" >&2; exit 1; }
echo "-- chromium ready: $(/usr/bin/chromium --version 2>/dev/null)"
