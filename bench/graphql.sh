#!/usr/bin/env bash
# GraphQL bench: Maillage (release) against PostGraphile v5 on one PostgreSQL database, in one run (issue #16).
#
# Creates a database, generates national-scale data and loads it through Maillage's own import path (sites:
# `maillage import`; structures, counsellors: `maillage counsellors import`; Aidants Connect organisations:
# `maillage aidants import`; site assignments: the `setCounsellorAssignments` mutation), starts both engines on it
# with the same pool size and TLS setting, checks that both answer every shape with the same data
# (bench/shapes.py), then drives them alternately with wrk and prints req/s, p50, p99 and the ratio per shape and
# number of connections, the pgbench limit of a hand-written SQL statement returning Q1's rows, and Maillage's RSS
# idle, under 64 connections on Q5, and after.
#
# Usage:
#   bench/graphql.sh            full run on PostgreSQL (100 000 sites; about 10 minutes of load plus the import)
#   bench/graphql.sh --check    small database (2 000 sites), only checks that both engines return the same data
#   bench/graphql.sh --sqlite   the same shapes on the embedded SQLite default, Maillage only
#   bench/graphql.sh --prepare  the full-size database and the data check, no load (then BENCH_REUSE=1 reuses it)
#   bench/graphql.sh --memory   Maillage's RSS idle, under 64 connections on Q5 (peak) and 10 s and 30 s after
# Environment (all optional):
#   BENCH_PG_URL      PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres)
#   BENCH_SITES       sites to generate (default 100000; 2000 with --check)
#   BENCH_COUNSELLORS counsellors to generate (default 4000; 200 with --check)
#   BENCH_DURATION    seconds of each wrk run (default 10)
#   BENCH_CONNECTIONS wrk connection counts (default "32 64")
#   BENCH_ROUNDS      times each engine is driven per shape and connection count, alternating (default 3)
#   BENCH_SHAPES      shapes to drive (default all: "Q1 Q2 Q3 Q4 Q5 Q6")
#   BENCH_POOL        database pool size of both engines (default 10)
#   BENCH_REUSE=1     keep the bench database if it already holds the data (skips generation and import)
#   BENCH_BIN         the maillage binary (default target/release/maillage, built if missing)
#   BENCH_DIR         work directory (default a temporary one)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mode=full
backend=postgres
for arg in "$@"; do
    case $arg in
        --check) mode=check ;;
        --prepare) mode=prepare ;;
        --memory) mode=memory ;;
        --sqlite) backend=sqlite ;;
        *) sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//' | head -n -1 >&2; exit 2 ;;
    esac
done
if [ $mode = check ]; then
    sites=${BENCH_SITES:-2000}
    counsellors=${BENCH_COUNSELLORS:-200}
else
    sites=${BENCH_SITES:-100000}
    counsellors=${BENCH_COUNSELLORS:-4000}
fi
duration=${BENCH_DURATION:-10}
read -r -a conns <<<"${BENCH_CONNECTIONS:-32 64}"
rounds=${BENCH_ROUNDS:-3}
read -r -a shapes <<<"${BENCH_SHAPES:-Q1 Q2 Q3 Q4 Q5 Q6}"
pool=${BENCH_POOL:-10}
pg_server=${BENCH_PG_URL-postgres://postgres@127.0.0.1:5432/postgres}
bin=${BENCH_BIN:-$root/target/release/maillage}
work=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
mport=18080
gport=15678
db=maillage_bench_graphql
[ $mode = check ] && db=maillage_bench_graphql_check
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# Tools: wrk from Debian (installed when missing), PostGraphile 5 and Node 22 from npm under bench/.node.
if [ $mode = full ] && ! command -v wrk >/dev/null; then
    log "installing wrk (Debian package)…"
    apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
fi
node_dir=$root/bench/.node
if [ $backend = postgres ] && [ ! -x "$node_dir/node_modules/.bin/postgraphile" ]; then
    log "installing PostGraphile 5.1.5 and Node 22 from npm into bench/.node…"
    mkdir -p "$node_dir"
    (cd "$node_dir" && { [ -f package.json ] || echo '{"private": true}' >package.json; } &&
        npm install --no-audit --no-fund --silent node@22 postgraphile@5.1.5 >/dev/null)
fi
if [ ! -x "$bin" ]; then
    log "building the release binary…"
    (cd "$root" && cargo build --release --quiet -p maillage-server)
fi
bin=$(realpath "$bin")
export PGOPTIONS="-c client_min_messages=warning"

# Both engines talk to PostgreSQL without TLS (PostGraphile's driver does not use it by default; Maillage's
# sslmode=prefer would), through a pool of $pool connections.
pg_db_url() {
    python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2], query="sslmode=disable")))' "$pg_server" "$1"
}
if [ $backend = postgres ]; then
    db_url=$(pg_db_url "$db")
else
    db_url="sqlite://$work/$db.db?mode=rwc"
fi
export DATABASE_URL=$db_url MAILLAGE_LOG=warn

# Rows in a table of the bench database (0 when it does not exist).
count_rows() {
    if [ $backend = postgres ]; then
        psql -Atq "$db_url" -c "SELECT count(*) FROM $1" 2>/dev/null || echo 0
    else
        python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(f"SELECT count(*) FROM {sys.argv[2]}").fetchone()[0])' "$work/$db.db" "$1" 2>/dev/null || echo 0
    fi
}
# Departments the bench's sites cover, on either backend.
count_departments() {
    if [ $backend = postgres ]; then
        psql -Atq "$db_url" -c 'SELECT count(DISTINCT department_code) FROM site' 2>/dev/null || echo '?'
    else
        python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(DISTINCT department_code) FROM site").fetchone()[0])' "$work/$db.db" 2>/dev/null || echo '?'
    fi
}
has_data() { [ "$(count_rows site)" -ge "$sites" ] && [ "$(count_rows counsellor)" -ge "$counsellors" ]; }

serve_maillage() {
    # No rate limit or cost budget (one client address sends everything), and requests wait for a connection as
    # long as PostGraphile's do (node-postgres waits without a limit) rather than the default 2 s.
    MAILLAGE_LISTEN=127.0.0.1:$mport MAILLAGE_DB_MAX_CONNECTIONS=$pool MAILLAGE_RATE_LIMIT_PER_MINUTE=0 \
        MAILLAGE_DB_ACQUIRE_TIMEOUT_MS=30000 \
        MAILLAGE_COST_BUDGET=0 MAILLAGE_WEBHOOKS=false MAILLAGE_ATTACHMENTS_DIR=$work/attachments \
        MAILLAGE_IMPORTS_DIR=$work/imports "$bin" serve >"$work/maillage.log" 2>&1 &
    mpid=$!
    pids+=("$mpid")
    for _ in $(seq 1 120); do
        curl -sf "127.0.0.1:$mport/readyz" >/dev/null && return 0
        sleep 0.5
    done
    log "Maillage did not start:"; cat "$work/maillage.log" >&2; exit 1
}

if [ "${BENCH_REUSE:-0}" = 1 ] && has_data; then
    log "reusing $db ($(python3 -c 'import sys; print(sys.argv[1].split("?")[0])' "$db_url"))"
else
    if [ $backend = postgres ]; then
        psql -q -v ON_ERROR_STOP=1 "$pg_server" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    else
        rm -f "$work/$db.db"*
    fi
    log "generating $sites sites over every department and $counsellors counsellors…"
    python3 "$root/bench/gen_v1.py" "$sites" --national >"$work/sites.csv"
    python3 "$root/bench/gen_counsellors.py" "$work" "$counsellors"
    "$bin" migrate up >/dev/null
    log "importing the sites through maillage import…"
    (cd "$work" && "$bin" import sites.csv --source bench --report "$work/report.csv" | grep -E 'stored|rejected:') >&2
    (cd "$work" && "$bin" counsellors import structures structures.csv | grep -E 'changes|rejected') >&2
    (cd "$work" && "$bin" counsellors import counsellors counsellors.csv | grep -E 'changes|rejected') >&2
    (cd "$work" && "$bin" aidants import organisations organisations.csv | grep -E 'changes|rejected') >&2
fi
serve_maillage
if [ "$(count_rows counsellor_assignment)" = 0 ]; then
    token=$("$bin" token create --role admin --name bench | tail -1)
    python3 "$root/bench/assign.py" "http://127.0.0.1:$mport/graphql" "$token" >&2
fi
if [ $backend = postgres ]; then
    # As autovacuum would after a large import, so that both engines get real plans.
    psql -q "$db_url" -c "VACUUM ANALYZE" >/dev/null
fi

rss_mb() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
if [ $mode = memory ]; then
    python3 "$root/bench/shapes.py" body maillage Q5 >"$work/m-Q5.json"
    printf '%s\n' 'wrk.method = "POST"' 'wrk.headers["Content-Type"] = "application/json"' \
        "local f = io.open(\"$work/m-Q5.json\", \"r\")" 'wrk.body = f:read("*a")' 'f:close()' >"$work/post.lua"
    curl -sf -X POST -H 'content-type: application/json' -d @"$work/m-Q5.json" "127.0.0.1:$mport/graphql" >/dev/null
    idle=$(rss_mb "$mpid")
    (peak=0; while kill -0 "$mpid" 2>/dev/null; do r=$(rss_mb "$mpid"); [ "$r" -gt "$peak" ] && peak=$r && echo "$peak" >"$work/peak"; sleep 0.2; done) &
    sampler=$!
    wrk -t2 -c64 -d"${duration}s" --timeout 30s --latency -s "$work/post.lua" "http://127.0.0.1:$mport/graphql" >"$work/wrk.out" 2>&1
    end=$(rss_mb "$mpid")
    sleep 10
    after10=$(rss_mb "$mpid")
    sleep 20
    after30=$(rss_mb "$mpid")
    kill "$sampler" 2>/dev/null || true
    echo "Maillage RSS ($bin), Q5 under 64 connections for ${duration} s: idle ${idle} MB (after one Q5)," \
        "peak $(cat "$work/peak") MB, at the end ${end} MB, 10 s later ${after10} MB, 30 s later ${after30} MB;" \
        "$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out") req/s $(awk '/Non-2xx/ {print "(" $NF " errors)"}' "$work/wrk.out");" \
        "load average $(cut -d' ' -f1-3 /proc/loadavg)"
    exit 0
fi

gurl=""
if [ $backend = postgres ]; then
    # PostGraphile 5 (amber preset) introspecting Maillage's tables: order and conditions on every column (the
    # shapes filter on archived_at and merged_into as Maillage does), and the assignment's site as a relation
    # (Maillage's schema has no foreign key there: the site belongs to another domain).
    cat >"$node_dir/graphile.config.mjs" <<'EOF'
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { jsonPgSmartTags } from "postgraphile/utils";
export default {
  extends: [PostGraphileAmberPreset],
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  plugins: [jsonPgSmartTags({ version: 1, config: { class: { counsellor_assignment: {
    tags: { foreignKey: "(site_id) references site (id)" } } } } })],
  pgServices: [makePgService({ connectionString: process.env.BENCH_PG, schemas: ["public"],
    poolConfig: { max: Number(process.env.BENCH_POOL) } })],
  grafserv: { port: Number(process.env.BENCH_PORT), host: "127.0.0.1" },
};
EOF
    (cd "$node_dir" && BENCH_PG=$db_url BENCH_POOL=$pool BENCH_PORT=$gport NODE_ENV=production \
        exec node_modules/.bin/node node_modules/.bin/postgraphile -C graphile.config.mjs >"$work/postgraphile.log" 2>&1) &
    gpid=$!
    pids+=("$gpid")
    for _ in $(seq 1 120); do
        grep -q 'listening' "$work/postgraphile.log" 2>/dev/null && break
        sleep 0.5
    done
    gurl="http://127.0.0.1:$gport/graphql"
fi

log "checking that both engines return the same data…"
python3 "$root/bench/shapes.py" check "http://127.0.0.1:$mport/graphql" $gurl
[ $mode != full ] && exit 0


# CPU time (clock ticks, user + system) of a process, and of every PostgreSQL process together: both engines keep
# their pool's connections for the whole run, so the backends that serve a run are alive at both readings.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_ticks() {
    local t=0 p
    for p in $(pgrep -x postgres); do t=$((t + $(cpu_ticks "$p"))); done
    echo "$t"
}

# One wrk run against the engine of process `pid`: prints "req/s p50_ms p99_ms errors engine_cpu_ms pg_cpu_ms", the
# last two per request (the engine's own CPU, and PostgreSQL's for it).
run_wrk() {
    local url=$1 body_file=$2 c=$3 pid=$4
    cat >"$work/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$body_file", "r")
wrk.body = f:read("*a")
f:close()
EOF
    local e0 p0
    e0=$(cpu_ticks "$pid") p0=$(pg_ticks)
    wrk -t2 -c"$c" -d"${duration}s" --timeout 30s --latency -s "$work/post.lua" "$url" >"$work/wrk.out" 2>&1
    echo "$(($(cpu_ticks "$pid") - e0)) $(($(pg_ticks) - p0)) $(getconf CLK_TCK)" >"$work/cpu.out"
    python3 - "$work/wrk.out" "$work/cpu.out" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
def ms(label):
    m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
    if not m:
        return float("nan")
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
errors = re.search(r"Socket errors: (.*)", t)
done = re.search(r"(\d+) requests in", t)
engine, pg, tick = (int(x) for x in open(sys.argv[2]).read().split())
per = lambda ticks: ticks * 1000 / tick / max(int(done.group(1)) if done else 0, 1)
print(f"{float(rps.group(1)) if rps else 0:.0f} {ms('50'):.1f} {ms('99'):.1f} {bad.group(1) if bad else 0}"
      f" {per(engine):.2f} {per(pg):.2f}{' socket-errors' if errors else ''}")
EOF
}

median() { python3 -c 'import sys, statistics; v = [float(x) for x in sys.argv[1:]]; print(f"{statistics.median(v):.1f}")' "$@"; }
# The median with two decimals below 10 (CPU per request and short latencies), one above.
median2() { python3 -c 'import sys, statistics; m = statistics.median(float(x) for x in sys.argv[1:]); print(f"{m:.2f}" if m < 10 else f"{m:.1f}")' "$@"; }

echo
echo "## GraphQL bench, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$root" rev-parse --short HEAD)"
echo
echo "- data: $sites sites over $(count_departments) departments, $counsellors counsellors; backend $backend"
echo "- both engines: pool of $pool connections, sslmode=disable, logs at warn; wrk -t2, ${duration} s per run, ${rounds} alternating rounds, the median shown"
echo "- CPU ms/req: the engine's own CPU time per request + PostgreSQL's (all its processes) per request, from /proc, during the same wrk runs; Node runs PostGraphile on one thread, Maillage on every core"
echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg); Maillage RSS idle: $(rss_mb "$mpid") MB"
echo
if [ $backend = postgres ]; then
    echo "| shape | conns | Maillage req/s | p50 ms | p99 ms | CPU ms/req | PostGraphile req/s | p50 ms | p99 ms | CPU ms/req | ratio |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
else
    echo "| shape | conns | Maillage req/s | p50 ms | p99 ms | CPU ms/req |"
    echo "|---|---:|---:|---:|---:|---:|"
fi
peak_q5=0
for shape in "${shapes[@]}"; do
    python3 "$root/bench/shapes.py" body maillage "$shape" >"$work/m-$shape.json"
    g_has=0
    if [ -n "$gurl" ] && python3 "$root/bench/shapes.py" has postgraphile "$shape"; then
        python3 "$root/bench/shapes.py" body postgraphile "$shape" >"$work/g-$shape.json"
        g_has=1
    fi
    for c in "${conns[@]}"; do
        m_rps=() m_p50=() m_p99=() g_rps=() g_p50=() g_p99=() m_bad=0 g_bad=0
        m_cpu=() m_pg=() g_cpu=() g_pg=()
        for _ in $(seq 1 "$rounds"); do
            sampler=""
            if [ "$shape" = Q5 ]; then
                (peak=0; while kill -0 "$mpid" 2>/dev/null; do r=$(rss_mb "$mpid"); [ "$r" -gt "$peak" ] && peak=$r && echo "$peak" >"$work/peak"; sleep 0.2; done) &
                sampler=$!
            fi
            read -r r p50 p99 bad ecpu pcpu _ < <(run_wrk "http://127.0.0.1:$mport/graphql" "$work/m-$shape.json" "$c" "$mpid")
            [ -n "$sampler" ] && kill "$sampler" 2>/dev/null && wait "$sampler" 2>/dev/null || true
            if [ "$shape" = Q5 ] && [ -f "$work/peak" ] && [ "$(cat "$work/peak")" -gt "$peak_q5" ]; then
                peak_q5=$(cat "$work/peak")
            fi
            m_rps+=("$r") m_p50+=("$p50") m_p99+=("$p99") m_cpu+=("$ecpu") m_pg+=("$pcpu")
            m_bad=$((m_bad + bad))
            if [ $g_has = 1 ]; then
                read -r r p50 p99 bad ecpu pcpu _ < <(run_wrk "$gurl" "$work/g-$shape.json" "$c" "$gpid")
                g_rps+=("$r") g_p50+=("$p50") g_p99+=("$p99") g_cpu+=("$ecpu") g_pg+=("$pcpu")
                g_bad=$((g_bad + bad))
            fi
        done
        mr=$(median "${m_rps[@]}")
        line="| $shape $(python3 "$root/bench/shapes.py" what "$shape") | $c | $mr | $(median "${m_p50[@]}") | $(median "${m_p99[@]}") | $(median2 "${m_cpu[@]}") + $(median2 "${m_pg[@]}")"
        [ $m_bad -gt 0 ] && line="$line ($m_bad errors)"
        if [ $backend = postgres ]; then
            if [ $g_has = 1 ]; then
                gr=$(median "${g_rps[@]}")
                ratio=$(python3 -c "import sys; print(f'{float(sys.argv[1]) / max(float(sys.argv[2]), 1e-9):.2f}')" "$mr" "$gr")
                line="$line | $gr | $(median "${g_p50[@]}") | $(median "${g_p99[@]}") | $(median2 "${g_cpu[@]}") + $(median2 "${g_pg[@]}")"
                [ $g_bad -gt 0 ] && line="$line ($g_bad errors)"
                line="$line | $ratio |"
            else
                line="$line | – | – | – | – | – |"
            fi
        else
            line="$line |"
        fi
        echo "$line"
    done
done
echo
echo "- Maillage RSS: idle $(rss_mb "$mpid") MB after the runs; peak during Q5 at ${conns[-1]} connections: ${peak_q5} MB"
if [ -n "$gurl" ]; then
    echo "- PostGraphile (Node) RSS after the runs: $(rss_mb "$gpid") MB"
fi
echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ $backend = postgres ]; then
    # The limit: PostgreSQL alone serving Q1's rows (50 sites with department and region names, Maillage's order
    # and conditions), prepared, with as many clients as wrk's connections.
    cat >"$work/q1.sql" <<'EOF'
SELECT s.source_id, s.name, s.commune, s.postal_code, d.code, d.name, r.name
FROM site s JOIN department d ON d.code = s.department_code JOIN region r ON r.code = d.region_code
WHERE s.archived_at IS NULL AND s.merged_into IS NULL
ORDER BY s.sort_name, s.id LIMIT 50;
EOF
    echo
    echo "| pgbench, Q1's rows in one hand-written statement | clients | statements/s |"
    echo "|---|---:|---:|"
    for c in "${conns[@]}"; do
        tps=$(pgbench -n -M prepared -j2 -c"$c" -T"$duration" -f "$work/q1.sql" "$db_url" 2>/dev/null |
            awk '/^tps/ {printf "%.0f", $3}')
        echo "| -M prepared -j2 | $c | $tps |"
    done
fi
