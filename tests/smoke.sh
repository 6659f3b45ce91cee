#!/usr/bin/env bash
# Smoke test of the real binary, as CI and a user would run it:
# --version, --help, a headless start on a free port answering /healthz and an ingest,
# a second instance on the same port refused with a clear message, and SIGTERM shutting down cleanly.
set -euo pipefail
VIGIL="$1"
work=$(mktemp -d)
pid=
trap 'if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
unset DISPLAY WAYLAND_DISPLAY QT_QPA_PLATFORM

"$VIGIL" --version | grep -q "vigil-console"
# Into a file first: with pipefail, "vigil --help | grep -q" fails when grep exits before vigil is done.
"$VIGIL" --help >"$work/help"
grep -q -- "--headless" "$work/help"
# Usage errors: exit 2 with a message naming the problem, and nothing printed before it.
usage_error() {
    local rc=0
    "$VIGIL" "$@" >"$work/uout" 2>"$work/uerr" || rc=$?
    [[ $rc == 2 ]] || { echo "vigil $* exited $rc, expected 2"; cat "$work/uerr"; exit 1; }
    [[ $(wc -l <"$work/uerr") == 1 ]] || { echo "vigil $*: expected one line on stderr:"; cat "$work/uerr"; exit 1; }
}
usage_error --bogus
usage_error stray --headless
usage_error --headless --port abc


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

# Security (issue 4): an open non-loopback bind is refused with a clear message and a non-zero exit.
if "$VIGIL" --headless --host 0.0.0.0 --port 0 --db "$work/open.db" >"$work/out4" 2>"$work/err4"; then
    echo "listening on 0.0.0.0 without an operator token should have been refused"; exit 1
fi
grep -q "without an operator token" "$work/err4" || { echo "no clear refusal message:"; cat "$work/err4"; exit 1; }

# Tokens from the environment (operator) and the config file (viewer), never the command line.
op=smoke-operator-0123456789abcdef
viewer=smoke-viewer-0123456789abcdef
printf 'viewer-token = %s\n' "$viewer" >"$work/vigil.conf"
VIGIL_OPERATOR_TOKEN=$op "$VIGIL" --headless --port 0 --db "$work/auth.db" --config "$work/vigil.conf" \
    >"$work/out5" 2>"$work/err5" &
pid=$!
url=
for _ in $(seq 1 100); do
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/out5" | head -1 || true)
    [[ -n "$url" ]] && break
    sleep 0.1
done
[[ -n "$url" ]] || { echo "token server did not print its URL"; cat "$work/out5" "$work/err5"; exit 1; }
! grep -q "$op" "$work/out5" "$work/err5" || { echo "the operator token was printed"; exit 1; }
expect() { # expect <code> <curl args...>
    local want=$1; shift
    local got
    got=$(curl -s -o "$work/body" -w '%{http_code}' "$@")
    [[ "$got" == "$want" ]] || { echo "expected $want, got $got for $*: $(cat "$work/body")"; exit 1; }
}
event='{"metric_name":"cpu_usage","value":1,"source":"smoke"}'
expect 200 "$url/healthz"
expect 401 "$url/api/v1/queue"
expect 200 -H "Authorization: Bearer $viewer" "$url/api/v1/queue"
expect 401 -X POST -H 'Content-Type: application/json' -d "$event" "$url/api/v1/ingest"
expect 403 -X POST -H "Authorization: Bearer $viewer" -H 'Content-Type: application/json' -d "$event" "$url/api/v1/ingest"
expect 202 -X POST -H "Authorization: Bearer $op" -H 'Content-Type: application/json' -d "$event" "$url/api/v1/ingest"
kill -TERM $pid
wait $pid
echo "smoke: ok ($url)"
