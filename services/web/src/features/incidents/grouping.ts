// How the dashboard orders and groups incidents. Lists stay calm: the order depends only on
// each incident's own fields, so a new incident slots in without moving the others around.
import { SEVERITIES, severityRank, type Incident, type Severity } from '../../shared/api/types';

/** Most urgent first, then newest opened first, then id. */
export function compareIncidents(a: Incident, b: Incident): number {
  return (
    severityRank(b.severity) - severityRank(a.severity) ||
    Date.parse(b.opened_at) - Date.parse(a.opened_at) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

export type SeverityCounts = Record<Severity, number>;

export interface IncidentGroup {
  service: string;
  items: Incident[];
  counts: SeverityCounts;
  worst: Severity;
}

export function countBySeverity(items: readonly Incident[]): SeverityCounts {
  const counts: SeverityCounts = { critical: 0, high: 0, warning: 0, info: 0 };
  for (const item of items) counts[item.severity]++;
  return counts;
}

/**
 * Incidents grouped by service. Groups with the most urgent incident come first; among equals,
 * by service name (not by activity, so groups do not jump when something new arrives).
 */
export function groupByService(items: readonly Incident[]): IncidentGroup[] {
  const byService = new Map<string, Incident[]>();
  for (const item of items) {
    const list = byService.get(item.service);
    if (list) list.push(item);
    else byService.set(item.service, [item]);
  }
  const groups: IncidentGroup[] = [];
  for (const [service, list] of byService) {
    list.sort(compareIncidents);
    const counts = countBySeverity(list);
    groups.push({ service, items: list, counts, worst: list[0]!.severity });
  }
  return groups.sort(
    (a, b) => severityRank(b.worst) - severityRank(a.worst) || a.service.localeCompare(b.service),
  );
}

/** A group shows this many rows until the user asks for all of them. */
export const GROUP_PREVIEW = 8;

export type BoardRow =
  | { type: 'group'; group: IncidentGroup; collapsed: boolean }
  | { type: 'incident'; incident: Incident; service: string }
  | { type: 'more'; group: IncidentGroup; hidden: number };

/** The board as one flat list of rows, for the virtualised view and for keyboard movement. */
export function boardRows(groups: readonly IncidentGroup[], collapsed: ReadonlySet<string>, expanded: ReadonlySet<string>): BoardRow[] {
  const rows: BoardRow[] = [];
  for (const group of groups) {
    const isCollapsed = collapsed.has(group.service);
    rows.push({ type: 'group', group, collapsed: isCollapsed });
    if (isCollapsed) continue;
    const showAll = expanded.has(group.service) || group.items.length <= GROUP_PREVIEW + 2;
    const shown = showAll ? group.items : group.items.slice(0, GROUP_PREVIEW);
    for (const incident of shown) rows.push({ type: 'incident', incident, service: group.service });
    if (!showAll) rows.push({ type: 'more', group, hidden: group.items.length - shown.length });
  }
  return rows;
}

export { SEVERITIES };
