#!/usr/bin/env bash
# CI's scenario run: one of bench/scenarios' scenarios in its short variant against a fresh `vigil --headless`, then
# its JSON verdict is asserted on its own (not only scenario.py's exit code): verdict "pass", every check "pass",
# and the scenario's own checks present.
#   tests/scenario_ci.sh path/to/vigil scenario out-dir
set -euo pipefail
vigil="$1"
scenario="$2"
out="$3"
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$out"
rm -f "$out/$scenario.json"
rc=0
python3 "$here/../bench/scenarios/scenario.py" --vigil "$vigil" --scenario "$scenario" --short --out "$out" || rc=$?
python3 - "$out/$scenario.json" "$rc" <<'PY'
import json, sys
path, rc = sys.argv[1], int(sys.argv[2])
try:
    v = json.load(open(path))
except (OSError, ValueError) as e:
    sys.exit(f"FAIL: no readable verdict at {path}: {e}")
problems = []
if v.get("verdict") != "pass" or v.get("passed") is not True:
    problems.append(f"verdict {v.get('verdict')!r}: {v.get('error', '')}")
checks = v.get("checks", [])
if len(checks) < 8:
    problems.append(f"only {len(checks)} checks in the verdict")
problems += [f"check {c['check']} is {c['status']}: measured {json.dumps(c['measured'])}"
             for c in checks if c.get("status") != "pass"]
if rc != 0:
    problems.append(f"scenario.py exited {rc}")
print(f"verdict {path}: {v.get('verdict')}, {len(checks)} checks")
for p in problems:
    print("FAIL:", p)
sys.exit(1 if problems else 0)
PY
