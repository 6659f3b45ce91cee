#!/usr/bin/env bash
# The real binary's log file (--log-file): by default logs/<database name>.log next to the
# database, JSON lines even when stderr gets text, appended across restarts; "none" writes no file;
# an unusable explicit path stops vigil with status 2; the option works from --config too.
set -euo pipefail
VIGIL="$1"
work=$(mktemp -d)
pid=""
cleanup() {
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
unset DISPLAY WAYLAND_DISPLAY QT_QPA_PLATFORM
fail() {
    echo "FAIL: $*"
    exit 1
}

# start DB ARGS...: runs vigil in the background until it prints its URL; sets pid and url.
start() {
    local db=$1
    shift
    "$VIGIL" --headless --port 0 --db "$db" "$@" >"$work/out" 2>"$work/err" &
    pid=$!
    url=""
    for _ in $(seq 1 100); do
        url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/out" | head -1 || true)
        [[ -n "$url" ]] && return 0
        kill -0 "$pid" 2>/dev/null || fail "vigil exited: $(cat "$work/err")"
        sleep 0.1
    done
    fail "vigil did not print its URL"
}
# has FILE EVENT: the JSON-lines file holds a line of that event.
has() { jq -e -s --arg e "$2" 'any(.[]; .event == $e)' "$1" >/dev/null 2>&1; }
stop() {
    kill -TERM "$pid"
    wait "$pid" || fail "vigil did not stop cleanly"
    pid=""
}

# 1. Default file next to the database, text on stderr, JSON in the file.
start "$work/data/prod.db" --log-format text
log="$work/data/logs/prod.log"
grep -q "Log file: *$log" "$work/out" || fail "banner does not name $log: $(cat "$work/out")"
curl -sf "$url/healthz" >/dev/null
stop
[[ -s "$log" ]] || fail "no log file at $log"
grep -q ' info    server_started ' "$work/err" || fail "stderr is not text: $(head -2 "$work/err")"
jq -e . "$log" >/dev/null || fail "the log file is not JSON lines: $(head -2 "$log")"
for event in queue_opened worker_started server_started server_stopping worker_stopped server_stopped; do
    has "$log" "$event" || fail "no $event in $log"
done
jq -e -s 'map(select(.event == "server_started")) | .[0] | .ts and .level == "info" and .url' "$log" >/dev/null ||
    fail "server_started lacks ts/level/url"

# 2. A restart appends to the same file.
lines=$(wc -l <"$log")
start "$work/data/prod.db" --log-format json
stop
(($(wc -l <"$log") > lines)) || fail "the second run did not append"
(($(jq -c 'select(.event == "server_started")' "$log" | wc -l) == 2)) || fail "expected two server_started lines"

# 3. --log-file none (here from a --config file): no file at all.
printf 'log-file = none\n' >"$work/none.ini"
start "$work/other/o.db" --config "$work/none.ini"
stop
[[ ! -e "$work/other/logs" ]] || fail "--log-file none still wrote $(ls "$work/other/logs")"

# 4. An explicit path that cannot be opened is an error (exit 2), not a silent loss of logs.
touch "$work/blocker"
set +e
"$VIGIL" --headless --port 0 --db "$work/x.db" --log-file "$work/blocker/sub/v.log" >"$work/out" 2>"$work/err"
rc=$?
set -e
((rc == 2)) || fail "unusable --log-file exited $rc"
grep -q -- "--log-file" "$work/err" || fail "no message naming --log-file: $(cat "$work/err")"

# 5. An explicit path is used as given.
start "$work/y.db" --log-file "$work/custom/dir/vigil-test.log"
stop
has "$work/custom/dir/vigil-test.log" server_stopped || fail "no explicit log file"
echo "logfile: ok"
