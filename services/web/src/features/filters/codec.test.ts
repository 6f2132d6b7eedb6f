import { describe, expect, it } from 'vitest';
import { NO_FILTERS, type ListFilters } from '../../shared/api/filters';
import { decodeFilters, encodeFilters, isDefault } from './codec';
import { describeFilters } from './describe';

const DEFAULTS: ListFilters = { ...NO_FILTERS, status: ['open', 'acknowledged'] };

describe('filter codec', () => {
  it('leaves defaults out of the URL', () => {
    expect(encodeFilters(DEFAULTS, DEFAULTS).toString()).toBe('');
    expect(decodeFilters(new URLSearchParams(''), DEFAULTS)).toEqual(DEFAULTS);
    expect(isDefault(DEFAULTS, DEFAULTS)).toBe(true);
  });

  it('writes several values as repeated keys, sorted by key and in a fixed value order', () => {
    const filters: ListFilters = { ...DEFAULTS, severity: ['warning', 'critical'], service: ['web', 'api'], range: '24h' };
    expect(encodeFilters(filters, DEFAULTS).toString()).toBe(
      'range=24h&service=api&service=web&severity=critical&severity=warning',
    );
  });

  it('round-trips every kind of filter', () => {
    const filters: ListFilters = {
      status: ['resolved'],
      severity: ['high'],
      service: ['東京-db', 'checkout api'],
      environment: ['production'],
      team: ['platform', 'storage'],
      range: 'custom',
      since: '2026-11-20T00:00:00.000Z',
      until: '2026-11-21T00:00:00.000Z',
    };
    const decoded = decodeFilters(encodeFilters(filters, DEFAULTS), DEFAULTS);
    expect(decoded).toEqual({ ...filters, service: ['checkout api', '東京-db'] });
  });

  it('says `any` when the user lifts a restriction the default has', () => {
    const filters = { ...DEFAULTS, status: [] };
    const params = encodeFilters(filters, DEFAULTS);
    expect(params.toString()).toBe('status=any');
    expect(decodeFilters(params, DEFAULTS).status).toEqual([]);
  });

  it('drops values tocsin does not know and keeps parameters that are not filters', () => {
    const params = new URLSearchParams('severity=critical&severity=page&status=closed&range=forever&view=compact');
    const decoded = decodeFilters(params, DEFAULTS);
    expect(decoded.severity).toEqual(['critical']);
    expect(decoded.status).toEqual([]);
    expect(decoded.range).toBe('all');
    expect(encodeFilters(decoded, DEFAULTS, params).get('view')).toBe('compact');
  });

  it('accepts comma-separated values as well', () => {
    expect(decodeFilters(new URLSearchParams('severity=critical,high'), DEFAULTS).severity).toEqual(['critical', 'high']);
  });

  it('ignores since/until unless the range is custom', () => {
    const decoded = decodeFilters(new URLSearchParams('range=1h&since=2026-01-01T00:00:00Z'), DEFAULTS);
    expect(decoded).toMatchObject({ range: '1h', since: '' });
  });

  it('states the active filters in one sentence', () => {
    expect(describeFilters(DEFAULTS)).toBe('Open or acknowledged incidents.');
    expect(
      describeFilters({ ...DEFAULTS, severity: ['critical', 'high'], environment: ['production'], team: ['platform'], range: '24h' }),
    ).toBe('Open or acknowledged incidents of critical or high severity in production owned by team platform opened in the last 24 hours.');
  });
});
