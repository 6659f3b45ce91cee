#!/usr/bin/env bash
# One command: install what is missing, build (release), and run Vigil Console — the window when
# a display exists, otherwise the headless server on 127.0.0.1:8000. Extra arguments go to vigil
# (e.g. scripts/run.sh --port 9000 --db /tmp/vigil.db).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target vigil   # the program only; tests build with scripts/test.sh
exec build/release/app/vigil "$@"
