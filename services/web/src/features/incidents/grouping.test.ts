import { describe, expect, it } from 'vitest';
import { makeIncident, manyIncidents } from '../../testing/fixtures';
import { GROUP_PREVIEW, boardRows, compareIncidents, groupByService } from './grouping';

describe('sorting', () => {
  it('puts the most urgent first, then the newest, then by id', () => {
    const oldCritical = makeIncident({ id: 'b', severity: 'critical', opened_at: '2026-11-26T10:00:00Z' });
    const newCritical = makeIncident({ id: 'c', severity: 'critical', opened_at: '2026-11-26T11:00:00Z' });
    const twin = makeIncident({ id: 'a', severity: 'critical', opened_at: '2026-11-26T11:00:00Z' });
    const newWarning = makeIncident({ id: 'd', severity: 'warning', opened_at: '2026-11-26T12:00:00Z' });
    const sorted = [newWarning, oldCritical, newCritical, twin].sort(compareIncidents);
    expect(sorted.map((i) => i.id)).toEqual(['a', 'c', 'b', 'd']);
  });
});

describe('grouping by service', () => {
  it('counts per severity and orders groups by their most urgent incident, then by name', () => {
    const groups = groupByService([
      makeIncident({ service: 'web', severity: 'warning' }),
      makeIncident({ service: 'db', severity: 'high' }),
      makeIncident({ service: 'api', severity: 'high' }),
      makeIncident({ service: 'web', severity: 'critical' }),
      makeIncident({ service: 'web', severity: 'warning' }),
    ]);
    expect(groups.map((g) => g.service)).toEqual(['web', 'api', 'db']);
    expect(groups[0]!.counts).toEqual({ critical: 1, high: 0, warning: 2, info: 0 });
    expect(groups[0]!.items.map((i) => i.severity)).toEqual(['critical', 'warning', 'warning']);
    expect(groups[0]!.worst).toBe('critical');
  });

  it('does not move groups when a less urgent incident arrives', () => {
    const base = [makeIncident({ service: 'b', severity: 'high' }), makeIncident({ service: 'a', severity: 'high' })];
    const before = groupByService(base).map((g) => g.service);
    const after = groupByService([...base, makeIncident({ service: 'b', severity: 'info' })]).map((g) => g.service);
    expect(after).toEqual(before);
  });
});

describe('board rows', () => {
  it('shows a preview of big groups with a "show all" row, and nothing of collapsed ones', () => {
    const items = Array.from({ length: 30 }, () => makeIncident({ service: 'big' })).concat([makeIncident({ service: 'small' })]);
    const groups = groupByService(items);
    const rows = boardRows(groups, new Set(), new Set());
    expect(rows.filter((r) => r.type === 'incident')).toHaveLength(GROUP_PREVIEW + 1);
    expect(rows.find((r) => r.type === 'more')).toMatchObject({ hidden: 30 - GROUP_PREVIEW });

    const expanded = boardRows(groups, new Set(), new Set(['big']));
    expect(expanded.filter((r) => r.type === 'incident')).toHaveLength(31);

    const collapsed = boardRows(groups, new Set(['big']), new Set());
    expect(collapsed.map((r) => r.type)).toEqual(['group', 'group', 'incident']);
  });

  it('groups 5,000 incidents quickly', () => {
    const items = manyIncidents(5000);
    const started = performance.now();
    const rows = boardRows(groupByService(items), new Set(), new Set());
    expect(performance.now() - started).toBeLessThan(200);
    expect(rows.filter((r) => r.type === 'group')).toHaveLength(50);
  });
});
