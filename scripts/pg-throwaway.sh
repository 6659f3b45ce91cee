#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests and the benchmark: initdb in a temporary directory,
# listening on a free loopback port only, a random password (scram-sha-256), nothing else on the
# machine touched. Run as root it runs the server as the `postgres` user (initdb refuses root).
#
#   eval "$(scripts/pg-throwaway.sh start)"   # sets VIGIL_TEST_PG_URL and VIGIL_TEST_PG_DIR
#   scripts/pg-throwaway.sh stop "$VIGIL_TEST_PG_DIR"
#
# start --durable keeps PostgreSQL's durable defaults (fsync, synchronous_commit); without it the
# test server turns them off, which only matters if the machine itself crashes (the tests kill
# Vigil nodes, never PostgreSQL).
set -euo pipefail

bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -z "$d" || ! -x "$d/initdb" ]]; then
        echo "pg-throwaway: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
        exit 1
    fi
    echo "$d"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
    local durable=0
    [[ "${1:-}" == "--durable" ]] && durable=1
    local bin dir run=()
    bin=$(bindir)
    dir=$(mktemp -d "${TMPDIR:-/tmp}/vigil-pg.XXXXXX")
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres: "$dir"
        run=(runuser -u postgres --)
    fi
    chmod 700 "$dir"
    local password
    password=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
    printf '%s\n' "$password" >"$dir/pwfile"
    [[ ${#run[@]} -gt 0 ]] && chown postgres: "$dir/pwfile"
    if ! "${run[@]}" "$bin/initdb" -D "$dir/data" -U vigil --auth=scram-sha-256 --pwfile="$dir/pwfile" -E UTF8 \
        --no-sync >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        rm -rf "$dir"
        exit 1
    fi
    rm -f "$dir/pwfile"
    local settings="-c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c max_connections=200"
    if ((durable == 0)); then
        settings+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    local port attempt
    for attempt in 1 2 3 4 5 6 7 8; do
        port=$((20000 + RANDOM % 30000))
        port_in_use "$port" && continue
        if "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "-p $port $settings" start \
            >/dev/null 2>&1; then
            echo "VIGIL_TEST_PG_URL=postgresql://vigil:$password@127.0.0.1:$port/postgres"
            echo "VIGIL_TEST_PG_DIR=$dir"
            echo "pg-throwaway: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir" >&2
            return 0
        fi
    done
    echo "pg-throwaway: the server did not start; its log:" >&2
    cat "$dir/server.log" >&2 || true
    rm -rf "$dir"
    exit 1
}

stop() {
    local dir="${1:?usage: pg-throwaway.sh stop DIR}"
    [[ -d "$dir/data" ]] || return 0
    local bin run=()
    bin=$(bindir)
    [[ $(id -u) -eq 0 ]] && run=(runuser -u postgres --)
    "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}

case "${1:-}" in
start) shift; start "$@" ;;
stop) shift; stop "$@" ;;
*) echo "usage: $0 start [--durable] | stop DIR" >&2; exit 2 ;;
esac
