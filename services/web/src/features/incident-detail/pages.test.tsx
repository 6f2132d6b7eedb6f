import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { AlertRecord, IncidentDetail, TimelineEntry } from '../../shared/api/types';
import { mockApi } from '../../testing/fetchMock';
import { lastPage, makeIncident } from '../../testing/fixtures';
import { renderApp } from '../../testing/render';

function alert(n: number): AlertRecord {
  const fingerprint = `fp-${String(n).padStart(3, '0')}`;
  return {
    fingerprint,
    state: 'firing',
    starts_at: new Date(Date.parse('2026-11-26T20:00:00Z') + n * 1000).toISOString(),
    ends_at: null,
    labels: { instance: `web-${n}` },
    annotations: {},
    generator_url: '',
    last_received_at: '2026-11-26T20:50:00Z',
  };
}

function entry(n: number): TimelineEntry {
  return {
    at: new Date(Date.parse('2026-11-26T20:00:00Z') + n * 1000).toISOString(),
    kind: n === 0 ? 'opened' : 'alert_added',
    actor: `actor-${n}`,
    status: n === 0 ? 'open' : null,
    detail: {},
  };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** The fingerprints in the alerts table, in order. */
function shownAlerts(): string[] {
  const table = within(screen.getByRole('region', { name: /^Alerts/ }));
  return table
    .getAllByRole('row')
    .slice(1)
    .map((row) => within(row).getByText(/^fp-/).textContent ?? '');
}

describe('incident page of a big incident', () => {
  it('shows the first page of alerts and of the timeline, and loads the rest a page at a time', async () => {
    const incident = makeIncident({ alert_count: 250, firing_count: 250 });
    const detail: IncidentDetail = {
      ...incident,
      alerts: range(0, 100).map(alert),
      alerts_next_cursor: 'alerts-after-100',
      timeline: range(0, 100).map(entry),
      timeline_next_cursor: 'timeline-after-100',
    };
    const alertPages: Record<string, { items: AlertRecord[]; next_cursor: string | null }> = {
      'alerts-after-100': { items: range(100, 200).map(alert), next_cursor: 'alerts-after-200' },
      'alerts-after-200': { items: range(200, 250).map(alert), next_cursor: null },
    };
    const api = mockApi()
      .get(`/incidents/${incident.id}`, { body: detail })
      .get(`/incidents/${incident.id}/alerts`, (request) => ({ body: alertPages[request.url.searchParams.get('cursor')!] }))
      .get(`/incidents/${incident.id}/timeline`, lastPage(range(100, 103).map(entry)))
      .get('/oncall', { body: { at: '2026-11-26T21:00:00Z', items: [] } });
    const { user } = renderApp(`/incident/${incident.id}`);

    await screen.findByRole('heading', { level: 1, name: incident.title });
    expect(screen.getByRole('heading', { name: 'Alerts (250)' })).toBeInTheDocument();
    expect(shownAlerts()).toHaveLength(100);
    expect(screen.getByText('Showing the first 100 of 250, oldest first.')).toBeInTheDocument();
    // Nothing more is read until asked for (besides who is on call in its team).
    expect(api.requests.map((r) => r.url.pathname)).toEqual([`/incidents/${incident.id}`, '/oncall']);

    await user.click(screen.getByRole('button', { name: 'Load more alerts' }));
    await screen.findByText('Showing the first 200 of 250, oldest first.');
    await user.click(screen.getByRole('button', { name: 'Load more alerts' }));
    await screen.findByText('fp-249');
    expect(shownAlerts()).toEqual(range(0, 250).map((n) => alert(n).fingerprint));
    expect(screen.queryByRole('button', { name: 'Load more alerts' })).not.toBeInTheDocument();
    expect(screen.queryByText(/Showing the first/)).not.toBeInTheDocument();
    const alertRequests = api.requests.filter((r) => r.url.pathname.endsWith('/alerts')).map((r) => r.url.search);
    expect(alertRequests).toEqual(['?limit=100&cursor=alerts-after-100', '?limit=100&cursor=alerts-after-200']);

    const timeline = within(screen.getByRole('region', { name: 'Timeline' }));
    expect(timeline.getAllByRole('listitem')).toHaveLength(100);
    await user.click(timeline.getByRole('button', { name: 'Load more timeline entries' }));
    await timeline.findByText('by actor-102');
    expect(timeline.getAllByRole('listitem')).toHaveLength(103);
    expect(timeline.queryByRole('button', { name: 'Load more timeline entries' })).not.toBeInTheDocument();
  }, 20_000); // 250 table rows read by role: about 2 s alone, over 5 s on a machine busy with builds

  it('offers nothing more when the detail holds every alert and entry', async () => {
    const incident = makeIncident({ alert_count: 3 });
    const detail: IncidentDetail = {
      ...incident,
      alerts: range(0, 3).map(alert),
      alerts_next_cursor: null,
      timeline: range(0, 3).map(entry),
      timeline_next_cursor: null,
    };
    mockApi().get(`/incidents/${incident.id}`, { body: detail });
    renderApp(`/incident/${incident.id}`);
    await screen.findByRole('heading', { level: 1, name: incident.title });
    expect(shownAlerts()).toHaveLength(3);
    expect(screen.queryByRole('button', { name: /^Load more/ })).not.toBeInTheDocument();
  });
});
