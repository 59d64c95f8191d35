#!/usr/bin/env bash
# Make sure an XRootD server binary is installed (Debian's xrootd-server, plus xrootd-client
# for xrdcp/xrdfs by hand). Tests start their own server on a private port over a temporary
# directory (tests/storage/servers.py); they skip with the reason when it cannot start.
# The Python bindings come from PyPI (`xrootd`, pinned in requirements.txt): Debian's
# python3-xrootd is built for Debian's python, not for the project's venv.
set -euo pipefail
if command -v xrootd >/dev/null 2>&1; then
    echo "-- xrootd present: $(xrootd -v 2>&1 | head -1)"
    exit 0
fi
echo "-- installing xrootd-server"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || true
apt-get install -y -qq xrootd-server xrootd-client >/dev/null
command -v xrootd >/dev/null || { echo "xrootd did not install" >&2; exit 1; }
echo "-- xrootd installed: $(xrootd -v 2>&1 | head -1)"
