import { describe, expect, it } from 'vitest';
import { makeDetail, makeIncident } from '../../testing/fixtures';
import { testQueryClient } from '../../testing/render';
import { NOW } from '../../testing/setup';
import { learnIncidents, mergeIntoList, patchFetchedList } from './cache';
import { NO_FILTERS, type ListFilters } from './filters';
import { incidentKeys, type IncidentList } from './incidents';

const ACTIVE: ListFilters = { ...NO_FILTERS, status: ['open', 'acknowledged'] };
const list = (...items: ReturnType<typeof makeIncident>[]): IncidentList => ({ items, complete: true });

describe('mergeIntoList (events applied by version)', () => {
  it('replaces a cached incident with a newer copy, in place', () => {
    const a = makeIncident({ version: 2 });
    const b = makeIncident({ version: 1 });
    const next = mergeIntoList(list(a, b), [{ ...a, status: 'acknowledged', version: 3 }], ACTIVE, NOW);
    expect(next.items.map((i) => [i.id, i.status])).toEqual([
      [a.id, 'acknowledged'],
      [b.id, 'open'],
    ]);
  });

  it('ignores an older or equal copy and returns the same list', () => {
    const a = makeIncident({ version: 5, title: 'current' });
    const before = list(a);
    expect(mergeIntoList(before, [{ ...a, version: 4, title: 'stale' }], ACTIVE, NOW)).toBe(before);
    expect(mergeIntoList(before, [{ ...a, version: 5, title: 'same' }], ACTIVE, NOW)).toBe(before);
  });

  it('drops an incident that no longer matches the filters', () => {
    const a = makeIncident();
    const next = mergeIntoList(list(a), [{ ...a, status: 'resolved', version: 2 }], ACTIVE, NOW);
    expect(next.items).toEqual([]);
  });

  it('adds a new incident only when it matches', () => {
    const matching = makeIncident({ severity: 'high' });
    const other = makeIncident({ severity: 'info' });
    const next = mergeIntoList(list(), [matching, other], { ...ACTIVE, severity: ['high', 'critical'] }, NOW);
    expect(next.items.map((i) => i.id)).toEqual([matching.id]);
  });

  it('respects a relative time range', () => {
    const recent = makeIncident({ opened_at: new Date(NOW - 10 * 60_000).toISOString() });
    const old = makeIncident({ opened_at: new Date(NOW - 2 * 3_600_000).toISOString() });
    const next = mergeIntoList(list(), [recent, old], { ...ACTIVE, range: '1h' }, NOW);
    expect(next.items.map((i) => i.id)).toEqual([recent.id]);
  });
});

describe('learnIncidents', () => {
  it('patches every cached list by its own filters, and details that are older', () => {
    const client = testQueryClient();
    const incident = makeIncident({ version: 1 });
    const resolvedFilters: ListFilters = { ...NO_FILTERS, status: ['resolved'] };
    client.setQueryData(incidentKeys.list(ACTIVE), list(incident));
    client.setQueryData(incidentKeys.list(resolvedFilters), list());
    client.setQueryData(incidentKeys.detail(incident.id), makeDetail(incident));

    const resolved = { ...incident, status: 'resolved' as const, resolved_at: new Date(NOW).toISOString(), version: 2 };
    const changed = learnIncidents(client, [resolved], NOW);

    expect(client.getQueryData<IncidentList>(incidentKeys.list(ACTIVE))!.items).toEqual([]);
    expect(client.getQueryData<IncidentList>(incidentKeys.list(resolvedFilters))!.items).toEqual([resolved]);
    expect(client.getQueryData(incidentKeys.detail(incident.id))).toMatchObject({ status: 'resolved', version: 2 });
    expect(changed).toEqual([incident.id]);
  });

  it('never lets an older copy undo a newer one that arrived first', () => {
    const client = testQueryClient();
    const incident = makeIncident({ version: 1 });
    client.setQueryData(incidentKeys.list(ACTIVE), list(incident));
    learnIncidents(client, [{ ...incident, status: 'resolved', version: 3 }], NOW);
    learnIncidents(client, [{ ...incident, status: 'acknowledged', version: 2 }], NOW);
    expect(client.getQueryData<IncidentList>(incidentKeys.list(ACTIVE))!.items).toEqual([]);
  });

  it('re-applies recent incidents to a list fetched while they arrived', () => {
    const client = testQueryClient();
    const incident = makeIncident({ version: 1 });
    learnIncidents(client, [{ ...incident, status: 'acknowledged', version: 2 }], NOW);
    // The list read from the server predates the event.
    client.setQueryData(incidentKeys.list(ACTIVE), list(incident));
    patchFetchedList(client, incidentKeys.list(ACTIVE), NOW);
    expect(client.getQueryData<IncidentList>(incidentKeys.list(ACTIVE))!.items[0]).toMatchObject({ status: 'acknowledged' });
  });
});
