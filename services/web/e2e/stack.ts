// Talking to the stack directly: alerts into ingest (real Alertmanager payloads), reads from the API.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Incident, IncidentDetail, IncidentPage, Severity } from '../src/shared/api/types';
import { stack } from './env';

/** A real Alertmanager 0.25 webhook (testdata/alertmanager/raw/firing-single.json). */
const template = JSON.parse(readFileSync(new URL('./fixtures/firing-single.json', import.meta.url), 'utf8')) as {
  alerts: Record<string, unknown>[];
  [key: string]: unknown;
};

export interface AlertSpec {
  service: string;
  severity?: Severity;
  environment?: string;
  alertname?: string;
  instance?: string;
  summary?: string;
  team?: string;
  /** How long ago the alert started (default: just now)... */
  startedAgoMs?: number;
  /** ...or exactly when (to report the same alert again, e.g. resolved). */
  startsAt?: string;
  /** Send as resolved, ending `endedAgoMs` ago (default: now). */
  resolved?: boolean;
  endedAgoMs?: number;
  runbook?: string;
  fingerprintSeed?: string;
}

/** A name nobody else uses, so each test sees only its own incidents. */
export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

function fingerprint(spec: AlertSpec): string {
  const text = [spec.service, spec.environment, spec.severity, spec.alertname, spec.instance].join('|');
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    h1 = Math.imul(h1 ^ text.charCodeAt(i), 16777619) >>> 0;
    h2 = Math.imul(h2 ^ text.charCodeAt(i), 2246822519) >>> 0;
  }
  return (h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0')).slice(0, 16);
}

/** The captured webhook with these alerts: same shape and fields, labels and times replaced. */
export function webhook(specs: AlertSpec[], now = Date.now()) {
  const base = template.alerts[0]!;
  const alerts = specs.map((spec) => {
    const severity = spec.severity ?? 'critical';
    const environment = spec.environment ?? 'production';
    const alertname = spec.alertname ?? 'HighCPU';
    const instance = spec.instance ?? `${spec.service}-01`;
    const labels: Record<string, string> = {
      ...(base.labels as Record<string, string>),
      alertname,
      environment,
      instance,
      service: spec.service,
      severity,
    };
    if (spec.team) labels.team = spec.team;
    const startsAt = spec.startsAt ?? new Date(now - (spec.startedAgoMs ?? 1000)).toISOString();
    return {
      ...base,
      status: spec.resolved ? 'resolved' : 'firing',
      labels,
      annotations: {
        ...(base.annotations as Record<string, string>),
        summary: spec.summary ?? `${alertname} on ${instance}`,
        ...(spec.runbook ? { runbook_url: spec.runbook } : {}),
      },
      startsAt,
      endsAt: spec.resolved ? new Date(now - (spec.endedAgoMs ?? 0)).toISOString() : '0001-01-01T00:00:00Z',
      fingerprint: fingerprint({ ...spec, severity, environment, alertname, instance }),
    };
  });
  const first = alerts[0]!.labels;
  return {
    ...template,
    status: specs.every((s) => s.resolved) ? 'resolved' : 'firing',
    alerts,
    groupLabels: { environment: first.environment, service: first.service, severity: first.severity },
    commonLabels: specs.length === 1 ? first : {},
    commonAnnotations: {},
    groupKey: `{}:{environment="${first.environment}", service="${first.service}", severity="${first.severity}"}`,
    truncatedAlerts: 0,
  };
}

export async function postAlerts(specs: AlertSpec[]): Promise<void> {
  const { ingest, ingestToken } = stack();
  const response = await fetch(`${ingest}/alerts`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${ingestToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(webhook(specs)),
  });
  if (response.status !== 202) throw new Error(`POST /alerts answered ${response.status}: ${await response.text()}`);
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const { web, apiToken } = stack();
  const response = await fetch(`${web}${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${apiToken}`, 'Content-Type': 'application/json', ...init.headers },
  });
  if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${path} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

export function listIncidents(query: string): Promise<IncidentPage> {
  return api<IncidentPage>(`/incidents?${query}`);
}

export function getIncident(id: string): Promise<IncidentDetail> {
  return api<IncidentDetail>(`/incidents/${id}`);
}

/** Waits until the API lists an incident of this service, and returns it. */
export async function waitForIncident(service: string, extra = '', timeoutMs = 30_000): Promise<Incident> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const page = await listIncidents(`service=${encodeURIComponent(service)}${extra}`);
    if (page.items[0]) return page.items[0];
    if (Date.now() > deadline) throw new Error(`no incident for service ${service} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
