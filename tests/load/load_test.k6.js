// k6 load script for Vigil Console, after the original Vigil's tests/load_test.k6.js.
//   k6 run tests/load/load_test.k6.js                                   (SCENARIO=steady: 50 VUs for 5 minutes)
//   k6 run --env SCENARIO=burst tests/load/load_test.k6.js              (0→100→0→200→0 VUs over 4 minutes)
//   k6 run --env SCENARIO=ramp --env BASE_URL=http://127.0.0.1:9000 tests/load/load_test.k6.js
//   k6 run --vus 50 --duration 5m --out json=results.json tests/load/load_test.k6.js
// Env: SCENARIO (steady|burst|ramp), BASE_URL (default http://127.0.0.1:8000), VIGIL_TOKEN (Bearer token, optional).
// 429 and 503 answers with Retry-After are the server protecting itself: expected, not failures; the VU then
// waits as long as Retry-After asks. k6 is not packaged for Debian: CI checks this file with node
// (tests/load/check_k6.mjs: parsed as an ES module, then evaluated against stub k6 modules for every scenario).
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Rate, Counter } from 'k6/metrics';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8000';
const SCENARIO = (__ENV.SCENARIO || 'steady').toLowerCase();
const METRICS = ['cpu_usage', 'memory_usage', 'error_rate', 'disk_usage'];

const unexpected = new Rate('unexpected_answers'); // anything but 2xx, or 429/503 with Retry-After
const throttled = new Counter('throttled_answers'); // 429/503 with Retry-After

const SCENARIOS = {
    steady: { executor: 'constant-vus', vus: 50, duration: '5m' },
    burst: {
        executor: 'ramping-vus',
        startVUs: 0,
        stages: [
            { duration: '1m', target: 100 },
            { duration: '1m', target: 0 },
            { duration: '1m', target: 200 },
            { duration: '1m', target: 0 },
        ],
        gracefulRampDown: '10s',
    },
    ramp: {
        executor: 'ramping-vus',
        startVUs: 0,
        stages: [
            { duration: '2m', target: 50 },
            { duration: '2m', target: 100 },
            { duration: '2m', target: 150 },
            { duration: '2m', target: 0 },
        ],
        gracefulRampDown: '10s',
    },
};

if (!(SCENARIO in SCENARIOS)) {
    throw new Error(`SCENARIO must be one of ${Object.keys(SCENARIOS).join(', ')} (got ${SCENARIO})`);
}

// The original's expectations: steady p95 < 500 ms and error rate < 1 %; under bursts and ramps p95 < 1 s and
// error rate < 5 %.
const THRESHOLDS = {
    steady: { 'http_req_duration{kind:ingest}': ['p(95)<500'], unexpected_answers: ['rate<0.01'], checks: ['rate>0.99'] },
    burst: { 'http_req_duration{kind:ingest}': ['p(95)<1000'], unexpected_answers: ['rate<0.05'], checks: ['rate>0.95'] },
    ramp: { 'http_req_duration{kind:ingest}': ['p(95)<1000'], unexpected_answers: ['rate<0.05'], checks: ['rate>0.95'] },
};

export const options = {
    scenarios: { [SCENARIO]: SCENARIOS[SCENARIO] },
    thresholds: THRESHOLDS[SCENARIO],
};

function headers() {
    const h = { 'Content-Type': 'application/json' };
    if (__ENV.VIGIL_TOKEN) h.Authorization = `Bearer ${__ENV.VIGIL_TOKEN}`;
    return h;
}

function retryAfterSeconds(res) {
    const v = parseInt((res.headers && (res.headers['Retry-After'] || res.headers['retry-after'])) || '', 10);
    return Number.isFinite(v) && v >= 0 ? v : null;
}

// True when the answer is one of `ok`, or a throttle that says when to come back (then the VU waits that long).
function judge(res, ok) {
    if (ok.includes(res.status)) return true;
    if ((res.status === 429 || res.status === 503) && retryAfterSeconds(res) !== null) {
        throttled.add(1);
        sleep(Math.min(retryAfterSeconds(res), 5));
        return true;
    }
    return false;
}

export function setup() {
    const res = http.get(`${BASE_URL}/healthz`);
    if (res.status !== 200) throw new Error(`${BASE_URL}/healthz answered ${res.status}: is vigil running?`);
}

export default function () {
    const event = {
        metric_name: METRICS[Math.floor(Math.random() * METRICS.length)],
        value: Math.round(Math.random() * 10000) / 100,
        source: `k6-vu-${__VU}`,
        labels: { env: 'k6', scenario: SCENARIO },
        idempotency_key: `k6-${__VU}-${__ITER}-${Date.now()}`,
    };
    const res = http.post(`${BASE_URL}/api/v1/ingest`, JSON.stringify(event), {
        headers: headers(),
        tags: { kind: 'ingest' },
    });
    const good = judge(res, [202, 200]);
    unexpected.add(!good);
    check(res, { 'ingest accepted or throttled': () => good });

    if (Math.random() < 0.2) {
        const q = http.get(`${BASE_URL}/api/v1/queue`, { headers: headers(), tags: { kind: 'query' } });
        const qGood = judge(q, [200]);
        unexpected.add(!qGood);
        check(q, { 'queue answered': () => qGood });
    }
    sleep(0.5 + Math.random());
}
