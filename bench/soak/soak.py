#!/usr/bin/env python3
"""Soak bench (not a CTest test): a real `vigil --headless` (free loopback port, temporary database) under the
built-in simulator at a steady rate for 10 minutes. Every 10 s it records resident memory — /proc/<pid>/status VmRSS
and the server's own process_resident_memory_bytes — with queue depth and simulator counters, to a CSV.

Verdict: after a 2-minute warm-up, the median RSS of the last minute may exceed the median of the first minute
after warm-up by at most max(20 %, 32 MiB); otherwise memory is growing and the run fails (exit 1). The run also
fails if the server dies or the queue does not drain at the end.

  bench/soak/soak.py [--vigil build/ci/app/vigil] [--minutes 10] [--rate 6000] [--csv bench/soak/results/soak.csv]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scenarios"))
from scenario import Server, msum, wait_for  # noqa: E402

WARMUP_S = 120
INTERVAL_S = 10
GROWTH_SHARE = 0.20
GROWTH_BYTES = 32 * 1024 * 1024


def vmrss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vigil", default="build/ci/app/vigil")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate", type=int, default=6000, help="simulator events per minute (steady)")
    ap.add_argument("--csv", default="bench/soak/results/soak.csv")
    a = ap.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(a.csv)), exist_ok=True)
    total_s = int(a.minutes * 60)
    if total_s < WARMUP_S + 2 * 60:
        print("soak: need at least warm-up + 2 minutes")
        return 2

    workdir = tempfile.mkdtemp(prefix="vigil-soak-")
    # The simulator is one client at --rate/60 events per second, above the default per-address ingest limit (50/s):
    # this bench is about memory over time, not about rate limiting, so the ingest limit is off.
    server = Server(a.vigil, workdir, ["--rate-limit-ingest", "0"])
    server.start()
    pid = server.proc.pid
    params = {"rate": a.rate, "mode": "steady", "seed": 7, "duration": total_s}
    status, _ = server.json("POST", "/api/v1/ui/simulator/start?" + urllib.parse.urlencode(params))
    if status != 200:
        print(f"soak: simulator start answered {status}")
        return 2
    print(f"soak: {a.minutes:g} min at {a.rate}/min against pid {pid}, sampling every {INTERVAL_S} s -> {a.csv}",
          flush=True)
    rows = []
    t0 = time.time()
    with open(a.csv, "w") as out:
        out.write("elapsed_s,vmrss_bytes,metric_rss_bytes,queue_depth,events_generated,events_succeeded,events_failed\n")
        for i in range(total_s // INTERVAL_S + 1):
            target = t0 + i * INTERVAL_S
            time.sleep(max(0.0, target - time.time()))
            if not server.alive():
                print("soak: the server died")
                return 1
            m = server.metrics()
            _, q = server.json("GET", "/api/v1/queue")
            _, s = server.json("GET", "/api/v1/ui/simulator/status")
            sm = s["simulator"]["metrics"]
            row = (round(time.time() - t0), vmrss_bytes(pid), int(msum(m, "process_resident_memory_bytes")),
                   q["queue"]["depth"], sm["events_generated"], sm["events_succeeded"], sm["events_failed"])
            rows.append(row)
            out.write(",".join(map(str, row)) + "\n")
            out.flush()
            print(f"  t={row[0]:4d}s rss={row[1] / 2**20:7.1f} MiB depth={row[3]:5d} generated={row[4]}", flush=True)

    drained = wait_for(lambda: server.json("GET", "/api/v1/queue")[1]["queue"]["depth"] == 0, 120)
    _, s = server.json("GET", "/api/v1/ui/simulator/status")
    exit_code = server.stop()
    base = [r[1] for r in rows if WARMUP_S <= r[0] < WARMUP_S + 60]
    last = [r[1] for r in rows if r[0] >= rows[-1][0] - 60]
    base_med, last_med = statistics.median(base), statistics.median(last)
    bound = base_med + max(GROWTH_SHARE * base_med, GROWTH_BYTES)
    ok = last_med <= bound and drained and exit_code == 0
    verdict = {
        "minutes": a.minutes, "rate_per_min": a.rate, "samples": len(rows),
        "rss_after_warmup_mib": round(base_med / 2**20, 1), "rss_last_minute_mib": round(last_med / 2**20, 1),
        "bound_mib": round(bound / 2**20, 1), "growth_mib": round((last_med - base_med) / 2**20, 1),
        "peak_rss_mib": round(max(r[1] for r in rows) / 2**20, 1),
        "rss_first_sample_mib": round(rows[0][1] / 2**20, 1), "rss_last_sample_mib": round(rows[-1][1] / 2**20, 1),
        "events_generated": s["simulator"]["metrics"]["events_generated"],
        "events_succeeded": s["simulator"]["metrics"]["events_succeeded"],
        "throughput_per_s": round(s["simulator"]["metrics"]["events_succeeded"] / max(rows[-1][0], 1), 1),
        "events_rate_limited": s["simulator"]["metrics"].get("events_rate_limited", 0),
        "events_failed": s["simulator"]["metrics"]["events_failed"],
        "queue_drained": drained, "exit_code": exit_code, "passed": ok,
    }
    with open(os.path.splitext(a.csv)[0] + ".json", "w") as f:
        json.dump(verdict, f, indent=2)
    print("soak:", json.dumps(verdict))
    if ok:
        os.system(f"rm -rf '{workdir}'")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
