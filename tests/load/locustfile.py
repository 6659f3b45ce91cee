"""Locust load script for Vigil Console, after the original Vigil's tests/locustfile.py.

  locust -f tests/load/locustfile.py --host http://127.0.0.1:8000                      # web UI on :8089
  locust -f tests/load/locustfile.py --host http://127.0.0.1:8000 --headless \
         --users 100 --spawn-rate 10 --run-time 5m                                     # all user classes
  locust -f tests/load/locustfile.py --host ... --headless --tags steady               # one pattern
  locust -f tests/load/locustfile.py --host ... --headless BurstUser                   # one user class

User classes: VigilUser (mixed ingest + queries, tag "steady"), BurstUser (periodic bursts, tag "burst"),
FailureInjector (malformed requests and injected faults, tag "failure"). Rate limiting (429) and backpressure (503)
answered with Retry-After are the server doing its job: they count as successes. Malformed requests succeed when
they get 400 (415 for a wrong content type); an injected fault succeeds when the answer says it was injected.
Set VIGIL_TOKEN to send "Authorization: Bearer <token>" when the server has tokens configured.
Only ever point it at your own server: the CI run (tests/load/locust_ci.sh) targets 127.0.0.1.
"""

import itertools
import json
import os
import random
import uuid

from locust import HttpUser, between, tag, task

METRICS = ["cpu_usage", "memory_usage", "error_rate", "disk_usage"]
_serial = itertools.count()


def auth_headers():
    token = os.environ.get("VIGIL_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def event(source):
    return {
        "metric_name": random.choice(METRICS),
        "value": round(random.uniform(0, 100), 2),
        "source": source,
        "labels": {"env": "locust"},
        "idempotency_key": f"locust-{uuid.uuid4().hex}-{next(_serial)}",
    }


def expect(response, *codes):
    """Marks the answer as expected when its status is one of codes, or a 429/503 that says when to come back."""
    if response.status_code in codes:
        response.success()
    elif response.status_code in (429, 503) and response.headers.get("Retry-After"):
        response.success()
    else:
        response.failure(f"answered {response.status_code}, expected {'/'.join(map(str, codes))}: "
                         f"{response.text[:200]}")


class VigilUser(HttpUser):
    """A realistic mixed workload: mostly ingest, some dashboard-style queries."""
    weight = 3
    wait_time = between(0.2, 1.0)

    def on_start(self):
        self.source = f"locust-{uuid.uuid4().hex[:8]}"

    def ingest(self, name="/api/v1/ingest"):
        with self.client.post("/api/v1/ingest", json=event(self.source), headers=auth_headers(), name=name,
                              catch_response=True) as r:
            expect(r, 202, 200)

    def get(self, path, name=None):
        with self.client.get(path, headers=auth_headers(), name=name or path, catch_response=True) as r:
            expect(r, 200)

    @tag("steady")
    @task(10)
    def ingest_event(self):
        self.ingest()

    @tag("steady")
    @task(2)
    def queue(self):
        self.get("/api/v1/queue")

    @tag("steady")
    @task(2)
    def simulator_status(self):
        self.get("/api/v1/ui/simulator/status")

    @tag("steady")
    @task(1)
    def timeseries(self):
        self.get("/api/v1/stats/timeseries?window=60", name="/api/v1/stats/timeseries")

    @tag("steady")
    @task(1)
    def metrics(self):
        self.get("/metrics")

    @tag("steady")
    @task(1)
    def health(self):
        self.get("/healthz")


class BurstUser(HttpUser):
    """Quiet, then a burst of back-to-back ingests (periodic spikes, like the simulator's burst mode)."""
    weight = 1
    wait_time = between(3, 6)
    burst_size = int(os.environ.get("VIGIL_BURST_SIZE", "25"))

    def on_start(self):
        self.source = f"locust-burst-{uuid.uuid4().hex[:8]}"

    @tag("burst")
    @task
    def burst(self):
        for _ in range(self.burst_size):
            with self.client.post("/api/v1/ingest", json=event(self.source), headers=auth_headers(),
                                  name="/api/v1/ingest [burst]", catch_response=True) as r:
                expect(r, 202, 200)


class FailureInjector(HttpUser):
    """Malformed requests and injected faults: the server must refuse cleanly, never crash or answer 500."""
    weight = 1
    wait_time = between(0.5, 1.5)

    def post_raw(self, name, body, codes, content_type="application/json", extra=None):
        headers = {"Content-Type": content_type, **auth_headers(), **(extra or {})}
        with self.client.post("/api/v1/ingest", data=body, headers=headers, name=name, catch_response=True) as r:
            expect(r, *codes)
            return r

    @tag("failure")
    @task(3)
    def malformed_json(self):
        body = random.choice(['{"metric_name": "cpu_usage", "value": ', "{", "not json", "[1,2,3]", "",
                              '{"metric_name": "cpu_usage", "value": NaN}'])
        self.post_raw("malformed: invalid JSON", body, (400,))

    @tag("failure")
    @task(2)
    def wrong_types(self):
        body = random.choice([{"metric_name": "cpu_usage", "value": "high"}, {"metric_name": 42, "value": 1},
                              {"metric_name": "cpu_usage", "value": True}, {"metric_name": "cpu_usage", "value": 1,
                                                                             "labels": {"a": 1}}])
        self.post_raw("malformed: wrong type", json.dumps(body), (400,))

    @tag("failure")
    @task(2)
    def missing_or_unknown_field(self):
        body = random.choice([{"value": 1}, {"metric_name": "cpu_usage"}, {"metric_name": "cpu_usage", "value": 1,
                                                                           "sorce": "typo"}])
        self.post_raw("malformed: missing/unknown field", json.dumps(body), (400,))

    @tag("failure")
    @task(1)
    def wrong_content_type(self):
        self.post_raw("malformed: wrong content type", "metric_name=cpu_usage&value=1", (415,),
                      content_type="application/x-www-form-urlencoded")

    @tag("failure")
    @task(1)
    def injected_error(self):
        # Honoured when the server has fault injection on (default on loopback); otherwise stored normally.
        with self.client.post("/api/v1/ingest", json=event("locust-fault"), name="fault: injected error",
                              headers={"X-Vigil-Fault": "error", **auth_headers()}, catch_response=True) as r:
            if r.status_code == 500 and r.headers.get("X-Vigil-Injected") == "error":
                r.success()
            else:
                expect(r, 202)
