#!/usr/bin/env bash
# Fuzzes the GraphQL API with schemathesis (property-based: queries and mutations generated from schema.graphql)
# against a freshly started server over a temporary SQLite database holding the fixture sites, as an admin.
# Passes when at least MIN_OPERATIONS requests were sent, none got a 5xx, and no response body leaks an internal
# message (database, SQL, panic, Rust error types). Time-bounded: MAX_TIME seconds (default 150).
# Usage: scripts/schemathesis.sh [BINARY]   (default: target/debug/maillage, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
SCHEMATHESIS_VERSION=4.32.5
MAX_TIME=${MAX_TIME:-150}
MIN_OPERATIONS=${MIN_OPERATIONS:-1000}
venv="$root/target/tools/schemathesis-venv"

bin=${1:-$root/target/debug/maillage}
if [ ! -x "$bin" ]; then
  cargo build --locked -q --bin maillage
fi

if [ "$("$venv/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

. "$root/scripts/lib-server.sh"
trap stop_server EXIT
# Throttling would only turn generated requests into 429s: it has its own tests (tests/e2e/protection.rs).
start_server "$bin" MAILLAGE_RATE_LIMIT_PER_MINUTE=0 MAILLAGE_COST_BUDGET=0
# Data to read, and an admin token so that generated mutations reach their resolvers instead of stopping at 401/403.
cli() { (cd "$server_tmp" && DATABASE_URL="sqlite://$server_tmp/x.db?mode=rwc" MAILLAGE_LOG=warn "$bin" "$@"); }
cli import "$root/tests/fixtures/sites-v1.csv" --source fixture >/dev/null
secret=$(cli token create --role admin --name schemathesis 2>/dev/null | tail -n 1)

report="$server_tmp/report"
set +e
# From the temporary folder: schemathesis keeps its cache (.schemathesis/) in the working directory.
(cd "$server_tmp" && SCHEMATHESIS_HOOKS="$root/scripts/schemathesis_hooks.py" "$venv/bin/schemathesis" run "$root/schema.graphql" \
  --url "$SERVER_URL/graphql" \
  --header "Authorization: Bearer $secret" \
  --checks not_a_server_error \
  --max-time "$MAX_TIME" \
  --max-examples 200 \
  --seed "${SEED:-20261122}" \
  --no-shrink \
  --workers 2 \
  --continue-on-failure \
  --suppress-health-check all \
  --report har --report-har-path "$report.har" \
  --output-truncate true)
status=$?
set -e

python3 - "$report.har" "$MIN_OPERATIONS" "$status" <<'PY'
import json, sys
har, minimum, status = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
entries = json.load(open(har))["log"]["entries"]
leaks = ("sea_orm", "sea-orm", "DbErr", "sqlx", "panicked", "SELECT ", "INSERT ", "UPDATE ", "DELETE FROM",
         "sqlite", "postgres", "RUST_BACKTRACE", "called `Result::unwrap()`", "stack backtrace")
server_errors, leaked = [], []
for e in entries:
    code = e["response"]["status"]
    body = e["response"].get("content", {}).get("text", "") or ""
    if code >= 500:
        server_errors.append((code, e["request"].get("postData", {}).get("text", "")[:300], body[:300]))
    for word in leaks:
        if word.lower() in body.lower():
            leaked.append((word, body[:300]))
for code, req, body in server_errors[:10]:
    print(f"5xx {code}: {req}\n    -> {body}")
for word, body in leaked[:10]:
    print(f"leak {word!r}: {body}")
print(f"schemathesis: {len(entries)} operations, {len(server_errors)} server errors, {len(leaked)} internal messages")
ok = len(entries) >= minimum and not server_errors and not leaked and status == 0
if len(entries) < minimum:
    print(f"too few operations: {len(entries)} < {minimum}")
if status != 0:
    print(f"schemathesis exited with {status}")
sys.exit(0 if ok else 1)
PY
