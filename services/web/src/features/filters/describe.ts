// The active filters in one sentence, shown above every list.
import type { ListFilters } from '../../shared/api/filters';
import { formatDateTime } from '../../shared/lib/format';
import { rangePhrase } from '../../shared/lib/timeRanges';

export function describeFilters(filters: ListFilters): string {
  const statuses = filters.status.length ? orList(filters.status) : 'All';
  const parts = [`${capitalize(statuses)} incidents`];
  if (filters.severity.length) parts.push(`of ${orList(filters.severity)} severity`);
  if (filters.service.length) parts.push(`for ${plural('service', filters.service)}`);
  if (filters.environment.length) parts.push(`in ${orList(filters.environment)}`);
  if (filters.team.length) parts.push(`owned by ${plural('team', filters.team)}`);
  if (filters.range === 'custom') {
    const since = filters.since ? `since ${formatDateTime(filters.since)}` : '';
    const until = filters.until ? `before ${formatDateTime(filters.until)}` : '';
    const words = [since, until].filter(Boolean).join(' and ');
    if (words) parts.push(`opened ${words}`);
  } else if (filters.range !== 'all') {
    parts.push(`opened ${rangePhrase(filters.range)}`);
  }
  return parts.join(' ') + '.';
}

function orList(values: readonly string[]): string {
  if (values.length <= 1) return values.join('');
  return `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;
}

function plural(word: string, values: readonly string[]) {
  return `${word}${values.length > 1 ? 's' : ''} ${orList(values)}`;
}

function capitalize(text: string) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
