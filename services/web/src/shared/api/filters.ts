// The filters a list of incidents is fetched with. They are part of every list's query key, so
// they must be plain data: a relative time range stays a preset (`24h`) and becomes absolute times
// only when a request is sent or an event is matched.
import { rangeMs, type RangePreset } from '../lib/timeRanges';
import type { Incident, IncidentStatus, Severity } from './types';

export interface ListFilters {
  status: IncidentStatus[];
  severity: Severity[];
  service: string[];
  environment: string[];
  team: string[];
  /** A relative range, or `all` or `custom` (then since/until). */
  range: RangePreset | 'all' | 'custom';
  since: string;
  until: string;
}

export const NO_FILTERS: ListFilters = {
  status: [],
  severity: [],
  service: [],
  environment: [],
  team: [],
  range: 'all',
  since: '',
  until: '',
};

/** Absolute bounds of the filters' time range, in ms (null = unbounded). */
export function timeBounds(filters: ListFilters, now: number): { since: number | null; until: number | null } {
  if (filters.range === 'all') return { since: null, until: null };
  if (filters.range === 'custom') {
    const since = filters.since ? Date.parse(filters.since) : NaN;
    const until = filters.until ? Date.parse(filters.until) : NaN;
    return { since: Number.isNaN(since) ? null : since, until: Number.isNaN(until) ? null : until };
  }
  return { since: now - rangeMs(filters.range), until: null };
}

/** The query string of `GET /incidents` for these filters (without limit and cursor). */
export function toApiParams(filters: ListFilters, now: number): URLSearchParams {
  const params = new URLSearchParams();
  for (const key of ['status', 'service', 'environment', 'severity', 'team'] as const) {
    if (filters[key].length) params.set(key, filters[key].join(','));
  }
  const { since, until } = timeBounds(filters, now);
  if (since !== null) params.set('since', new Date(since).toISOString());
  if (until !== null) params.set('until', new Date(until).toISOString());
  return params;
}

/** Whether the API would list this incident under these filters. */
export function matchesFilters(incident: Incident, filters: ListFilters, now: number): boolean {
  const inList = (values: readonly string[], value: string) => values.length === 0 || values.includes(value);
  if (!inList(filters.status, incident.status)) return false;
  if (!inList(filters.severity, incident.severity)) return false;
  if (!inList(filters.service, incident.service)) return false;
  if (!inList(filters.environment, incident.environment)) return false;
  if (!inList(filters.team, incident.team)) return false;
  const { since, until } = timeBounds(filters, now);
  const opened = Date.parse(incident.opened_at);
  if (since !== null && opened < since) return false;
  if (until !== null && opened >= until) return false;
  return true;
}
