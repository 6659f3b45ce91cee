#!/usr/bin/env bash
# CI's short Locust run: a fresh `vigil --headless` on a free loopback port and a temporary database, all three
# user classes headless for a bounded time, then the failure ratio is asserted (≤ 1 %; 400s for malformed requests
# and 429/503 with Retry-After are expected answers, not failures), a minimum request count, every user class seen,
# and server-side: no 500 except injected faults, and every 202 stored.
#   tests/load/locust_ci.sh path/to/vigil [seconds]        (default 20 s, 6 users)
# Exits 77 (skipped) when locust is missing; scripts/deps.sh --test installs python3-locust.
set -euo pipefail
VIGIL="$1"
seconds="${2:-20}"
here="$(cd "$(dirname "$0")" && pwd)"
command -v locust >/dev/null || { echo "locust missing (scripts/deps.sh --test installs python3-locust)"; exit 77; }
work=$(mktemp -d)
pid=""
trap '[[ -n "$pid" ]] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
unset DISPLAY WAYLAND_DISPLAY QT_QPA_PLATFORM

# All users share one address (127.0.0.1), so they share its rate-limit buckets; BurstUser's back-to-back bursts
# could meet the default ingest limit (50/s, burst 100) on a slow runner. The limits are tst_limits' subject: off here,
# so the run measures the script and the server's answers, not the bucket.
"$VIGIL" --headless --port 0 --db "$work/v.db" --log-file none \
    --rate-limit-ingest 0 --rate-limit-query 0 --rate-limit-control 0 >"$work/out" 2>"$work/err" &
pid=$!
url=""
for _ in $(seq 1 100); do
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/out" | head -1 || true)
    [[ -n "$url" ]] && break
    sleep 0.1
done
[[ -n "$url" ]] || { echo "server did not start"; cat "$work/err"; exit 1; }

# Locust exits 1 when any request failed; the ratio below is the assertion, so its exit code is not.
timeout $((seconds + 60)) locust -f "$here/locustfile.py" --host "$url" --headless --users 6 --spawn-rate 3 \
    --run-time "${seconds}s" --stop-timeout 5 --csv "$work/locust" --only-summary --loglevel WARNING \
    >"$work/locust.out" 2>&1 || true
curl -sf "$url/metrics" >"$work/metrics"
kill -TERM $pid
wait $pid
pid=""

python3 - "$work/locust_stats.csv" "$work/metrics" "$work/v.db" <<'PY'
import csv, re, sqlite3, sys
stats, metrics, db = sys.argv[1:4]
rows = {r["Name"]: r for r in csv.DictReader(open(stats))}
agg = rows["Aggregated"]
total, failed = int(agg["Request Count"]), int(agg["Failure Count"])
print(f"locust: {total} requests, {failed} failed ({100 * failed / max(total, 1):.2f} %), "
      f"median {agg['Median Response Time']} ms, p95 {agg['95%']} ms")
for name in sorted(rows):
    print(f"  {name}: {rows[name]['Request Count']} requests, {rows[name]['Failure Count']} failed")
problems = []
if total < 100:
    problems.append(f"only {total} requests in the run")
if failed > 0.01 * total:
    problems.append(f"failure ratio {failed}/{total} above 1 %")
for needed in ("/api/v1/ingest", "/api/v1/ingest [burst]", "malformed: invalid JSON"):
    if needed not in rows:
        problems.append(f"no '{needed}' requests: a user class did not run")
text = open(metrics).read()
def series(code):
    return sum(float(m) for m in re.findall(
        r'^http_requests_total\{method="POST",endpoint="/api/v1/ingest",code="%d"\} (\S+)$' % code, text, re.M))
injected = sum(float(m) for m in re.findall(r'^ingest_rejected_total\{reason="injected_fault"\} (\S+)$', text, re.M))
if series(500) != injected:
    problems.append(f"{series(500) - injected:.0f} real 500 answers")
if series(400) == 0:
    problems.append("the server saw no 400: malformed requests did not arrive")
stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM events").fetchone()[0]
if stored != series(202):
    problems.append(f"{series(202):.0f} answered 202 but {stored} events stored")
print(f"server: 202={series(202):.0f} stored={stored} 400={series(400):.0f} injected500={injected:.0f}")
for p in problems:
    print("FAIL:", p)
sys.exit(1 if problems else 0)
PY
