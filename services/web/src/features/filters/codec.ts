// Filters <-> URL query string. Defaults stay out of the URL, parameters are sorted, several values
// are repeated keys (`severity=critical&severity=high`), and `key=any` says "no restriction" where
// the default restricts. Unknown values are dropped; parameters that are not filters are kept.
import { NO_FILTERS, type ListFilters } from '../../shared/api/filters';
import { SEVERITIES, STATUSES, type IncidentStatus, type Severity } from '../../shared/api/types';
import { isRangePreset } from '../../shared/lib/timeRanges';

const LIST_KEYS = ['status', 'severity', 'service', 'environment', 'team'] as const;
type ListKey = (typeof LIST_KEYS)[number];
const FILTER_KEYS = new Set<string>([...LIST_KEYS, 'range', 'since', 'until']);
const ANY = 'any';

const allowed: Partial<Record<ListKey, readonly string[]>> = { status: STATUSES, severity: SEVERITIES };

export function decodeFilters(params: URLSearchParams, defaults: ListFilters = NO_FILTERS): ListFilters {
  const filters: ListFilters = { ...defaults };
  for (const key of LIST_KEYS) {
    const raw = params.getAll(key).flatMap((v) => v.split(','));
    if (raw.length === 0) continue;
    if (raw.length === 1 && raw[0] === ANY) {
      filters[key] = [];
      continue;
    }
    const known = allowed[key];
    const values = unique(raw.map((v) => v.trim()).filter((v) => v && (!known || known.includes(v))));
    if (key === 'status') filters.status = values as IncidentStatus[];
    else if (key === 'severity') filters.severity = values as Severity[];
    else filters[key] = values;
  }
  const range = params.get('range');
  if (range === 'all' || range === 'custom' || (range && isRangePreset(range))) filters.range = range;
  if (filters.range === 'custom') {
    filters.since = params.get('since') ?? defaults.since;
    filters.until = params.get('until') ?? defaults.until;
  } else {
    filters.since = '';
    filters.until = '';
  }
  return filters;
}

/** The query string for `filters`, keeping `keep`'s parameters that are not filters. */
export function encodeFilters(
  filters: ListFilters,
  defaults: ListFilters = NO_FILTERS,
  keep: URLSearchParams = new URLSearchParams(),
): URLSearchParams {
  const entries: [string, string][] = [];
  for (const [key, value] of keep) if (!FILTER_KEYS.has(key)) entries.push([key, value]);
  for (const key of LIST_KEYS) {
    const values = [...filters[key]].sort(orderOf(key));
    if (sameSet(values, defaults[key])) continue;
    if (values.length === 0) entries.push([key, ANY]);
    else for (const value of values) entries.push([key, value]);
  }
  if (filters.range !== defaults.range) entries.push(['range', filters.range]);
  if (filters.range === 'custom') {
    if (filters.since) entries.push(['since', filters.since]);
    if (filters.until) entries.push(['until', filters.until]);
  }
  // Stable sort by key keeps the order of repeated values.
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return new URLSearchParams(entries);
}

export function isDefault(filters: ListFilters, defaults: ListFilters): boolean {
  return encodeFilters(filters, defaults).toString() === '';
}

function orderOf(key: ListKey): (a: string, b: string) => number {
  const known = allowed[key];
  if (known) return (a, b) => known.indexOf(a) - known.indexOf(b);
  return (a, b) => a.localeCompare(b);
}

function unique(values: string[]) {
  return [...new Set(values)];
}

function sameSet(a: readonly string[], b: readonly string[]) {
  return a.length === b.length && a.every((v) => b.includes(v));
}
