// The dashboard's first render against a seeded database (make bench-data): from navigation to
// every open incident on the board, as services/web/e2e/bench-render.ts measures it after posting
// its own alerts. tocsin-bench-data runs it with `npx tsx` from services/web, with query serving
// the built dashboard, and reads the last line:
//   first-render: median_ms=N fetch_ms=N render_ms=N pages=N count=N
import { launch, newContext, signIn } from '../../../services/web/e2e/browser';

const COUNT = Number(process.env.BENCH_OPEN ?? 5000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

async function main() {
  const browser = await launch();
  const context = await newContext(browser, { width: 1600, height: 1000 });
  const page = await signIn(context);
  const figures: { total: number; fetch: number; render: number; pages: number }[] = [];
  for (let run = 0; run < RUNS; run++) {
    await page.goto('/?status=open');
    await page.locator(`[data-testid="incident-board"][data-loaded="true"][data-count="${COUNT}"]`).waitFor({ timeout: 60_000 });
    const timing = await page.evaluate(() => {
      const mark = performance.getEntriesByName('tocsin:dashboard-loaded')[0]!;
      const lists = performance
        .getEntriesByType('resource')
        .filter((entry) => new URL(entry.name).pathname === '/incidents') as PerformanceResourceTiming[];
      return { total: mark.startTime, fetch: Math.max(...lists.map((entry) => entry.responseEnd)), pages: lists.length };
    });
    figures.push({ ...timing, render: timing.total - timing.fetch });
    console.log(
      `first render ${run + 1}: all ${COUNT} open incidents shown ${timing.total.toFixed(0)} ms after navigation ` +
        `(${timing.pages} list pages fetched by ${timing.fetch.toFixed(0)} ms, then ${(timing.total - timing.fetch).toFixed(0)} ms to render)`,
    );
  }
  await browser.close();
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  console.log(
    `first-render: median_ms=${median(figures.map((f) => f.total)).toFixed(0)} fetch_ms=${median(figures.map((f) => f.fetch)).toFixed(0)} ` +
      `render_ms=${median(figures.map((f) => f.render)).toFixed(0)} pages=${figures[0]!.pages} count=${COUNT}`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
