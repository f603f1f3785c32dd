#!/usr/bin/env bash
# Fuzzes the GraphQL API with schemathesis (property-based: queries and mutations generated from schema.graphql)
# against a freshly started server over a temporary database holding the fixture sites, as an admin. `ID` arguments
# are mostly drawn from the IDs that database really holds (sites, hubs, envelopes…), so that generated mutations
# reach their domain rules instead of stopping at "unknown id".
# Passes when at least MIN_OPERATIONS requests were sent, none got a 5xx, and no response body leaks an internal
# message (database, SQL, panic, Rust error types); reports the share of generated mutations that succeeded.
# Time-bounded: MAX_TIME seconds (default 150).
# Backend: a temporary SQLite file, or with FUZZ_POSTGRES_URL=postgres://user@host:port/db a fresh database created
# on that server for the run (and dropped after).
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
fuzz_db=""
cleanup() {
  stop_server
  if [ -n "$fuzz_db" ]; then
    psql -q "$FUZZ_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $fuzz_db WITH (FORCE)" >/dev/null || true
  fi
}
trap cleanup EXIT
backend=sqlite
db_url=""
if [ -n "${FUZZ_POSTGRES_URL:-}" ]; then
  backend=postgresql
  fuzz_db="maillage_fuzz_$$"
  psql -q "$FUZZ_POSTGRES_URL" -c "CREATE DATABASE $fuzz_db" >/dev/null
  db_url="${FUZZ_POSTGRES_URL%/*}/$fuzz_db"
fi
# Throttling would only turn generated requests into 429s: it has its own tests (tests/e2e/protection.rs).
start_server "$bin" MAILLAGE_RATE_LIMIT_PER_MINUTE=0 MAILLAGE_COST_BUDGET=0 MAILLAGE_AUTH_FAILURES_PER_MINUTE=0 \
  ${db_url:+DATABASE_URL=$db_url}
db_url=${db_url:-sqlite://$server_tmp/x.db?mode=rwc}
# Data to read, and an admin token so that generated mutations reach their resolvers instead of stopping at 401/403.
cli() { (cd "$server_tmp" && DATABASE_URL="$db_url" MAILLAGE_LOG=warn "$bin" "$@"); }
cli import "$root/tests/fixtures/sites-v1.csv" --source fixture >/dev/null
secret=$(cli token create --role admin --name schemathesis 2>/dev/null | tail -n 1)
# The IDs the database holds, for the hooks' `ID` strategy.
export MAILLAGE_FUZZ_IDS="$server_tmp/ids.txt"
python3 - "$SERVER_URL/graphql" "$secret" "$MAILLAGE_FUZZ_IDS" <<'PY'
import json, sys, urllib.request
url, secret, out = sys.argv[1:4]
ids = set()
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "id" and isinstance(x, str):
                ids.add(x)
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
for q in ["{ sites(first: 20) { edges { node { id } } } }", "{ hubs { id } }", "{ envelopes { id } }",
          "{ fundingRules { id } }", "{ passProgrammes { id } }", "{ hostStructures(first: 10) { edges { node { id } } } }"]:
    req = urllib.request.Request(url, json.dumps({"query": q}).encode(),
                                 {"content-type": "application/json", "authorization": f"Bearer {secret}"})
    try:
        walk(json.load(urllib.request.urlopen(req, timeout=30)).get("data"))
    except Exception as e:  # a query this schema does not have: fewer seeds, not a failure
        print(f"seed query failed: {q}: {e}", file=sys.stderr)
open(out, "w").write("\n".join(sorted(ids)))
print(f"schemathesis on {len(ids)} real IDs")
PY
echo "schemathesis backend: $backend"

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

python3 - "$report.har" "$MIN_OPERATIONS" "$status" "$backend" <<'PY'
import json, sys
har, minimum, status, backend = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
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
def mutation_succeeded(e):
    try:
        query = json.loads(e["request"].get("postData", {}).get("text", "") or "{}").get("query", "")
    except ValueError:
        return None
    if not query.lstrip().startswith("mutation"):
        return None
    try:
        body = json.loads(e["response"].get("content", {}).get("text", "") or "{}")
    except ValueError:
        return False
    data = body.get("data") or {}
    return (e["response"]["status"] == 200 and not body.get("errors") and bool(data)
            and all(v is not None and not (isinstance(v, dict) and v.get("userErrors")) for v in data.values()))
outcomes = [o for o in map(mutation_succeeded, entries) if o is not None]
succeeded = sum(outcomes)
share = 100.0 * succeeded / len(outcomes) if outcomes else 0.0
print(f"schemathesis ({backend}): {len(entries)} operations, {len(server_errors)} server errors, "
      f"{len(leaked)} internal messages; mutations: {succeeded} of {len(outcomes)} succeeded ({share:.1f}%)")
ok = len(entries) >= minimum and not server_errors and not leaked and status == 0
if len(entries) < minimum:
    print(f"too few operations: {len(entries)} < {minimum}")
if status != 0:
    print(f"schemathesis exited with {status}")
sys.exit(0 if ok else 1)
PY
