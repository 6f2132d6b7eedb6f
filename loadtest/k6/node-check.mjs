// Runs loadtest/k6/alerts.js under Node, with stand-ins for the k6 modules it imports, against a
// real ingest: k6 itself is not installed where tocsin's tests run, and this keeps the script from
// rotting. setup() runs once, then the default function ITERATIONS times (default 30); every
// webhook goes to TOCSIN_INGEST_URL through curl (k6's http.post is synchronous, and so is curl
// here), and every k6 check must pass.
//
//   TOCSIN_INGEST_URL=http://127.0.0.1:18081 TOCSIN_INGEST_TOKEN=... node loadtest/k6/node-check.mjs [ITERATIONS]
//
// It checks the script's webhooks and checks, not k6's scheduling: the scenario and thresholds in
// `options` are read by k6 only.

import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { register } from 'node:module';

const iterations = Number(process.argv[2] ?? 30);
const failedChecks = [];
const answers = new Map();

// What the stand-ins call back into; the hooks below load them as modules named `k6*`.
globalThis.k6StandIns = {
    check(value, checks) {
        let passed = true;
        for (const [name, predicate] of Object.entries(checks)) {
            if (!predicate(value)) {
                failedChecks.push(`${name}: ${value.status} ${value.body.slice(0, 300)}`);
                passed = false;
            }
        }
        return passed;
    },
    sha256: (input, encoding) => createHash('sha256').update(input).digest(encoding),
    randomBytes: (size) => randomBytes(size).buffer,
    hexEncode: (buffer) => Buffer.from(buffer).toString('hex'),
    post(url, body, params) {
        const headers = Object.entries(params?.headers ?? {}).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
        const output = execFileSync(
            'curl',
            ['-sS', '--max-time', '10', '-X', 'POST', ...headers, '--data-binary', '@-', '-w', '\n%{http_code}', url],
            { input: body, encoding: 'utf8' },
        );
        const newline = output.lastIndexOf('\n');
        const status = Number(output.slice(newline + 1));
        const responseBody = output.slice(0, newline);
        answers.set(status, (answers.get(status) ?? 0) + 1);
        return { status, body: responseBody, json: (selector) => JSON.parse(responseBody)[selector] };
    },
};

const standIns = {
    k6: 'const s = globalThis.k6StandIns; export const check = s.check;',
    'k6/crypto': 'const s = globalThis.k6StandIns; export default { sha256: s.sha256, randomBytes: s.randomBytes, hexEncode: s.hexEncode };',
    'k6/execution': 'export default { vu: { idInTest: 1 } };',
    'k6/http': 'const s = globalThis.k6StandIns; export default { post: s.post };',
};
const hooks = `
const standIns = ${JSON.stringify(standIns)};
export async function resolve(specifier, context, next) {
    if (specifier in standIns) {
        return { url: 'data:text/javascript,' + encodeURIComponent(standIns[specifier]), shortCircuit: true };
    }
    return next(specifier, context);
}
export async function load(url, context, next) {
    // alerts.js is an ES module without a package.json that says so.
    if (url.endsWith('/alerts.js')) {
        return { ...(await next(url, { ...context, format: 'module' })), format: 'module', shortCircuit: true };
    }
    return next(url, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);

globalThis.__ENV = { ...process.env };
const script = await import(new URL('./alerts.js', import.meta.url).href);
const data = script.setup();
for (let i = 0; i < iterations; i += 1) {
    script.default(data);
}
const summary = [...answers].map(([status, count]) => `${count} x ${status}`).join(', ');
if (failedChecks.length > 0) {
    console.error(`k6 script: ${failedChecks.length} checks failed (answers: ${summary}):`);
    for (const failure of failedChecks.slice(0, 10)) {
        console.error(`  ${failure}`);
    }
    process.exit(1);
}
console.log(`k6 script: ${iterations} webhooks sent, every check passed (answers: ${summary})`);
