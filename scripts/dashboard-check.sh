#!/usr/bin/env bash
# The dashboard page in a real headless Chromium, on the shared hub data: /dashboard is loaded for the whole of
# France and for one hub, and every number it shows (total, sites per department, reported and measured figures)
# must equal the GraphQL API's answer to the same question.
#
# Usage: scripts/dashboard-check.sh [target/debug/maillage]
#        SCREENSHOT=docs/img/dashboard.png scripts/dashboard-check.sh   (also saves a screenshot of the national view)
# Needs /usr/bin/chromium (scripts/install-chromium.sh), python3 and ../shared/data/lieux. Fails, never skips.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/target/debug/maillage}
chromium=${CHROMIUM:-/usr/bin/chromium}
lieux="$root/../shared/data/lieux"
[ -x "$chromium" ] || { echo "dashboard-check: $chromium not found (run scripts/install-chromium.sh)" >&2; exit 1; }
[ -x "$bin" ] || { echo "dashboard-check: $bin not found (cargo build)" >&2; exit 1; }
[ -d "$lieux" ] || { echo "dashboard-check: $lieux not found" >&2; exit 1; }
# shellcheck source=scripts/lib-server.sh
source "$root/scripts/lib-server.sh"
trap stop_server EXIT

start_server "$bin"
db="sqlite://$server_tmp/x.db?mode=rwc"
for pair in hinaura-aura.json:hinaura hub-du-sud-paca.json:hub-du-sud; do
  (cd "$server_tmp" && DATABASE_URL=$db MAILLAGE_LOG=warn "$bin" import "$lieux/${pair%%:*}" --source "${pair##*:}" >/dev/null)
done

chrome() { # chrome OUTPUT-FLAG URL
  "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --disable-dev-shm-usage --user-data-dir="$server_tmp/profile-$RANDOM" \
    --virtual-time-budget=20000 --run-all-compositor-stages-before-draw --window-size=1400,1650 "$@" \
    2>>"$server_tmp/chromium.log"
}

check() { # check LEVEL ITEM
  local url="$SERVER_URL/dashboard?level=$1&item=$2"
  chrome --dump-dom "$url" >"$server_tmp/dom.html" || { cat "$server_tmp/chromium.log" >&2; exit 1; }
  python3 "$root/scripts/dashboard_compare.py" "$SERVER_URL/graphql" "$1" "$2" "$server_tmp/dom.html"
}

check nation ""
check hub hinaura
check department 13

if [ -n "${SCREENSHOT:-}" ]; then
  chrome --screenshot="$server_tmp/shot.png" "$SERVER_URL/dashboard?level=nation" >/dev/null
  cp "$server_tmp/shot.png" "$SCREENSHOT"
  echo "dashboard-check: screenshot saved to $SCREENSHOT"
fi
