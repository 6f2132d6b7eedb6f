// The relative time ranges a list can be narrowed to ("opened in the last 24 hours"): one table
// holds each preset's URL value, its length and the words for it.
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const RANGE_PRESETS = [
  { id: '1h', ms: HOUR, span: 'hour' },
  { id: '6h', ms: 6 * HOUR, span: '6 hours' },
  { id: '24h', ms: 24 * HOUR, span: '24 hours' },
  { id: '7d', ms: 7 * DAY, span: '7 days' },
  { id: '30d', ms: 30 * DAY, span: '30 days' },
  { id: '90d', ms: 90 * DAY, span: '90 days' },
] as const;

export type RangePreset = (typeof RANGE_PRESETS)[number]['id'];

/** The presets' URL values, shortest first. */
export const RANGES: readonly RangePreset[] = RANGE_PRESETS.map((preset) => preset.id);

export function isRangePreset(value: string): value is RangePreset {
  return (RANGES as readonly string[]).includes(value);
}

function preset(id: RangePreset) {
  return RANGE_PRESETS.find((p) => p.id === id)!;
}

/** How long the range is, in ms. */
export function rangeMs(id: RangePreset): number {
  return preset(id).ms;
}

/** The range as a choice: "Last 24 hours". */
export function rangeLabel(id: RangePreset): string {
  return `Last ${preset(id).span}`;
}

/** The range inside a sentence: "in the last 24 hours". */
export function rangePhrase(id: RangePreset): string {
  return `in the last ${preset(id).span}`;
}
