#!/usr/bin/env bash
# Smoke test of the real binary, as CI and a user would run it:
# --version, --help, a headless start on a free port answering /healthz and an ingest,
# a second instance on the same port refused with a clear message, and SIGTERM shutting down cleanly.
set -euo pipefail
VIGIL="$1"
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
unset DISPLAY WAYLAND_DISPLAY QT_QPA_PLATFORM

"$VIGIL" --version | grep -q "vigil-console"
"$VIGIL" --help | grep -q -- "--headless"

"$VIGIL" --headless --port 0 --db "$work/v.db" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 100); do
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/out" | head -1 || true)
    [[ -n "$url" ]] && break
    sleep 0.1
done
[[ -n "$url" ]] || { echo "server did not print its URL"; cat "$work/out" "$work/err"; exit 1; }
curl -sf "$url/healthz" | grep -q '"ok":true'
code=$(curl -s -o "$work/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d '{"metric_name":"cpu_usage","value":42.5,"source":"smoke"}' "$url/api/v1/ingest")
[[ "$code" == 202 ]] || { echo "ingest answered $code: $(cat "$work/body")"; exit 1; }
# Into a file first: with pipefail, "curl | grep -q" fails when grep exits before curl is done.
curl -sf "$url/metrics" >"$work/metrics"
grep -q '^ingest_total 1$' "$work/metrics"
if command -v promtool >/dev/null; then
    promtool check metrics <"$work/metrics"
fi

port=${url##*:}
if "$VIGIL" --headless --port "$port" --db "$work/other.db" >"$work/out2" 2>"$work/err2"; then
    echo "a second server on port $port should have failed"; exit 1
fi
grep -q "already in use" "$work/err2" || { echo "no clear port-in-use message:"; cat "$work/err2"; exit 1; }

# The same database through a symlink is the same database: refused, not shared.
ln -s "$work/v.db" "$work/link.db"
if "$VIGIL" --headless --port 0 --db "$work/link.db" >"$work/out3" 2>"$work/err3"; then
    echo "a second server on the same database (via a symlink) should have failed"; exit 1
fi
grep -q "in use by another Vigil" "$work/err3" || { echo "no clear database-in-use message:"; cat "$work/err3"; exit 1; }

kill -TERM $pid
wait $pid
echo "smoke: ok ($url)"
