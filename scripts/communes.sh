#!/usr/bin/env bash
# Builds crates/sites/data/communes.csv, the communes reference table the importer uses to look up INSEE codes and
# departments from postal code + commune name, to refuse postal codes of no commune, and to bound coordinates.
#
# Source: the npm package @etalab/decoupage-administratif (Licence Ouverte 2.0, INSEE's Code officiel géographique
# with La Poste's postal codes), version pinned below. It has no commune centres, so the centres come from a second
# file when CENTRES_CSV is set: a CSV with columns insee_com, lat, lng (the one used for the committed table is
# France/communes.csv of github.com/rcarlier/datas.fun at commit b987408, whose coordinates come from La Poste's
# "base officielle des codes postaux"). Without it, the latitude/longitude columns stay empty.
#
# Usage: [CENTRES_CSV=path/to/communes.csv] scripts/communes.sh
# Output columns: insee,nom,codes_postaux (space-separated),departement,latitude,longitude
# Only current communes and the municipal arrondissements of Paris, Lyon and Marseille (they have postal codes).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE=@etalab/decoupage-administratif
VERSION=6.0.0
OUT=crates/sites/data/communes.csv

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null && tar xzf ./*.tgz)

CENTRES="${CENTRES_CSV:-}" COMMUNES="$work/package/data/communes.json" node - >"$OUT.tmp" <<'JS'
const fs = require('fs');
const communes = JSON.parse(fs.readFileSync(process.env.COMMUNES, 'utf8'));
const centres = new Map();
if (process.env.CENTRES) {
  const lines = fs.readFileSync(process.env.CENTRES, 'utf8').split(/\r?\n/);
  const header = lines[0].split(',');
  const [ci, la, lo] = ['insee_com', 'lat', 'lng'].map((c) => header.indexOf(c));
  if (ci < 0 || la < 0 || lo < 0) throw new Error('CENTRES_CSV needs columns insee_com, lat, lng');
  for (const line of lines.slice(1)) {
    // The first columns hold no quoted commas; lat/lng are plain numbers.
    const cells = line.split(',');
    if (cells.length > lo && cells[la] && cells[lo] && !centres.has(cells[ci])) {
      centres.set(cells[ci], [cells[la], cells[lo]]);
    }
  }
}
const quote = (s) => (/[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s);
const rows = communes
  .filter((c) => ['commune-actuelle', 'arrondissement-municipal'].includes(c.type))
  .filter((c) => c.codesPostaux && c.codesPostaux.length > 0 && c.departement)
  .sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
const out = ['insee,nom,codes_postaux,departement,latitude,longitude'];
for (const c of rows) {
  const [lat, lng] = centres.get(c.code) || ['', ''];
  out.push([c.code, quote(c.nom), c.codesPostaux.join(' '), c.departement, lat, lng].join(','));
}
process.stdout.write(out.join('\n') + '\n');
JS
mv "$OUT.tmp" "$OUT"
echo "$OUT: $(($(wc -l <"$OUT") - 1)) communes from $PACKAGE@$VERSION${CENTRES_CSV:+, centres from $CENTRES_CSV}" >&2
