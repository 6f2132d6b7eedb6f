import type { Incident, IncidentDetail, IncidentEvent, Severity } from '../shared/api/types';

let counter = 0;

/** An incident as the API returns it; override what the test is about. */
export function makeIncident(overrides: Partial<Incident> = {}): Incident {
  counter++;
  const id = overrides.id ?? `00000000-0000-4000-8000-${String(counter).padStart(12, '0')}`;
  return {
    id,
    title: `Incident ${counter}`,
    service: 'web-server',
    environment: 'production',
    severity: 'critical',
    team: 'platform',
    status: 'open',
    assignee: null,
    runbook_url: 'https://runbooks.example.com/cpu',
    source_alert: {
      fingerprint: `fp${counter}`,
      startsAt: '2026-11-26T20:36:25.705Z',
      labels: { alertname: 'HighCPU', instance: 'web-server-01', job: 'node_exporter', service: 'web-server' },
    },
    alert_count: 1,
    firing_count: 1,
    opened_at: '2026-11-26T20:36:25.705Z',
    acknowledged_at: null,
    acknowledged_by: null,
    resolved_at: null,
    resolved_by: null,
    updated_at: '2026-11-26T20:36:26.113Z',
    version: 1,
    ...overrides,
  };
}

/** The API's answer with a list's last page (or its only one): these items, no next cursor. */
export function lastPage<T>(items: T[]) {
  return { body: { items, next_cursor: null } };
}

export function makeDetail(incident: Incident = makeIncident()): IncidentDetail {
  return {
    ...incident,
    alerts: [
      {
        fingerprint: incident.source_alert.fingerprint,
        state: 'firing',
        starts_at: incident.opened_at,
        ends_at: null,
        labels: { alertname: 'HighCPU', instance: 'web-server-01' },
        annotations: { summary: 'High CPU usage on web-server-01', runbook_url: 'https://runbooks.example.com/cpu' },
        generator_url: 'http://127.0.0.1:9090/graph?g0.expr=cpu',
        last_received_at: incident.updated_at,
      },
    ],
    alerts_next_cursor: null,
    timeline: [
      {
        at: incident.opened_at,
        kind: 'opened',
        actor: 'alertmanager',
        status: 'open',
        detail: { alert: { fingerprint: 'fp', alertname: 'HighCPU', instance: 'web-server-01', state: 'firing', starts_at: 1795725385 } },
      },
    ],
    timeline_next_cursor: null,
  };
}

export function makeEvent(incident: Incident, kind: IncidentEvent['kind'] = 'opened'): IncidentEvent {
  return { id: crypto.randomUUID(), kind, at: incident.updated_at, actor: 'alertmanager', incident, detail: {} };
}

/** `count` incidents spread over services and severities. */
export function manyIncidents(count: number): Incident[] {
  const severities: Severity[] = ['critical', 'high', 'warning', 'info'];
  return Array.from({ length: count }, (_, i) =>
    makeIncident({
      title: `Alert ${i}`,
      service: `svc-${i % 50}`,
      severity: severities[i % 4],
      opened_at: new Date(Date.parse('2026-11-26T20:00:00Z') + i * 1000).toISOString(),
    }),
  );
}
