#!/usr/bin/env bash
# CTest label "prometheus": a real Prometheus server (Debian's package) scrapes a running headless
# Vigil once a second while the simulator sends 3000 events/min, and the original Vigil's PromQL
# queries are evaluated through Prometheus's HTTP API (/api/v1/query). Each must return a
# non-empty, plausible result. Everything runs on loopback with free ports and temporary
# directories, so a system Prometheus on :9090 is neither used nor disturbed.
# Exit 77 (skipped) only when prometheus is not installed.
set -euo pipefail
VIGIL="$1"
RATE_PER_MIN=3000
DEADLINE_S=80 # for a full minute of load to be scraped; the whole test takes about 70 s

PROMETHEUS=$(command -v prometheus || true)
if [[ -z "$PROMETHEUS" ]]; then
    echo "SKIP: prometheus is not installed (Debian package 'prometheus')"
    exit 77
fi
for tool in curl jq awk; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool is needed"; exit 1; }
done

work=$(mktemp -d)
vigil_pid=""
prom_pid=""
stop_pid() { # pid: TERM, up to 10 s, then KILL
    local pid=$1
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    stop_pid "$prom_pid"
    stop_pid "$vigil_pid"
    rm -rf "$work"
}
trap cleanup EXIT
unset DISPLAY WAYLAND_DISPLAY QT_QPA_PLATFORM

fail() {
    echo "FAIL: $*"
    echo "--- vigil stderr (tail)"; tail -n 20 "$work/vigil.err" 2>/dev/null || true
    echo "--- prometheus log (tail)"; tail -n 20 "$work/prometheus.log" 2>/dev/null || true
    exit 1
}

# A port nothing listens on (bash's /dev/tcp connect fails). Prometheus cannot report the port it
# got for :0, so we pick one; a start that still loses the race is retried with another.
free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# 1. Vigil on a free port (--port 0; the banner names the URL).
"$VIGIL" --headless --port 0 --db "$work/vigil.db" --log-file none >"$work/vigil.out" 2>"$work/vigil.err" &
vigil_pid=$!
url=""
for _ in $(seq 1 100); do
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/vigil.out" | head -1 || true)
    [[ -n "$url" ]] && break
    kill -0 "$vigil_pid" 2>/dev/null || fail "vigil exited at start-up"
    sleep 0.1
done
[[ -n "$url" ]] || fail "vigil did not print its URL"
vigil_port=${url##*:}

# 2. Prometheus: loopback only, 1 s scrapes, temporary TSDB.
prom_url=""
for attempt in 1 2 3; do
    prom_port=$(free_port) || fail "no free port for prometheus"
    cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: vigil
    static_configs:
      - targets: ['127.0.0.1:$vigil_port']
EOF
    rm -rf "$work/tsdb"
    "$PROMETHEUS" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
        --web.listen-address="127.0.0.1:$prom_port" --storage.tsdb.retention.time=1h --log.level=warn \
        >"$work/prometheus.log" 2>&1 &
    prom_pid=$!
    for _ in $(seq 1 150); do
        if curl -sf "http://127.0.0.1:$prom_port/-/ready" >/dev/null 2>&1; then
            prom_url="http://127.0.0.1:$prom_port"
            break
        fi
        kill -0 "$prom_pid" 2>/dev/null || break
        sleep 0.2
    done
    [[ -n "$prom_url" ]] && break
    stop_pid "$prom_pid"
    prom_pid=""
    echo "prometheus did not start on port $prom_port (attempt $attempt)"
done
[[ -n "$prom_url" ]] || fail "prometheus did not become ready"
echo "vigil $url, prometheus $prom_url ($("$PROMETHEUS" --version 2>&1 | head -1))"

# 3. Load: the simulator at 3000 events/min (50/s), steady.
code=$(curl -s -o "$work/start.json" -w '%{http_code}' -X POST \
    "$url/api/v1/ui/simulator/start?rate=$RATE_PER_MIN&mode=steady&seed=5")
[[ "$code" == 200 ]] || fail "simulator start answered $code: $(cat "$work/start.json")"

# 4. Prometheus sees the target up.
health=""
for _ in $(seq 1 100); do
    health=$(curl -sf "$prom_url/api/v1/targets" | jq -r '.data.activeTargets[0].health // empty' || true)
    [[ "$health" == up ]] && break
    sleep 0.2
done
[[ "$health" == up ]] || fail "prometheus does not scrape vigil (target health '$health')"

# 5. The original's queries, evaluated by Prometheus.
query() { curl -sf -G --data-urlencode "query=$1" "$prom_url/api/v1/query" || echo '{}'; }
# v lo hi: lo < v < hi, v a finite number
between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v ~ /^[0-9.eE+-]+$/ && v + 0 > lo && v + 0 < hi) }'; }
evaluate() {
    ingest=$(query 'rate(ingest_total[1m])' | jq -r '.data.result[0].value[1] // empty')
    queue=$(query 'queue_length' | jq -r '.data.result[0].value[1] // empty')
    tasks_json=$(query 'rate(worker_tasks_total[1m])')
    tasks_series=$(jq -r '.data.result | length' <<<"$tasks_json" 2>/dev/null || echo 0)
    tasks=$(jq -r '[.data.result[].value[1] | select(. != "NaN") | tonumber] | if length == 0 then "" else add end' \
        <<<"$tasks_json" 2>/dev/null || true)
    p95=$(query 'histogram_quantile(0.95, rate(request_latency_seconds_bucket[1m]))' |
        jq -r '.data.result[] | select(.metric.endpoint == "/api/v1/ingest") | .value[1]' 2>/dev/null || true)
    p95_literal=$(query 'histogram_quantile(0.95, request_latency_seconds_bucket)' |
        jq -r '.data.result[] | select(.metric.endpoint == "/api/v1/ingest") | .value[1]' 2>/dev/null || true)
    actions=$(query 'rate(actions_total[1m])' | jq -r '.data.result[0].value[1] // empty')
}

rate_per_s=$(awk -v r=$RATE_PER_MIN 'BEGIN { print r / 60 }')
ingest_lo=$(awk -v r="$rate_per_s" 'BEGIN { print r * 0.8 }')
ingest_hi=$(awk -v r="$rate_per_s" 'BEGIN { print r * 1.25 }')
tasks_hi=$(awk -v r="$rate_per_s" 'BEGIN { print r * 2.5 }') # events plus action attempts
start=$SECONDS

# 5a. Every query answers with data as soon as a few scrapes are in.
nonempty=0
while ((SECONDS - start < 30)); do
    evaluate
    if [[ -n "$ingest" && -n "$queue" && -n "$tasks" && -n "$p95" && -n "$p95_literal" && -n "$actions" ]]; then
        nonempty=1
        break
    fi
    sleep 1
done
((nonempty)) || fail "a query stayed empty for 30 s: ingest='$ingest' queue='$queue' tasks='$tasks' p95='$p95' p95_literal='$p95_literal' actions='$actions'"
echo "all six queries non-empty after $((SECONDS - start)) s"

# 5b. rate(x[1m]) divides by the whole minute, so it equals the true rate only once the whole minute
# before the query was scraped under load. The simulator started before the first scrape, so wait
# until Prometheus holds samples older than a minute.
covered=""
while ((SECONDS - start < DEADLINE_S)); do
    covered=$(query 'count_over_time(ingest_total[70s]) > count_over_time(ingest_total[1m])' |
        jq -r '.data.result | length')
    [[ "$covered" == 1 ]] && break
    sleep 1
done
[[ "$covered" == 1 ]] || fail "prometheus did not collect a full minute of load within ${DEADLINE_S} s"

# 5c. Plausible values (a few evaluations, in case one lands on a scrape being written).
ok=0
for _ in 1 2 3 4 5; do
    evaluate
    if between "$ingest" "$ingest_lo" "$ingest_hi" &&
        between "$queue" -1 3000 &&
        between "$tasks" "$ingest_lo" "$tasks_hi" &&
        ((tasks_series >= 1)) &&
        between "$p95" 0 1 &&
        between "$p95_literal" 0 1 &&
        between "$actions" 0 "$ingest"; then
        ok=1
        break
    fi
    sleep 1
done

printf '%-70s %s\n' "query (after $((SECONDS - start)) s of scraping, simulator at $rate_per_s events/s)" "result" \
    "rate(ingest_total[1m])" "${ingest:-<empty>} /s (plausible: $ingest_lo..$ingest_hi)" \
    "queue_length" "${queue:-<empty>} (plausible: 0..3000)" \
    "rate(worker_tasks_total[1m])" "${tasks:-<empty>} /s summed over $tasks_series series ($ingest_lo..$tasks_hi)" \
    "histogram_quantile(0.95, rate(request_latency_seconds_bucket[1m]))" "${p95:-<empty>} s for /api/v1/ingest (0..1)" \
    "histogram_quantile(0.95, request_latency_seconds_bucket)" "${p95_literal:-<empty>} s for /api/v1/ingest (0..1)" \
    "rate(actions_total[1m])" "${actions:-<empty>} /s (0..ingest rate)"
((ok)) || fail "PromQL results not plausible"

# The simulator agrees that it was sending at the configured rate, so the comparison above is fair.
sim_rate=$(curl -sf "$url/api/v1/ui/simulator/status" | jq -r '.simulator.metrics.actual_rate')
between "$sim_rate" $((RATE_PER_MIN / 2)) $((RATE_PER_MIN * 2)) || fail "simulator actual_rate $sim_rate /min"
curl -sf -X POST "$url/api/v1/ui/simulator/stop" >/dev/null || fail "simulator stop"
echo "prometheus: ok (simulator actual_rate $sim_rate /min)"
