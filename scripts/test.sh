#!/usr/bin/env bash
# One command: install what is missing, build with warnings as errors (preset "ci"), and run every
# test with CTest. Extra arguments go to ctest (e.g. scripts/test.sh -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
cmake --preset ci >/dev/null
cmake --build --preset ci
ctest --preset ci --output-on-failure "$@"
