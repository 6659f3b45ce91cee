#!/usr/bin/env bash
# The original Vigil's four load-test scenarios against a real `vigil --headless` (free loopback port, temporary
# database), each ending with a verdict: bench/scenarios/results/<scenario>.json and the exit code.
#   bench/scenarios/run.sh [steady|burst|failure|overload|all] [--short] [--out DIR]
# Binary: $VIGIL, else build/ci/app/vigil, else build/dev/app/vigil. Exit: 0 no expectation failed, 1 an expectation
# failed, 2 a scenario could not run.
# Full runs take about 3 to 5 minutes each (all: about 15); docs/testing.md lists every check.
set -euo pipefail
cd "$(dirname "$0")/../.."
which="${1:-all}"
shift || true
vigil="${VIGIL:-}"
for candidate in build/ci/app/vigil build/dev/app/vigil; do
    [[ -n "$vigil" ]] && break
    [[ -x "$candidate" ]] && vigil="$candidate"
done
[[ -x "$vigil" ]] || { echo "no vigil binary: build first (cmake --preset ci && cmake --build --preset ci) or set VIGIL"; exit 2; }
command -v python3 >/dev/null || { echo "python3 missing: scripts/deps.sh --test"; exit 2; }

if [[ "$which" == all ]]; then scenarios=(steady burst failure overload); else scenarios=("$which"); fi
worst=0
for s in "${scenarios[@]}"; do
    rc=0
    python3 bench/scenarios/scenario.py --vigil "$vigil" --scenario "$s" "$@" || rc=$?
    ((rc > worst)) && worst=$rc
done
exit $worst
