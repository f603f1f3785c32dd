#!/usr/bin/env bash
# Runs the graphql-http audit suite (auditServer) against a freshly started server.
# Prints every audit, then "graphql-http audit: N passed, 0 failed" (N counts MUST and SHOULD audits that are ok);
# MAY audits that warn are reported but do not fail. Exits non-zero on any MUST or SHOULD failure.
# Usage: scripts/graphql-http-audit.sh [BINARY]   (default: target/debug/maillage, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
GRAPHQL_HTTP_VERSION=1.23.1
tools="$root/target/tools/graphql-http"

bin=${1:-$root/target/debug/maillage}
if [ ! -x "$bin" ]; then
  cargo build --locked -q --bin maillage
fi

if [ "$(cat "$tools/.version" 2>/dev/null)" != "$GRAPHQL_HTTP_VERSION" ]; then
  rm -rf "$tools"
  mkdir -p "$tools"
  (cd "$tools" && npm init -y >/dev/null && npm install --no-audit --no-fund --silent "graphql-http@$GRAPHQL_HTTP_VERSION" "graphql@16.15.0" >/dev/null)
  echo "$GRAPHQL_HTTP_VERSION" > "$tools/.version"
fi

. "$root/scripts/lib-server.sh"
trap stop_server EXIT
start_server "$bin"

# Beside its node_modules, so that node resolves graphql-http.
cat > "$tools/audit.mjs" <<'JS'
import { auditServer } from 'graphql-http';
const url = process.argv[2];
const results = await auditServer({ url });
let passed = 0, failed = 0, warned = 0;
for (const r of results) {
  const mandatory = r.name.startsWith('MUST') || r.name.startsWith('SHOULD');
  if (r.status === 'ok') {
    if (mandatory) passed++;
    console.log(`ok      ${r.id} ${r.name}`);
  } else if (mandatory) {
    failed++;
    console.log(`FAILED  ${r.id} ${r.name}: ${r.reason}`);
    if (r.response) console.log(`        status ${r.response.status}: ${(await r.response.text()).slice(0, 500)}`);
  } else {
    warned++;
    console.log(`warn    ${r.id} ${r.name}: ${r.reason}`);
  }
}
console.log(`MAY warnings: ${warned}`);
console.log(`graphql-http audit: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
JS
node "$tools/audit.mjs" "$SERVER_URL/graphql"
