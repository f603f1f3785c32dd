#!/usr/bin/env bash
# Vendor GraphiQL (UMD build) + React 18 UMD builds into crates/server/assets/graphiql/
# so the server can serve GraphiQL with no internet access (assets embedded in the binary).
#
# Usage: scripts/vendor-graphiql.sh
# Requires: npm (only the npm registry is contacted), sha256sum, tar.
#
# Only the minified bundles and the LICENSE files are copied; source maps and
# everything else are left out. A VERSIONS file records name@version, the npm
# tarball integrity and the sha256 of every vendored file.
#
# index.html in the same folder is hand-written and is NOT touched by this script.
set -euo pipefail

# Pinned versions. graphiql 3.9.0 is the latest 3.x release and ships the UMD bundle
# (graphiql.min.js / graphiql.min.css) expecting window.React / window.ReactDOM.
# (4.x still ships a deprecated UMD build; 5.x ships none, ESM only.)
# React/ReactDOM 18.3.1 is the latest 18.x (React 19 ships no UMD builds).
GRAPHIQL_VERSION="3.9.0"
REACT_VERSION="18.3.1"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${REPO_ROOT}/crates/server/assets/graphiql"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

echo "vendor-graphiql: fetching graphiql@${GRAPHIQL_VERSION}, react@${REACT_VERSION}, react-dom@${REACT_VERSION}"
(
  cd "$TMP"
  # npm pack verifies the tarball against the registry integrity hash.
  npm pack --silent \
    "graphiql@${GRAPHIQL_VERSION}" \
    "react@${REACT_VERSION}" \
    "react-dom@${REACT_VERSION}" >/dev/null
  for pkg in graphiql react react-dom; do
    mkdir -p "x/${pkg}"
  done
  tar xzf "graphiql-${GRAPHIQL_VERSION}.tgz" -C x/graphiql
  tar xzf "react-${REACT_VERSION}.tgz" -C x/react
  tar xzf "react-dom-${REACT_VERSION}.tgz" -C x/react-dom
)

# src (relative to $TMP/x) -> destination file name
declare -a FILES=(
  "graphiql/package/graphiql.min.js:graphiql.min.js"
  "graphiql/package/graphiql.min.css:graphiql.min.css"
  "graphiql/package/LICENSE:LICENSE.graphiql"
  "react/package/umd/react.production.min.js:react.production.min.js"
  "react/package/LICENSE:LICENSE.react"
  "react-dom/package/umd/react-dom.production.min.js:react-dom.production.min.js"
  "react-dom/package/LICENSE:LICENSE.react-dom"
)

mkdir -p "$DEST"
for entry in "${FILES[@]}"; do
  src="${entry%%:*}"
  dst="${entry##*:}"
  if [[ ! -s "${TMP}/x/${src}" ]]; then
    echo "vendor-graphiql: missing or empty ${src} in the npm tarball" >&2
    exit 1
  fi
  install -m 0644 "${TMP}/x/${src}" "${DEST}/${dst}"
done

integrity() { npm view "$1" dist.integrity 2>/dev/null || echo "unknown"; }

{
  echo "# Vendored by scripts/vendor-graphiql.sh — do not edit by hand."
  echo "# Source: npm registry tarballs (npm pack)."
  echo "graphiql@${GRAPHIQL_VERSION} $(integrity "graphiql@${GRAPHIQL_VERSION}")"
  echo "react@${REACT_VERSION} $(integrity "react@${REACT_VERSION}")"
  echo "react-dom@${REACT_VERSION} $(integrity "react-dom@${REACT_VERSION}")"
  echo
  echo "# sha256  file  (package@version)"
  for entry in "${FILES[@]}"; do
    dst="${entry##*:}"
    case "$dst" in
      *graphiql*) pv="graphiql@${GRAPHIQL_VERSION}" ;;
      *react-dom*) pv="react-dom@${REACT_VERSION}" ;;
      *) pv="react@${REACT_VERSION}" ;;
    esac
    (cd "$DEST" && printf '%s  %s  (%s)\n' "$(sha256sum "$dst" | cut -d' ' -f1)" "$dst" "$pv")
  done
} >"${DEST}/VERSIONS"

echo "vendor-graphiql: wrote to ${DEST}"
(cd "$DEST" && ls -l)
du -sh "$DEST"
