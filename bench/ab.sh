#!/bin/bash
# Two (or more) Maillage binaries compared on the same data, in turn: req/s and CPU time per request, the server's own
# and PostgreSQL's, shape by shape. For telling whether a change helps on a noisy machine, where two full runs of
# bench/graphql.sh ten minutes apart can differ by 20 %: the binaries alternate within one run, round after round.
#
#   bench/ab.sh ROUNDS BINARY...        after `bench/graphql.sh --prepare` (its database)
#
# Each binary in turn starts on the bench database (pool of 10, sslmode=disable, logs at warn, no rate limit or cost
# budget, as in bench/graphql.sh); for each shape of bench/shapes.py, wrk -t2 warms it for 2 s and then runs for
# AB_SECONDS (default 8) at AB_CONNECTIONS (default 16); CPU times come from /proc around that run (PostgreSQL: every
# `postgres` process). One line per round, binary and shape; compare the medians. Environment:
#   SHAPES        shapes to run (default "Q1 Q2 Q3 Q4 Q5")
#   BENCH_PG_URL  PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres)
set -euo pipefail
rounds=${1:?usage: bench/ab.sh ROUNDS BINARY...}
shift
[ $# -ge 1 ] || { echo "usage: bench/ab.sh ROUNDS BINARY..." >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
pg_server=${BENCH_PG_URL-postgres://postgres@127.0.0.1:5432/postgres}
seconds=${AB_SECONDS:-8}
connections=${AB_CONNECTIONS:-16}
port=18093
command -v wrk >/dev/null || { echo "wrk is needed (Debian package wrk)" >&2; exit 1; }
db_url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/maillage_bench_graphql", query="sslmode=disable")))' "$pg_server")
hz=$(getconf CLK_TCK)
work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_ticks() {
    local total=0 pid
    for pid in $(pgrep -x postgres); do total=$((total + $(ticks "$pid"))); done
    echo "$total"
}
for s in ${SHAPES:-Q1 Q2 Q3 Q4 Q5}; do
    python3 "$root/bench/shapes.py" body maillage "$s" >"$work/$s.json"
    printf '%s\n' 'wrk.method = "POST"' 'wrk.headers["Content-Type"] = "application/json"' \
        "local f = io.open(\"$work/$s.json\", \"r\")" 'wrk.body = f:read("*a")' 'f:close()' >"$work/$s.lua"
done
echo "| round | binary | shape | req/s | Maillage CPU ms/req | PostgreSQL CPU ms/req |"
echo "|---:|---|---|---:|---:|---:|"
for round in $(seq 1 "$rounds"); do
    for bin in "$@"; do
        DATABASE_URL=$db_url MAILLAGE_LOG=warn MAILLAGE_LISTEN=127.0.0.1:$port MAILLAGE_DB_MAX_CONNECTIONS=10 \
            MAILLAGE_RATE_LIMIT_PER_MINUTE=0 MAILLAGE_DB_ACQUIRE_TIMEOUT_MS=30000 MAILLAGE_COST_BUDGET=0 \
            MAILLAGE_WEBHOOKS=false MAILLAGE_EXECUTION_TIMEOUT_MS=600000 MAILLAGE_ATTACHMENTS_DIR="$work/attachments" \
            MAILLAGE_IMPORTS_DIR="$work/imports" "$bin" serve >"$work/server.log" 2>&1 &
        server=$!
        for _ in $(seq 1 100); do
            curl -sf -o /dev/null -XPOST -H 'content-type: application/json' -d '{"query":"{ __typename }"}' \
                "http://127.0.0.1:$port/graphql" && break
            sleep 0.3
        done
        for s in ${SHAPES:-Q1 Q2 Q3 Q4 Q5}; do
            wrk -t2 -c"$connections" -d2s -s "$work/$s.lua" "http://127.0.0.1:$port/graphql" >/dev/null 2>&1
            m0=$(ticks "$server") g0=$(pg_ticks)
            wrk -t2 -c"$connections" -d"${seconds}s" -s "$work/$s.lua" "http://127.0.0.1:$port/graphql" >"$work/wrk.out" 2>&1
            m1=$(ticks "$server") g1=$(pg_ticks)
            n=$(awk '/requests in/ {print $1}' "$work/wrk.out")
            bad=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.out")
            [ -z "$bad" ] || echo "warning: $bad non-2xx answers for $s" >&2
            python3 -c 'import sys
n, secs, m, g, hz = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print("| %s | %s | %s | %.0f | %.3f | %.3f |" % (sys.argv[6], sys.argv[7], sys.argv[8], n / secs, m * 1000 / hz / n, g * 1000 / hz / n))' \
                "$n" "$seconds" "$((m1 - m0))" "$((g1 - g0))" "$hz" "$round" "$(basename "$bin")" "$s"
        done
        kill "$server"
        wait "$server" 2>/dev/null || true
        server=
    done
done
