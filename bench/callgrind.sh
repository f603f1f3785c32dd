#!/bin/bash
# Maillage's own instructions per request, shape by shape, counted by callgrind: deterministic, so two binaries
# compare on a noisy machine where wrk's req/s and CPU times drift by 20 % between runs (docs/PERFORMANCE.md).
#
#   bench/callgrind.sh NAME BINARY        after `bench/graphql.sh --prepare` (its database)
#
# The release server runs under `valgrind --tool=callgrind` with instrumentation off; for each shape (the request of
# bench/shapes.py) it answers two
# warm-up requests, then N requests with instrumentation on, and the dump's total divided by N is printed. PostgreSQL
# runs outside valgrind: its share is not counted. Environment:
#   SHAPES      shapes and request counts (default "Q1:40 Q2:6 Q3:40 Q4:60 Q5:4")
#   BENCH_PG_URL  PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres)
#   CALLGRIND_KEEP  a directory that receives each shape's dump (NAME.SHAPE.out), for
#               `callgrind_annotate --inclusive=yes FILE` (which functions the instructions went to)
set -euo pipefail
name=${1:?usage: bench/callgrind.sh NAME BINARY}
bin=${2:?usage: bench/callgrind.sh NAME BINARY}
root=$(cd "$(dirname "$0")/.." && pwd)
pg_server=${BENCH_PG_URL-postgres://postgres@127.0.0.1:5432/postgres}
port=18091
out=$(mktemp -d)
command -v valgrind >/dev/null || { echo "valgrind is needed (Debian package valgrind)" >&2; exit 1; }
db_url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/maillage_bench_graphql", query="sslmode=disable")))' "$pg_server")
DATABASE_URL=$db_url MAILLAGE_LOG=warn MAILLAGE_LISTEN=127.0.0.1:$port MAILLAGE_DB_MAX_CONNECTIONS=10 \
    MAILLAGE_RATE_LIMIT_PER_MINUTE=0 MAILLAGE_DB_ACQUIRE_TIMEOUT_MS=30000 MAILLAGE_COST_BUDGET=0 \
    MAILLAGE_WEBHOOKS=false MAILLAGE_EXECUTION_TIMEOUT_MS=600000 MAILLAGE_ATTACHMENTS_DIR=$out/attachments \
    MAILLAGE_IMPORTS_DIR=$out/imports \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/cg.%p.out" "$bin" serve >"$out/server.log" 2>&1 &
vpid=$!
trap 'kill $vpid 2>/dev/null || true; rm -rf "$out"' EXIT
post() { curl -sf -o /dev/null -XPOST -H 'content-type: application/json' "$@" "http://127.0.0.1:$port/graphql"; }
for _ in $(seq 1 300); do post -d '{"query":"{ __typename }"}' && break; sleep 1; done
for shape in ${SHAPES:-Q1:40 Q2:6 Q3:40 Q4:60 Q5:4}; do
    s=${shape%%:*} n=${shape##*:}
    python3 "$root/bench/shapes.py" body maillage "$s" >"$out/$s.json"
    post -d @"$out/$s.json"
    post -d @"$out/$s.json"
    callgrind_control -z $vpid >/dev/null 2>&1
    callgrind_control -i on $vpid >/dev/null 2>&1
    for _ in $(seq 1 "$n"); do post -d @"$out/$s.json"; done
    callgrind_control -i off $vpid >/dev/null 2>&1
    callgrind_control -d "$s" $vpid >/dev/null 2>&1
    sleep 1
    total=$(grep -h '^totals:' "$(ls -t "$out"/cg.$vpid.out.* | head -1)" | awk '{print $2}')
    echo "$name $s: $((total / n)) instructions per request ($n requests)"
    if [ -n "${CALLGRIND_KEEP-}" ]; then
        mkdir -p "$CALLGRIND_KEEP"
        cp "$(ls -t "$out"/cg.$vpid.out.* | head -1)" "$CALLGRIND_KEEP/$name.$s.out"
    fi
done
