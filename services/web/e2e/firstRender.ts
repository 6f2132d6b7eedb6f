// The dashboard's first render: from navigation to every incident on the board. Measured the same
// way by e2e/bench-render.ts (after posting its own alerts) and by
// crates/loadgen/web/first-render.ts (against a database seeded by make bench-data).
import type { Page } from 'playwright-core';
import { loadedList } from './browser';

export interface FirstRender {
  /** ms from navigation to the board's `tocsin:dashboard-loaded` mark. */
  total: number;
  /** ms from navigation to the arrival of the last page of the list. */
  fetch: number;
  /** ms of rendering after the last page arrived (total - fetch). */
  render: number;
  /** How many pages of the list were fetched. */
  pages: number;
}

/** Loads `path` (a dashboard address) and waits until the board holds `count` incidents. */
export async function measureFirstRender(page: Page, path: string, count: number): Promise<FirstRender> {
  await page.goto(path);
  await loadedList(page, 'incident-board', count).waitFor({ timeout: 60_000 });
  const timing = await page.evaluate(() => {
    const mark = performance.getEntriesByName('tocsin:dashboard-loaded')[0]!;
    const lists = performance
      .getEntriesByType('resource')
      .filter((entry) => new URL(entry.name).pathname === '/incidents') as PerformanceResourceTiming[];
    return { total: mark.startTime, fetch: Math.max(...lists.map((entry) => entry.responseEnd)), pages: lists.length };
  });
  return { ...timing, render: timing.total - timing.fetch };
}

/** One run in words: "all 5000 open incidents shown 587 ms after navigation (…)". */
export function describeFirstRender(run: FirstRender, count: number): string {
  return (
    `all ${count} open incidents shown ${run.total.toFixed(0)} ms after navigation ` +
    `(${run.pages} list pages fetched by ${run.fetch.toFixed(0)} ms, then ${run.render.toFixed(0)} ms to render)`
  );
}

export function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}
