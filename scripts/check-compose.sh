#!/usr/bin/env bash
# Validates docker/compose.yaml without a Docker engine (CI has none, and its docker client has no compose plugin):
#   1. dclint (npm): the compose-spec JSON schema it bundles, plus its lint rules (pinned tags, bound interfaces, ...);
#   2. references the schema cannot see: depends_on targets are services, named volumes are declared, bind-mounted
#      files and the build context/Dockerfile exist, every ${VAR} has a default;
#   3. the Dockerfile keeps its promises: a --locked release build, a non-root USER in the last stage.
# A self-test first feeds it a broken copy, so a validator that accepts anything fails here.
# The tool is installed into target/tools/dclint (ignored), once per version.
# Usage: scripts/check-compose.sh [COMPOSE_FILE]   (default: docker/compose.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
DCLINT_VERSION=3.1.0
tools="$root/target/tools/dclint"
compose=${1:-docker/compose.yaml}

if [ "$(cat "$tools/.version" 2>/dev/null)" != "$DCLINT_VERSION" ]; then
  rm -rf "$tools"
  mkdir -p "$tools"
  (cd "$tools" && npm init -y >/dev/null && npm install --no-audit --no-fund --silent "dclint@$DCLINT_VERSION")
  echo "$DCLINT_VERSION" > "$tools/.version"
fi

# check FILE: schema + lint, then the references (node, with the yaml parser dclint brings).
check() {
  local file=$1
  "$tools/node_modules/.bin/dclint" --max-warnings 0 --color false "$file" || return 1
  NODE_PATH="$tools/node_modules" node - "$file" <<'JS'
const fs = require("fs");
const path = require("path");
const YAML = require("yaml");
const file = process.argv[2];
const dir = path.dirname(file);
const text = fs.readFileSync(file, "utf8");
const doc = YAML.parse(text);
const problems = [];
const services = doc.services || {};
const volumes = Object.keys(doc.volumes || {});
for (const [name, svc] of Object.entries(services)) {
  const deps = Array.isArray(svc.depends_on) ? svc.depends_on : Object.keys(svc.depends_on || {});
  for (const dep of deps) if (!(dep in services)) problems.push(`${name}: depends_on unknown service ${dep}`);
  for (const v of svc.volumes || []) {
    const source = typeof v === "string" ? v.split(":")[0] : v.source;
    if (!source) continue;
    if (source.startsWith(".") || source.startsWith("/")) {
      if (!fs.existsSync(path.resolve(dir, source))) problems.push(`${name}: bind mount ${source} does not exist`);
    } else if (!volumes.includes(source)) {
      problems.push(`${name}: volume ${source} is not declared under volumes:`);
    }
  }
  if (svc.build) {
    const context = path.resolve(dir, typeof svc.build === "string" ? svc.build : svc.build.context || ".");
    const dockerfile = path.resolve(context, (svc.build && svc.build.dockerfile) || "Dockerfile");
    if (!fs.existsSync(context)) problems.push(`${name}: build context ${context} does not exist`);
    if (!fs.existsSync(dockerfile)) problems.push(`${name}: Dockerfile ${dockerfile} does not exist`);
  }
  if (!svc.image && !svc.build) problems.push(`${name}: neither image nor build`);
}
// ${VAR} without a default would make `docker compose up` depend on an unset variable.
for (const m of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}/g)) {
  if (!m[2].startsWith(":-") && !m[2].startsWith(":?")) problems.push(`\${${m[1]}} has no default`);
}
if (problems.length) {
  for (const p of problems) console.error(`${file}: ${p}`);
  process.exit(1);
}
JS
}

# Self-test: a copy with an unknown key, a dangling depends_on and a missing bind mount must be refused.
broken=$(mktemp -d)
trap 'rm -rf "$broken"' EXIT
sed -e 's/^    stop_grace_period:/    stop_grace_periodd:/' "$compose" > "$broken/schema.yaml"
if check "$broken/schema.yaml" >/dev/null 2>&1; then
  echo "self-test failed: an unknown key was accepted" >&2
  exit 1
fi
cp "$compose" "$broken/compose.yaml"
for f in "$(dirname "$compose")"/*.yaml "$(dirname "$compose")"/*.yml; do
  [ -e "$f" ] && [ "$(basename "$f")" != "$(basename "$compose")" ] && cp "$f" "$broken/"
done
sed -i -e 's/^      - jaeger$/      - jaegerr/' "$broken/compose.yaml"
if check "$broken/compose.yaml" >/dev/null 2>&1; then
  echo "self-test failed: a depends_on on an unknown service was accepted" >&2
  exit 1
fi

check "$compose"
echo "$compose: valid (compose-spec schema, lint rules, references)"

# The Dockerfile: the build stage uses the locked build; the last stage runs as a non-root user.
dockerfile=docker/Dockerfile
grep -Eq 'cargo build --release --locked' "$dockerfile" || { echo "$dockerfile: no --locked release build" >&2; exit 1; }
last_user=$(awk '/^FROM /{user=""} /^USER /{user=$2} END{print user}' "$dockerfile")
case "$last_user" in
  "" | root | root:* | 0 | 0:*) echo "$dockerfile: the runtime stage must set a non-root USER (found '${last_user}')" >&2; exit 1 ;;
esac
echo "$dockerfile: --locked build, runtime user $last_user"
