#!/usr/bin/env bash
# Architecture as a test: the dependency direction of ARCHITECTURE.md, checked with `cargo tree -i`.
#   server → graphql → domains → territories → core
# Nothing below `graphql` may depend on async-graphql, and nothing below `server` on axum or tower; domain crates do
# not depend on each other (except `ami`, through public services).
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
# Which workspace crates depend (directly or not, normal dependencies only) on $1, in every version of it in the
# tree. cargo's own errors are not swallowed: an ambiguous name (two versions) is expanded into each version, a
# package absent from the tree has no dependents, and any other failure stops the check instead of passing it.
dependents() {
  local out err
  err=$(mktemp)
  if out=$(cargo tree --locked --workspace -e normal -i "$1" --prefix none 2>"$err"); then
    rm -f "$err"
    printf '%s\n' "$out" | grep -E '^maillage-' | sed 's/ .*//' | sort -u || true
    return 0
  fi
  if grep -q 'did not match any packages' "$err"; then
    rm -f "$err"
    return 0
  fi
  local specs
  specs=$(grep -oE "\b$1@[0-9][^ ]*" "$err" | sort -u || true)
  if [ -z "$specs" ]; then
    echo "dependency direction: cargo tree -i $1 failed:" >&2
    cat "$err" >&2
    rm -f "$err"
    exit 2
  fi
  rm -f "$err"
  for spec in $specs; do
    dependents "$spec"
  done | sort -u
}
check() { # crate allowed...
  local crate=$1; shift
  local allowed=" $* " found
  # Captured first: a failure inside a command substitution in a `for` list would not stop the script.
  found=$(dependents "$crate") || exit 2
  for dependent in $found; do
    if [[ "$allowed" != *" $dependent "* ]]; then
      echo "dependency direction: $dependent must not depend on $crate" >&2
      fail=1
    fi
  done
}
check async-graphql maillage-graphql maillage-server
check axum maillage-server
check tower maillage-server
check tower-http maillage-server
# Domains never depend on each other; ami is the one allowed exception, and only on territories and funding
# (territories is below every domain, so it is not checked here).
for domain in maillage-sites maillage-counsellors maillage-aidants maillage-funding maillage-ami; do
  if [ "$domain" = maillage-funding ]; then
    check "$domain" "$domain" maillage-graphql maillage-server maillage-ami
  else
    check "$domain" "$domain" maillage-graphql maillage-server
  fi
done
if [ "$fail" -ne 0 ]; then
  exit 1
fi
echo "dependency direction: ok"
