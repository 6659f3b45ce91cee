#!/usr/bin/env python3
"""Load client for tests/pg_multinode.sh (standard library only).

Sends N events spread over several Vigil nodes, each with its own idempotency key, and records
every acknowledgement (key, id, status) the servers answer: 202 (stored) or 200 (a duplicate of
an earlier copy, answered with the first id). A request that fails (connection refused or reset,
timeout, 5xx, 429/503) is retried with the same key on the next node, so an event whose node was
killed after committing it is answered 200 by a surviving node instead of being stored twice.

With --kill-pid, the client SIGKILLs that process once --kill-after events were acknowledged and
runs --after-kill (a shell command, e.g. a psql snapshot of the dead node's leases) right away.
"""
import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", required=True, help="comma-separated base URLs")
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--out", required=True, help="file for 'key<TAB>id<TAB>status' lines")
    ap.add_argument("--kill-pid", type=int, default=0)
    ap.add_argument("--kill-after", type=int, default=0)
    ap.add_argument("--after-kill", default="")
    ap.add_argument("--breach-every", type=int, default=4, help="every n-th event breaches cpu_usage > 90")
    ap.add_argument("--deadline", type=float, default=150.0, help="seconds before giving up")
    args = ap.parse_args()

    targets = [urlsplit(t) for t in args.targets.split(",")]
    lock = threading.Lock()
    acks = []
    failures = []
    state = {"acked": 0, "killed": False, "retries": 0}
    reasons = {}
    deadline = time.monotonic() + args.deadline

    def maybe_kill():
        # Called with the lock held.
        if args.kill_pid and not state["killed"] and state["acked"] >= args.kill_after:
            state["killed"] = True
            os.kill(args.kill_pid, signal.SIGKILL)
            print(f"client: SIGKILL pid {args.kill_pid} after {state['acked']} acknowledged events", flush=True)
            if args.after_kill:
                subprocess.run(args.after_kill, shell=True, check=True)

    def worker(index):
        conns = {}

        def conn_for(t):
            c = conns.get(t.netloc)
            if c is None:
                c = http.client.HTTPConnection(t.hostname, t.port, timeout=10)
                conns[t.netloc] = c
            return c

        for i in range(index, args.events, args.concurrency):
            key = f"mn-{i}"
            body = json.dumps({
                "metric_name": "cpu_usage",
                "value": 95.0 if i % args.breach_every == 0 else 50.0,
                # One source per event: the policy cooldown (per policy and source) never hides a breach.
                "source": f"host-{i}",
                "idempotency_key": key,
            })
            attempt = 0
            while True:
                if time.monotonic() > deadline:
                    with lock:
                        failures.append(f"{key}: gave up at the deadline")
                    break
                t = targets[(i + attempt) % len(targets)]
                status, answer = None, None
                try:
                    c = conn_for(t)
                    c.request("POST", "/api/v1/ingest", body, {"Content-Type": "application/json"})
                    r = c.getresponse()
                    status = r.status
                    answer = r.read()
                except (OSError, http.client.HTTPException):
                    conns.pop(t.netloc, None)
                if status in (200, 202):
                    doc = json.loads(answer)
                    with lock:
                        acks.append((key, doc["id"], status))
                        state["acked"] += 1
                        maybe_kill()
                    break
                if status is not None and status not in (429, 500, 502, 503, 504):
                    with lock:
                        failures.append(f"{key}: answered {status}: {answer[:200]!r}")
                    break
                attempt += 1
                with lock:
                    state["retries"] += 1
                    reason = "connection" if status is None else str(status)
                    reasons[reason] = reasons.get(reason, 0) + 1
                time.sleep(min(0.5, 0.01 * attempt))

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.monotonic() - started
    with open(args.out, "w") as f:
        for key, id_, status in acks:
            f.write(f"{key}\t{id_}\t{status}\n")
    print(f"client: {len(acks)} acknowledged ({sum(1 for a in acks if a[2] == 202)} x 202, "
          f"{sum(1 for a in acks if a[2] == 200)} x 200) in {elapsed:.1f} s, {state['retries']} retries, "
          f"{len(failures)} failed; retry reasons {reasons}", flush=True)
    for f_ in failures[:10]:
        print("client: " + f_, file=sys.stderr)
    if args.kill_pid and not state["killed"]:
        print("client: the node was never killed", file=sys.stderr)
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
