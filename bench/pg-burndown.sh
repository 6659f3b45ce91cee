#!/usr/bin/env bash
# Burn-down on PostgreSQL with several nodes: pre-insert N event tasks into a fresh database, start
# the nodes together, and measure how fast they drain the queue (tasks/s). The rate comes from the
# database itself: N / (last finished_at - first finished_at), so start-up and polling do not count.
#
#   bench/pg-burndown.sh build/ci/app/vigil [nodes=2] [tasks=100000] [metric=bench_metric]
#
# metric: bench_metric matches no policy (the queue alone); cpu_usage matches the default policy
# (each outcome also reads the policy state under the cross-node lock; values stay below the threshold).
# The server: $VIGIL_TEST_PG_URL, or else a throwaway one started with PostgreSQL's durable defaults
# (fsync on, synchronous_commit on). Loopback only; every process it starts is stopped at the end.
set -euo pipefail
VIGIL=$(realpath "$1")
NODES=${2:-2}
TASKS=${3:-100000}
METRIC=${4:-bench_metric}
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$HERE/.."

stop_server=""
if [[ -z "${VIGIL_TEST_PG_URL:-}" ]]; then
    eval "$("$ROOT/scripts/pg-throwaway.sh" start --durable)"
    stop_server="$VIGIL_TEST_PG_DIR"
fi
work=$(mktemp -d)
db="vigil_bench_$$"
base="${VIGIL_TEST_PG_URL%%\?*}"
url="${base%/*}/$db"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    psql "$base" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
    [[ -n "$stop_server" ]] && "$ROOT/scripts/pg-throwaway.sh" stop "$stop_server"
    true
}
trap cleanup EXIT
sql() { psql "$url" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
psql "$base" -qAtc "CREATE DATABASE $db" >/dev/null

node() { # name
    "$VIGIL" --headless --port 0 --db "$url" --node-id "$1" --log-file none --log-level warning \
        --remediator-latency-ms 1 >"$work/$1.out" 2>"$work/$1.err" &
    pids+=($!)
}
wait_url() {
    for _ in $(seq 1 300); do grep -q 'http://' "$work/$1.out" 2>/dev/null && return 0; sleep 0.1; done
    echo "$1 did not start"; cat "$work/$1.err"; exit 1
}
# One node creates the schema, then stops; the tasks go in with one INSERT … SELECT each.
node setup; wait_url setup
kill -TERM "${pids[0]}"; wait "${pids[0]}" || true; pids=()
now_ms=$(date +%s%3N)
sql "INSERT INTO events (id, metric_name, value, source, ts, received_at)
     SELECT g, '$METRIC', 50, 'bench-' || (g % 1000), $now_ms, $now_ms FROM generate_series(1, $TASKS) g;
     SELECT setval(pg_get_serial_sequence('events', 'id'), $TASKS);
     INSERT INTO tasks (kind, ref_id, status, attempts, max_attempts, run_at, created_at)
     SELECT 'event', g, 'ready', 0, 8, $now_ms, $now_ms FROM generate_series(1, $TASKS) g;
     ANALYZE;"
echo "pre-inserted $TASKS tasks (metric $METRIC); starting $NODES nodes"
t0=$(date +%s%N)
for n in $(seq 1 "$NODES"); do node "node-$n"; done
for _ in $(seq 1 1200); do
    open=$(sql "SELECT count(*) FROM tasks WHERE status <> 'done'")
    [[ "$open" == 0 ]] && break
    sleep 0.1
done
t1=$(date +%s%N)
[[ "$open" == 0 ]] || { echo "not drained after 120 s ($open open)"; exit 1; }
read -r span first_to_last <<<"$(sql "SELECT max(finished_at) - min(finished_at), 0 FROM tasks" | tr '|' ' ')"
per_node=$(sql "SELECT string_agg(n || ' ' || c, ', ' ORDER BY n) FROM (SELECT split_part(leased_by, '/', 1) n, count(*) c FROM tasks GROUP BY 1) s" || true)
pgver=$(sql "SHOW server_version")
settings=$(sql "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync','synchronous_commit','shared_buffers','max_connections')")
wall_ms=$(( (t1 - t0) / 1000000 ))
errors=$(cat "$work"/node-*.err | grep -c 'writer_sql_error' || true)
((errors == 0)) || { echo "the nodes logged $errors SQL errors, e.g.:"; grep -m 3 writer_sql_error "$work"/node-*.err; }
echo "nodes=$NODES tasks=$TASKS metric=$METRIC workers/node=2 claim_batch=64 group_commit<=512 ops"
echo "PostgreSQL $pgver ($settings)"
echo "drain: $TASKS tasks in ${span} ms (first to last finish) = $(( TASKS * 1000 / (span > 0 ? span : 1) )) tasks/s;" \
     "wall clock from node start: ${wall_ms} ms = $(( TASKS * 1000 / (wall_ms > 0 ? wall_ms : 1) )) tasks/s"
