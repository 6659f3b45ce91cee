#!/usr/bin/env python3
"""Crash safety of the SQLite queue, with the real binary (issue 3).

Starts `vigil --headless` on a temporary database and a free port with a short lease, sends
events from several client threads that record every id answered 202 (or 200 for a duplicate),
kills the server with SIGKILL in the middle of the load, restarts it on the same database, lets
it drain, and then proves from the database file:

  * every acknowledged event is present exactly once, under the id it was acknowledged with;
  * every one of them was processed (its event task is done);
  * no action was executed twice (actions.executions <= 1), every succeeded action executed once;
  * the tasks that were leased at the kill were rescued (claimed again, attempts >= 2) and finished.

Standard library only (Debian's python3). Usage: crash_test.py <path to vigil>
"""
import http.client
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

VIGIL = sys.argv[1]
THREADS = 6
LOAD_BEFORE_KILL_S = 4.0
DRAIN_TIMEOUT_S = 90


def fail(msg):
    print("crash_test: FAIL: " + msg, flush=True)
    sys.exit(1)


def start(db, log):
    env = dict(os.environ)
    for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        env.pop(k, None)
    out = open(log, "a")
    proc = subprocess.Popen(
        [VIGIL, "--headless", "--port", "0", "--db", db, "--log-file", "none",
         "--lease-seconds", "2", "--remediator-latency-ms", "150", "--remediator-failure-rate", "0.2",
         "--retry-base", "0.1", "--retry-cap", "0.5", "--workers", "2",
         # Ingest as fast as one client can: the per-address rate limit is not what this test is about.
         "--rate-limit-ingest", "0"],
        stdout=subprocess.PIPE, stderr=out, env=env, text=True)
    deadline = time.time() + 30
    port = None
    while time.time() < deadline and port is None:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                fail("server exited at start-up (see %s)" % log)
            continue
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
    if port is None:
        fail("server did not print its URL")
    # Keep draining stdout so the server never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, port


def request(port, method, path, body=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        conn.close()


class Client(threading.Thread):
    """Sends events one after the other on a keep-alive connection; records (key -> id) for 202/200."""

    def __init__(self, n, port, acked, lock, stop):
        super().__init__(daemon=True)
        self.n, self.port, self.acked, self.lock, self.stop = n, port, acked, lock, stop
        self.unacked = []  # keys sent without an answer (the kill cut them off)
        self.sent = 0

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        i = 0
        while not self.stop.is_set():
            key = "crash-%d-%d" % (self.n, i)
            # Every fifth event breaches a policy; sources rotate so cooldowns do not swallow them.
            metric, value = ("cpu_usage", 97.0) if i % 5 == 0 else ("memory_usage", 20.0)
            body = json.dumps({"metric_name": metric, "value": value, "source": "host-%d-%d" % (self.n, i),
                               "idempotency_key": key})
            i += 1
            self.sent += 1
            try:
                conn.request("POST", "/api/v1/ingest", body=body, headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                if r.status in (200, 202):
                    with self.lock:
                        self.acked[key] = json.loads(data)["id"]
                else:
                    self.unacked.append(key)
            except (OSError, http.client.HTTPException):
                self.unacked.append(key)
                conn.close()
                time.sleep(0.05)  # the server is gone; keep trying until told to stop
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        conn.close()


def main():
    work = tempfile.mkdtemp(prefix="vigil-crash-")
    db = os.path.join(work, "crash.db")
    log = os.path.join(work, "server.log")

    proc, port = start(db, log)
    acked, lock, stop = {}, threading.Lock(), threading.Event()
    clients = [Client(n, port, acked, lock, stop) for n in range(THREADS)]
    for c in clients:
        c.start()
    time.sleep(LOAD_BEFORE_KILL_S)
    with lock:
        acked_at_kill = len(acked)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.3)
    stop.set()
    for c in clients:
        c.join(10)
    if acked_at_kill < 200:
        fail("only %d events acknowledged before the kill; the load did not run" % acked_at_kill)

    # The state the kill left: leased tasks are the ones to be rescued.
    con = sqlite3.connect(db)
    leased = [r[0] for r in con.execute("SELECT id FROM tasks WHERE status = 'leased'")]
    leased_actions = [r[0] for r in con.execute("SELECT id FROM tasks WHERE status = 'leased' AND kind = 'action'")]
    con.close()
    if not leased:
        fail("no task was leased at the kill: the test did not kill mid-processing")

    proc, port = start(db, log)
    # The requests the kill cut off: resend them with the same idempotency key. A request that was
    # committed but not answered must come back 200 with its first id, never as a second event.
    resent = 0
    for c in clients:
        for key in c.unacked[:50]:
            n, i = key.split("-")[1:3]
            status, body = request(port, "POST", "/api/v1/ingest", {
                "metric_name": "memory_usage", "value": 20.0, "source": "host-%s-%s" % (n, i),
                "idempotency_key": key})
            if status not in (200, 202):
                fail("resend of %s answered %d %s" % (key, status, body))
            acked[key] = body["id"]
            resent += 1

    deadline = time.time() + DRAIN_TIMEOUT_S
    while True:
        status, body = request(port, "GET", "/api/v1/queue")
        q = body["queue"]
        if q["depth"] == 0 and q["scheduled"] == 0:
            break
        if time.time() > deadline:
            fail("queue did not drain after the restart: %s" % q)
        time.sleep(0.25)
    rescued_metric = None
    status, _ = request(port, "GET", "/healthz")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    for line in conn.getresponse().read().decode().splitlines():
        if line.startswith("queue_rescued_total "):
            rescued_metric = float(line.split()[1])
    conn.close()
    proc.send_signal(signal.SIGTERM)
    if proc.wait(30) != 0:
        fail("server did not stop cleanly after the restart")

    con = sqlite3.connect(db)
    one = lambda sql, *a: con.execute(sql, a).fetchone()[0]
    # 1. Every acknowledged event exactly once, with the acknowledged id.
    for key, eid in acked.items():
        rows = con.execute("SELECT id FROM events WHERE idempotency_key = ?", (key,)).fetchall()
        if len(rows) != 1 or rows[0][0] != eid:
            fail("acknowledged event %s (id %d) stored as %s" % (key, eid, rows))
    stored = one("SELECT count(*) FROM events WHERE idempotency_key LIKE 'crash-%'")
    distinct = one("SELECT count(DISTINCT idempotency_key) FROM events WHERE idempotency_key LIKE 'crash-%'")
    if stored != distinct:
        fail("%d events stored for %d keys" % (stored, distinct))
    # 2. Every one processed.
    not_done = one("SELECT count(*) FROM events e JOIN tasks t ON t.kind = 'event' AND t.ref_id = e.id "
                   "WHERE e.idempotency_key LIKE 'crash-%' AND t.status <> 'done'")
    missing_task = one("SELECT count(*) FROM events e WHERE NOT EXISTS "
                       "(SELECT 1 FROM tasks t WHERE t.kind = 'event' AND t.ref_id = e.id)")
    if not_done or missing_task:
        fail("%d event tasks not done, %d events without a task" % (not_done, missing_task))
    # 3. No action executed twice.
    actions = one("SELECT count(*) FROM actions")
    twice = one("SELECT count(*) FROM actions WHERE executions > 1")
    unfinished = one("SELECT count(*) FROM actions WHERE status NOT IN ('succeeded', 'dead')")
    succeeded_not_once = one("SELECT count(*) FROM actions WHERE status = 'succeeded' AND executions <> 1")
    redelivered = one("SELECT count(*) FROM actions WHERE deliveries > executions")
    if actions == 0:
        fail("no action was triggered: the load did not exercise remediations")
    if twice or unfinished or succeeded_not_once:
        # What those actions and their tasks look like, for whoever reads a failed CI log.
        rows = con.execute("SELECT a.id, a.status, a.attempts, a.deliveries, a.executions, t.status, t.attempts, "
                           "t.max_attempts, t.last_error FROM actions a LEFT JOIN tasks t ON t.kind = 'action' AND "
                           "t.ref_id = a.id WHERE a.status NOT IN ('succeeded', 'dead') OR a.executions > 1 "
                           "LIMIT 10").fetchall()
        fail("actions: %d executed twice, %d unfinished, %d succeeded without exactly one execution; "
             "(action id, status, attempts, deliveries, executions, task status, task attempts, max, last error): %s"
             % (twice, unfinished, succeeded_not_once, rows))
    # 4. Tasks leased at the kill were rescued: claimed again and finished.
    marks = ",".join("?" * len(leased))
    rescued = con.execute("SELECT count(*), sum(attempts >= 2), sum(status IN ('done', 'dead')) FROM tasks "
                          "WHERE id IN (%s)" % marks, leased).fetchone()
    if rescued[0] != len(leased) or rescued[1] != len(leased) or rescued[2] != len(leased):
        fail("tasks leased at the kill: %d, found %d, claimed again %d, finished %d"
             % (len(leased), rescued[0], rescued[1], rescued[2]))
    with open(log) as f:
        recovered = re.findall(r"leases_recovered tasks=(\d+)", f.read())
    if not recovered or int(recovered[-1]) != len(leased):
        fail("the restart did not report %d recovered leases (log: %s)" % (len(leased), recovered))
    if rescued_metric is None or rescued_metric < len(leased):
        fail("queue_rescued_total %s < %d" % (rescued_metric, len(leased)))
    con.close()
    print("crash_test: ok: %d events acknowledged (%d before the kill, %d resent after it), %d stored once each; "
          "%d tasks leased at the kill (%d actions) rescued; %d actions, none executed twice, %d delivered more "
          "than once" % (len(acked), acked_at_kill, resent, stored, len(leased), len(leased_actions), actions,
                         redelivered), flush=True)
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
