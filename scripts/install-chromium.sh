#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium when it is missing (CI's browser test needs a real browser).
# Usage: scripts/install-chromium.sh   (needs root or sudo; does nothing when /usr/bin/chromium exists)
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  /usr/bin/chromium --version
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
/usr/bin/chromium --version
