#!/usr/bin/env bash
# Tried as a new user would, in a real headless Chromium: a page served from another origin fetches
# `{ sites(first: 5) { nodes { name } } }` from Maillage with a partner token and shows the names. The same page
# also tries an AMI upload route with the anti-CSRF header, which the browser must refuse (no CORS there).
#
# Usage: scripts/browser-cors.sh [target/debug/maillage]
# Needs /usr/bin/chromium (scripts/install-chromium.sh) and python3. Fails (never skips) when something is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/target/debug/maillage}
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "browser-cors: $chromium not found (run scripts/install-chromium.sh)" >&2; exit 1; }
[ -x "$bin" ] || { echo "browser-cors: $bin not found (cargo build)" >&2; exit 1; }
# shellcheck source=scripts/lib-server.sh
source "$root/scripts/lib-server.sh"

page_dir=$(mktemp -d)
page_pid=""
cleanup() {
  [ -n "$page_pid" ] && kill "$page_pid" 2>/dev/null || true
  rm -rf "$page_dir"
  stop_server
}
trap cleanup EXIT

start_server "$bin"
db="sqlite://$server_tmp/x.db?mode=rwc"
(cd "$server_tmp" && DATABASE_URL=$db MAILLAGE_LOG=warn "$bin" import "$root/tests/fixtures/sites-v1.csv" --source hinaura >/dev/null)
token=$(cd "$server_tmp" && DATABASE_URL=$db MAILLAGE_LOG=warn "$bin" token create --role partner --name browser-cors 2>/dev/null)
expected=$(curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  --data '{"query":"{ sites(first: 5) { nodes { name } } }"}' "$SERVER_URL/graphql" |
  python3 -c 'import json, sys; print("\n".join(n["name"] for n in json.load(sys.stdin)["data"]["sites"]["nodes"]))')
[ -n "$expected" ] || { echo "browser-cors: the API returned no site" >&2; exit 1; }

cat >"$page_dir/index.html" <<HTML
<!doctype html>
<html><head><meta charset="utf-8"><title>Lieux</title></head>
<body>
<ul id="names"></ul>
<p id="status">loading</p>
<p id="upload">pending</p>
<script>
const api = "$SERVER_URL";
fetch(api + "/graphql", {
  method: "POST",
  headers: { "Authorization": "Bearer $token", "Content-Type": "application/json" },
  body: JSON.stringify({ query: "{ sites(first: 5) { nodes { name } } }" }),
})
  .then((r) => r.json())
  .then((body) => {
    for (const node of body.data.sites.nodes) {
      const li = document.createElement("li");
      li.textContent = node.name;
      document.getElementById("names").appendChild(li);
    }
    document.getElementById("status").textContent = "loaded";
  })
  .catch((e) => { document.getElementById("status").textContent = "failed: " + e; });
fetch(api + "/ami/attachments/1", {
  method: "DELETE",
  headers: { "Authorization": "Bearer $token", "X-Maillage-Upload": "1" },
})
  .then((r) => { document.getElementById("upload").textContent = "upload-reachable " + r.status; })
  .catch(() => { document.getElementById("upload").textContent = "upload-blocked"; });
</script>
</body></html>
HTML

page_port=$(free_port)
python3 -m http.server "$page_port" --bind 127.0.0.1 --directory "$page_dir" >/dev/null 2>&1 &
page_pid=$!
for _ in $(seq 1 40); do
  curl -fsS "http://127.0.0.1:$page_port/index.html" >/dev/null 2>&1 && break
  sleep 0.25
done

dom=$("$chromium" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
  --user-data-dir="$page_dir/profile" --virtual-time-budget=15000 --run-all-compositor-stages-before-draw \
  --dump-dom "http://127.0.0.1:$page_port/index.html" 2>"$page_dir/chromium.log") || {
  echo "browser-cors: chromium failed" >&2
  cat "$page_dir/chromium.log" >&2
  exit 1
}

fail=0
grep -q '<p id="status">loaded</p>' <<<"$dom" || { echo "browser-cors: the page did not load the sites" >&2; fail=1; }
while IFS= read -r name; do
  escaped=$(python3 -c 'import html, sys; print(html.escape(sys.argv[1], quote=False))' "$name")
  grep -qF "<li>$escaped</li>" <<<"$dom" || { echo "browser-cors: \"$name\" not shown" >&2; fail=1; }
done <<<"$expected"
grep -q '<p id="upload">upload-blocked</p>' <<<"$dom" || {
  echo "browser-cors: a cross-origin page reached an upload route" >&2
  fail=1
}
if [ "$fail" -ne 0 ]; then
  echo "--- DOM ---" >&2
  echo "$dom" >&2
  exit 1
fi
count=$(grep -c '^' <<<"$expected")
echo "browser-cors: Chromium on http://127.0.0.1:$page_port showed the $count site names from $SERVER_URL; the upload route stayed blocked"
