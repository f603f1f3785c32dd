#!/usr/bin/env bash
# Validate a CSV file against a TableSchema with the Frictionless Framework.
#
# Usage: scripts/frictionless-validate.sh SCHEMA.json FILE.csv
#
# - Creates (once) a virtualenv at <repo>/.venv and installs a pinned frictionless
#   version into it from PyPI (about 30 s the first time, ~86 MB; nothing afterwards).
# - Prints a one-line summary "frictionless: N rows, E errors", then the errors if any.
# - Exit status: 0 valid, 1 invalid, 2 usage / tooling error.
# - Row numbers in messages are physical rows: the header is row 1, the first data row is row 2.
#
# Environment: PYTHON (default python3) is the interpreter used to create the venv.
set -euo pipefail

FRICTIONLESS_VERSION="5.21.0"

usage() {
  echo "usage: $0 SCHEMA.json FILE.csv" >&2
  exit 2
}

[[ $# -eq 2 ]] || usage
SCHEMA="$1"
CSV="$2"
[[ -f "$SCHEMA" ]] || { echo "frictionless-validate: schema not found: $SCHEMA" >&2; exit 2; }
[[ -f "$CSV" ]] || { echo "frictionless-validate: CSV not found: $CSV" >&2; exit 2; }
# Absolute paths (frictionless refuses paths outside the current directory unless --trusted;
# we pass --trusted, and absolute paths keep messages unambiguous).
SCHEMA="$(cd "$(dirname "$SCHEMA")" && pwd)/$(basename "$SCHEMA")"
CSV="$(cd "$(dirname "$CSV")" && pwd)/$(basename "$CSV")"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${REPO_ROOT}/.venv"
PY="${VENV}/bin/python"

installed_version() {
  "$PY" - <<'EOF' 2>/dev/null || true
import importlib.metadata as m
try:
    print(m.version("frictionless"))
except m.PackageNotFoundError:
    pass
EOF
}

ensure_frictionless() {
  if [[ ! -x "$PY" ]]; then
    echo "frictionless-validate: creating virtualenv ${VENV}" >&2
    "${PYTHON:-python3}" -m venv "$VENV"
  fi
  if [[ "$(installed_version)" != "$FRICTIONLESS_VERSION" ]]; then
    echo "frictionless-validate: installing frictionless==${FRICTIONLESS_VERSION} into ${VENV} (first run only)" >&2
    local start=$SECONDS
    "$PY" -m pip install --disable-pip-version-check --quiet "frictionless==${FRICTIONLESS_VERSION}" >&2
    echo "frictionless-validate: installed in $((SECONDS - start)) s" >&2
  fi
}

# Serialise venv creation / installation between concurrent runs when flock is available.
if command -v flock >/dev/null 2>&1; then
  mkdir -p "$VENV"
  exec 9>"${VENV}/.frictionless-validate.lock"
  flock 9
  ensure_frictionless
  flock -u 9
else
  ensure_frictionless
fi

REPORT="$(mktemp)"
trap 'rm -f "$REPORT"' EXIT

# frictionless exits 1 when the table is invalid: keep going to print the report.
rc=0
"${VENV}/bin/frictionless" validate --json --trusted --schema "$SCHEMA" "$CSV" >"$REPORT" || rc=$?

"$PY" - "$REPORT" "$rc" <<'EOF'
import json
import sys

path, rc = sys.argv[1], int(sys.argv[2])
raw = open(path, encoding="utf-8").read()
try:
    report = json.loads(raw)
except ValueError:
    sys.stderr.write(raw)
    print(f"frictionless: could not parse the report (exit status {rc})", file=sys.stderr)
    sys.exit(2)


def describe(err):
    where = []
    if err.get("rowNumber") is not None:
        where.append(f"row {err['rowNumber']}")
    if err.get("fieldName"):
        where.append(f"field {err['fieldName']!r}")
    elif err.get("fieldNumber") is not None:
        where.append(f"field #{err['fieldNumber']}")
    prefix = ", ".join(where)
    msg = err.get("message") or err.get("note") or err.get("title") or ""
    return f"  - [{err.get('type', 'error')}]{' ' + prefix + ':' if prefix else ''} {msg}"


tasks = report.get("tasks", [])
rows = sum((t.get("stats") or {}).get("rows") or 0 for t in tasks)
errors = list(report.get("errors", []))
for t in tasks:
    errors.extend(t.get("errors", []))
warnings = list(report.get("warnings", []))
for t in tasks:
    warnings.extend(t.get("warnings", []))

print(f"frictionless: {rows} rows, {len(errors)} errors")
for w in warnings:
    print(f"  warning: {w}")
for e in errors:
    print(describe(e))

valid = bool(report.get("valid")) and not errors
if valid and rc != 0:
    print(f"frictionless: exit status {rc} despite a valid report", file=sys.stderr)
    sys.exit(2)
sys.exit(0 if valid else 1)
EOF
