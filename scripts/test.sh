#!/usr/bin/env bash
# One command: install what is missing, build with warnings as errors (preset "ci"), and run every
# test with CTest. Extra arguments go to ctest (e.g. scripts/test.sh -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
cmake --preset ci >/dev/null
cmake --build --preset ci
# The PostgreSQL tests (label postgres) need a real server: unless VIGIL_TEST_PG_URL already names
# one, start a throwaway server for this run and remove it on exit, whatever happens.
if [[ -z "${VIGIL_TEST_PG_URL:-}" ]]; then
    eval "$(scripts/pg-throwaway.sh start)"
    trap 'scripts/pg-throwaway.sh stop "$VIGIL_TEST_PG_DIR"' EXIT
    export VIGIL_TEST_PG_URL
fi
ctest --preset ci --output-on-failure "$@"
