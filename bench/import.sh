#!/usr/bin/env bash
# Import bench: rows/s of `maillage import` at 1 000, 10 000 and 100 000 rows of the national standard v1.0.2, on
# SQLite and on a fresh PostgreSQL database, with PostgreSQL `COPY` of the same rows into an equivalent plain table
# as the reference. One run; prints a Markdown table (docs/PERFORMANCE.md keeps the last one).
#
# Usage: bench/import.sh [SIZES...]            (default: 1000 10000 100000)
# Environment:
#   BENCH_PG_URL   PostgreSQL server to create the bench databases on
#                  (default postgres://postgres@127.0.0.1:5432/postgres); empty to skip PostgreSQL.
#   BENCH_BIN      the binary to time (default: target/release/maillage, built if missing).
#   BENCH_DIR      where to write the files and the SQLite databases (default: a temporary directory).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(1000 10000 100000)
pg_url=${BENCH_PG_URL-postgres://postgres@127.0.0.1:5432/postgres}
bin=${BENCH_BIN:-$root/target/release/maillage}
work=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"

if [ ! -x "$bin" ]; then
    echo "building the release binary…" >&2
    (cd "$root" && cargo build --release --quiet --bin maillage)
fi

# The database URL of `name` on the PostgreSQL server (same host, user and options).
pg_db_url() {
    python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$pg_url" "$1"
}

fresh_pg_db() {
    psql -q -v ON_ERROR_STOP=1 "$pg_url" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
}

now() { date +%s.%N; }

# Seconds taken by an import of $1 into $2 (migrations and reference data are applied first, untimed).
time_import() {
    local file=$1 url=$2
    DATABASE_URL=$url MAILLAGE_LOG=warn "$bin" migrate up >/dev/null
    local start end out
    start=$(now)
    out=$(DATABASE_URL=$url MAILLAGE_LOG=warn "$bin" import "$file" --source bench --report "$work/report.csv")
    end=$(now)
    local stored
    stored=$(printf '%s\n' "$out" | awk '/stored:/ {print $2}')
    if [ "$stored" != "$3" ]; then
        echo "import of $file stored $stored rows, expected $3:" >&2
        printf '%s\n' "$out" >&2
        exit 1
    fi
    echo "$end - $start" | bc -l
}

# Seconds taken by COPY of $1 into a plain table with the file's 32 columns (as text), on a fresh database.
time_copy() {
    local file=$1 db=$2
    fresh_pg_db "$db"
    local url cols
    url=$(pg_db_url "$db")
    cols=$(head -1 "$file" | tr ',' '\n' | sed 's/.*/"&" text/' | paste -sd, -)
    psql -q -v ON_ERROR_STOP=1 "$url" -c "CREATE TABLE copy_ref ($cols)" >/dev/null
    local start end
    start=$(now)
    psql -q -v ON_ERROR_STOP=1 "$url" -c "\\copy copy_ref FROM '$file' WITH (FORMAT csv, HEADER true)" >/dev/null
    end=$(now)
    echo "$end - $start" | bc -l
}

rate() { printf '%.0f' "$(echo "$1 / $2" | bc -l)"; }

echo "| rows | SQLite rows/s | PostgreSQL rows/s | PostgreSQL COPY rows/s | PostgreSQL import / COPY |"
echo "|---:|---:|---:|---:|---:|"
for n in "${sizes[@]}"; do
    file="$work/lieux-$n.csv"
    python3 "$root/bench/gen_v1.py" "$n" >"$file"

    rm -f "$work/bench-$n.db"*
    sqlite_s=$(time_import "$file" "sqlite://$work/bench-$n.db?mode=rwc" "$n")
    sqlite_rate=$(rate "$n" "$sqlite_s")

    if [ -n "$pg_url" ]; then
        db="maillage_bench_import_$n"
        fresh_pg_db "$db"
        pg_s=$(time_import "$file" "$(pg_db_url "$db")" "$n")
        psql -q "$pg_url" -c "DROP DATABASE $db" >/dev/null
        copy_s=$(time_copy "$file" "${db}_copy")
        psql -q "$pg_url" -c "DROP DATABASE ${db}_copy" >/dev/null
        pg_rate=$(rate "$n" "$pg_s")
        copy_rate=$(rate "$n" "$copy_s")
        ratio=$(printf '%.2f' "$(echo "$pg_rate / $copy_rate" | bc -l)")
        echo "| $n | $sqlite_rate | $pg_rate | $copy_rate | $ratio |"
    else
        echo "| $n | $sqlite_rate | – | – | – |"
    fi
done
