// k6 is not packaged for Debian, so CI cannot run tests/load/load_test.k6.js. This checks it as far as node can:
//  1. it parses as an ES module (acorn from Debian's node-acorn; falls back to node's own parser);
//  2. it evaluates (node --experimental-vm-modules) with stub k6 modules for every SCENARIO, and its options are
//     sound: one scenario of a known executor, stage durations adding up to the original's, thresholds present;
//  3. its default function runs against stub answers (202, 429 with Retry-After) without throwing.
// Usage: node --experimental-vm-modules tests/load/check_k6.mjs tests/load/load_test.k6.js
import fs from 'node:fs';
import { createRequire } from 'node:module';
import vm from 'node:vm';

const file = process.argv[2];
const source = fs.readFileSync(file, 'utf8');
const require = createRequire(import.meta.url);
let failures = 0;
const fail = (msg) => { console.error(`FAIL: ${msg}`); failures++; };

// 1. Syntax.
try {
    let acorn = null;
    for (const p of ['acorn', '/usr/share/nodejs/acorn/dist/acorn.js']) {
        try { acorn = require(p); break; } catch { /* next */ }
    }
    if (acorn) {
        const ast = acorn.parse(source, { ecmaVersion: 2022, sourceType: 'module' });
        const imports = ast.body.filter((n) => n.type === 'ImportDeclaration').map((n) => n.source.value);
        for (const m of imports) if (!m.startsWith('k6')) fail(`imports ${m}: k6 scripts can only import k6 modules`);
        console.log(`syntax: ok (acorn ${acorn.version}; imports ${imports.join(', ')})`);
    } else {
        new vm.SourceTextModule(source, { identifier: file });
        console.log('syntax: ok (node)');
    }
} catch (e) {
    fail(`syntax: ${e.message}`);
}

// 2 + 3. Evaluate with stubs.
const durationSeconds = (d) => {
    const m = /^(\d+)(ms|s|m|h)$/.exec(d);
    if (!m) throw new Error(`bad duration ${d}`);
    return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2]];
};
const expected = { steady: { vus: 50, seconds: 300 }, burst: { peak: 200, seconds: 240 }, ramp: { peak: 150, seconds: 480 } };

for (const scenario of Object.keys(expected)) {
    const calls = [];
    let nextStatus = 202;
    const response = (method) => {
        const status = method === 'GET' && nextStatus === 202 ? 200 : nextStatus;
        return { status, headers: status === 429 ? { 'Retry-After': '0' } : {} };
    };
    const stubs = {
        'k6': { check: (r, checks) => Object.values(checks).every((f) => f(r)), sleep: () => {} },
        'k6/http': { default: { get: (url) => { calls.push(['GET', url]); return response('GET'); },
                                post: (url, body) => { JSON.parse(body); calls.push(['POST', url]); return response('POST'); } } },
        'k6/metrics': { Rate: class { add() {} }, Counter: class { add() {} }, Trend: class { add() {} } },
    };
    const context = vm.createContext({ __ENV: { SCENARIO: scenario }, __VU: 1, __ITER: 0, console, Date, Math, JSON,
                                       Number, Object, Error, parseInt });
    try {
        const mod = new vm.SourceTextModule(source, { identifier: file, context });
        await mod.link(async (specifier) => {
            const exports = stubs[specifier];
            if (!exports) throw new Error(`unknown module ${specifier}`);
            return new vm.SyntheticModule(Object.keys(exports), function () {
                for (const [k, v] of Object.entries(exports)) this.setExport(k, v);
            }, { context });
        });
        await mod.evaluate();
        const { options } = mod.namespace;
        const scenarios = Object.entries(options.scenarios || {});
        if (scenarios.length !== 1 || scenarios[0][0] !== scenario) fail(`${scenario}: options.scenarios is ${JSON.stringify(options.scenarios)}`);
        const s = scenarios[0][1];
        const want = expected[scenario];
        if (s.executor === 'constant-vus') {
            if (s.vus !== want.vus || durationSeconds(s.duration) !== want.seconds) fail(`${scenario}: ${JSON.stringify(s)}`);
        } else if (s.executor === 'ramping-vus') {
            const total = s.stages.reduce((t, st) => t + durationSeconds(st.duration), 0);
            const peak = Math.max(...s.stages.map((st) => st.target));
            if (total !== want.seconds || peak !== want.peak || s.stages.at(-1).target !== 0) fail(`${scenario}: stages ${JSON.stringify(s.stages)}`);
        } else {
            fail(`${scenario}: unknown executor ${s.executor}`);
        }
        const t = options.thresholds || {};
        if (!Object.keys(t).some((k) => k.startsWith('http_req_duration'))) fail(`${scenario}: no latency threshold`);
        mod.namespace.setup();
        mod.namespace.default();
        nextStatus = 429;
        mod.namespace.default();
        if (!calls.some(([m, u]) => m === 'POST' && u.endsWith('/api/v1/ingest'))) fail(`${scenario}: default() sent no ingest`);
        console.log(`${scenario}: ok (${s.executor}, thresholds ${JSON.stringify(t)})`);
    } catch (e) {
        fail(`${scenario}: ${e.stack || e.message}`);
    }
}
process.exit(failures ? 1 : 0);
