// Burst test of a tocsin installation's webhook with k6 (https://k6.io).
//
// POSTs Alertmanager webhooks of payload version 4, shaped like the captures in
// testdata/alertmanager, to /alerts at a constant rate. Each webhook is one alert group (service,
// environment, severity) and its alerts; it either fires a quiet group (new, distinct alerts),
// resends a firing group unchanged (Alertmanager's repeat_interval: tocsin must deduplicate it),
// or resolves a firing group. The same model as loadtest/locustfile.py.
//
//   k6 run -e TOCSIN_INGEST_URL=https://alerts.example.com -e TOCSIN_INGEST_TOKEN=... loadtest/k6/alerts.js
//
// Settings (-e NAME=value or the environment; docs/load-testing.md says more):
//   TOCSIN_INGEST_URL            required: the base URL; /alerts is appended
//   TOCSIN_INGEST_TOKEN          required: INGEST_TOKEN, or a token with the ingest scope
//   LOADTEST_WEBHOOKS_PER_SECOND the rate, for the whole test; default 10
//   LOADTEST_DURATION            default 1m
//   LOADTEST_ALERTS_PER_WEBHOOK  alerts a group fires with; default 5
//   LOADTEST_REPEAT_RATIO        share of webhooks that resend a firing group; default 0.5
//   LOADTEST_RESOLVE_RATIO       share of webhooks that resolve a firing group; default 0.1
//   LOADTEST_GROUPS              groups per virtual user: at most this many fire at once; default 20
//   LOADTEST_ENVIRONMENT         the environment label of every alert; default loadtest
//   LOADTEST_RUN_ID              label loadtest_run of every alert; default random
//   LOADTEST_P95_MS              threshold on the 95th percentile answer time; default 500
//
// The run fails (exit code 99) when more than 1% of webhooks are not answered 202 with every
// alert accepted, or when the 95th percentile is above LOADTEST_P95_MS.

import { check } from 'k6';
import crypto from 'k6/crypto';
import exec from 'k6/execution';
import http from 'k6/http';

function setting(name, fallback, parse) {
    const raw = __ENV[name];
    if (raw === undefined || raw === '') {
        return fallback;
    }
    const value = parse(raw);
    if (value === undefined || Number.isNaN(value)) {
        throw new Error(`${name}=${raw} is not valid`);
    }
    return value;
}

const ratio = (raw) => {
    const value = Number(raw);
    return value >= 0 && value <= 1 ? value : undefined;
};
const positive = (raw) => {
    const value = Number(raw);
    return value > 0 ? value : undefined;
};
const positiveInteger = (raw) => {
    const value = Number(raw);
    return Number.isInteger(value) && value >= 1 ? value : undefined;
};
const text = (raw) => raw;

const INGEST_URL = setting('TOCSIN_INGEST_URL', '', text).replace(/\/+$/, '');
const TOKEN = setting('TOCSIN_INGEST_TOKEN', '', text);
const WEBHOOKS_PER_SECOND = setting('LOADTEST_WEBHOOKS_PER_SECOND', 10, positiveInteger);
const DURATION = setting('LOADTEST_DURATION', '1m', text);
const ALERTS_PER_WEBHOOK = setting('LOADTEST_ALERTS_PER_WEBHOOK', 5, positiveInteger);
const REPEAT_RATIO = setting('LOADTEST_REPEAT_RATIO', 0.5, ratio);
const RESOLVE_RATIO = setting('LOADTEST_RESOLVE_RATIO', 0.1, ratio);
const GROUPS = setting('LOADTEST_GROUPS', 20, positiveInteger);
const ENVIRONMENT = setting('LOADTEST_ENVIRONMENT', 'loadtest', text);
const RUN_ID = setting('LOADTEST_RUN_ID', '', text);
const P95_MS = setting('LOADTEST_P95_MS', 500, positive);

if (!INGEST_URL || !TOKEN) {
    throw new Error('set TOCSIN_INGEST_URL and TOCSIN_INGEST_TOKEN (k6 run -e NAME=value ...)');
}
if (REPEAT_RATIO + RESOLVE_RATIO > 1) {
    throw new Error('LOADTEST_REPEAT_RATIO + LOADTEST_RESOLVE_RATIO must not exceed 1');
}

export const options = {
    scenarios: {
        alertmanagers: {
            executor: 'constant-arrival-rate',
            rate: WEBHOOKS_PER_SECOND,
            timeUnit: '1s',
            duration: DURATION,
            preAllocatedVUs: Math.max(2, Math.ceil(WEBHOOKS_PER_SECOND / 10)),
            maxVUs: Math.max(10, WEBHOOKS_PER_SECOND * 2),
        },
    },
    thresholds: {
        checks: ['rate>0.99'],
        http_req_duration: [`p(95)<${P95_MS}`],
    },
};

const SERVICES = [
    'web-server', 'checkout-api', 'payments', 'search', 'inventory', 'auth',
    'api-gateway', 'orders', 'notifications', 'storage-backend', 'postgres', 'redis-cache',
];
const SEVERITIES = ['critical', 'high', 'warning', 'info'];
const RULES = [
    ['HighCPU', 'CPU usage on {instance} has been above 90% for more than 5 minutes'],
    ['HighLatency', 'p99 latency of {instance} is above 2s'],
    ['DiskSpaceLow', 'Filesystem /var/lib/data on {instance} has less than 10% free space'],
    ['InstanceDown', '{instance} has not answered the scrape for 1 minute'],
    ['ErrorRateHigh', '5xx ratio of {instance} is above 5%'],
];
// What Alertmanager writes for "no end yet": Go's zero time.
const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

// 16 hex digits derived from the label set, like Alertmanager's: equal labels, equal fingerprint.
function fingerprint(labels) {
    const canonical = Object.keys(labels).sort().map((name) => `${name}=${labels[name]}`).join('\n');
    return crypto.sha256(canonical, 'hex').slice(0, 16);
}

function sortedObject(entries) {
    return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

// One Alertmanager group: the alerts that share service, environment and severity.
class AlertGroup {
    constructor(vu, number, runId) {
        this.runId = runId;
        this.service = SERVICES[number % SERVICES.length];
        this.severity = SEVERITIES[Math.floor(number / SERVICES.length) % SEVERITIES.length];
        [this.alertname, this.description] = RULES[number % RULES.length];
        // Groups are per virtual user, so two never share an occurrence.
        this.instancePrefix = `${this.service}-v${vu}g${number}`;
        this.alerts = [];
        this.instances = 0;
    }

    groupLabels() {
        return { environment: ENVIRONMENT, service: this.service, severity: this.severity };
    }

    // Fires `count` new alerts: instances the group has not had before.
    fire(count) {
        for (let i = 0; i < count; i += 1) {
            this.instances += 1;
            const instance = `${this.instancePrefix}-${String(this.instances).padStart(2, '0')}`;
            const labels = sortedObject(Object.entries({
                alertname: this.alertname,
                environment: ENVIRONMENT,
                instance,
                job: 'node_exporter',
                loadtest_run: this.runId,
                service: this.service,
                severity: this.severity,
            }));
            this.alerts.push({
                status: 'firing',
                labels,
                annotations: {
                    description: this.description.replace('{instance}', instance),
                    runbook_url: `https://runbooks.example.com/${this.alertname.toLowerCase()}`,
                    summary: `${this.alertname} on ${instance}`,
                },
                startsAt: new Date().toISOString(),
                endsAt: GO_ZERO_TIME,
                generatorURL: `http://prometheus:9090/graph?g0.expr=up%7Bjob%3D%22${this.service}%22%7D&g0.tab=1`,
                fingerprint: fingerprint(labels),
            });
        }
    }

    // The webhook that resolves every alert now; the group is quiet afterwards.
    resolve() {
        const ended = new Date().toISOString();
        for (const alert of this.alerts) {
            alert.status = 'resolved';
            alert.endsAt = ended;
        }
        const webhook = this.webhook();
        this.alerts = [];
        return webhook;
    }

    webhook() {
        const groupLabels = this.groupLabels();
        const groupKey = `{}:{${Object.keys(groupLabels).sort().map((k) => `${k}="${groupLabels[k]}"`).join(', ')}}`;
        return {
            receiver: 'tocsin-loadtest',
            status: this.alerts.some((alert) => alert.status === 'firing') ? 'firing' : 'resolved',
            alerts: this.alerts,
            groupLabels,
            commonLabels: sortedObject(Object.entries({
                ...groupLabels, alertname: this.alertname, job: 'node_exporter', loadtest_run: this.runId,
            })),
            commonAnnotations: { runbook_url: `https://runbooks.example.com/${this.alertname.toLowerCase()}` },
            externalURL: 'http://alertmanager.loadtest:9093',
            version: '4',
            groupKey,
            truncatedAlerts: 0,
        };
    }
}

// Per virtual user: k6 runs this module once in each.
let groups;

// A resend or a resolution of a firing group, by their ratios, else a quiet group fires. With
// every group firing, one resolves instead.
function nextWebhook(vu, runId) {
    groups = groups || Array.from({ length: GROUPS }, (_, n) => new AlertGroup(vu, n, runId));
    const firing = groups.filter((group) => group.alerts.length > 0);
    const quiet = groups.filter((group) => group.alerts.length === 0);
    const pick = (list) => list[Math.floor(Math.random() * list.length)];
    const roll = Math.random();
    if (firing.length > 0 && roll < REPEAT_RATIO) {
        return ['resend', pick(firing).webhook()];
    }
    if (firing.length > 0 && (roll < REPEAT_RATIO + RESOLVE_RATIO || quiet.length === 0)) {
        return ['resolve', pick(firing).resolve()];
    }
    const group = pick(quiet);
    group.fire(ALERTS_PER_WEBHOOK);
    return ['fire', group.webhook()];
}

// Once per test, so that every virtual user labels its alerts with the same run id.
export function setup() {
    return { runId: RUN_ID || crypto.hexEncode(crypto.randomBytes(3)) };
}

export default function (data) {
    const [kind, webhook] = nextWebhook(exec.vu.idInTest, data.runId);
    const response = http.post(`${INGEST_URL}/alerts`, JSON.stringify(webhook), {
        headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
        tags: { kind },
    });
    check(response, {
        'answered 202': (r) => r.status === 202,
        'every alert accepted': (r) => r.status === 202 && r.json('accepted') === webhook.alerts.length,
    });
}
