// How long the dashboard takes to show 5,000 open incidents, from navigation to every incident
// being on the page (the board's data-loaded mark). Not a test: it prints the figures.
//   scripts/web-e2e.sh bench        (or, against a running stack: npm run bench:render)
import { launch, newContext, signIn } from './browser';
import { describeFirstRender, measureFirstRender, median, type FirstRender } from './firstRender';
import { listIncidents, postAlerts, unique, type AlertSpec } from './stack';

const COUNT = Number(process.env.BENCH_INCIDENTS ?? 5000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BATCH = 500;
const severities = ['critical', 'high', 'warning', 'info'] as const;

async function countOpen(environment: string): Promise<number> {
  let total = 0;
  let cursor: string | null | undefined = null;
  do {
    const page = await listIncidents(
      `status=open&environment=${environment}&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    total += page.items.length;
    cursor = page.next_cursor;
  } while (cursor);
  return total;
}

async function main() {
  const environment = unique('bench');
  const base = Date.now();
  const specs: AlertSpec[] = Array.from({ length: COUNT }, (_, i) => ({
    service: `bench-svc-${String(i).padStart(5, '0')}`,
    alertname: `BenchAlert${i % 37}`,
    environment,
    severity: severities[i % 4],
    team: `team-${i % 12}`,
    summary: `Synthetic alert ${i} for the render benchmark`,
    startsAt: new Date(base - (i % 600) * 1000 - 1000).toISOString(),
  }));
  const started = Date.now();
  for (let i = 0; i < specs.length; i += BATCH) await postAlerts(specs.slice(i, i + BATCH));
  console.log(`posted ${COUNT} alerts in ${Date.now() - started} ms (environment ${environment})`);

  const deadline = Date.now() + 10 * 60_000;
  let open = 0;
  while ((open = await countOpen(environment)) < COUNT) {
    if (Date.now() > deadline) throw new Error(`only ${open} of ${COUNT} incidents open after 10 minutes`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  console.log(`the API lists ${open} open incidents, ${Date.now() - started} ms after the first POST`);

  const browser = await launch();
  const context = await newContext(browser, { width: 1600, height: 1000 });
  const page = await signIn(context);
  const figures: FirstRender[] = [];
  for (let run = 0; run < RUNS; run++) {
    figures.push(await measureFirstRender(page, `/?environment=${environment}&status=open`, COUNT));
    console.log(`run ${run + 1}: ${describeFirstRender(figures[run]!, COUNT)}`);
  }
  console.log(
    `median of ${RUNS}: ${median(figures.map((f) => f.total)).toFixed(0)} ms navigation to all shown; ` +
      `${median(figures.map((f) => f.render)).toFixed(0)} ms of it rendering after the last page arrived`,
  );
  await browser.close();

  // Leave the stack as it was: resolve what the benchmark opened.
  for (let i = 0; i < specs.length; i += BATCH) {
    await postAlerts(specs.slice(i, i + BATCH).map((spec) => ({ ...spec, resolved: true })));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
