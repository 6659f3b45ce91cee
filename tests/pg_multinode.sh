#!/usr/bin/env bash
# Two real `vigil --headless` nodes on one PostgreSQL database share the queue; one is SIGKILLed
# mid-load. Proves: every acknowledged event is stored exactly once, every one is processed, each
# action exists once per event x policy and succeeded exactly once, the dead node's leases were
# rescued by the survivor, the audit chain written by both nodes verifies, and the database
# password appears in no output or log.
#
# Needs VIGIL_TEST_PG_URL (postgresql://user:password@host:port/db of a server where that user may
# CREATE DATABASE); scripts/test.sh starts a throwaway server. Without it: skipped (exit 77).
set -euo pipefail
VIGIL="$1"
HERE="$(cd "$(dirname "$0")" && pwd)"
EVENTS=${PG_MULTINODE_EVENTS:-20000}
KILL_AFTER=$((EVENTS * 2 / 5))
LEASE=3

if [[ -z "${VIGIL_TEST_PG_URL:-}" ]]; then
    echo "SKIPPED: VIGIL_TEST_PG_URL is not set (no PostgreSQL server to test against; scripts/test.sh starts one)"
    exit 77
fi
for tool in psql python3 curl; do
    command -v "$tool" >/dev/null || { echo "$tool is missing (scripts/deps.sh --test installs it)"; exit 1; }
done
unset DISPLAY WAYLAND_DISPLAY QT_QPA_PLATFORM

work=$(mktemp -d)
db="vigil_mn_$$"
base="${VIGIL_TEST_PG_URL%%\?*}"
url="${base%/*}/$db"
password=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.urlsplit(sys.argv[1]).password or "")' "$base")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    psql "$base" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    if [[ -n "${PG_MULTINODE_KEEP:-}" ]]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    for n in node-a node-b; do
        echo "--- $n stderr (last lines)"; tail -n 20 "$work/$n.err" 2>/dev/null || true
    done
    exit 1
}
sql() { psql "$url" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }

psql "$base" -qAtc "CREATE DATABASE $db" >/dev/null

start_node() { # name -> sets node_url, node_pid
    local name=$1
    # The client sends as fast as it can from one address: the per-address ingest limit is off.
    "$VIGIL" --headless --port 0 --db "$url" --node-id "$name" --workers 2 --lease-seconds "$LEASE" \
        --rate-limit-ingest 0 \
        --remediator-latency-ms 100 --remediator-failure-rate 0.02 --remediator-timeout-ms 1000 \
        --retry-base 0.1 --retry-cap 0.5 --log-format json --log-file "$work/$name.log" \
        >"$work/$name.out" 2>"$work/$name.err" &
    node_pid=$!
    pids+=("$node_pid")
    node_url=""
    for _ in $(seq 1 300); do
        node_url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/$name.out" | head -1 || true)
        [[ -n "$node_url" ]] && return 0
        kill -0 "$node_pid" 2>/dev/null || break
        sleep 0.1
    done
    fail "$name did not start"
}
start_node node-a
a_url=$node_url a_pid=$node_pid
start_node node-b
b_url=$node_url b_pid=$node_pid
echo "node-a $a_url (pid $a_pid), node-b $b_url (pid $b_pid), database $db"

# The load, spread over both nodes; node-a is killed after 40 % were acknowledged, and the tasks it
# held at that moment are written down at once (nobody else may touch them before they expire).
python3 "$HERE/pg_client.py" --targets "$a_url,$b_url" --events "$EVENTS" --concurrency 8 \
    --out "$work/acks.tsv" --kill-pid "$a_pid" --kill-after "$KILL_AFTER" \
    --after-kill "psql '$url' -qAtX -c \"SELECT id FROM tasks WHERE status='leased' AND leased_by LIKE 'node-a/%'\" >'$work/killed-leases'" \
    || fail "the client did not get every event acknowledged"
wait "$a_pid" 2>/dev/null || true
killed=$(wc -l <"$work/killed-leases")
echo "node-a held $killed leases when it was killed"
((killed > 0)) || fail "node-a held no leases when it was killed: nothing to prove the rescue with"

# Drain: every task done (bounded).
for _ in $(seq 1 240); do
    open=$(sql "SELECT count(*) FROM tasks WHERE status IN ('ready','leased')")
    [[ "$open" == 0 ]] && break
    sleep 0.5
done
[[ "$open" == 0 ]] || fail "$open tasks still open after 120 s"

# 1. Every acknowledged event is stored exactly once, under the id it was answered with.
sql "CREATE TABLE acks (key TEXT, id BIGINT, status INT)"
psql "$url" -qAtX -v ON_ERROR_STOP=1 -c "\\copy acks FROM '$work/acks.tsv'"
acked=$(sql "SELECT count(DISTINCT key) FROM acks")
[[ "$acked" == "$EVENTS" ]] || fail "$acked of $EVENTS events acknowledged"
missing=$(sql "SELECT count(*) FROM acks a LEFT JOIN events e ON e.id = a.id AND e.idempotency_key = a.key WHERE e.id IS NULL")
[[ "$missing" == 0 ]] || fail "$missing acknowledged events are not stored under their id"
split=$(sql "SELECT count(*) FROM (SELECT key FROM acks GROUP BY key HAVING count(DISTINCT id) > 1) s")
[[ "$split" == 0 ]] || fail "$split keys were answered with different ids"
events=$(sql "SELECT count(*) FROM events")
[[ "$events" == "$EVENTS" ]] || fail "$events events stored for $EVENTS keys"

# 2. Every one processed: one task per event, done.
bad=$(sql "SELECT count(*) FROM events e LEFT JOIN tasks t ON t.kind = 'event' AND t.ref_id = e.id
           WHERE t.id IS NULL OR t.status <> 'done'")
[[ "$bad" == 0 ]] || fail "$bad events without a finished task"
dup=$(sql "SELECT count(*) FROM (SELECT ref_id FROM tasks WHERE kind = 'event' GROUP BY ref_id HAVING count(*) > 1) s")
[[ "$dup" == 0 ]] || fail "$dup events have more than one task"

# 3. Actions: one per breaching event (unique event x policy), each succeeded exactly once.
expected=$(sql "SELECT count(*) FROM events WHERE value > 90")
actions=$(sql "SELECT count(*) FROM actions")
[[ "$actions" == "$expected" ]] || fail "$actions actions for $expected breaching events"
[[ $(sql "SELECT count(*) FROM (SELECT 1 FROM actions GROUP BY event_id, policy_id HAVING count(*) > 1) s") == 0 ]] \
    || fail "an event x policy has two actions"
[[ $(sql "SELECT count(*) FROM actions WHERE status <> 'succeeded'") == 0 ]] || fail "actions not succeeded"
twice=$(sql "SELECT count(*) FROM actions a WHERE (SELECT count(*) FROM action_attempts x
             WHERE x.action_id = a.id AND x.outcome = 'success') <> 1")
[[ "$twice" == 0 ]] || fail "$twice actions were not executed exactly once"
# The effect ledger (actions.executions, written before the remediator acts): redeliveries after the
# kill (deliveries > 1) were refused a second effect.
ledger=$(sql "SELECT count(*) FROM actions WHERE executions <> 1")
[[ "$ledger" == 0 ]] || fail "$ledger actions have an effect count other than 1"
redelivered=$(sql "SELECT count(*) FROM actions WHERE deliveries > 1")

# 4. The killed node's leases were rescued by the survivor and finished there.
ids=$(paste -sd, "$work/killed-leases")
left=$(sql "SELECT count(*) FROM tasks WHERE id IN ($ids) AND (status <> 'done' OR attempts < 2)")
[[ "$left" == 0 ]] || fail "$left of node-a's leased tasks were not rescued and finished"
curl -sf "$b_url/metrics" >"$work/b.metrics"
rescued=$(awk '$1 == "queue_rescued_total" {print int($2)}' "$work/b.metrics")
((rescued >= killed)) || fail "node-b counted $rescued rescues for $killed leases"
a_done=$(sql "SELECT count(*) FROM action_attempts WHERE node LIKE 'node-a/%'")
b_done=$(sql "SELECT count(*) FROM action_attempts WHERE node LIKE 'node-b/%'")
((a_done > 0 && b_done > 0)) || fail "both nodes should have processed actions (a $a_done, b $b_done)"

# 5. The audit chain both nodes appended to is one unbroken chain.
curl -sf "$b_url/api/v1/audit/verify" >"$work/verify"
grep -q '"valid":true' "$work/verify" || fail "audit chain: $(cat "$work/verify")"

# 6. The password never reaches a log or the console.
if [[ -n "$password" ]] && grep -qF -- "$password" "$work"/*.out "$work"/*.err "$work"/*.log; then
    fail "the database password appears in a node's output or log"
fi
grep -q 'postgresql://.*:\*\*\*@' "$work/node-b.out" || fail "node-b should name its database (redacted)"

# 7. A clean stop of the survivor.
kill -TERM "$b_pid"
wait "$b_pid" || fail "node-b did not exit cleanly"

echo "OK: $EVENTS events acknowledged over 2 nodes, $actions actions each executed once ($redelivered redelivered)," \
    "$killed leases of the" \
    "killed node rescued (node-b counted $rescued rescues), actions by node-a $a_done / node-b $b_done," \
    "audit $(cat "$work/verify")"
