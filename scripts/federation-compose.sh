#!/usr/bin/env bash
# Composes Maillage's Apollo Federation v2 subgraph (its SDL as `_service { sdl }` returns it on /federation/graphql)
# with the example subgraph tests/fixtures/federation/visits.graphql, which extends `Site`, using @apollo/composition
# (pinned, installed under target/tools). Fails if composition reports an error.
# Usage: scripts/federation-compose.sh [BINARY]   (default: target/debug/maillage, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
COMPOSITION_VERSION=2.14.4
tools="$root/target/tools/apollo-composition"

bin=${1:-$root/target/debug/maillage}
if [ ! -x "$bin" ]; then
  cargo build --locked -q --bin maillage
fi

if [ "$(cat "$tools/.version" 2>/dev/null)" != "$COMPOSITION_VERSION" ]; then
  rm -rf "$tools"
  mkdir -p "$tools"
  (cd "$tools" && npm init -y >/dev/null && npm install --no-audit --no-fund --silent \
    "@apollo/composition@$COMPOSITION_VERSION" "graphql@16.15.0" >/dev/null)
  echo "$COMPOSITION_VERSION" > "$tools/.version"
fi

. "$root/scripts/lib-server.sh"
trap stop_server EXIT
start_server "$bin"

curl -fsS "$SERVER_URL/federation/graphql" -H 'content-type: application/json' \
  -d '{"query": "{ _service { sdl } }"}' \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["_service"]["sdl"])' > "$server_tmp/maillage.graphql"

cat > "$tools/compose.mjs" <<'JS'
import { readFileSync } from 'node:fs';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
const [maillage, visits] = process.argv.slice(2);
const result = composeServices([
  { name: 'maillage', url: 'http://maillage/federation/graphql', typeDefs: parse(readFileSync(maillage, 'utf8')) },
  { name: 'visits', url: 'http://visits/graphql', typeDefs: parse(readFileSync(visits, 'utf8')) },
]);
for (const hint of result.hints ?? []) console.log(`hint: ${hint.definition.code}: ${hint.message}`);
if (result.errors) {
  for (const e of result.errors) console.log(`error: ${e.extensions?.code ?? ''} ${e.message}`);
  console.log(`federation composition: FAILED (${result.errors.length} errors)`);
  process.exit(1);
}
const site = result.schema.toAPISchema().toGraphQLJSSchema().getType('Site');
const fields = Object.keys(site.getFields());
if (!fields.includes('visitsLastMonth') || !fields.includes('name')) {
  console.log(`federation composition: Site lacks fields of one subgraph: ${fields.join(', ')}`);
  process.exit(1);
}
console.log(`federation composition: ok (2 subgraphs; Site has ${fields.length} fields, visitsLastMonth among them)`);
JS
node "$tools/compose.mjs" "$server_tmp/maillage.graphql" "$root/tests/fixtures/federation/visits.graphql"
