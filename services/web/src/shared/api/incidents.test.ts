import { describe, expect, it } from 'vitest';
import { mockApi } from '../../testing/fetchMock';
import { lastPage, makeIncident } from '../../testing/fixtures';
import { NO_FILTERS } from './filters';
import { fetchAllIncidents } from './incidents';

describe('fetchAllIncidents', () => {
  it('reads one chain per severity side by side and merges them newest first', async () => {
    const critical = makeIncident({ severity: 'critical', opened_at: '2026-11-26T20:00:00Z' });
    const high = makeIncident({ severity: 'high', opened_at: '2026-11-26T20:30:00Z' });
    const older = makeIncident({ severity: 'high', opened_at: '2026-11-26T19:00:00Z' });
    const api = mockApi().get('/incidents', (request) => {
      const severity = request.url.searchParams.get('severity');
      if (severity === 'critical') return lastPage([critical]);
      if (severity === 'high') {
        return request.url.searchParams.get('cursor') === 'next'
          ? lastPage([older])
          : { body: { items: [high], next_cursor: 'next' } };
      }
      return lastPage([]);
    });
    const list = await fetchAllIncidents({ ...NO_FILTERS, status: ['open'] });
    expect(list.items.map((i) => i.id)).toEqual([high.id, critical.id, older.id]);
    expect(list.complete).toBe(true);
    expect(api.requests.map((r) => r.url.searchParams.get('severity')).sort()).toEqual(['critical', 'high', 'high', 'info', 'warning']);
    expect(api.requests.every((r) => r.url.searchParams.get('status') === 'open')).toBe(true);
  });

  it('asks only for the severities the filters name', async () => {
    const api = mockApi().get('/incidents', lastPage([]));
    await fetchAllIncidents({ ...NO_FILTERS, severity: ['high'] });
    expect(api.requests.map((r) => r.url.searchParams.get('severity'))).toEqual(['high']);
  });
});
