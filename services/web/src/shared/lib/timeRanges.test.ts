import { describe, expect, it } from 'vitest';
import { isRangePreset, RANGE_PRESETS, RANGES, rangeLabel, rangeMs, rangePhrase } from './timeRanges';

describe('time-range presets', () => {
  it('are the URL values, shortest first', () => {
    expect(RANGES).toEqual(['1h', '6h', '24h', '7d', '30d', '90d']);
    const lengths = RANGE_PRESETS.map((p) => p.ms);
    expect(lengths).toEqual([...lengths].sort((a, b) => a - b));
  });

  it.each([
    ['1h', 3_600_000, 'Last hour', 'in the last hour'],
    ['6h', 21_600_000, 'Last 6 hours', 'in the last 6 hours'],
    ['24h', 86_400_000, 'Last 24 hours', 'in the last 24 hours'],
    ['7d', 604_800_000, 'Last 7 days', 'in the last 7 days'],
    ['30d', 2_592_000_000, 'Last 30 days', 'in the last 30 days'],
    ['90d', 7_776_000_000, 'Last 90 days', 'in the last 90 days'],
  ] as const)('%s lasts %i ms and reads "%s" / "%s"', (id, ms, label, phrase) => {
    expect(rangeMs(id)).toBe(ms);
    expect(rangeLabel(id)).toBe(label);
    expect(rangePhrase(id)).toBe(phrase);
  });

  it('tells a preset from any other value', () => {
    expect(RANGES.every(isRangePreset)).toBe(true);
    for (const other of ['all', 'custom', '2h', '24H', '', '7d ']) expect(isRangePreset(other)).toBe(false);
  });
});
