import { describe, expect, it } from 'vitest';
import { describeDuration, formatDuration } from './format';

describe('durations', () => {
  it.each([
    [0, '0s'],
    [42_000, '42s'],
    [185_000, '3m 05s'],
    [2 * 3_600_000 + 7 * 60_000, '2h 07m'],
    [3 * 86_400_000 + 4 * 3_600_000, '3d 04h'],
    [-5, '0s'],
  ])('formats %i ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('spells durations out for screen readers', () => {
    expect(describeDuration(185_000)).toBe('3 minutes 5 seconds');
    expect(describeDuration(3_600_000)).toBe('1 hour');
  });
});
